from __future__ import annotations

import hashlib
import json
import os

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from finetune_portal.datasets.models import DatasetVersion
from finetune_portal.datasets.services import (
    DatasetInputError,
    csv_convert,
    csv_header,
    dataset_create,
    dataset_upload,
    dataset_version_convert_to_chat,
    dataset_version_split,
    dataset_version_validate,
)
from tests.datasets.samples import chat, chats, lines_of
from tests.factories import make_dataset

pytestmark = pytest.mark.django_db


def stored_files(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def upload(dataset, user, content: bytes, name="train.jsonl", **kwargs):
    uploaded = SimpleUploadedFile(name, content)
    return dataset_upload(dataset=dataset, uploaded_file=uploaded, user=user, **kwargs)


def test_an_upload_becomes_a_content_addressed_version_validated_after_commit(
    cast, eager_celery, django_capture_on_commit_callbacks
):
    dataset = make_dataset(cast.project)
    content = lines_of(chats(12))

    with django_capture_on_commit_callbacks(execute=True):
        kind, version, created = upload(dataset, cast.member, content)

    assert (kind, created) == ("version", True)
    version.refresh_from_db()
    assert version.number == 1
    assert version.sha256 == hashlib.sha256(content).hexdigest()
    assert version.byte_size == len(content)
    assert version.uploaded_by == cast.member
    assert version.file.name.endswith(f"{version.sha256}.jsonl")
    assert default_storage.open(version.file.name).read() == content
    assert version.status == "valid"
    assert version.example_count == 12
    assert version.validation_report["stats"]["examples"] == 12
    assert version.validation_report["stats"]["total_tokens"] > 0


def test_identical_bytes_reuse_the_version_and_a_new_version_records_its_parent(cast, settings):
    dataset = make_dataset(cast.project)
    _, first, _ = upload(dataset, cast.member, lines_of(chats(12)))
    _, again, created_again = upload(dataset, cast.ml_lead, lines_of(chats(12)), name="copy.jsonl")
    _, second, _ = upload(dataset, cast.member, lines_of(chats(13)))

    assert created_again is False
    assert again.pk == first.pk
    assert second.number == 2
    assert second.parent == first
    assert len(stored_files(settings.MEDIA_ROOT)) == 2


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("train.txt", b"{}\n", "is not a .jsonl or .csv file"),
        ("train.jsonl", b"", "is empty"),
    ],
)
def test_bad_uploads_get_a_clear_message_and_store_nothing(cast, settings, name, content, message):
    dataset = make_dataset(cast.project)
    with pytest.raises(DatasetInputError, match=message):
        upload(dataset, cast.member, content, name=name)
    assert not DatasetVersion.objects.exists()
    assert stored_files(settings.MEDIA_ROOT) == []


def test_an_upload_over_the_limit_is_refused(cast, settings):
    settings.DATASET_MAX_UPLOAD_BYTES = 100
    dataset = make_dataset(cast.project)
    with pytest.raises(DatasetInputError, match="larger than the upload limit"):
        upload(dataset, cast.member, lines_of(chats(12)))
    assert stored_files(settings.MEDIA_ROOT) == []


def test_a_failed_save_leaves_no_orphan_file(cast, settings, monkeypatch):
    from finetune_portal.datasets import services

    def broken_audit(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "audit_log", broken_audit)
    dataset = make_dataset(cast.project)
    with pytest.raises(RuntimeError):
        upload(dataset, cast.member, lines_of(chats(12)))
    assert not DatasetVersion.objects.exists()
    assert stored_files(settings.MEDIA_ROOT) == []


def test_dataset_names_are_unique_per_project(cast):
    dataset_create(project=cast.project, name="Reviews", kind="chat", user=cast.member)
    with pytest.raises(DatasetInputError, match="already has a dataset named"):
        dataset_create(project=cast.project, name="Reviews", kind="chat", user=cast.member)


BANK_CSV = (
    "review,sentiment,stars\n"
    + "".join(
        f'"Review {i}, with a comma",{"negative" if i % 3 == 0 else "positive"},{i % 5}\n' for i in range(30)
    )
).encode()


