from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from finetune_portal.evaluations.services import evaluation_run_batch


# On the default queue: each item is a short chat request, not a provider job. One batch per task, so a
# worker that dies loses at most the batch it held (redelivered with acks_late, its rows claimable again).
@shared_task(
    name="finetune_portal.evaluations.tasks.evaluation_batch_task",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def evaluation_batch_task(evaluation_id: int) -> bool:
    more = evaluation_run_batch(evaluation_id=evaluation_id)
    if more:
        evaluation_batch_task.delay(evaluation_id)
    return more
