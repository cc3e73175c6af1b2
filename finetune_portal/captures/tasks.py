from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from finetune_portal.captures.running import capture_step, captures_due


# On the default queue: each step is a few short chat requests or one look at a provider batch. A step
# that leaves work due sends the next one; beat revives a capture whose chain of steps was lost.
@shared_task(
    name="finetune_portal.captures.tasks.capture_step_task",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def capture_step_task(capture_id: int) -> float | None:
    due_in = capture_step(capture_id=capture_id)
    if due_in is not None:
        capture_step_task.apply_async((capture_id,), countdown=due_in or None)
    return due_in


@shared_task(name="finetune_portal.captures.tasks.captures_poll_task")
def captures_poll_task() -> int:
    due = captures_due()
    for capture_id in due:
        capture_step_task.delay(capture_id)
    return len(due)
