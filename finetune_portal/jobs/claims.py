"""One job lifecycle for every provider's worker: claim, heartbeat, release and finding the silent.

Celery redelivers a task whose worker died (late acks), so two deliveries of one start can run at
once. A worker therefore *claims* the job with a compare-and-set before it does anything at a
provider, beats a heartbeat while it holds it, and releases it when it is done. A beat task (each
provider's reaper) looks for claims whose heartbeat stopped and settles them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone

from finetune_portal.jobs.models import EventLevel, FineTuningJob
from finetune_portal.jobs.recording import job_event_record
from finetune_portal.jobs.services import job_transition
from finetune_portal.jobs.states import JobStatus

logger = logging.getLogger(__name__)

# Statuses in which a worker holds the job and must keep beating.
HELD_STATUSES = (JobStatus.VALIDATING_FILES, JobStatus.RUNNING, JobStatus.CANCELLING)
CLAIMANT_MAX_LENGTH = FineTuningJob._meta.get_field("claimed_by").max_length


def job_claim(*, job: FineTuningJob, claimant: str, reason: str = "") -> bool:
    """Take a queued job for this delivery. False when it is not queued any more (another one won)."""
    return job_transition(
        job=job,
        to=JobStatus.VALIDATING_FILES,
        expected=[JobStatus.QUEUED],
        reason=reason or f"Claimed by {claimant}",
        claimed_by=claimant[:CLAIMANT_MAX_LENGTH],
        heartbeat_at=timezone.now(),
    )


def job_reclaim(*, job: FineTuningJob, claimant: str, stale_after: timedelta) -> bool:
    """Take over a claimed job that was never handed to the provider: our own claim again (a redelivery
    keeps the task id), or one whose holder has been silent for ``stale_after``."""
    now = timezone.now()
    taken = (
        FineTuningJob.objects.filter(pk=job.pk, status=JobStatus.VALIDATING_FILES, provider_job_id="")
        .filter(
            Q(claimed_by=claimant[:CLAIMANT_MAX_LENGTH])
            | Q(heartbeat_at__isnull=True)
            | Q(heartbeat_at__lt=now - stale_after)
        )
        .update(claimed_by=claimant[:CLAIMANT_MAX_LENGTH], heartbeat_at=now)
    )
    return bool(taken)


def job_heartbeat(*, job_id: int, claimant: str | None = None) -> bool:
    """Say this worker still holds the job. False when the claim is gone (reaped, released or finished).

    Without ``claimant`` any holder's beat is renewed (a short task that owns the job by its status).
    """
    held = FineTuningJob.objects.filter(pk=job_id, status__in=HELD_STATUSES)
    if claimant is not None:
        held = held.filter(claimed_by=claimant[:CLAIMANT_MAX_LENGTH])
    return held.update(heartbeat_at=timezone.now()) == 1


def job_release(*, job_id: int, claimant: str) -> bool:
    """Give the job up without changing its status, so another delivery may claim it at once."""
    released = FineTuningJob.objects.filter(pk=job_id, claimed_by=claimant[:CLAIMANT_MAX_LENGTH]).update(
        claimed_by="", heartbeat_at=None
    )
    return released == 1


class Heartbeat:
    """Beats from a thread too, so a long step, a download or an upload never looks like a crash."""

    def __init__(self, *, job_id: int, claimant: str, interval: float):
        self.job_id = job_id
        self.claimant = claimant
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-job-{job_id}", daemon=True)
        self._last = 0.0

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def beat(self) -> bool:
        """From the work loop: write at most once per half interval."""
        if time.monotonic() - self._last < self.interval / 2:
            return True
        self._last = time.monotonic()
        return job_heartbeat(job_id=self.job_id, claimant=self.claimant)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    job_heartbeat(job_id=self.job_id, claimant=self.claimant)
                except Exception:
                    logger.exception("Heartbeat for job %s failed", self.job_id)
        finally:
            # The thread's own database connection; Django opens one per thread.
            connection.close()


def jobs_with_silent_claims(
    *,
    provider: str,
    stale_after: timedelta,
    statuses: Iterable[JobStatus] = HELD_STATUSES,
    now: datetime | None = None,
) -> QuerySet[FineTuningJob]:
    """The provider's held jobs whose worker has not beaten for ``stale_after`` (or never did)."""
    cutoff = (now or timezone.now()) - stale_after
    return FineTuningJob.objects.filter(provider=provider, status__in=list(statuses)).filter(
        Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=cutoff)
    )


def job_settle_lost(*, job: FineTuningJob, last_heard: datetime | None, worker_noun: str, hint: str) -> bool:
    """Settle a job whose worker went silent: a cancelling one ends cancelled, any other fails, saying
    which worker stopped and when. ``worker_noun`` reads like "GPU worker training this job". False when
    the job moved meanwhile."""
    silent_for = int((timezone.now() - last_heard).total_seconds()) if last_heard else None
    worker = job.claimed_by or "no worker"
    if job.status == JobStatus.CANCELLING:
        return job_transition(
            job=job,
            to=JobStatus.CANCELLED,
            expected=[JobStatus.CANCELLING],
            reason=f"Cancelled; the worker ({worker}) had stopped",
            claimed_by="",
        )
    message = (
        f"The {worker_noun} ({worker}) stopped sending heartbeats"
        + (f" {silent_for} s ago" if silent_for is not None else "")
        + "; it probably crashed or was restarted, so the job was marked failed."
    )
    moved = job_transition(
        job=job,
        to=JobStatus.FAILED,
        expected=[job.status],
        reason="Worker lost",
        error_message=message,
        error_hint=hint,
        claimed_by="",
    )
    if moved:
        job_event_record(job=job, message=message, level=EventLevel.ERROR, provider_event_id="worker-lost")
    return moved
