"""One web process's listeners of the live channel, by topic: one Redis subscription (or, without Redis,
one poll per watched topic) and one encoding per change, however many pages watch it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import weakref
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async

from finetune_portal.core.live.channel import State, live_channel_prefix, live_redis_url
from finetune_portal.core.live.db import detached_task, read_closing
from finetune_portal.core.live.parts import LiveParts

logger = logging.getLogger(__name__)

# A comment line this often keeps proxies and load balancers from closing an idle stream.
KEEPALIVE_SECONDS = 15.0
# How often the fallback (no Redis) reads each watched topic's state.
FALLBACK_POLL_SECONDS = 1.0
# Events a slow stream may fall behind by before it is told to read the current state instead.
QUEUE_SIZE = 64
# The window over which pages spread the requests an event prompts: this much per stream of the
# process watching its topic (about what one such request costs the process), within these bounds.
SPREAD_MS_PER_STREAM = 20
SPREAD_MS_MIN, SPREAD_MS_MAX = 1000, 15000


@dataclass(frozen=True)
class LiveSource:
    """One topic a stream watches: its SSE event name and how to read its current state.

    ``read(previous)`` is a synchronous function (it queries the database) returning the state as a
    dict with a ``version`` that changes whenever the state does, or None when the topic is gone.
    ``previous`` is the state it returned last time (None at first), so it can add what is new since.
    """

    topic: str
    event: str
    read: Callable[[State | None], State | None]
    # The rendered parts the stream's events carry for its viewer (core.live.parts), if any.
    parts: LiveParts | None = None


RESYNC = object()
KEEPALIVE = object()
# The keep-alive ticker wakes this many times per KEEPALIVE_SECONDS, each time for that share of the
# streams, so a thousand streams opened together do not all write their comment at the same moment.
KEEPALIVE_SLICES = 15


@dataclass(frozen=True)
class Update:
    """A topic's new state and its ``data:`` line, encoded once for every stream that sends it."""

    state: State
    data: str

    @classmethod
    def of(cls, state: State) -> Update:
        return cls(state=state, data=json.dumps(state, separators=(",", ":")))

    @property
    def version(self) -> str:
        return str(self.state.get("version"))


