"""The reaper: jobs whose worker went silent, and starts the gpu queue lost."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from finetune_portal.jobs import claims
from finetune_portal.jobs.models import FineTuningJob
from finetune_portal.jobs.services import job_transition
from finetune_portal.jobs.states import JobStatus
from finetune_portal.providers.peft import reaper
from tests.celery_support import DEAD_BROKER, broker_for_test, wait_for
from tests.providers.peft.helpers import launch, queued_local_job

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_reaper_fails_a_job_whose_worker_went_silent(cast, chat_versions):
    from finetune_portal.celery import app

    train, _ = chat_versions
    job = queued_local_job(cast, base_model="demo:tiny", training_version=train)
    assert claims.job_claim(job=job, claimant="gpu-7:abc")
    job_transition(job=job, to=JobStatus.RUNNING)
    # The worker dies: no more heartbeats. Eleven minutes later the reaper runs.
    FineTuningJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=11))

    from finetune_portal.providers.peft.tasks import jobs_reap_task

    reaped = jobs_reap_task.apply().get()

    assert reaped == {"failed": [job.pk], "resent": []}
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "gpu-7:abc" in job.error_message
    assert "stopped sending heartbeats" in job.error_message
    assert job.error_hint.startswith("Launch the job again")
    entry = app.conf.beat_schedule["peft-reap-stalled-jobs"]
    assert entry["task"] == "finetune_portal.providers.peft.tasks.jobs_reap_task"
    assert entry["options"]["queue"] == "default"


def test_the_reaper_leaves_a_beating_job_alone(cast, chat_versions):
    train, _ = chat_versions
    job = queued_local_job(cast, base_model="demo:tiny", training_version=train)
    claims.job_claim(job=job, claimant="gpu-7:abc")

    assert reaper.jobs_reap_stalled() == []
    job.refresh_from_db()
    assert job.status == JobStatus.VALIDATING_FILES


def test_a_launch_while_the_broker_is_down_is_kept_and_trained_once_the_reaper_sends_it(
    cast, chat_versions, gpu_worker
):
    from finetune_portal.celery import app
    from finetune_portal.providers.peft.tasks import jobs_reap_task

    with broker_for_test(app, DEAD_BROKER):
        job = launch(cast, versions=chat_versions)

    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED
    warning = job.events.get(level="warn")
    assert "could not be handed to the workers" in warning.message
    # Freshly launched: the reaper gives the broker time before calling the start lost.
    assert jobs_reap_task.apply().get()["resent"] == []

    FineTuningJob.objects.filter(pk=job.pk).update(status_changed_at=timezone.now() - timedelta(minutes=6))
    assert jobs_reap_task.apply().get()["resent"] == [job.pk]
    wait_for(lambda: FineTuningJob.objects.get(pk=job.pk).is_final, timeout=120)

    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert job.provider_data["start_resends"] == 1
    assert job.events.filter(provider_event_id="start-resent-1").exists()
    # Sent again once only: the next pass finds nothing queued.
    assert jobs_reap_task.apply().get()["resent"] == []
    assert list(job.transitions.values_list("to_status", flat=True)) == [
        "queued",
        "validating_files",
        "running",
        "succeeded",
    ]


def test_a_job_waiting_behind_a_long_training_is_not_sent_again(cast, chat_versions):
    train, _ = chat_versions
    waiting = queued_local_job(cast, base_model="demo:tiny", training_version=train)
    FineTuningJob.objects.filter(pk=waiting.pk).update(status_changed_at=timezone.now() - timedelta(hours=5))

    # Its message is still in the gpu queue, behind the job a worker is training.
    assert reaper.jobs_resend_lost_starts(waiting=1) == []
    # The broker could not be asked: nothing is sent on a guess.
    assert reaper.jobs_resend_lost_starts(waiting=None) == []
    waiting.refresh_from_db()
    assert "start_resends" not in waiting.provider_data


def test_only_as_many_starts_as_the_queue_lacks_are_sent_the_longest_waiting_first(cast, chat_versions):
    train, _ = chat_versions
    now = timezone.now()
    jobs = []
    for minutes_ago in (30, 60, 45, 2):
        job = queued_local_job(cast, base_model="demo:tiny", training_version=train)
        FineTuningJob.objects.filter(pk=job.pk).update(status_changed_at=now - timedelta(minutes=minutes_ago))
        jobs.append(job)
    thirty, sixty, forty_five, _fresh = jobs

    # Four queued, two messages waiting: two starts are missing.
    assert reaper.jobs_resend_lost_starts(waiting=2, now=now) == [sixty.pk, forty_five.pk]
    # A minute later even fewer wait. Jobs just sent again, and the fresh launch (its own message may
    # still be on its way), are left for a later pass.
    assert reaper.jobs_resend_lost_starts(waiting=0, now=now + timedelta(minutes=1)) == [thirty.pk]
    resent = FineTuningJob.objects.filter(provider_data__has_key="start_resends")
    assert set(resent.values_list("pk", flat=True)) == {sixty.pk, forty_five.pk, thirty.pk}
