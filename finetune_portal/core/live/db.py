"""Database work of open streams, off the event loop, holding no connection between their rare queries."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections, connections

from finetune_portal.core.live.channel import State


def detached_task(coroutine) -> asyncio.Task:
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


def read_closing(read: Callable[[State | None], State | None], previous: State | None) -> State | None:
    try:
        return read(previous)
    finally:
        # Outside a request nothing else closes a connection past CONN_MAX_AGE (or a broken one).
        close_old_connections()
