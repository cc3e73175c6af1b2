"""Stopping, pausing and resuming jobs at OpenAI once the portal has asked for it."""

from __future__ import annotations

import openai

from finetune_portal.jobs.models import FineTuningJob
from finetune_portal.jobs.services import job_event_record, job_transition
from finetune_portal.jobs.states import JobStatus
from finetune_portal.providers.base import ProviderError
from finetune_portal.providers.openai.client import credential_for, openai_client_for
from finetune_portal.providers.openai.job_fields import job_fields_save, provider_data_with
from finetune_portal.providers.openai.mapping import as_provider_error
from finetune_portal.providers.openai.submit import find_provider_job
from finetune_portal.providers.openai.sync import apply_remote_status, job_poll

S = JobStatus


def job_cancel_at_provider(*, job_id: int) -> None:
    """Stop a cancelling job at OpenAI (or find there is nothing to stop) and record how it ended."""
    job = FineTuningJob.objects.select_related("project", "credential").filter(pk=job_id).first()
    if job is None or job.status != S.CANCELLING:
        return
    if not job.provider_job_id and not _adopt_created_before_cancel(job):
        # Never handed to OpenAI: ends here at once (OpenAI may be the reason it never got there). A worker
        # still creating it sees the cancel when it saves the id and stops it at OpenAI (submit.py's _adopt).
        job_transition(
            job=job,
            to=S.CANCELLED,
            expected=[S.CANCELLING],
            reason="Cancelled before it reached OpenAI",
            provider_data=provider_data_with(job, retry_notice=None),
        )
        return
    credential = credential_for(job)
    client = openai_client_for(credential)
    try:
        remote = client.fine_tuning.jobs.cancel(job.provider_job_id)
    except (openai.BadRequestError, openai.NotFoundError, openai.ConflictError):
        # Already over at OpenAI: record how it really ended.
        job_poll(job_id=job.pk)
        return
    except openai.OpenAIError as exc:
        error = as_provider_error(exc)
        if error.permanent:
            job_event_record(job=job, message=f"OpenAI refused the cancel: {error.message}", level="error")
            return
        raise error from exc
    if remote.status == "cancelled":
        job_transition(
            job=job,
            to=S.CANCELLED,
            expected=[S.CANCELLING],
            reason="Cancelled at OpenAI",
            provider_status="cancelled",
            # Ended on the portal's clock (see sync.finished_at_for); OpenAI's time stays provider data.
            provider_data=provider_data_with(job, finished_at=remote.finished_at),
            next_poll_at=None,
        )
    else:
        apply_remote_status(job, remote)


def _adopt_created_before_cancel(job: FineTuningJob) -> bool:
    """Whether OpenAI holds a job created for this one by a worker that died before saving its id (then
    the id is saved, so the cancel reaches it). One quick look, no retries: an unreachable OpenAI must
    not hold up a cancel, and the job is recorded as cancelled all the same."""
    try:
        credential = credential_for(job)
        existing = find_provider_job(openai_client_for(credential, max_retries=0), job)
    except (ProviderError, openai.OpenAIError):
        return False
    if existing is None:
        return False
    job_fields_save(job, provider_job_id=existing.id, credential=credential)
    return True


def job_pause_at_provider(*, job_id: int) -> None:
    _pause_or_resume(job_id=job_id, pause=True)


def job_resume_at_provider(*, job_id: int) -> None:
    _pause_or_resume(job_id=job_id, pause=False)


def _pause_or_resume(*, job_id: int, pause: bool) -> None:
    """Pause or resume at OpenAI. A refusal is recorded in OpenAI's words and the job's status re-read."""
    verb = "pause" if pause else "resume"
    job = FineTuningJob.objects.select_related("project", "credential").filter(pk=job_id).first()
    if job is None or not job.provider_job_id or job.status != (S.RUNNING if pause else S.PAUSED):
        return  # moved on since it was asked (finished, cancelled, or already there)
    client = openai_client_for(credential_for(job))
    jobs_api = client.fine_tuning.jobs
    try:
        remote = (jobs_api.pause if pause else jobs_api.resume)(job.provider_job_id)
    except openai.OpenAIError as exc:
        error = as_provider_error(exc)
        if not error.permanent:
            raise error from exc
        job_event_record(job=job, message=f"OpenAI refused to {verb} the job: {error.message}", level="error")
        job_poll(job_id=job.pk)
        return
    apply_remote_status(job, remote)
