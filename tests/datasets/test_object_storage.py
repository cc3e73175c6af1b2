"""Datasets on an S3-compatible bucket (S3_BUCKET): upload, validation, CSV mapping, split and download."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from finetune_portal.datasets.models import DatasetVersion
from tests.datasets.samples import chats, lines_of
from tests.datasets.test_views import CSV, upload_url, version_url
from tests.factories import PASSWORD, make_dataset

pytestmark = pytest.mark.django_db


@pytest.fixture
def member_client(client, cast):
    client.login(username=cast.member.username, password=PASSWORD)
    return client


def test_an_upload_is_stored_validated_split_and_downloaded_from_the_bucket(
    member_client, cast, s3_storage, eager_celery, django_capture_on_commit_callbacks
):
    dataset = make_dataset(cast.project)
    content = lines_of(chats(20))
    with django_capture_on_commit_callbacks(execute=True):
        member_client.post(upload_url(dataset), {"file": SimpleUploadedFile("chats.jsonl", content)})

    version = DatasetVersion.objects.get(dataset=dataset)
    assert version.status == "valid", version.validation_report
    assert version.example_count == 20
    assert s3_storage.object_keys() == [version.file.name]
    download = member_client.get(version_url(version, "datasets:download"))
    assert b"".join(download.streaming_content) == content

    with django_capture_on_commit_callbacks(execute=True):
        member_client.post(version_url(version, "datasets:split"), {"validation_percent": 20, "seed": 3})
    train, valid = DatasetVersion.objects.filter(dataset=dataset).exclude(pk=version.pk).order_by("number")
    assert (train.example_count, valid.example_count) == (16, 4)
    assert len(s3_storage.object_keys()) == 3


def test_a_csv_is_staged_in_the_bucket_and_mapped_into_a_version(member_client, cast, s3_storage):
    dataset = make_dataset(cast.project)
    response = member_client.post(upload_url(dataset), {"file": SimpleUploadedFile("reviews.csv", CSV)})
    mapping_url = response["Location"]
    assert "<th>review</th>" in member_client.get(mapping_url).content.decode()
    assert any(key.startswith("datasets/staging/") for key in s3_storage.object_keys())

    done = member_client.post(mapping_url, {"prompt_column": "review", "answer_column": "sentiment"})

    version = DatasetVersion.objects.get()
    assert done["Location"] == version_url(version)
    download = b"".join(member_client.get(version_url(version, "datasets:download")).streaming_content)
    first = json.loads(download.splitlines()[0])
    assert first["messages"][-1] == {"role": "assistant", "content": "positive"}


def test_the_version_page_previews_examples_read_from_the_bucket(member_client, cast, s3_storage, tmp_path):
    from finetune_portal.datasets.versions import dataset_version_store, dataset_version_validate

    dataset = make_dataset(cast.project)
    local = tmp_path / "chats.jsonl"
    local.write_bytes(lines_of(chats(3)))
    version, _ = dataset_version_store(dataset=dataset, local_path=str(local), user=cast.member)
    dataset_version_validate(version_id=version.pk)

    page = member_client.get(reverse("datasets:version", args=[cast.project.slug, dataset.pk, 1])).content
    assert b"Line 3" in page
    assert s3_storage.object_keys() == [version.file.name]
