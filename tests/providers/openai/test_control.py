"""Cancel, pause and resume at OpenAI, against the stand-in."""

from __future__ import annotations

import threading
import time

import openai
import pytest

from finetune_portal.jobs.models import FineTuningJob
from finetune_portal.jobs.services import job_cancel, job_pause, job_resume
from finetune_portal.jobs.states import JobStatus
from finetune_portal.providers.base import ProviderUnavailable
from finetune_portal.providers.openai.control import (
    job_cancel_at_provider,
    job_pause_at_provider,
    job_resume_at_provider,
)
from finetune_portal.providers.openai.submit import claim_for_submit, job_submit
from finetune_portal.providers.openai.sync import job_poll
from finetune_portal.registry.models import FineTunedModel
from tests.celery_support import task_sends
from tests.factories import make_job
from tests.providers.openai.conftest import follow, jobs_at, queued_job

pytestmark = pytest.mark.django_db


def _cancel(job, user):
    job.refresh_from_db()
    job_cancel(job=job, actor=user)
    job.refresh_from_db()
    if job.status == JobStatus.CANCELLING:
        job_cancel_at_provider(job_id=job.pk)
    job.refresh_from_db()
    return job


def test_cancel_before_the_worker_claims_it_never_reaches_openai(cast, standin, openai_credential):
    job = _cancel(queued_job(cast), cast.member)
    assert job.status == JobStatus.CANCELLED
    job_submit(job_id=job.pk, worker_id="task-1")
    assert jobs_at(standin) == []


def test_cancel_while_files_are_handed_over_creates_nothing(cast, standin, openai_credential):
    job = queued_job(cast)
    assert claim_for_submit(job, worker_id="task-1")
    job = _cancel(job, cast.member)
    assert job.status == JobStatus.CANCELLED

    job_submit(job_id=job.pk, worker_id="task-1")  # the claiming task runs again

    assert jobs_at(standin) == []


@pytest.mark.django_db(transaction=True)
def test_cancel_during_the_create_call_stops_the_job_openai_just_made(
    cast, standin, openai_credential, memory_broker
):
    job = queued_job(cast)
    standin.state.faults.delay_after_handling.append(("POST", "/fine_tuning/jobs", 1.0))
    worker = threading.Thread(target=job_submit, kwargs={"job_id": job.pk, "worker_id": "task-1"})
    worker.start()
    for _ in range(100):
        if jobs_at(standin):
            break
        time.sleep(0.02)

    job = _cancel(job, cast.member)  # OpenAI has the job, the worker has not heard back yet
    worker.join()

    [remote] = jobs_at(standin)
    assert remote["status"] == "cancelled"
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert job.provider_job_id == remote["id"]


@pytest.mark.parametrize(
    ("seconds", "remote_status"), [(0, "validating_files"), (7, "queued"), (14, "running")]
)
def test_cancel_at_openai_in_each_of_its_states(cast, standin, openai_credential, seconds, remote_status):
    job = queued_job(cast)
    job_submit(job_id=job.pk, worker_id="task-1")
    standin.state.advance(seconds)
    job_poll(job_id=job.pk)
    assert jobs_at(standin)[0]["status"] == remote_status

    job = _cancel(job, cast.member)

    assert job.status == JobStatus.CANCELLED
    assert jobs_at(standin)[0]["status"] == "cancelled"


def test_cancel_of_a_paused_job(cast, standin, openai_credential):
    job = queued_job(cast)
    job_submit(job_id=job.pk, worker_id="task-1")
    job.refresh_from_db()
    standin.state.advance(14)
    openai.OpenAI(api_key="k", base_url=standin.base_url).fine_tuning.jobs.pause(job.provider_job_id)
    job_poll(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.PAUSED
    assert job.provider_status == "paused"

    job = _cancel(job, cast.member)
    assert job.status == JobStatus.CANCELLED


def test_a_job_paused_and_resumed_from_the_portal_goes_on_to_succeed(
    cast, standin, openai_credential, django_capture_on_commit_callbacks
):
    job = queued_job(cast)
    job_submit(job_id=job.pk, worker_id="task-1")
    standin.state.advance(14)
    job_poll(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING

    with django_capture_on_commit_callbacks() as sent:
        job_pause(job=job, actor=cast.member)
    assert len(task_sends(sent)) == 1  # the pause task, once the request commits
    job_pause_at_provider(job_id=job.pk)  # what that task runs

    job.refresh_from_db()
    assert job.status == JobStatus.PAUSED
    assert jobs_at(standin)[0]["status"] == "paused"
    standin.state.advance(600)
    job_poll(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.PAUSED, "a paused job stays paused while time passes"

    with django_capture_on_commit_callbacks(execute=False):
        job_resume(job=job, actor=cast.member)
    job_resume_at_provider(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING

    assert follow(standin, job).status == JobStatus.SUCCEEDED
    assert list(job.transitions.values_list("to_status", flat=True))[-4:] == [
        "running",
        "paused",
        "running",
        "succeeded",
    ]
    requests = job.events.filter(message__endswith=f"requested by {cast.member}.")
    assert sorted(requests.values_list("message", flat=True)) == [
        f"Pause requested by {cast.member}.",
        f"Resume requested by {cast.member}.",
    ]


def test_a_pause_openai_refuses_is_shown_in_its_words(cast, standin, openai_credential):
    job = queued_job(cast)
    job_submit(job_id=job.pk, worker_id="task-1")
    standin.state.advance(7)  # queued at OpenAI, while the portal last saw it running
    FineTuningJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING)

    job_pause_at_provider(job_id=job.pk)

    refusal = job.events.get(level="error")
    assert refusal.message.startswith("OpenAI refused to pause the job: Only running jobs can be paused")
    assert jobs_at(standin)[0]["status"] == "queued"


def test_a_local_job_cannot_be_paused(cast):
    job = make_job(cast.project, created_by=cast.member, status=JobStatus.RUNNING, provider="local_peft")
    with pytest.raises(ProviderUnavailable, match="cannot be paused"):
        job_pause(job=job, actor=cast.member)
    assert not job.events.exists()


def test_cancel_that_arrives_after_the_job_finished_records_how_it_ended(cast, standin, openai_credential):
    job = queued_job(cast)
    job_submit(job_id=job.pk, worker_id="task-1")
    standin.state.advance(14)
    job_poll(job_id=job.pk)
    standin.state.run_to_completion()

    job = _cancel(job, cast.member)

    assert job.status == JobStatus.SUCCEEDED
    assert FineTunedModel.objects.filter(job=job).exists()
