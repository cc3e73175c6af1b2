"""Versions derived from a valid version: a seeded, stratified split and a conversion to chat."""

from __future__ import annotations

import json

import pytest
from django.core.files.storage import default_storage

from finetune_portal.datasets.derived import dataset_version_convert_to_chat, dataset_version_split
from finetune_portal.datasets.errors import DatasetInputError
from finetune_portal.datasets.versions import dataset_version_validate
from tests.datasets.samples import chat, lines_of, upload
from tests.factories import make_dataset

pytestmark = pytest.mark.django_db


def _valid_version(dataset, user, examples):
    _, version, _ = upload(dataset, user, lines_of(examples))
    return dataset_version_validate(version_id=version.pk)


def test_a_split_is_seeded_and_stratified_by_label(cast):
    dataset = make_dataset(cast.project)
    examples = [chat(user=f"Review {i}", answer="positive") for i in range(80)]
    examples += [chat(user=f"Complaint {i}", answer="negative") for i in range(20)]
    source = _valid_version(dataset, cast.member, examples)
    assert source.validation_report["stats"]["label_distribution"] == {"positive": 80, "negative": 20}

    train, validation = dataset_version_split(
        version=source, validation_fraction=0.2, seed=7, user=cast.member
    )

    def answers(version):
        rows = default_storage.open(version.file.name).read().splitlines()
        return [json.loads(r)["messages"][-1]["content"] for r in rows]

    assert (train.split_role, validation.split_role) == ("train", "validation")
    assert train.parent == validation.parent == source
    assert sorted(answers(validation)) == ["negative"] * 4 + ["positive"] * 16
    assert len(answers(train)) == 80
    assert "seed 7, stratified by label" in validation.note
    # Same seed, same split: the versions are reused, not duplicated.
    again = dataset_version_split(version=source, validation_fraction=0.2, seed=7, user=cast.member)
    assert [v.pk for v in again] == [train.pk, validation.pk]


def test_only_valid_versions_are_split_or_converted(cast):
    dataset = make_dataset(cast.project, kind="completion")
    _, version, _ = upload(dataset, cast.member, b'{"prompt": "a"}\n')
    dataset_version_validate(version_id=version.pk)
    version.refresh_from_db()
    assert version.status == "invalid"
    with pytest.raises(DatasetInputError, match="Only a valid version can be split"):
        dataset_version_split(version=version, validation_fraction=0.2, seed=1, user=cast.member)
    with pytest.raises(DatasetInputError, match="Only a valid version can be converted"):
        dataset_version_convert_to_chat(version=version, user=cast.member)


def test_alpaca_converts_to_a_chat_dataset_version(cast):
    dataset = make_dataset(cast.project, name="Recipes", kind="alpaca")
    examples = [
        {"instruction": "Translate", "input": f"Hallo {i}", "output": f"Hello {i}"} for i in range(10)
    ]
    source = _valid_version(dataset, cast.member, examples)

    converted = dataset_version_convert_to_chat(version=source, user=cast.member)

    assert converted.dataset.name == "Recipes (chat)"
    assert converted.dataset.kind == "chat"
    assert converted.parent == source
    first = json.loads(default_storage.open(converted.file.name).readline())
    assert first == {
        "messages": [
            {"role": "user", "content": "Translate\n\nHallo 0"},
            {"role": "assistant", "content": "Hello 0"},
        ]
    }
    assert dataset_version_validate(version_id=converted.pk).status == "valid"
