"""Storing a version: content-addressed, validated after commit, no orphan files; validating it again."""

from __future__ import annotations

import hashlib
import os

import pytest
from django.core.files.storage import default_storage

from finetune_portal.datasets.errors import DatasetInputError
from finetune_portal.datasets.models import DatasetVersion
from finetune_portal.datasets.versions import dataset_create, dataset_version_validate
from finetune_portal.providers.registry import default_provider_key
from tests.datasets.samples import chats, lines_of, stored_files, upload
from tests.factories import make_dataset

pytestmark = pytest.mark.django_db


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


def test_a_failed_save_leaves_no_orphan_file(cast, settings, monkeypatch):
    from finetune_portal.datasets import versions

    def broken_audit(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(versions, "audit_log", broken_audit)
    dataset = make_dataset(cast.project)
    with pytest.raises(RuntimeError):
        upload(dataset, cast.member, lines_of(chats(12)))
    assert not DatasetVersion.objects.exists()
    assert stored_files(settings.MEDIA_ROOT) == []


def test_dataset_names_are_unique_per_project(cast):
    dataset_create(project=cast.project, name="Reviews", kind="chat", user=cast.member)
    with pytest.raises(DatasetInputError, match="already has a dataset named"):
        dataset_create(project=cast.project, name="Reviews", kind="chat", user=cast.member)


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


def test_a_version_stored_without_a_target_is_checked_for_the_default_provider(cast):
    dataset = make_dataset(cast.project)
    _, version, _ = upload(dataset, cast.member, lines_of(chats(12)))

    assert version.validation_target == default_provider_key()
    assert dataset_version_validate(version_id=version.pk).status == "valid"


def test_a_validator_crash_settles_the_version_invalid_with_the_line_and_logs_it(cast, monkeypatch, caplog):
    from finetune_portal.datasets.validation.kinds import CHECKERS

    def broken_check(example):
        if example["messages"][1]["content"] == "Question number 6?":
            raise TypeError("unhashable type: 'list'")
        return checker(example)

    checker = CHECKERS["chat"]
    monkeypatch.setitem(CHECKERS, "chat", broken_check)
    dataset = make_dataset(cast.project)
    _, version, _ = upload(dataset, cast.member, lines_of(chats(12)))

    finished = dataset_version_validate(version_id=version.pk)

    assert finished.status == "invalid"
    assert finished.validation_report["errors"] == [
        {
            "line": 7,
            "message": "Internal error while validating, line 7 (TypeError): the validator failed, not "
            "necessarily your file, so the file could not be checked. The error is logged for the "
            "maintainers.",
        }
    ]
    assert finished.validated_at is not None
    logged = [r for r in caplog.records if "Internal error while validating" in r.getMessage()]
    assert logged
    assert logged[0].exc_info is not None
    assert dataset_version_validate(version_id=version.pk) is None  # settled: not retried
