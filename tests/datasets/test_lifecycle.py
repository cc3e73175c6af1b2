"""Archiving and deleting datasets and versions: hidden but reachable, kept when a job used them."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from finetune_portal.core.models import AuditEntry
from finetune_portal.datasets.models import Dataset, DatasetVersion
from finetune_portal.datasets.selectors import versions_selectable_for_jobs
from finetune_portal.providers.openai.forms import OpenAIJobForm
from tests.factories import PASSWORD, make_dataset, make_job, make_version

pytestmark = pytest.mark.django_db


def login(client, user):
    client.login(username=user.username, password=PASSWORD)
    return client


def url(name, *args):
    return reverse(name, args=args)


def test_an_archived_version_leaves_the_list_and_launch_forms_but_stays_reachable(client, cast):
    dataset = make_dataset(cast.project, name="Reviews", created_by=cast.member)
    kept = make_version(dataset)
    archived = make_version(dataset, uploaded_by=cast.member)
    login(client, cast.member)

    response = client.post(url("datasets:version_archive", cast.project.slug, dataset.pk, archived.number))

    assert response.status_code == 302
    archived.refresh_from_db()
    assert archived.archived_at is not None
    assert list(versions_selectable_for_jobs(cast.project)) == [kept]
    form = OpenAIJobForm(project=cast.project, user=cast.member)
    assert list(form.fields["training_version"].queryset) == [kept]
    detail = client.get(url("datasets:detail", cast.project.slug, dataset.pk)).content.decode()
    assert 'data-version="2"' not in detail
    assert "Archived versions (1)" in detail
    assert (
        'data-version="2"'
        in client.get(url("datasets:detail", cast.project.slug, dataset.pk) + "?archived=1").content.decode()
    )
    page = client.get(url("datasets:version", cast.project.slug, dataset.pk, archived.number))
    assert page.status_code == 200
    assert "This version was archived" in page.content.decode()
    # And back.
    client.post(
        url("datasets:version_archive", cast.project.slug, dataset.pk, archived.number), {"archived": "0"}
    )
    assert DatasetVersion.objects.get(pk=archived.pk).archived_at is None


def test_an_archived_dataset_leaves_the_list_and_its_versions_leave_launch_forms(client, cast):
    dataset = make_dataset(cast.project, name="Old reviews", created_by=cast.member)
    make_version(dataset)
    login(client, cast.member)

    client.post(url("datasets:archive", cast.project.slug, dataset.pk))

    listing = client.get(url("datasets:list", cast.project.slug)).content.decode()
    assert "Archived Old reviews: it is hidden" in listing  # the confirmation
    assert ">Old reviews</a>" not in listing
    assert "Archived (1)" in listing
    assert (
        "Old reviews" in client.get(url("datasets:list", cast.project.slug) + "?archived=1").content.decode()
    )
    assert not versions_selectable_for_jobs(cast.project).exists()
    assert client.get(url("datasets:detail", cast.project.slug, dataset.pk)).status_code == 200
    assert AuditEntry.objects.filter(action="dataset.archive").count() == 1


def test_deleting_a_version_removes_its_stored_file_after_commit(
    client, cast, django_capture_on_commit_callbacks
):
    dataset = make_dataset(cast.project, created_by=cast.member)
    version = make_version(dataset, uploaded_by=cast.member)
    name = version.file.name
    login(client, cast.member)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(url("datasets:version_delete", cast.project.slug, dataset.pk, version.number))

    assert response.status_code == 302
    assert len(callbacks) == 1
    assert not DatasetVersion.objects.filter(pk=version.pk).exists()
    assert not default_storage.exists(name)
    assert AuditEntry.objects.filter(action="dataset.version.delete").count() == 1


def test_a_version_a_job_used_is_kept_and_says_why(client, cast):
    dataset = make_dataset(cast.project, created_by=cast.member)
    version = make_version(dataset, uploaded_by=cast.member)
    job = make_job(cast.project, name="support v1", training_version=version)
    login(client, cast.member)

    page = client.get(url("datasets:version", cast.project.slug, dataset.pk, version.number)).content.decode()
    response = client.post(
        url("datasets:version_delete", cast.project.slug, dataset.pk, version.number), follow=True
    )
    dataset_response = client.post(url("datasets:delete", cast.project.slug, dataset.pk), follow=True)

    assert f"v1 is kept: job #{job.pk} &#x27;support v1&#x27; used v1." in page
    assert "Delete v1" not in page
    assert "v1 is kept" in response.content.decode()
    assert "is kept because jobs used it" in dataset_response.content.decode()
    assert DatasetVersion.objects.filter(pk=version.pk).exists()
    assert default_storage.exists(version.file.name)


def test_deleting_a_dataset_removes_every_version_file(client, cast, django_capture_on_commit_callbacks):
    dataset = make_dataset(cast.project, created_by=cast.member)
    names = [make_version(dataset).file.name for _ in range(2)]
    login(client, cast.member)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url("datasets:delete", cast.project.slug, dataset.pk))

    assert response["Location"] == url("datasets:list", cast.project.slug)
    assert not Dataset.objects.filter(pk=dataset.pk).exists()
    assert not any(default_storage.exists(n) for n in names)


def test_only_ml_leads_and_the_owner_archive_or_delete(client, cast):
    dataset = make_dataset(cast.project, created_by=cast.ml_lead)
    version = make_version(dataset, uploaded_by=cast.ml_lead)
    login(client, cast.member)

    assert client.post(url("datasets:delete", cast.project.slug, dataset.pk)).status_code == 403
    assert client.post(url("datasets:version_archive", cast.project.slug, dataset.pk, 1)).status_code == 403
    assert (
        "Archive or delete"
        not in client.get(url("datasets:version", cast.project.slug, dataset.pk, 1)).content.decode()
    )
    assert client.get(url("datasets:delete", cast.project.slug, dataset.pk)).status_code == 405
    assert DatasetVersion.objects.filter(pk=version.pk, archived_at__isnull=True).exists()


def test_a_second_delete_of_the_same_version_is_a_no_op(cast, django_capture_on_commit_callbacks):
    from finetune_portal.datasets.lifecycle import dataset_version_delete

    version = make_version(make_dataset(cast.project))
    stale = DatasetVersion.objects.get(pk=version.pk)

    with django_capture_on_commit_callbacks(execute=True):
        dataset_version_delete(version=version, user=cast.member)
        dataset_version_delete(version=stale, user=cast.member)

    assert AuditEntry.objects.filter(action="dataset.version.delete").count() == 1
