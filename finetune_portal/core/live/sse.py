"""The text of one page's Server-Sent Events stream, fed by the process's hub."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from finetune_portal.core.live.db import in_stream_thread
from finetune_portal.core.live.hub import KEEPALIVE, RESYNC, LiveSource, Update, live_hub
from finetune_portal.core.live.parts import StreamParts

# How often an open stream checks that its viewer is still logged in and still a member.
ACCESS_RECHECK_SECONDS = 60.0
# What the browser waits before reconnecting after the stream drops (a web process restart).
RETRY_MS = 2000


def _sse_text(*, event: str, event_id: str, data: str) -> str:
    return f"id: {event_id}\nevent: {event}\ndata: {data}\n\n"


async def sse_stream(
    sources: list[LiveSource],
    *,
    last_event_id: str = "",
    still_allowed: Callable[[], bool],
) -> AsyncIterator[str]:
    """The text of one page's event stream: the states that moved since ``last_event_id``, then every
    change as it is published, keep-alive comments in between, and an ``end`` event when the viewer
    may no longer see the topics (logged out, removed from the project).

    It starts listening before it reads the current states, so a change made in between is sent
    (perhaps twice: a state already sent to this stream is never sent again).
    """
    by_topic = {source.topic: source for source in sources}
    sent: dict[str, str] = {}
    for watched in by_topic:
        if last_event_id.startswith(f"{watched}:"):
            sent[watched] = last_event_id[len(watched) + 1 :]

    parts = {source.topic: StreamParts(source.parts) for source in sources if source.parts is not None}

    async def fresh(topic: str, update: Update) -> str | None:
        if sent.get(topic) == update.version:
            return None
        sent[topic] = update.version
        source = by_topic[topic]
        data = update.data
        if topic in parts:
            # The viewer's rendered parts that changed, spliced into the state encoded once for all.
            extra = await parts[topic].fields(update.state)
            if extra:
                data = data[:-1] + extra + "}"
        return _sse_text(event=source.event, event_id=f"{topic}:{update.version}", data=data)

    async def read_now(source: LiveSource) -> str | None:
        current = await in_stream_thread(source.read, None)
        return await fresh(source.topic, Update.of(current)) if current is not None else None

    hub = live_hub()
    loop = asyncio.get_running_loop()
    recheck_at = loop.time() + ACCESS_RECHECK_SECONDS
    async with hub.listen(sources) as queue:
        yield f"retry: {RETRY_MS}\n\n"
        for source in sources:
            known = hub.current(source.topic)
            text = await fresh(source.topic, known) if known is not None else await read_now(source)
            if text:
                yield text
        while True:
            topic, item = await queue.get()
            if item is KEEPALIVE:
                yield ": keep-alive\n\n"
            if loop.time() >= recheck_at:
                recheck_at = loop.time() + ACCESS_RECHECK_SECONDS
                if not await in_stream_thread(still_allowed):
                    yield "event: end\ndata: {}\n\n"
                    return
            if item is KEEPALIVE:
                continue
            if item is RESYNC:
                for source in sources if topic is None else [by_topic[topic]]:
                    text = await read_now(source)
                    if text:
                        yield text
                continue
            if topic in by_topic:
                text = await fresh(topic, item)
                if text:
                    yield text
