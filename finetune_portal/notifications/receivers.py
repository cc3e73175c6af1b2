from __future__ import annotations

from django.db import transaction

from finetune_portal.notifications.services import notifications_plan


def job_status_changed_notify(sender, *, job_id: int, to_status: str, actor_id: int | None, **kwargs) -> None:
    """Runs once a status move is committed: record who is told, and hand each message to a task."""
    from finetune_portal.celery import broker_send
    from finetune_portal.notifications.tasks import notification_send_task

    for notification_id in notifications_plan(job_id=job_id, to_status=to_status, actor_id=actor_id):
        # A broker that is down leaves the row pending; the beat task sends it later.
        transaction.on_commit(
            lambda pk=notification_id: broker_send(
                lambda: notification_send_task.delay(pk), what=f"notification {pk}"
            )
        )
