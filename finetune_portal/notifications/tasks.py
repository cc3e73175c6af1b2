from __future__ import annotations

from datetime import timedelta

from celery import shared_task

from finetune_portal.notifications.services import notification_send, notifications_waiting

MAX_TRIES = 6


@shared_task(
    bind=True,
    name="finetune_portal.notifications.tasks.notification_send_task",
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=MAX_TRIES - 1,
)
def notification_send_task(self, notification_id: int) -> str:
    """Safe to run twice: the row is claimed with a compare-and-set before anything is sent."""
    outcome = notification_send(
        notification_id=notification_id, last_try=self.request.retries >= self.max_retries
    )
    if outcome == "retry":
        raise self.retry(countdown=min(60 * 2**self.request.retries, 3600))
    return outcome


@shared_task(name="finetune_portal.notifications.tasks.notifications_send_waiting_task")
def notifications_send_waiting_task() -> int:
    """Beat: send again what is still pending long after its event (the broker was down when it happened)."""
    waiting = notifications_waiting(older_than=timedelta(minutes=10))
    for notification_id in waiting:
        notification_send_task.delay(notification_id)
    return len(waiting)
