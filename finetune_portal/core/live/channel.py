"""The publishing side of the live channel: a topic's new state goes out on Redis pub/sub once the
writer's transaction commits, to every web process."""

from __future__ import annotations

import functools
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


@functools.cache
def _channel_prefix_of(url: str) -> str:
    from redis.connection import parse_url

    return f"{CHANNEL_PREFIX}{parse_url(url).get('db') or 0}:"


def live_channel_prefix() -> str:
    """The prefix of this site's channels. Pub/sub channels belong to the whole Redis server, not to one
    of its numbered databases, so the database number is part of it: sites (or parallel test runs)
    sharing a server on different databases never read each other's jobs under the same ids."""
    return _channel_prefix_of(live_redis_url())


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
        _publisher().publish(live_channel_prefix() + topic, json.dumps({"topic": topic, "state": state}))
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
