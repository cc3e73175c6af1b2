"""A web process's hub hands each change to all the streams watching its topic, in order, and tells
their pages how widely to spread the requests it prompts."""

from __future__ import annotations

import asyncio
import contextlib

from finetune_portal.core.live.hub import (
    KEEPALIVE,
    QUEUE_SIZE,
    RESYNC,
    SPREAD_MS_MAX,
    SPREAD_MS_MIN,
    LiveHub,
    LiveSource,
)

TOPIC = "job:1"


def changes_in(queue: asyncio.Queue) -> list[int]:
    items = []
    while not queue.empty():
        _, item = queue.get_nowait()
        if item is not KEEPALIVE:
            items.append(item.state["version"])
    return items


def test_every_stream_gets_every_change_in_order(settings):
    settings.LIVE_REDIS_URL = ""  # no subscription: changes come only from the test
    source = LiveSource(topic=TOPIC, event="job", read=lambda previous: None)

    async def scenario():
        hub = LiveHub()
        async with contextlib.AsyncExitStack() as stack:
            queues = [await stack.enter_async_context(hub.listen([source])) for _ in range(300)]
            for version in (1, 2, 3):
                hub._publish_locally(TOPIC, {"version": version})
            await asyncio.sleep(0)
            return [changes_in(queue) for queue in queues]

    received = asyncio.run(scenario())

    assert all(changes == [1, 2, 3] for changes in received)


def test_a_stream_too_far_behind_is_told_to_read_the_current_state(settings):
    settings.LIVE_REDIS_URL = ""
    source = LiveSource(topic=TOPIC, event="job", read=lambda previous: None)

    async def scenario():
        hub = LiveHub()
        async with hub.listen([source]) as queue:
            for version in range(QUEUE_SIZE + 1):
                hub._publish_locally(TOPIC, {"version": version})
            return [queue.get_nowait() for _ in range(queue.qsize())]

    items = asyncio.run(scenario())

    assert items == [(None, RESYNC)]


def test_pages_are_told_to_spread_their_follow_up_requests_wider_as_more_watch(settings):
    settings.LIVE_REDIS_URL = ""
    source = LiveSource(topic=TOPIC, event="job", read=lambda previous: None)

    async def spread_with(streams: int) -> int:
        hub = LiveHub()
        async with contextlib.AsyncExitStack() as stack:
            queues = [await stack.enter_async_context(hub.listen([source])) for _ in range(streams)]
            hub._publish_locally(TOPIC, {"version": 1})
            _, update = queues[0].get_nowait()
            return update.state["spread_ms"]

    async def scenario():
        return [await spread_with(n) for n in (1, 200, 500, 5000)]

    one, two_hundred, five_hundred, five_thousand = asyncio.run(scenario())

    assert one == SPREAD_MS_MIN
    assert SPREAD_MS_MIN <= two_hundred < five_hundred <= SPREAD_MS_MAX
    assert five_thousand == SPREAD_MS_MAX
