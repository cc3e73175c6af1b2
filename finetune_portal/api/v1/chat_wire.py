"""Chat completions in OpenAI's wire format: the whole answer, and the server-sent events of a stream."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field

from finetune_portal.providers.chat import ChatDone

# OpenAI's finish reasons; an engine's own word for "it ended" is reported as "stop".
FINISH_REASONS = ("stop", "length", "content_filter")


@dataclass(frozen=True)
class Completion:
    """What every chunk of one answer shares."""

    model: str
    id: str = field(default_factory=lambda: f"chatcmpl-{secrets.token_hex(12)}")
    created: int = field(default_factory=lambda: int(time.time()))


def finish_reason(done: ChatDone | None) -> str:
    reason = done.finish_reason if done is not None else ""
    return reason if reason in FINISH_REASONS else "stop"


def usage(done: ChatDone | None) -> dict | None:
    """Token counts, when the engine reported both (None is honest where it did not)."""
    if done is None or done.prompt_tokens is None or done.completion_tokens is None:
        return None
    return {
        "prompt_tokens": done.prompt_tokens,
        "completion_tokens": done.completion_tokens,
        "total_tokens": done.prompt_tokens + done.completion_tokens,
    }


def completion_body(completion: Completion, text: str, done: ChatDone | None) -> dict:
    body = {
        "id": completion.id,
        "object": "chat.completion",
        "created": completion.created,
        "model": completion.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": finish_reason(done),
            }
        ],
    }
    counted = usage(done)
    if counted is not None:
        body["usage"] = counted
    return body


def _chunk(completion: Completion, choices: list[dict], include_usage: bool) -> dict:
    chunk = {
        "id": completion.id,
        "object": "chat.completion.chunk",
        "created": completion.created,
        "model": completion.model,
        "choices": choices,
    }
    if include_usage:
        chunk["usage"] = None  # as OpenAI: null on every chunk but the closing usage chunk
    return chunk


def delta_chunk(completion: Completion, delta: dict, include_usage: bool) -> dict:
    return _chunk(
        completion, [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}], include_usage
    )


def finish_chunk(completion: Completion, done: ChatDone | None, include_usage: bool) -> dict:
    return _chunk(
        completion,
        [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": finish_reason(done)}],
        include_usage,
    )


def usage_chunk(completion: Completion, done: ChatDone | None) -> dict:
    chunk = _chunk(completion, [], include_usage=False)
    chunk["usage"] = usage(done)
    return chunk


def sse(data: dict | str) -> bytes:
    """One server-sent event: ``data: <json>`` and a blank line."""
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"data: {text}\n\n".encode()


DONE = sse("[DONE]")