class LiveHub:
    """The listeners of one event loop (one per web process under uvicorn), by topic.

    It also keeps each watched topic's newest state while it is sure nothing newer was missed (the Redis
    subscription is up), so a page that opens a stream on a topic others
    already watch costs no query, and one change costs one JSON encoding however many pages watch it.
    """

    def __init__(self) -> None:
        self._listeners: dict[str, set[asyncio.Queue]] = {}
        self._readers: dict[str, Callable[[State | None], State | None]] = {}
        self._pollers: dict[str, asyncio.Task] = {}
        self._subscriber: asyncio.Task | None = None
        self._ticker: asyncio.Task | None = None
        self._current: dict[str, Update] = {}
        self._subscribed = False

    @property
    def subscribed(self) -> bool:
        """Whether this process's Redis subscription is up (every published change now arrives)."""
        return self._subscribed

    def current(self, topic: str) -> Update | None:
        return self._current.get(topic)

    @contextlib.asynccontextmanager
    async def listen(self, sources: Iterable[LiveSource]) -> AsyncIterator[asyncio.Queue]:
        queue: asyncio.Queue = asyncio.Queue(maxsize=QUEUE_SIZE)
        topics = [source.topic for source in sources]
        for source in sources:
            self._listeners.setdefault(source.topic, set()).add(queue)
            self._readers.setdefault(source.topic, source.read)
            if not live_redis_url() and source.topic not in self._pollers:
                self._pollers[source.topic] = detached_task(self._poll(source.topic))
        if live_redis_url() and (self._subscriber is None or self._subscriber.done()):
            self._subscriber = detached_task(self._subscribe())
        if self._ticker is None or self._ticker.done():
            self._ticker = detached_task(self._keep_alive())
        try:
            yield queue
        finally:
            for topic in topics:
                listeners = self._listeners.get(topic, set())
                listeners.discard(queue)
                if not listeners:
                    self._listeners.pop(topic, None)
                    self._readers.pop(topic, None)
                    self._current.pop(topic, None)
                    poller = self._pollers.pop(topic, None)
                    if poller is not None:
                        poller.cancel()

    async def _keep_alive(self) -> None:
        """Wake every stream about once per KEEPALIVE_SECONDS (its keep-alive comment, its access
        check): one timer for the process instead of one per stream and event."""
        tick = 0
        while self._listeners:
            await asyncio.sleep(KEEPALIVE_SECONDS / KEEPALIVE_SLICES)
            tick = (tick + 1) % KEEPALIVE_SLICES
            queues = {queue for listeners in self._listeners.values() for queue in listeners}
            for queue in queues:
                if id(queue) // 16 % KEEPALIVE_SLICES == tick:
                    with contextlib.suppress(asyncio.QueueFull):
                        queue.put_nowait((None, KEEPALIVE))
        self._ticker = None

    def _publish_locally(self, topic: str, state: State) -> None:
        # Pages answer some events with a request (the runs list's rows, a job page's part too big to
        # carry in the event, or its parts on a stream that carries none)
        # at a random moment within the event's spread: wider as more pages watch, so a thousand of
        # them ask over seconds rather than all at once while other people's requests wait.
        watchers = len(self._listeners.get(topic, ()))
        spread = min(SPREAD_MS_MAX, max(SPREAD_MS_MIN, watchers * SPREAD_MS_PER_STREAM))
        update = Update.of({**state, "spread_ms": spread})
        # Only a live subscription hears every change as it commits; the fallback's poll is up to a
        # second old, so without Redis a new stream reads the state for itself.
        if self._subscribed:
            self._current[topic] = update
        self._deliver(topic, (topic, update))

    async def _resync(self, topics: Iterable[str]) -> None:
        """Read each topic's state once (not once per stream) and hand it to every stream watching it."""
        for topic in topics:
            read = self._readers.get(topic)
            if read is None:
                continue
            try:
                state = await sync_to_async(read_closing, thread_sensitive=False)(read, None)
            except Exception:
                logger.exception("live channel: reading %s failed", topic)
                self._deliver(topic, (topic, RESYNC))
                continue
            if state is not None:
                self._publish_locally(topic, state)

    def _deliver(self, topic: str, item: Any) -> None:
        for queue in list(self._listeners.get(topic, ())):
            try:
                queue.put_nowait(item)
            except asyncio.QueueFull:
                # Too far behind to replay: the stream reads every topic's current state instead.
                with contextlib.suppress(asyncio.QueueEmpty):
                    while True:
                        queue.get_nowait()
                queue.put_nowait((None, RESYNC))

    async def _subscribe(self) -> None:
        """One Redis subscription per process; reconnects, and resyncs every stream after a gap."""
        import redis.asyncio as aioredis
        from redis.exceptions import RedisError

        delay = 0.5
        while self._listeners:
            client = aioredis.Redis.from_url(live_redis_url())
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(live_channel_prefix() + "*")
                delay = 0.5
                self._subscribed = True
                # What was published before this subscription (or during a gap) never arrives: each
                # topic's current state is read once and offered to its streams (sent where it moved).
                await self._resync(list(self._listeners))
                while self._listeners:
                    message = await pubsub.get_message(timeout=KEEPALIVE_SECONDS)
                    if message is None:
                        continue
                    try:
                        body = json.loads(message["data"])
                        topic, state = body["topic"], body["state"]
                    except (ValueError, KeyError, TypeError):
                        logger.warning("ignored a malformed live message on %s", message.get("channel"))
                        continue
                    if topic in self._listeners:
                        self._publish_locally(topic, state)
            except (RedisError, OSError) as exc:
                logger.warning("live channel: Redis subscription lost (%s); retrying", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
            finally:
                # Until the next subscription has read them again, kept states may be out of date.
                self._subscribed = False
                self._current.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                    await client.aclose()
        self._subscriber = None

    async def _poll(self, topic: str) -> None:
        """The fallback without Redis: read the topic's state once a second, deliver it when it moved."""
        last: State | None = None
        while topic in self._listeners:
            read = self._readers.get(topic)
            if read is not None:
                try:
                    state = await sync_to_async(read_closing, thread_sensitive=False)(read, last)
                except Exception:
                    logger.exception("live fallback: reading %s failed", topic)
                    state = None
                if state is not None and (last is None or state.get("version") != last.get("version")):
                    # The first reading goes out too: a stream that read its state just before it
                    # would otherwise miss a change made in between (streams drop what they sent).
                    self._publish_locally(topic, state)
                    last = state
            await asyncio.sleep(FALLBACK_POLL_SECONDS)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LiveHub] = weakref.WeakKeyDictionary()


def live_hub() -> LiveHub:
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = LiveHub()
    return hub
