"""Chatting with a served model through its provider, measured and recorded: one ChatAnswer per answer,
which is also the ledger the project's inference spend is summed from."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal

from django.db.models import Sum

from finetune_portal.inference.models import ChatAnswer
from finetune_portal.providers.base import ProviderError, ProviderUnavailable
from finetune_portal.providers.chat import ChatDelta, ChatDone, ChatEvent, ChatSettings, ServedModel
from finetune_portal.providers.registry import get_provider

STOPPED_READING = "The answer was abandoned before it ended."


def chat_stream(
    *,
    project,
    user,
    model: ServedModel,
    messages: list[dict],
    settings: ChatSettings,
    source: str,
    recorded: list[ChatAnswer] | None = None,
    save_free: bool = True,
) -> Iterator[ChatEvent]:
    """Stream the model's answer as the provider gives it, then record it with its figures (latency,
    time to first token, tokens, tokens per second, cost). A provider's refusal is recorded and
    re-raised; so is an answer its reader abandons half way (with what had arrived).

    ``recorded``, when given, receives the ChatAnswer as soon as it is saved, so a caller that shows
    the figures (or links to the answer) needs no second look-up. With ``save_free=False`` an answer
    that cost nothing is handed over unsaved, for a caller that saves many together (``answers_save``);
    an answer with a cost is saved at once whatever the caller asks, as the spend ledger needs."""
    yield from _answer(
        project=project,
        user=user,
        model=model,
        messages=messages,
        settings=settings,
        source=source,
        recorded=recorded if recorded is not None else [],
        save_free=save_free,
    )


def chat_collect(
    *,
    project,
    user,
    model: ServedModel,
    messages: list[dict],
    settings: ChatSettings,
    source: str,
    save_free: bool = True,
) -> tuple[ChatAnswer | None, ProviderError | None]:
    """chat_stream, collected: the recorded answer and the provider's error, if there was one. An answer
    that failed part-way is recorded too (None only when the provider refused before answering), so the
    caller keeps what it cost."""
    recorded: list[ChatAnswer] = []
    try:
        for _ in chat_stream(
            project=project,
            user=user,
            model=model,
            messages=messages,
            settings=settings,
            source=source,
            recorded=recorded,
            save_free=save_free,
        ):
            pass
    except ProviderError as exc:
        return (recorded[0] if recorded else None), exc
    return recorded[0], None


def chat_complete(
    *,
    project,
    user,
    model: ServedModel,
    messages: list[dict],
    settings: ChatSettings,
    source: str,
) -> ChatAnswer:
    """The same as chat_stream, collected: the recorded answer (provider errors are raised)."""
    answer, problem = chat_collect(
        project=project, user=user, model=model, messages=messages, settings=settings, source=source
    )
    if problem is not None:
        raise problem
    assert answer is not None  # noqa: S101 - chat_stream records every answer it finishes
    return answer


def _answer(
    *,
    project,
    user,
    model: ServedModel,
    messages: list[dict],
    settings: ChatSettings,
    source: str,
    recorded: list[ChatAnswer],
    save_free: bool = True,
) -> Iterator[ChatEvent]:
    started = time.perf_counter()
    first_text_at: float | None = None
    pieces: list[str] = []
    done: ChatDone | None = None
    error = ""
    events: Iterator[ChatEvent] | None = None
    try:
        provider = get_provider(model.provider)
        if not provider.capabilities.inference:
            raise ProviderUnavailable(f"The {provider.label} provider cannot answer chats.")
        events = provider.chat_stream(
            project=project, model=model, messages=list(messages), settings=settings
        )
        for event in events:
            if isinstance(event, ChatDelta):
                if first_text_at is None and event.text:
                    first_text_at = time.perf_counter()
                pieces.append(event.text)
            elif isinstance(event, ChatDone):
                done = event
            yield event
    except ProviderError as exc:
        error = exc.message
        raise
    except GeneratorExit:
        error = STOPPED_READING
        raise
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        ended = time.perf_counter()
        # A reader that stops early must not leave the provider's connection streaming.
        close = getattr(events, "close", None)
        if close is not None:
            close()
        answer = _answer_record(
            project=project,
            user=user,
            model=model,
            messages=messages,
            settings=settings,
            source=source,
            output="".join(pieces),
            done=done,
            error=error,
            latency=ended - started,
            ttft=None if first_text_at is None else first_text_at - started,
        )
        if save_free or answer.cost_usd:
            answer.save()
        recorded.append(answer)


def answers_save(answers: list[ChatAnswer]) -> None:
    """Save answers handed over unsaved (``save_free=False``) in one statement."""
    unsaved = [answer for answer in answers if answer.pk is None]
    if unsaved:
        ChatAnswer.objects.bulk_create(unsaved)


def _answer_record(
    *,
    project,
    user,
    model: ServedModel,
    messages: list[dict],
    settings: ChatSettings,
    source: str,
    output: str,
    done: ChatDone | None,
    error: str,
    latency: float,
    ttft: float | None,
) -> ChatAnswer:
    completion_tokens = done.completion_tokens if done else None
    return ChatAnswer(
        project=project,
        user=user if user is not None and user.is_authenticated else None,
        source=source,
        model_name=model.name,
        provider=model.provider,
        fine_tuned_model_id=model.fine_tuned_model_id,
        checkpoint_id=model.checkpoint_id,
        messages=list(messages),
        settings=_settings_json(settings),
        output=output,
        finish_reason=done.finish_reason if done else "",
        prompt_tokens=done.prompt_tokens if done else None,
        completion_tokens=completion_tokens,
        latency_ms=round(latency * 1000),
        ttft_ms=None if ttft is None else round(ttft * 1000),
        # Over the whole answer, waiting included: what a user of the model gets per second.
        tokens_per_second=completion_tokens / latency if completion_tokens and latency > 0 else None,
        cost_usd=done.cost_usd if done else None,
        error=error,
    )


def _settings_json(settings: ChatSettings) -> dict:
    values = dataclasses.asdict(settings)
    values["stop"] = list(settings.stop)
    return values


def inference_spend(project, *, since: datetime) -> Decimal:
    """What the project's answers since then cost (answers with no known price count nothing)."""
    total = ChatAnswer.objects.filter(project=project, created_at__gte=since).aggregate(
        total=Sum("cost_usd")
    )["total"]
    return total if total is not None else Decimal("0")
