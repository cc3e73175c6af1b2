"""Server-sent events that stream under both kinds of server.

Django serves a streaming response's iterator as it is: under ASGI (uvicorn) a sync iterator is first
consumed whole and under WSGI (runserver, gunicorn, the test live server) an async one is, so either
kind alone would deliver a chat answer all at once on one of them. The response therefore gets the
sync iterator under WSGI and, under ASGI, an async iterator that advances the same sync iterator one
step at a time in the request's thread (its database connection and the provider's blocking I/O stay
out of the event loop). A reader that goes away closes the iterator, so the answer is recorded as
abandoned and the provider's connection is released.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse

_END = object()


def _step(lines: Iterator[bytes]):
    return next(lines, _END)


async def _async_lines(lines: Iterator[bytes]) -> AsyncIterator[bytes]:
    step = sync_to_async(_step, thread_sensitive=True)
    try:
        while True:
            line = await step(lines)
            if line is _END:
                return
            yield line
    finally:
        close = getattr(lines, "close", None)
        if close is not None:
            await sync_to_async(close, thread_sensitive=True)()


def event_stream_response(request, lines: Iterator[bytes]) -> StreamingHttpResponse:
    content = _async_lines(lines) if isinstance(request, ASGIRequest) else lines
    response = StreamingHttpResponse(content, content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    # Proxies (nginx) must pass each event on as it comes rather than buffer the answer.
    response["X-Accel-Buffering"] = "no"
    return response
