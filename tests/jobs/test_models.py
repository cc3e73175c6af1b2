from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from finetune_portal.jobs.models import FineTuningJob, JobEvent, MetricPoint
from finetune_portal.jobs.services import job_event_record, metric_points_record
from tests.factories import make_job, make_project


@pytest.mark.django_db
def test_a_duplicate_metric_step_is_rejected_by_the_database():
    job = make_job(make_project())
    MetricPoint.objects.create(job=job, step=10, train_loss=1.0)

    with pytest.raises(IntegrityError), transaction.atomic():
        MetricPoint.objects.create(job=job, step=10, train_loss=2.0)


@pytest.mark.django_db
def test_the_same_step_may_exist_in_two_jobs():
    project = make_project()
    first, second = make_job(project), make_job(project)
    MetricPoint.objects.create(job=first, step=1, train_loss=1.0)
    MetricPoint.objects.create(job=second, step=1, train_loss=1.0)
    assert MetricPoint.objects.filter(step=1).count() == 2


@pytest.mark.django_db
def test_recording_points_twice_keeps_one_point_per_step_and_the_first_values():
    job = make_job(make_project())
    points = [{"step": s, "train_loss": 2.0 / s, "lr": 0.1} for s in range(1, 6)]

    assert metric_points_record(job=job, points=points) == 5
    assert metric_points_record(job=job, points=[{"step": 3, "train_loss": 99.0}, {"step": 6}]) == 1

    assert list(job.metric_points.values_list("step", flat=True)) == [1, 2, 3, 4, 5, 6]
    third = job.metric_points.get(step=3)
    assert third.train_loss == pytest.approx(2.0 / 3)
    assert third.extra == {"lr": 0.1}
    assert FineTuningJob.objects.get(pk=job.pk).last_progress_at is not None


@pytest.mark.django_db
def test_an_event_id_is_stored_once_per_job():
    job = make_job(make_project())
    assert job_event_record(job=job, message="Step 1", provider_event_id="ftevent-1") is True
    assert job_event_record(job=job, message="Step 1 again", provider_event_id="ftevent-1") is False
    assert job_event_record(job=job, message="a local note") is True
    assert job_event_record(job=job, message="another local note") is True
    assert JobEvent.objects.filter(job=job).count() == 3


@pytest.mark.django_db
def test_status_values_outside_the_machine_are_rejected_by_the_database():
    job = make_job(make_project())
    with pytest.raises(IntegrityError), transaction.atomic():
        FineTuningJob.objects.filter(pk=job.pk).update(status="exploded")
