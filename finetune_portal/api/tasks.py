from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from finetune_portal.api.fine_tuning_launch import api_job_launch_when_ready

# A file's validation normally takes seconds; a job keeps waiting for it as long as it takes.
WAIT_SECONDS = 3


@shared_task(
    bind=True,
    name="finetune_portal.api.tasks.api_job_launch_when_ready_task",
    acks_late=True,
    max_retries=None,
    autoretry_for=(OperationalError,),
)
def api_job_launch_when_ready_task(self, job_id: int) -> str:
    outcome = api_job_launch_when_ready(job_id=job_id)
    if outcome == "waiting":
        raise self.retry(countdown=WAIT_SECONDS)
    return outcome
