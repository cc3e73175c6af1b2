"""Celery tasks of the local GPU provider: ids in, one service call each.

The training task lives on the gpu queue (routed by its name). The cancel and reaper tasks only touch the
database, so they are sent to the default queue: a GPU worker busy with a long run must not delay them.
The reaper also sends again the starts that the gpu queue lost.
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from finetune_portal.celery import queue_waiting_count
from finetune_portal.providers.peft import conf, reaper, run, workers
from finetune_portal.providers.peft.signals import GPU_QUEUE

logger = logging.getLogger(__name__)

CONTROL_QUEUE = "default"


@shared_task(
    name="finetune_portal.providers.peft.tasks.job_train_task",
    bind=True,
    acks_late=True,
    # Training runs for hours; the app-wide limit is meant for API calls. The claim and heartbeat, not the
    # broker, keep a redelivered copy of this task from training the job again.
    time_limit=conf.training_time_limit_seconds() + 300,
    soft_time_limit=conf.training_time_limit_seconds(),
)
def job_train_task(self, job_id: int) -> str:
    claimant = f"{self.request.hostname or 'worker'}:{self.request.id}"
    if self.request.hostname:
        workers.worker_node_seen(hostname=self.request.hostname)
    try:
        outcome = run.job_train(job_id=job_id, claimant=claimant)
    except SoftTimeLimitExceeded:
        run.job_fail_time_limit(job_id=job_id)
        outcome = "failed"
    logger.info("Job %s: %s", job_id, outcome)
    return outcome


@shared_task(name="finetune_portal.providers.peft.tasks.job_cancel_task")
def job_cancel_task(job_id: int) -> None:
    reaper.job_cancel_settle(job_id=job_id)


@shared_task(name="finetune_portal.providers.peft.tasks.jobs_reap_task")
def jobs_reap_task() -> dict[str, list[int]]:
    failed = reaper.jobs_reap_stalled()
    resend = reaper.jobs_resend_lost_starts(waiting=queue_waiting_count(GPU_QUEUE))
    for job_id in resend:
        job_train_task.delay(job_id)
    return {"failed": failed, "resent": resend}
