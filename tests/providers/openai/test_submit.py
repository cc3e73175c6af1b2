"""Submitting to OpenAI exactly once, through the real SDK against the stand-in and the real database."""

from __future__ import annotations

from datetime import timedelta

import openai
import pytest
from django.utils import timezone

from finetune_portal.jobs.models import FineTuningJob, MetricPoint
from finetune_portal.jobs.states import JobStatus
from finetune_portal.providers.openai.mapping import RetryLater
from finetune_portal.providers.openai.models import UploadedFile
from finetune_portal.providers.openai.reaper import jobs_reap
from finetune_portal.providers.openai.submit import (
    CLAIM_STALE_AFTER,
    claim_for_submit,
    job_submit,
    provider_job_create,
)
from finetune_portal.registry.models import FineTunedModel
from tests.providers.openai.conftest import (
    GRADER,
    chat_lines,
    follow,
    jobs_at,
    make_valid_version,
    queued_job,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("method", "kind", "model", "hyperparameters", "wire_type"),
    [
        ("dpo", "dpo", "gpt-4.1-mini-2025-04-14", {"beta": 0.2, "n_epochs": 2}, "dpo"),
        (
            "rft",
            "rft",
            "o4-mini-2025-04-16",
            {"reasoning_effort": "low", "eval_interval": 2},
            "reinforcement",
        ),
    ],
)
def test_dpo_and_rft_jobs_send_their_method_and_succeed(
    cast, standin, openai_credential, method, kind, model, hyperparameters, wire_type
):
    job = queued_job(
        cast,
        method=method,
        base_model=model,
        training_version=make_valid_version(cast.project, kind=kind),
        hyperparameters=hyperparameters,
        provider_data={"grader": GRADER} if method == "rft" else {},
    )
    job_submit(job_id=job.pk, worker_id="task-1")
    job = follow(standin, job)

    [remote] = jobs_at(standin)
    assert remote["method"]["type"] == wire_type
    sent = remote["method"][wire_type]["hyperparameters"]
    for key, value in hyperparameters.items():
        assert sent[key] == value
    if method == "rft":
        assert remote["method"]["reinforcement"]["grader"] == GRADER
    assert job.status == JobStatus.SUCCEEDED
    assert FineTunedModel.objects.filter(job=job, provider_model_id=remote["fine_tuned_model"]).exists()
    assert MetricPoint.objects.filter(job=job).count() > 0


def test_the_same_file_is_uploaded_once_per_credential(cast, standin, openai_credential):
    version = make_valid_version(cast.project)
    first, second = queued_job(cast, training_version=version), queued_job(cast, training_version=version)
    job_submit(job_id=first.pk, worker_id="a")
    job_submit(job_id=second.pk, worker_id="b")
    uploads = [r for r in standin.state.requests if r["method"] == "POST" and r["path"] == "/v1/files"]
    assert len(uploads) == 1
    assert UploadedFile.objects.filter(credential=openai_credential, sha256=version.sha256).count() == 1
    assert len({job["training_file"] for job in jobs_at(standin)}) == 1


def test_a_dropped_create_response_is_adopted_not_repeated(cast, standin, openai_credential):
    job = queued_job(cast)
    standin.state.faults.drop_after_handling.append(("POST", "/fine_tuning/jobs"))

    job_submit(job_id=job.pk, worker_id="task-1")

    job.refresh_from_db()
    [remote] = jobs_at(standin)
    assert job.provider_job_id == remote["id"]
    assert job.status == JobStatus.SUBMITTED
    creates = [
        r for r in standin.state.requests if r["method"] == "POST" and r["path"] == "/v1/fine_tuning/jobs"
    ]
    assert len(creates) == 1, "the SDK must not retry a create"


def test_a_create_that_times_out_after_creating_is_adopted(cast, standin, openai_credential):
    job = queued_job(cast)
    standin.state.faults.delay_after_handling.append(("POST", "/fine_tuning/jobs", 3.0))

    job_submit(job_id=job.pk, worker_id="task-1")

    job.refresh_from_db()
    assert len(jobs_at(standin)) == 1
    assert job.provider_job_id == jobs_at(standin)[0]["id"]


def test_a_5xx_before_creating_is_retried_later_by_the_same_task(cast, standin, openai_credential):
    job = queued_job(cast)
    standin.state.faults.statuses.append(("POST", "/fine_tuning/jobs", 500, {}))

    with pytest.raises(RetryLater):
        job_submit(job_id=job.pk, worker_id="task-1")
    job.refresh_from_db()
    assert job.status == JobStatus.VALIDATING_FILES
    assert job.claimed_by == "task-1"
    assert jobs_at(standin) == []

    job_submit(job_id=job.pk, worker_id="task-1")  # Celery's retry keeps the task id
    job.refresh_from_db()
    assert job.status == JobStatus.SUBMITTED
    assert len(jobs_at(standin)) == 1