def test_a_csv_of_bank_reviews_converts_to_chat_with_a_system_prompt(cast, settings):
    dataset = make_dataset(cast.project)
    kind, token, _ = upload(dataset, cast.member, BANK_CSV, name="reviews.csv")
    assert kind == "csv"
    header, sample = csv_header(dataset=dataset, token=token)
    assert header == ["review", "sentiment", "stars"]
    assert sample[0] == ["Review 0, with a comma", "negative", "0"]

    version, _ = csv_convert(
        dataset=dataset,
        token=token,
        prompt_column="review",
        answer_column="sentiment",
        system_prompt="Classify the sentiment of a bank review.",
        user=cast.member,
        original_filename="reviews.csv",
    )

    lines = default_storage.open(version.file.name).read().splitlines()
    assert len(lines) == 30
    assert json.loads(lines[1]) == {
        "messages": [
            {"role": "system", "content": "Classify the sentiment of a bank review."},
            {"role": "user", "content": "Review 1, with a comma"},
            {"role": "assistant", "content": "positive"},
        ]
    }
    assert "user=review, assistant=sentiment" in version.note
    # The staged CSV is gone; only the version's file remains.
    assert stored_files(settings.MEDIA_ROOT) == [version.file.name]


def test_a_mapping_that_names_a_missing_column_is_refused(cast):
    dataset = make_dataset(cast.project)
    _, token, _ = upload(dataset, cast.member, BANK_CSV, name="reviews.csv")
    expected = "no column 'label'; its columns are review, sentiment, stars"
    with pytest.raises(DatasetInputError, match=expected):
        csv_convert(
            dataset=dataset, token=token, prompt_column="review", answer_column="label", user=cast.member
        )
    assert not DatasetVersion.objects.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"review,sentiment\n" + b'"unterminated,positive\n' * 2 + b"a,b,c\n", "malformed"),
        (b"review,sentiment\ngood,positive\nbad\n", "malformed at line 3: 1 field"),
        (b"review,sentiment\n\xff\xfe broken,x\n", "not UTF-8"),
    ],
)
def test_a_malformed_csv_gets_a_clear_message(cast, settings, content, message):
    dataset = make_dataset(cast.project)

    def stage_and_convert():
        _, token, _ = upload(dataset, cast.member, content, name="bad.csv")
        csv_convert(
            dataset=dataset, token=token, prompt_column="review", answer_column="sentiment", user=cast.member
        )

    with pytest.raises(DatasetInputError, match=message):
        stage_and_convert()
    assert not DatasetVersion.objects.exists()


def test_a_csv_without_a_header_is_refused_and_not_kept(cast, settings):
    dataset = make_dataset(cast.project)
    with pytest.raises(DatasetInputError, match="no header"):
        upload(dataset, cast.member, b"\n\n", name="blank.csv")
    assert stored_files(settings.MEDIA_ROOT) == []


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


def test_validation_is_idempotent_and_finishes_a_version_stuck_in_validating(cast):
    dataset = make_dataset(cast.project)
    _, version, _ = upload(dataset, cast.member, lines_of(chats(12)))
    # A worker crashed half way: the version says validating, with stale progress.
    DatasetVersion.objects.filter(pk=version.pk).update(status="validating", validation_lines_read=5)

    finished = dataset_version_validate(version_id=version.pk)

    assert finished.status == "valid"
    assert finished.validation_lines_read == 12
    assert finished.validated_at is not None
    assert dataset_version_validate(version_id=version.pk) is None  # settled: left alone


def test_a_missing_stored_file_makes_the_version_invalid_with_a_message(cast):
    dataset = make_dataset(cast.project)
    _, version, _ = upload(dataset, cast.member, lines_of(chats(12)))
    os.remove(default_storage.path(version.file.name))

    finished = dataset_version_validate(version_id=version.pk)

    assert finished.status == "invalid"
    assert "missing" in finished.validation_report["errors"][0]["message"]
