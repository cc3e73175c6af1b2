"""The upload view decides who may upload, and whether the declared size fits, before reading the body."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from finetune_portal.datasets import uploads
from finetune_portal.datasets.models import DatasetVersion
from tests.datasets.samples import lines_of
from tests.factories import make_dataset

pytestmark = pytest.mark.django_db


@pytest.fixture
def bytes_received(monkeypatch):
    """Counts the file bytes the upload handler is given."""
    seen = {"bytes": 0}
    receive = uploads.HashingTemporaryFileUploadHandler.receive_data_chunk

    def counting(self, raw_data, start):
        seen["bytes"] += len(raw_data)
        return receive(self, raw_data, start)

    monkeypatch.setattr(uploads.HashingTemporaryFileUploadHandler, "receive_data_chunk", counting)
    return seen


def _file(size: int):
    from django.core.files.uploadedfile import SimpleUploadedFile

    line = b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}\n'
    return SimpleUploadedFile("data.jsonl", line * (size // len(line) + 1), "application/octet-stream")


def test_a_non_members_upload_is_refused_unread(cast, bytes_received):
    # CSRF checked as in a browser: its check is what read the body before the access check did.
    client = Client(enforce_csrf_checks=True)
    dataset = make_dataset(cast.project)
    client.force_login(cast.outsider)

    response = client.post(
        reverse("datasets:upload", args=[cast.project.slug, dataset.pk]),
        {"file": _file(2 * 1024 * 1024), "target": "openai"},
    )

    assert response.status_code == 404
    assert bytes_received["bytes"] == 0
    assert not DatasetVersion.objects.exists()


def test_a_member_without_upload_rights_is_refused_unread(client, cast, bytes_received, monkeypatch):
    from finetune_portal.projects.access import ProjectAccess

    monkeypatch.setattr(ProjectAccess, "can_upload_datasets", property(lambda self: False))
    dataset = make_dataset(cast.project)
    client.force_login(cast.member)

    response = client.post(
        reverse("datasets:upload", args=[cast.project.slug, dataset.pk]),
        {"file": _file(1024), "target": "openai"},
    )

    assert response.status_code == 403
    assert bytes_received["bytes"] == 0


def test_a_declared_size_over_the_limit_is_refused_unread(client, cast, bytes_received, settings):
    settings.DATASET_MAX_UPLOAD_BYTES = 64 * 1024
    dataset = make_dataset(cast.project)
    client.force_login(cast.member)

    response = client.post(
        reverse("datasets:upload", args=[cast.project.slug, dataset.pk]),
        {"file": _file(2 * 1024 * 1024), "target": "openai"},
    )

    assert response.status_code == 413
    assert "larger than the upload limit" in response.content.decode()
    assert bytes_received["bytes"] == 0


def test_a_member_still_uploads(client, cast, bytes_received):
    dataset = make_dataset(cast.project)
    client.force_login(cast.member)
    content = lines_of(
        [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}] * 12
    )
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client.post(
        reverse("datasets:upload", args=[cast.project.slug, dataset.pk]),
        {"file": SimpleUploadedFile("d.jsonl", content), "target": "openai"},
    )

    assert response.status_code == 302
    assert bytes_received["bytes"] == len(content)
