"""Stopping, pausing and resuming jobs at OpenAI once the portal has asked for it."""

from __future__ import annotations

import openai
from django.utils import timezone

from finetune_portal.jobs.models import FineTuningJob
from finetune_portal.jobs.services import job_event_record, job_transition
from finetune_portal.jobs.states import JobStatus
from finetune_portal.providers.openai.client import credential_for, openai_client_for
from finetune_portal.providers.openai.job_fields import provider_data_with
from finetune_portal.providers.openai.mapping import as_provider_error, timestamp
from finetune_portal.providers.openai.sync import apply_remote_status, job_poll

S = JobStatus


def job_cancel_at_provider(*, job_id: int) -> None:
    """Stop a cancelling job at OpenAI (or find there is nothing to stop) and record how it ended."""
    job = FineTuningJob.objects.select_related("project", "credential").filter(pk=job_id).first()
    if job is None or job.status != S.CANCELLING:
        return
    if not job.provider_job_id:
        # Never handed to OpenAI: nothing to ask it, so this ends here without a call (OpenAI may be the
        # reason it never got there). A worker still creating it sees the cancel when it saves the id and
        # stops it at OpenAI (submit.py's _adopt).
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
            finished_at=timestamp(remote.finished_at) or timezone.now(),
            next_poll_at=None,
        )
    else:
        apply_remote_status(job, remote)


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
