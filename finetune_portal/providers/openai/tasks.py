"""Celery entry points for the openai queue: ids in, one service call, retry decisions here.

The task names are the provider's interface (the provider object enqueues them by name): keep them.
"""

from __future__ import annotations

from celery import shared_task

from finetune_portal.providers.base import ProviderError
from finetune_portal.providers.openai.control import (
    job_cancel_at_provider,
    job_pause_at_provider,
    job_resume_at_provider,
)
from finetune_portal.providers.openai.importer import jobs_import_by_ids
from finetune_portal.providers.openai.mapping import RetryLater
from finetune_portal.providers.openai.reaper import jobs_reap
from finetune_portal.providers.openai.retries import (
    MAX_RETRIES,
    action_gave_up,
    action_retry_noted,
    submit_retry_or_give_up,
)
from finetune_portal.providers.openai.submit import job_submit
from finetune_portal.providers.openai.sync import job_poll, jobs_poll_due

PREFIX = "finetune_portal.providers.openai.tasks"
# Failures these tasks expect, so Celery logs them as such and without a traceback: OpenAI busy past
# the last retry, and (cancel, pause, resume) a refusal such as no credential left for the project.
EXPECTED_WHILE_SUBMITTING = (RetryLater,)
EXPECTED_AT_PROVIDER = (ProviderError,)


# Retries per job and action; the submit count is kept on the job (see retries.py), so this is the bound
# for a whole submission even when the reaper or a redelivery sends it again.
SUBMIT_MAX_RETRIES = MAX_RETRIES
ACTION_MAX_RETRIES = MAX_RETRIES


@shared_task(
    bind=True,
    name=f"{PREFIX}.job_submit_task",
    max_retries=SUBMIT_MAX_RETRIES,
    throws=EXPECTED_WHILE_SUBMITTING,
)
def job_submit_task(self, job_id: int) -> None:
    worker_id = self.request.id or f"local-{job_id}"
    try:
        job_submit(job_id=job_id, worker_id=worker_id)
    except RetryLater as exc:
        # Same task id on retry, so the claim stays ours; the last failure fails the job with its reason.
        countdown = submit_retry_or_give_up(
            job_id=job_id, worker_id=worker_id, error=exc, max_retries=SUBMIT_MAX_RETRIES
        )
        if countdown is None:
            return
        raise self.retry(countdown=countdown, exc=exc, max_retries=SUBMIT_MAX_RETRIES) from exc


@shared_task(name=f"{PREFIX}.job_poll_task")
def job_poll_task(job_id: int) -> None:
    job_poll(job_id=job_id)


def _run_or_retry(task, service, job_id: int, *, action: str) -> None:
    """A transient OpenAI failure runs the task again after the wait OpenAI asked for, noted on the job;
    the last one is noted as given up."""
    try:
        service(job_id=job_id)
    except RetryLater as exc:
        retry = task.request.retries + 1
        if retry > ACTION_MAX_RETRIES:
            action_gave_up(job_id=job_id, action=action, error=exc, tries=retry)
            return
        action_retry_noted(job_id=job_id, action=action, error=exc, retry=retry, of=ACTION_MAX_RETRIES)
        raise task.retry(countdown=exc.retry_after, exc=exc, max_retries=ACTION_MAX_RETRIES) from exc


@shared_task(
    bind=True, name=f"{PREFIX}.job_cancel_task", max_retries=ACTION_MAX_RETRIES, throws=EXPECTED_AT_PROVIDER
)
def job_cancel_task(self, job_id: int) -> None:
    _run_or_retry(self, job_cancel_at_provider, job_id, action="Cancel")


@shared_task(
    bind=True, name=f"{PREFIX}.job_pause_task", max_retries=ACTION_MAX_RETRIES, throws=EXPECTED_AT_PROVIDER
)
def job_pause_task(self, job_id: int) -> None:
    _run_or_retry(self, job_pause_at_provider, job_id, action="Pause")


@shared_task(
    bind=True, name=f"{PREFIX}.job_resume_task", max_retries=ACTION_MAX_RETRIES, throws=EXPECTED_AT_PROVIDER
)
def job_resume_task(self, job_id: int) -> None:
    _run_or_retry(self, job_resume_at_provider, job_id, action="Resume")


@shared_task(name=f"{PREFIX}.jobs_poll_due_task")
def jobs_poll_due_task() -> int:
    due = jobs_poll_due()
    for job_id in due:
        job_poll_task.delay(job_id)
    return len(due)


@shared_task(name=f"{PREFIX}.jobs_reap_task")
def jobs_reap_task() -> dict[str, list[int]]:
    result = jobs_reap()
    for job_id in result.resubmit:
        job_submit_task.delay(job_id)
    for job_id in result.recancel:
        job_cancel_task.delay(job_id)
    return {"resubmit": result.resubmit, "recancel": result.recancel, "repoll": result.repoll}


@shared_task(name=f"{PREFIX}.jobs_import_task")
def jobs_import_task(credential_id: int, project_id: int, actor_id: int | None) -> int:
    return len(jobs_import_by_ids(credential_id=credential_id, project_id=project_id, actor_id=actor_id))


@shared_task(name=f"{PREFIX}.shutdown_dates_refresh_task")
def shutdown_dates_refresh_task() -> int:
    from finetune_portal.providers.openai.sunsets import shutdown_dates_refresh

    return shutdown_dates_refresh()
