"""When a job succeeds, start the evaluations it was given ("evaluate it on version X when it succeeds"):
its model and its base, the base's answers reused from an earlier run on the same version."""

from __future__ import annotations

import logging

from django.dispatch import receiver

from finetune_portal.jobs.signals import job_status_changed

logger = logging.getLogger(__name__)


@receiver(job_status_changed, dispatch_uid="evaluations.on_job_success")
def _job_succeeded(sender, *, job_id: int, to_status: str, **kwargs) -> None:
    from finetune_portal.evaluations.on_success import evaluations_for_succeeded_job
    from finetune_portal.jobs.states import JobStatus

    if to_status == JobStatus.SUCCEEDED:
        evaluations_for_succeeded_job(job_id=job_id)
