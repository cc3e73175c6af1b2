"""The live channel: open pages learn that something changed through one Server-Sent Events stream each.

Writers (web requests, Celery workers) call ``live_publish_on_commit`` with a topic (``job:42``) and
a function that describes the new state; once their transaction commits, the description goes out on
Redis pub/sub. Each web process keeps one subscription for all its open streams (``LiveHub``) and
hands every message to the streams that watch its topic, so a page with nothing new costs an open
connection and nothing else.

Without Redis (the embedded defaults of ``make run``) nothing is published; the hub instead reads the
state of each watched topic once a second, once per process however many pages watch it.

Every event carries an id (``<topic>:<version>``). A browser that reconnects sends the last one back
(``Last-Event-ID``), and a topic whose version has not moved since is not sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import json
import logging
import weakref
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections, connections, transaction

logger = logging.getLogger(__name__)

CHANNEL_PREFIX = "portal:live:"
# A comment line this often keeps proxies and load balancers from closing an idle stream.
KEEPALIVE_SECONDS = 15.0
# How often an open stream checks that its viewer is still logged in and still a member.
ACCESS_RECHECK_SECONDS = 60.0
# How often the fallback (no Redis) reads each watched topic's state.
FALLBACK_POLL_SECONDS = 1.0
# What the browser waits before reconnecting after the stream drops (a web process restart).
RETRY_MS = 2000
# Events a slow stream may fall behind by before it is told to read the current state instead.
QUEUE_SIZE = 64

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


_RESYNC = object()
_KEEPALIVE = object()
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
                self._pollers[source.topic] = _detached_task(self._poll(source.topic))
        if live_redis_url() and (self._subscriber is None or self._subscriber.done()):
            self._subscriber = _detached_task(self._subscribe())
        if self._ticker is None or self._ticker.done():
            self._ticker = _detached_task(self._keep_alive())
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
                        queue.put_nowait((None, _KEEPALIVE))
        self._ticker = None

    def _publish_locally(self, topic: str, state: State) -> None:
        update = Update.of(state)
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
                state = await sync_to_async(_read_closing, thread_sensitive=False)(read, None)
            except Exception:
                logger.exception("live channel: reading %s failed", topic)
                self._deliver(topic, (topic, _RESYNC))
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
                queue.put_nowait((None, _RESYNC))

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
                    state = await sync_to_async(_read_closing, thread_sensitive=False)(read, last)
                except Exception:
                    logger.exception("live fallback: reading %s failed", topic)
                    state = None
                if state is not None and (last is None or state.get("version") != last.get("version")):
                    # The first reading goes out too: a stream that read its state just before it
                    # would otherwise miss a change made in between (streams drop what they sent).
                    self._publish_locally(topic, state)
                    last = state
            await asyncio.sleep(FALLBACK_POLL_SECONDS)


def _detached_task(coroutine) -> asyncio.Task:
    """A task that outlives the request that started it. In a fresh context its database work runs in
    the process's one shared sync thread, not in the thread Django keeps for that request."""
    return asyncio.create_task(coroutine, context=contextvars.Context())


def _call_and_close(function: Callable[..., Any], *args: Any) -> Any:
    """Run database work for an open stream and close (or hand back to the pool) the connection it
    opened, so an open page holds no database connection between its rare queries."""
    try:
        return function(*args)
    finally:
        connections.close_all()


async def in_stream_thread(function: Callable[..., Any], *args: Any) -> Any:
    """Database work of an open stream, in the event loop's shared thread pool.

    Not in the request's own thread (sync_to_async's default under Django's ASGI handler): that thread
    lives as long as the request, so every open page would keep one, a thousand threads for a
    thousand viewers.
    """
    return await sync_to_async(_call_and_close, thread_sensitive=False)(function, *args)


async def in_request_thread(function: Callable[..., Any], *args: Any) -> Any:
    """A stream's first database work, in the request's own thread, closing what the request opened
    there too (its session and user were read in it), before the stream starts."""
    return await sync_to_async(_call_and_close)(function, *args)


def _read_closing(read: Callable[[State | None], State | None], previous: State | None) -> State | None:
    try:
        return read(previous)
    finally:
        # Outside a request nothing else closes a connection past CONN_MAX_AGE (or a broken one).
        close_old_connections()


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LiveHub] = weakref.WeakKeyDictionary()


def live_hub() -> LiveHub:
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = LiveHub()
    return hub


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

    def fresh(topic: str, update: Update) -> str | None:
        if sent.get(topic) == update.version:
            return None
        sent[topic] = update.version
        source = by_topic[topic]
        return _sse_text(event=source.event, event_id=f"{topic}:{update.version}", data=update.data)

    async def read_now(source: LiveSource) -> str | None:
        current = await in_stream_thread(source.read, None)
        return fresh(source.topic, Update.of(current)) if current is not None else None

    hub = live_hub()
    loop = asyncio.get_running_loop()
    recheck_at = loop.time() + ACCESS_RECHECK_SECONDS
    async with hub.listen(sources) as queue:
        yield f"retry: {RETRY_MS}\n\n"
        for source in sources:
            known = hub.current(source.topic)
            text = fresh(source.topic, known) if known is not None else await read_now(source)
            if text:
                yield text
        while True:
            topic, item = await queue.get()
            if item is _KEEPALIVE:
                yield ": keep-alive\n\n"
            if loop.time() >= recheck_at:
                recheck_at = loop.time() + ACCESS_RECHECK_SECONDS
                if not await in_stream_thread(still_allowed):
                    yield "event: end\ndata: {}\n\n"
                    return
            if item is _KEEPALIVE:
                continue
            if item is _RESYNC:
                for source in sources if topic is None else [by_topic[topic]]:
                    text = await read_now(source)
                    if text:
                        yield text
                continue
            if topic in by_topic:
                text = fresh(topic, item)
                if text:
                    yield text
