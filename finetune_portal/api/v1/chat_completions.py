"""POST /v1/chat/completions: a chat with one of the project's served models, whole or streamed."""

from __future__ import annotations

from collections.abc import Iterator

from django.http import HttpResponseBase, JsonResponse
from django_ratelimit.core import get_usage

from finetune_portal.api.auth import ApiCaller
from finetune_portal.api.body import json_body
from finetune_portal.api.errors import ApiError, model_not_found
from finetune_portal.api.streaming import event_stream_response
from finetune_portal.api.v1 import chat_wire as wire
from finetune_portal.api.v1.chat_request import parse_chat_request
from finetune_portal.inference.catalog_cache import served_model_remembered
from finetune_portal.inference.limits import GROUP, inference_allowed, inference_rate
from finetune_portal.inference.services import chat_stream
from finetune_portal.providers.base import ModelNotReady, ModelShutDown, ProviderError
from finetune_portal.providers.chat import ChatDelta, ChatDone, ChatEvent

SOURCE = "api"


def provider_error(exc: ProviderError) -> ApiError:
    """A provider's refusal as the SDK should see it.

    Not ready and shut down answer 404, as OpenAI itself does for a model still deploying or retired:
    an application written for OpenAI already handles that status, and the SDK does not retry a 404,
    so the plain message ("Not ready yet ... try again in a minute") reaches the caller at once instead
    of after silent retries. Their codes tell them apart from a model that does not exist. Other
    failures are the provider's, not the caller's: 503 (retried by the SDK) when a retry may help,
    else 502 with ``x-should-retry: false``.
    """
    message = f"{exc.message} {exc.hint}".strip()
    if isinstance(exc, ModelNotReady):
        return ApiError(404, message, param="model", code="model_not_ready")
    if isinstance(exc, ModelShutDown):
        return ApiError(404, message, param="model", code="model_shut_down")
    if exc.permanent:
        return ApiError(
            502,
            message,
            type="provider_error",
            code=exc.code or "provider_error",
            headers={"x-should-retry": "false"},
        )
    return ApiError(503, message, type="provider_error", code=exc.code or "provider_unavailable")


def _rate_limited(request, project) -> ApiError:
    usage = get_usage(request, group=GROUP, key=lambda group, request: str(project.pk), rate=inference_rate())
    limit = usage["limit"] if usage else 0
    wait = max(1, usage["time_left"]) if usage and usage["time_left"] > 0 else 1
    return ApiError(
        429,
        f"Rate limit reached for project {project.slug}: {limit} chat answers per period "
        f"({inference_rate()}, INFERENCE_RATE_LIMIT). Try again in {wait} s.",
        type="requests",
        code="rate_limit_exceeded",
        headers={"retry-after": str(wait), "x-ratelimit-limit-requests": str(limit)},
    )


def _first(events: Iterator[ChatEvent]) -> ChatEvent | None:
    """The first event, so that a refusal (not ready, shut down) still becomes an HTTP status."""
    try:
        return next(events, None)
    except ProviderError as exc:
        raise provider_error(exc) from exc


def chat_completion_create(request, caller: ApiCaller) -> HttpResponseBase:
    chat = parse_chat_request(json_body(request))
    model = served_model_remembered(caller.project, chat.model)
    if model is None:
        raise model_not_found(chat.model)
    if not inference_allowed(request, caller.project):
        raise _rate_limited(request, caller.project)
    events = chat_stream(
        project=caller.project,
        user=caller.user,
        model=model,
        messages=chat.messages,
        settings=chat.settings,
        source=SOURCE,
    )
    first = _first(events)
    completion = wire.Completion(model=model.name)
    if chat.stream:
        return event_stream_response(request, _stream(completion, first, events, chat.include_usage))
    return _whole(completion, first, events)


def _whole(completion: wire.Completion, first: ChatEvent | None, events: Iterator[ChatEvent]) -> JsonResponse:
    pieces: list[str] = []
    done: ChatDone | None = None
    try:
        for event in _chain(first, events):
            if isinstance(event, ChatDelta):
                pieces.append(event.text)
            elif isinstance(event, ChatDone):
                done = event
    except ProviderError as exc:
        raise provider_error(exc) from exc
    return JsonResponse(wire.completion_body(completion, "".join(pieces), done))


def _chain(first: ChatEvent | None, events: Iterator[ChatEvent]) -> Iterator[ChatEvent]:
    if first is not None:
        yield first
    yield from events


def _stream(
    completion: wire.Completion, first: ChatEvent | None, events: Iterator[ChatEvent], include_usage: bool
) -> Iterator[bytes]:
    """The answer as OpenAI streams it: a chunk with the role, one per piece of text, one with the
    finish reason, the usage chunk when asked for, then [DONE]. A failure half way is sent as an error
    event (the status line is long gone), which the SDK raises as APIError."""
    done: ChatDone | None = None
    try:
        yield wire.sse(wire.delta_chunk(completion, {"role": "assistant", "content": ""}, include_usage))
        for event in _chain(first, events):
            if isinstance(event, ChatDelta):
                if event.text:
                    yield wire.sse(wire.delta_chunk(completion, {"content": event.text}, include_usage))
            elif isinstance(event, ChatDone):
                done = event
    except ProviderError as exc:
        yield wire.sse(provider_error(exc).body())
        return
    finally:
        events.close()  # type: ignore[attr-defined]
    yield wire.sse(wire.finish_chunk(completion, done, include_usage))
    if include_usage:
        yield wire.sse(wire.usage_chunk(completion, done))
    yield wire.DONE