def test_another_worker_does_not_take_a_fresh_claim(cast, standin, openai_credential):
    job = queued_job(cast)
    standin.state.faults.statuses.append(("POST", "/fine_tuning/jobs", 503, {}))
    with pytest.raises(RetryLater):
        job_submit(job_id=job.pk, worker_id="task-1")

    job_submit(job_id=job.pk, worker_id="task-2")

    job.refresh_from_db()
    assert job.claimed_by == "task-1"
    assert jobs_at(standin) == []


def test_a_worker_killed_between_create_and_save_is_adopted_by_redelivery_and_by_the_reaper(
    cast, standin, openai_credential
):
    job = queued_job(cast)
    client = openai.OpenAI(api_key="sk-standin-test-0000", base_url=standin.base_url)
    # What the dead worker got done: it claimed the job and OpenAI created it, then the process died.
    assert claim_for_submit(job, worker_id="dead-task")
    upload = client.files.create(file=("t.jsonl", chat_lines()), purpose="fine-tune")
    provider_job_create(client, job, training_file=upload.id)
    [remote] = jobs_at(standin)

    # The reaper ignores a claim until it is stale.
    assert job.pk not in jobs_reap().resubmit
    later = timezone.now() + CLAIM_STALE_AFTER + timedelta(seconds=1)
    assert job.pk in jobs_reap(now=later).resubmit
    job.refresh_from_db()
    job.heartbeat_at = job.heartbeat_at - CLAIM_STALE_AFTER - timedelta(seconds=1)
    FineTuningJob.objects.filter(pk=job.pk).update(heartbeat_at=job.heartbeat_at)

    job_submit(job_id=job.pk, worker_id="reaper-task")

    job.refresh_from_db()
    assert job.provider_job_id == remote["id"]
    assert job.status == JobStatus.SUBMITTED
    assert len(jobs_at(standin)) == 1


def test_a_redelivered_message_adopts_without_waiting(cast, standin, openai_credential):
    job = queued_job(cast)
    client = openai.OpenAI(api_key="sk-standin-test-0000", base_url=standin.base_url)
    assert claim_for_submit(job, worker_id="task-1")
    upload = client.files.create(file=("t.jsonl", chat_lines()), purpose="fine-tune")
    provider_job_create(client, job, training_file=upload.id)

    job_submit(job_id=job.pk, worker_id="task-1")  # same message delivered again

    job.refresh_from_db()
    assert job.provider_job_id == jobs_at(standin)[0]["id"]
    assert len(jobs_at(standin)) == 1


def test_a_task_delivered_again_after_success_does_nothing(cast, standin, openai_credential):
    job = queued_job(cast)
    job_submit(job_id=job.pk, worker_id="task-1")
    job_submit(job_id=job.pk, worker_id="task-1")
    job_submit(job_id=job.pk, worker_id="task-2")
    assert len(jobs_at(standin)) == 1


def test_a_rate_limited_create_waits_as_long_as_openai_asks(cast, standin, openai_credential):
    job = queued_job(cast)
    standin.state.faults.statuses.append(("POST", "/fine_tuning/jobs", 429, {"retry-after": "7"}))
    with pytest.raises(RetryLater) as caught:
        job_submit(job_id=job.pk, worker_id="task-1")
    assert caught.value.retry_after == 7
    assert jobs_at(standin) == []


def test_a_refused_create_fails_the_job_with_the_message_and_a_hint(cast, standin, openai_credential):
    job = queued_job(cast, base_model="gpt-9-imaginary")
    job_submit(job_id=job.pk, worker_id="task-1")
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error_message == "Model gpt-9-imaginary is not available for fine-tuning or does not exist."
    assert "base model" in job.error_hint
    assert jobs_at(standin) == []


def test_without_a_credential_the_job_fails_and_says_where_to_add_one(cast):
    job = queued_job(cast)
    job_submit(job_id=job.pk, worker_id="task-1")
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "No OpenAI credential" in job.error_message
    assert "Credentials" in job.error_hint


def test_an_exhausted_quota_fails_the_job_instead_of_retrying(cast, standin, openai_credential):
    job = queued_job(cast)
    standin.state.faults.statuses.append(("POST", "/fine_tuning/jobs", 429, {}, "insufficient_quota"))

    job_submit(job_id=job.pk, worker_id="task-1")

    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error_message.startswith("You exceeded your current quota")
    assert "out of credit" in job.error_hint
    assert jobs_at(standin) == []
