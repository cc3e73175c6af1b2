"""The OpenAI reaper: what must run again for jobs that stopped making progress."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from finetune_portal.jobs.models import FineTuningJob
from finetune_portal.jobs.services import job_cancel
from finetune_portal.providers.openai.reaper import ReapResult, jobs_reap
from finetune_portal.providers.openai.submit import job_submit
from tests.providers.openai.conftest import queued_job

pytestmark = pytest.mark.django_db


def test_the_reaper_restarts_lost_starts_and_stuck_cancels_and_polls_silent_jobs(
    cast, standin, openai_credential
):
    lost_start = queued_job(cast, status_changed_at=timezone.now())  # launched, but its message was lost
    silent = queued_job(cast)
    job_submit(job_id=silent.pk, worker_id="task-1")
    stuck_cancel = queued_job(cast)
    job_submit(job_id=stuck_cancel.pk, worker_id="task-2")
    stuck_cancel.refresh_from_db()
    job_cancel(job=stuck_cancel, actor=cast.member)  # its cancel task never ran
    FineTuningJob.objects.filter(pk=silent.pk).update(next_poll_at=timezone.now() + timedelta(hours=6))

    assert jobs_reap() == ReapResult(resubmit=[], recancel=[], repoll=[])
    later = timezone.now() + timedelta(hours=2)
    result = jobs_reap(now=later)

    assert result.resubmit == [lost_start.pk]
    assert result.recancel == [stuck_cancel.pk]
    assert result.repoll == [silent.pk]
    silent.refresh_from_db()
    assert silent.next_poll_at == later
