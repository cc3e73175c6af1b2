from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from finetune_portal.playground.services import probe_answer_run


# On the default queue: the provider's chat call is a short request, not a provider job.
@shared_task(
    name="finetune_portal.playground.tasks.probe_answer_run_task",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def probe_answer_run_task(probe_answer_id: int) -> str | None:
    row = probe_answer_run(probe_answer_id=probe_answer_id)
    return row.status if row is not None else None
