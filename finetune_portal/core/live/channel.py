"""The publishing side of the live channel: a topic's new state goes out on Redis pub/sub once the
writer's transaction commits, to every web process."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

CHANNEL_PREFIX = "portal:live:"

State = dict[str, Any]


def live_redis_url() -> str:
    return getattr(settings, "LIVE_REDIS_URL", "") or ""


def live_channel_enabled() -> bool:
    """Whether writers publish (Redis is configured); without it the streams read states themselves."""
    return bool(live_redis_url())


_redis_client = None


def _publisher():
    global _redis_client
    if _redis_client is None:
        import redis

        _redis_client = redis.Redis.from_url(live_redis_url(), socket_timeout=2, socket_connect_timeout=2)
    return _redis_client


def live_publish(*, topic: str, state: State) -> None:
    """Send a topic's new state to every web process. A lost message is logged, never raised: pages
    read the current state again when their stream reconnects."""
    if not live_redis_url():
        return
    import redis

    try:
        _publisher().publish(CHANNEL_PREFIX + topic, json.dumps({"topic": topic, "state": state}))
    except redis.RedisError as exc:
        logger.warning("live update for %s not published: %s", topic, exc)


def live_publish_on_commit(*, topic: str, describe: Callable[[], State | None]) -> None:
    """Publish ``describe()`` once the current transaction commits (at once outside one).

    ``describe`` runs after the commit, so it reads what other connections now see; it is not called at
    all without Redis, where the hub reads states itself.
    """
    if not live_redis_url():
        return

    def send() -> None:
        state = describe()
        if state is not None:
            live_publish(topic=topic, state=state)

    transaction.on_commit(send)
