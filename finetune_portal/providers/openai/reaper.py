"""Finding OpenAI jobs that stopped making progress, and saying what must run again for each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from finetune_portal.jobs.claims import jobs_with_silent_claims
from finetune_portal.jobs.models import FineTuningJob
from finetune_portal.jobs.states import JobStatus
from finetune_portal.providers.openai.provider import KEY
from finetune_portal.providers.openai.submit import CLAIM_STALE_AFTER

S = JobStatus
QUEUED_STALE_AFTER = timedelta(minutes=10)
NO_PROGRESS_STALE_AFTER = timedelta(hours=1)
# A silent job whose next poll is further off than this is polled at once.
POLL_FAR_OFF = timedelta(minutes=5)


@dataclass
class ReapResult:
    resubmit: list[int]
    recancel: list[int]
    repoll: list[int]


def jobs_reap(*, now: datetime | None = None) -> ReapResult:
    """Find OpenAI jobs that stopped making progress and say what must run again for each."""
    now = now or timezone.now()
    openai_jobs = FineTuningJob.objects.filter(provider=KEY)
    # Claimed, but never handed to OpenAI by a worker that has gone quiet: submitting again adopts or
    # creates it (the claim is taken over once stale).
    abandoned_claims = jobs_with_silent_claims(
        provider=KEY,
        stale_after=CLAIM_STALE_AFTER,
        statuses=[S.VALIDATING_FILES],
        now=now,
    ).filter(provider_job_id="")
    lost_starts = openai_jobs.filter(status=S.QUEUED, status_changed_at__lt=now - QUEUED_STALE_AFTER)
    # A cancel task that is still retrying beats the job's heartbeat; only a silent one is sent again, and
    # the beat set here keeps the next runs from sending another before that one has had its time.
    stuck_cancels = jobs_with_silent_claims(
        provider=KEY, stale_after=CLAIM_STALE_AFTER, statuses=[S.CANCELLING], now=now
    ).filter(status_changed_at__lt=now - CLAIM_STALE_AFTER)
    silent = (
        openai_jobs.filter(status__in=[S.SUBMITTED, S.RUNNING, S.PAUSED])
        .exclude(provider_job_id="")
        .filter(Q(last_progress_at__isnull=True) | Q(last_progress_at__lt=now - NO_PROGRESS_STALE_AFTER))
        .filter(Q(next_poll_at__isnull=True) | Q(next_poll_at__gt=now + POLL_FAR_OFF))
    )
    recancel = list(stuck_cancels.values_list("pk", flat=True))
    FineTuningJob.objects.filter(pk__in=recancel).update(heartbeat_at=now)
    repoll = list(silent.values_list("pk", flat=True))
    # Poll them now: if OpenAI moved on, the poll records it; if not, the slow interval resumes.
    FineTuningJob.objects.filter(pk__in=repoll).update(next_poll_at=now)
    return ReapResult(
        resubmit=sorted(
            set(abandoned_claims.values_list("pk", flat=True)) | set(lost_starts.values_list("pk", flat=True))
        ),
        recancel=recancel,
        repoll=repoll,
    )
