from __future__ import annotations

from celery import shared_task


@shared_task(name="finetune_portal.core.tasks.ping", ignore_result=False)
def ping(token: str) -> str:
    """Answers through the result backend: health checks and the broker round-trip test use it."""
    return f"pong:{token}"
