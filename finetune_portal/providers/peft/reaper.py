"""The reaper's rules for local jobs: settle those whose worker went silent, send again lost starts.

The cancel settlement lives here too: a cancel request to a silent worker is settled the same way.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from finetune_portal.jobs.claims import job_settle_lost, jobs_with_silent_claims
from finetune_portal.jobs.models import EventLevel, FineTuningJob
from finetune_portal.jobs.services import job_event_record
from finetune_portal.jobs.states import JobStatus
from finetune_portal.providers.peft import conf
from finetune_portal.providers.peft.provider import KEY

WORKER_LOST_HINT = (
    "Launch the job again (New job from these settings), or continue from its last checkpoint under Outputs."
)


def jobs_reap_stalled(*, now: datetime | None = None) -> list[int]:
    """Fail the jobs whose worker stopped beating (a cancelling one simply ends cancelled)."""
    stalled = jobs_with_silent_claims(
        provider=KEY, stale_after=timedelta(seconds=conf.stale_after_seconds()), now=now
    )
    return [job.pk for job in stalled if _settle_lost(job)]


def _settle_lost(job: FineTuningJob) -> bool:
    return job_settle_lost(
        job=job,
        last_heard=job.heartbeat_at,
        worker_noun="GPU worker training this job",
        hint=WORKER_LOST_HINT,
    )


def jobs_resend_lost_starts(*, waiting: int | None, now: datetime | None = None) -> list[int]:
    """Pick the queued jobs whose start message is gone from the gpu queue; the caller sends them again.

    Age alone proves nothing: a queued job may rightly wait hours behind a long training. What does is a
    gpu queue holding fewer waiting messages (``waiting``) than there are queued jobs; the broker cannot
    say which messages are missing, so the longest-waiting jobs not re-sent lately are picked. A copy
    that was not lost after all finds the job claimed and does nothing. ``waiting=None`` (the broker
    could not be asked) picks none.
    """
    if waiting is None:
        return []
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=conf.start_lost_after_seconds())
    queued = list(
        FineTuningJob.objects.filter(provider=KEY, status=JobStatus.QUEUED).order_by(
            "status_changed_at", "pk"
        )
    )
    missing = len(queued) - waiting
    picked: list[int] = []
    for job in queued:
        if len(picked) >= missing:
            break
        resent_at = job.provider_data.get("start_resent_at")
        if job.status_changed_at and job.status_changed_at >= cutoff:
            continue
        if resent_at and datetime.fromisoformat(resent_at) >= cutoff:
            continue
        if _start_resend_mark(job=job, now=now):
            picked.append(job.pk)
    return picked


def _start_resend_mark(*, job: FineTuningJob, now: datetime) -> bool:
    with transaction.atomic():
        locked = FineTuningJob.objects.select_for_update().filter(pk=job.pk, status=JobStatus.QUEUED).first()
        if locked is None:
            return False  # a worker claimed it meanwhile
        resends = int(locked.provider_data.get("start_resends", 0)) + 1
        locked.provider_data = {
            **locked.provider_data,
            "start_resent_at": now.isoformat(),
            "start_resends": resends,
        }
        locked.save(update_fields=["provider_data", "updated_at"])
        job_event_record(
            job=locked,
            message="No GPU worker had picked this job up and its start was missing from the gpu queue "
            "(the broker lost it or was unreachable at launch); it was sent again.",
            level=EventLevel.WARN,
            provider_event_id=f"start-resent-{resends}",
        )
    return True


def job_cancel_settle(*, job_id: int) -> None:
    """After a cancel request: a live worker stops at its next step; a silent one is settled now."""
    job = FineTuningJob.objects.filter(pk=job_id, provider=KEY).first()
    if job is None or job.status != JobStatus.CANCELLING:
        return
    cutoff = timezone.now() - timedelta(seconds=conf.stale_after_seconds())
    if not job.claimed_by or job.heartbeat_at is None or job.heartbeat_at < cutoff:
        _settle_lost(job)
        return
    job_event_record(
        job=job,
        message="Cancel requested; training stops at the next step.",
        provider_event_id="cancel-requested",
    )
