"""Server-sent events that stream under both kinds of server.

Django serves a streaming response's iterator as it is: under ASGI (uvicorn) a sync iterator is first
consumed whole and under WSGI (runserver, gunicorn, the test live server) an async one is, so either
kind alone would deliver a chat answer all at once on one of them. The response therefore gets the
sync iterator under WSGI and, under ASGI, an async iterator fed by the same sync iterator.

That sync iterator runs in the request's own thread (its database connection, and the provider's
blocking I/O, stay off the event loop), in one pass: each line is handed to the event loop as it comes,
rather than each step being a round trip between the loop and the thread. At most ``IN_FLIGHT`` lines
wait for the client; past that the iterator waits for it. A reader that goes away closes the iterator
in that thread, so the answer is recorded as abandoned and the provider's connection is released, and
the response ends only after that.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse

IN_FLIGHT = 16

_END = object()


class _Failed:
    def __init__(self, error: Exception):
        self.error = error


async def async_lines(lines: Iterator[bytes]) -> AsyncIterator[bytes]:
    """The lines of a sync iterator, for an ASGI response (see the module's docstring)."""
    loop = asyncio.get_running_loop()
    arrived: asyncio.Queue = asyncio.Queue()
    room = threading.Semaphore(IN_FLIGHT)
    stop = threading.Event()

    def hand_over(item) -> None:
        loop.call_soon_threadsafe(arrived.put_nowait, item)

    def pump() -> None:
        try:
            for line in lines:
                room.acquire()
                if stop.is_set():
                    return
                hand_over(line)
        except Exception as exc:
            hand_over(_Failed(exc))
        else:
            hand_over(_END)
        finally:
            close = getattr(lines, "close", None)
            if close is not None:
                close()

    pumping = asyncio.ensure_future(sync_to_async(pump, thread_sensitive=True)())
    try:
        while True:
            item = await arrived.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            room.release()
            yield item
    finally:
        stop.set()
        room.release()  # wakes a pump waiting for room, to see the stop
        # The iterator is closed (the answer recorded) before the response ends.
        await asyncio.shield(pumping)


def event_stream_response(request, lines: Iterator[bytes]) -> StreamingHttpResponse:
    content = async_lines(lines) if isinstance(request, ASGIRequest) else lines
    response = StreamingHttpResponse(content, content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    # Proxies (nginx) must pass each event on as it comes rather than buffer the answer.
    response["X-Accel-Buffering"] = "no"
    return response
