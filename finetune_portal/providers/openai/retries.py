"""How long the portal keeps trying an OpenAI that does not answer, and what the job page says meanwhile.

A transient failure (no connection, a 5xx, a rate limit) is tried again after the wait it asks for, at most
``MAX_RETRIES`` times per job and action; each retry is noted on the job ("Could not reach OpenAI:
connection error — retry 3 of 12 at 11:42") so the page shows why nothing moves. A submission that runs out
of retries fails the job with the reason; the count lives on the job, so a redelivered or reaped task
continues it instead of starting again.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from finetune_portal.jobs.claims import CLAIMANT_MAX_LENGTH, job_heartbeat
from finetune_portal.jobs.models import EventLevel, FineTuningJob
from finetune_portal.jobs.services import job_event_record, job_transition
from finetune_portal.jobs.states import JobStatus
from finetune_portal.providers.openai.job_fields import job_fields_save, provider_data_with
from finetune_portal.providers.openai.mapping import RetryLater

S = JobStatus
MAX_RETRIES = 12
# provider_data keys: the count of submit retries so far, and the notice the job page's status part shows.
SUBMIT_RETRIES_KEY = "submit_retries"
NOTICE_KEY = "retry_notice"
UNREACHABLE_HINT = (
    "Check that the credential's endpoint (its base URL) is right and reachable from the workers, or wait "
    "until OpenAI answers again, then launch the job again. Nothing was created at OpenAI."
)


def _notice(error: RetryLater, *, retry: int, of: int) -> dict[str, object]:
    at = timezone.now() + timedelta(seconds=error.retry_after)
    text = f"{error.message} — retry {retry} of {of} at {timezone.localtime(at):%H:%M}"
    return {"message": text, "retry": retry, "of": of, "at": at.isoformat()}


def submit_retry_or_give_up(
    *, job_id: int, worker_id: str, error: RetryLater, max_retries: int
) -> float | None:
    """Note a transient failure of a submission and return the seconds to wait before the next try, or
    None when there is nothing more to try: the job is not ours any more, or it has used its retries (it
    is then failed with the reason)."""
    job = FineTuningJob.objects.filter(
        pk=job_id, status=S.VALIDATING_FILES, provider_job_id="", claimed_by=worker_id[:CLAIMANT_MAX_LENGTH]
    ).first()
    if job is None:
        return None
    retry = int((job.provider_data or {}).get(SUBMIT_RETRIES_KEY, 0)) + 1
    if retry > max_retries:
        message = f"{error.message} — gave up after {retry} tries."
        failed = job_transition(
            job=job,
            to=S.FAILED,
            expected=[S.VALIDATING_FILES],
            reason="OpenAI could not be reached",
            error_message=message,
            error_hint=UNREACHABLE_HINT,
            claimed_by="",
            provider_data=provider_data_with(job, **{NOTICE_KEY: None}),
        )
        if failed:
            job_event_record(job=job, message=message, level=EventLevel.ERROR)
        return None
    notice = _notice(error, retry=retry, of=max_retries)
    job_fields_save(
        job, provider_data=provider_data_with(job, **{SUBMIT_RETRIES_KEY: retry, NOTICE_KEY: notice})
    )
    # The wait is ours, not a dead worker's: keep the reaper from taking the job over meanwhile.
    job_heartbeat(job_id=job.pk, claimant=worker_id)
    job_event_record(job=job, message=str(notice["message"]), level=EventLevel.WARN)
    return error.retry_after


def action_retry_noted(*, job_id: int, action: str, error: RetryLater, retry: int, of: int) -> None:
    """Note on the job that a cancel, pause or resume at OpenAI is tried again (``retry`` of ``of``)."""
    job = FineTuningJob.objects.filter(pk=job_id).first()
    if job is None or job.is_final:
        return
    notice = _notice(error, retry=retry, of=of)
    job_fields_save(job, provider_data=provider_data_with(job, **{NOTICE_KEY: notice}))
    # A cancelling job is held by its cancel task: the beat keeps the reaper from sending another one.
    job_heartbeat(job_id=job.pk)
    job_event_record(job=job, message=f"{action}: {notice['message']}", level=EventLevel.WARN)


def action_gave_up(*, job_id: int, action: str, error: RetryLater, tries: int) -> None:
    job = FineTuningJob.objects.filter(pk=job_id).first()
    if job is None or job.is_final:
        return
    job_fields_save(job, provider_data=provider_data_with(job, **{NOTICE_KEY: None}))
    job_event_record(
        job=job,
        message=f"{action}: {error.message} — gave up after {tries} tries. A cancel is tried again every "
        "few minutes while the job is cancelling; a pause or resume can be asked for again.",
        level=EventLevel.ERROR,
    )
