"""The provider's tasks on a real Celery worker: launch, beat's fan-out, polls, to a fine-tuned model."""

from __future__ import annotations

import pytest
from billiard.einfo import ExceptionInfo
from celery.app.trace import get_log_policy, log_policy_expected
from celery.contrib.testing.worker import start_worker

from finetune_portal.celery import app as celery_app
from finetune_portal.jobs.models import FineTuningJob, MetricPoint
from finetune_portal.jobs.services import job_launch
from finetune_portal.jobs.states import JobStatus
from finetune_portal.providers.base import ProviderError
from finetune_portal.providers.openai import tasks
from finetune_portal.providers.openai.mapping import RetryLater
from finetune_portal.providers.openai.tasks import jobs_poll_due_task
from finetune_portal.registry.models import FineTunedModel
from tests.celery_support import wait_for
from tests.factories import make_job
from tests.providers.openai.conftest import make_valid_version


def test_provider_tasks_go_to_the_openai_queue():
    route = celery_app.amqp.router.route
    for name in (
        "job_submit_task",
        "job_poll_task",
        "job_cancel_task",
        "jobs_poll_due_task",
        "jobs_reap_task",
    ):
        assert route({}, f"finetune_portal.providers.openai.tasks.{name}")["queue"].name == "openai"
    scheduled = {entry["task"] for entry in celery_app.conf.beat_schedule.values()}
    assert "finetune_portal.providers.openai.tasks.jobs_poll_due_task" in scheduled
    assert "finetune_portal.providers.openai.tasks.jobs_reap_task" in scheduled


@pytest.mark.django_db(transaction=True)
def test_a_launched_job_is_submitted_and_followed_by_a_real_worker(
    cast, standin, openai_credential, memory_broker
):
    job = make_job(cast.project, created_by=cast.member, training_version=make_valid_version(cast.project))

    with start_worker(memory_broker, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        job_launch(job=job, actor=cast.member)  # enqueues on commit (autocommit here)
        wait_for(lambda: FineTuningJob.objects.get(pk=job.pk).status == JobStatus.SUBMITTED)
        standin.state.run_to_completion()
        jobs_poll_due_task.delay()  # what beat sends every few seconds
        wait_for(lambda: FineTuningJob.objects.get(pk=job.pk).status == JobStatus.SUCCEEDED)

    assert len(standin.state.jobs) == 1
    assert FineTunedModel.objects.filter(job=job).exists()
    assert MetricPoint.objects.filter(job=job).exists()


def _logged_as(task, error: Exception):
    try:
        raise error
    except type(error) as raised:
        return get_log_policy(task, ExceptionInfo(), raised)


@pytest.mark.parametrize(
    ("task", "errors"),
    [
        (tasks.job_submit_task, [RetryLater("OpenAI is busy", retry_after=5)]),
        *[
            (
                task,
                [RetryLater("OpenAI is busy", retry_after=5), ProviderError("No credential", permanent=True)],
            )
            for task in (tasks.job_cancel_task, tasks.job_pause_task, tasks.job_resume_task)
        ],
    ],
)
def test_expected_provider_failures_are_logged_as_expected_not_as_task_errors(task, errors):
    for error in errors:
        assert _logged_as(task, error) is log_policy_expected
    assert _logged_as(task, ValueError("a bug")) is not log_policy_expected


@pytest.mark.parametrize(
    ("task", "service"),
    [
        (tasks.job_submit_task, "job_submit"),
        (tasks.job_cancel_task, "job_cancel_at_provider"),
        (tasks.job_pause_task, "job_pause_at_provider"),
        (tasks.job_resume_task, "job_resume_at_provider"),
    ],
)
@pytest.mark.django_db
def test_a_transient_failure_is_still_retried(monkeypatch, cast, task, service):
    # The submission being retried holds its claim under the task's id.
    job = make_job(
        cast.project, created_by=cast.member, status=JobStatus.VALIDATING_FILES, claimed_by="task-1"
    )
    attempts = []

    def busy_once(**kwargs):
        attempts.append(kwargs)
        if len(attempts) == 1:
            raise RetryLater("OpenAI is busy", retry_after=5)

    monkeypatch.setattr(tasks, service, busy_once)

    result = task.apply(args=(job.pk,), task_id="task-1")

    assert result.successful()
    assert len(attempts) == 2
