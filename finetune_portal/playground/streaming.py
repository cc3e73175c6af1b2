"""One playground answer as Server-Sent Events, streamed as the model writes it.

The page POSTs the conversation and reads the answer with a fetch stream reader: ``delta`` events carry
text, then exactly one ``done`` event (the recorded answer's figures) or ``error`` event (in words).

Under WSGI (gunicorn, the test live server) a plain generator streams. Under ASGI Django would read a
plain generator to its end before sending anything, so there the same generator runs in a thread of its
own and hands its frames to the event loop through an asyncio queue (``in_thread``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from decimal import Decimal
from typing import Any

from django.db import connections

from finetune_portal.inference.models import ChatAnswer
from finetune_portal.inference.services import chat_stream
from finetune_portal.providers.base import ProviderError
from finetune_portal.providers.chat import ChatDelta, ChatEvent, ChatSettings, ServedModel

logger = logging.getLogger(__name__)

NOT_READY = "Not ready yet: the model is still being deployed; try again in a minute."
SOURCE = "playground"


def sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, default=_json_default)}\n\n".encode()


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(type(value).__name__)


def figures(answer: ChatAnswer) -> dict[str, Any]:
    """What the page shows under an answer."""
    return {
        "answer_id": answer.pk,
        "finish_reason": answer.finish_reason,
        "latency_ms": answer.latency_ms,
        "ttft_ms": answer.ttft_ms,
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "tokens_per_second": round(answer.tokens_per_second, 1) if answer.tokens_per_second else None,
        "cost_usd": answer.cost_usd,
    }


def error_words(exc: ProviderError) -> str:
    """A provider's refusal as the column shows it."""
    if exc.code == "model_not_ready":
        return exc.message or NOT_READY
    if exc.code == "model_shut_down":
        return exc.message or "This model has been shut down by its provider and no longer answers."
    return exc.message or "The provider refused the request."


def answer_events(
    *, project, user, model: ServedModel, messages: list[dict], settings: ChatSettings
) -> Iterator[bytes]:
    """The answer's SSE frames. Stopping early (the reader went away) closes the provider's stream,
    which records the answer as abandoned."""
    recorded: list[ChatAnswer] = []
    stream: Generator[ChatEvent, None, None] = chat_stream(  # type: ignore[assignment]
        project=project,
        user=user,
        model=model,
        messages=messages,
        settings=settings,
        source=SOURCE,
        recorded=recorded,
    )
    yield sse("start", {"model": model.name})
    try:
        for event in stream:
            if isinstance(event, ChatDelta) and event.text:
                yield sse("delta", {"text": event.text})
    except ProviderError as exc:
        yield sse("error", {"message": error_words(exc), "code": exc.code, **_recorded(recorded)})
    except Exception:
        logger.exception("playground answer from %s failed", model.name)
        yield sse(
            "error", {"message": "The answer failed on the portal's side; try again.", "code": "internal"}
        )
    else:
        yield sse("done", _recorded(recorded))
    finally:
        stream.close()


def _recorded(recorded: list[ChatAnswer]) -> dict[str, Any]:
    return figures(recorded[0]) if recorded else {}


_END = object()


async def in_thread(make_frames: Callable[[], Iterator[bytes]]) -> AsyncIterator[bytes]:
    """Run a blocking frame generator in its own thread and yield its frames on the event loop as they
    come, so an ASGI server sends each at once and one slow model holds no other request up."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    reader_gone = threading.Event()

    def hand_over(item: Any) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the loop has closed: nobody is reading
            reader_gone.set()

    def pump() -> None:
        frames = make_frames()
        try:
            for frame in frames:
                if reader_gone.is_set():
                    break
                hand_over(frame)
        except BaseException as exc:  # handed to the reader, who raises it
            hand_over(exc)
        finally:
            close = getattr(frames, "close", None)
            if close is not None:
                close()
            # This thread's own database connections; a request's are closed by Django.
            connections.close_all()
            hand_over(_END)

    threading.Thread(target=pump, name="playground-answer", daemon=True).start()
    try:
        while True:
            item = await queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        reader_gone.set()
