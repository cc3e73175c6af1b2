from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from finetune_portal.datasets.models import DatasetVersion
from finetune_portal.datasets.tasks import dataset_version_validate_task, dataset_versions_resume_stale_task
from tests.datasets.samples import chats, lines_of
from tests.factories import make_dataset, make_version

pytestmark = pytest.mark.django_db


def test_the_task_validates_by_id_and_a_second_delivery_changes_nothing(cast):
    version = make_version(make_dataset(cast.project), content=lines_of(chats(12)), status="uploaded")

    first = dataset_version_validate_task.apply(args=[version.pk])
    version.refresh_from_db()
    validated_at = version.validated_at
    second = dataset_version_validate_task.apply(args=[version.pk])
    version.refresh_from_db()

    assert first.get() == "valid"
    assert second.get() is None
    assert version.validated_at == validated_at
    assert version.example_count == 12


def test_lost_validations_are_started_again(cast, eager_celery):
    dataset = make_dataset(cast.project)
    long_ago = timezone.now() - timedelta(hours=1)
    crashed = make_version(dataset, content=lines_of(chats(12)), status="validating")
    never_picked_up = make_version(dataset, content=lines_of(chats(11)), status="uploaded")
    running_now = make_version(dataset, content=lines_of(chats(10)), status="validating")
    DatasetVersion.objects.filter(pk=crashed.pk).update(validation_progress_at=long_ago)
    DatasetVersion.objects.filter(pk=never_picked_up.pk).update(created_at=long_ago)
    DatasetVersion.objects.filter(pk=running_now.pk).update(validation_progress_at=timezone.now())

    assert dataset_versions_resume_stale_task.apply().get() == 2

    statuses = dict(DatasetVersion.objects.values_list("pk", "status"))
    assert statuses == {crashed.pk: "valid", never_picked_up.pk: "valid", running_now.pk: "validating"}


def test_the_resume_task_is_on_the_beat_schedule():
    from finetune_portal.celery import app

    entry = app.conf.beat_schedule["datasets-resume-stale-validations"]
    assert entry["task"] == dataset_versions_resume_stale_task.name
