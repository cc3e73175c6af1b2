"""Chats with OpenAI models (fine-tuned models, their checkpoints and base models) through the SDK's
streaming chat completions, with the project's credential.

Two refusals are read before they become errors: a model past its shutdown date is refused here without
calling OpenAI, and the 404 OpenAI answers for a few minutes after a job succeeds is "not ready yet".
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import openai
from django.utils import timezone

from finetune_portal.credentials.models import ProviderCredential
from finetune_portal.credentials.services import credential_mark_used, credential_resolve
from finetune_portal.jobs.models import FineTuningJob
from finetune_portal.providers.base import AnswerRefused, ModelNotReady, ModelShutDown, ProviderError
from finetune_portal.providers.chat import (
    ChatDelta,
    ChatDone,
    ChatEvent,
    ChatSettings,
    ServedModel,
    with_system_prompt,
)
from finetune_portal.providers.openai import catalog, sunsets
from finetune_portal.providers.openai.client import credential_for, credential_for_project, openai_client_for
from finetune_portal.providers.openai.mapping import error_message_and_code

# How long after a job succeeds OpenAI may still answer 404 for its model while it deploys.
DEPLOYING_FOR = timedelta(minutes=15)
NOT_READY = "Not ready yet: OpenAI is still deploying this model; try again in a minute."


def chat_base_models(project, *, provider_key: str) -> list[ServedModel]:
    """The catalog's chat models that still answer, for a project that has an OpenAI credential (without
    one, none of them can answer, so none is offered)."""
    if credential_resolve(kind="openai", project=project) is None:
        return []
    today = timezone.localdate()
    return [
        ServedModel(
            name=info.name,
            label=f"{info.name} · base",
            provider=provider_key,
            kind="base",
            provider_model=info.name,
            base_model=info.name,
        )
        for info in catalog.BASE_MODELS
        if info.name in catalog.CHAT_MODELS and not sunsets.is_shut_down(info.name, on=today)
    ]


def create_params(model: ServedModel, messages: list[dict], settings: ChatSettings) -> dict[str, Any]:
    """The chat completion request for the SDK: streaming with a closing usage chunk, and only the
    settings the caller chose (OpenAI's defaults otherwise)."""
    params: dict[str, Any] = {
        "model": model.provider_model,
        "messages": with_system_prompt(messages, settings),
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    chosen = {
        "temperature": settings.temperature,
        "top_p": settings.top_p,
        # max_tokens is deprecated in OpenAI's API description and refused by reasoning models.
        "max_completion_tokens": settings.max_tokens,
        "seed": settings.seed,
        "presence_penalty": settings.presence_penalty,
        "frequency_penalty": settings.frequency_penalty,
    }
    params.update({key: value for key, value in chosen.items() if value is not None})
    if settings.stop:
        params["stop"] = list(settings.stop)
    return params


def chat_stream(
    *, project, model: ServedModel, messages: list[dict], settings: ChatSettings
) -> Iterator[ChatEvent]:
    today = timezone.localdate()
    day = sunsets.shutdown_date(model.provider_model)
    if day is not None and today >= day:
        raise ModelShutDown(
            f"{model.name} no longer answers: OpenAI shut down "
            f"{catalog.base_model_of(model.provider_model)} and the models fine-tuned from it on "
            f"{day:%d %B %Y}.",
            hint="OpenAI serves it after that day only as dedicated capacity (contact its sales). Retrain "
            "the same data on your own GPUs to keep a model like it.",
        )
    job = None
    if model.job_id is not None:
        job = FineTuningJob.objects.filter(pk=model.job_id).select_related("credential", "project").first()
    credential = _credential(project, job)
    client = openai_client_for(credential)
    try:
        stream = client.chat.completions.create(**create_params(model, messages, settings))
    except openai.NotFoundError as exc:
        if job is not None and _still_deploying(job):
            raise ModelNotReady(NOT_READY) from exc
        raise _chat_error(exc) from exc
    except openai.OpenAIError as exc:
        raise _chat_error(exc) from exc
    credential_mark_used(credential=credential)
    yield from _events(stream, model)


def _credential(project, job: FineTuningJob | None) -> ProviderCredential:
    # A fine-tuned model lives in the organization that trained it: the job's own credential first.
    return credential_for(job) if job is not None else credential_for_project(project)


def _still_deploying(job: FineTuningJob) -> bool:
    finished = job.finished_at or job.status_changed_at
    return finished is not None and timezone.now() - finished < DEPLOYING_FOR


def _events(stream, model: ServedModel) -> Iterator[ChatEvent]:
    finish_reason = ""
    usage = None
    refusal: list[str] = []
    try:
        for chunk in stream:
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices:
                if choice.delta is not None and choice.delta.content:
                    yield ChatDelta(choice.delta.content)
                if choice.delta is not None and getattr(choice.delta, "refusal", None):
                    refusal.append(str(choice.delta.refusal))
                if choice.finish_reason:
                    finish_reason = str(choice.finish_reason)
    except openai.OpenAIError as exc:
        raise _chat_error(exc) from exc
    finally:
        stream.close()
    if refusal:
        raise AnswerRefused(refusal_message("".join(refusal)))
    prompt_tokens = usage.prompt_tokens if usage is not None else None
    completion_tokens = usage.completion_tokens if usage is not None else None
    yield ChatDone(
        finish_reason=finish_reason,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost_usd=catalog.chat_cost(
            model.provider_model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
        ),
    )


def refusal_message(refusal: str) -> str:
    return f"The model refused: {refusal}"


def _chat_error(exc: Exception) -> ProviderError:
    """OpenAI's refusal in its own words; only a pause (rate limit, overload, network) is worth a retry."""
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError(f"Could not reach OpenAI: {exc}", permanent=False, code="connection")
    if isinstance(exc, openai.APIStatusError):
        message, code = error_message_and_code(exc)
        status = exc.status_code
        retry = (status == 429 and code != "insufficient_quota") or status >= 500 or status in (408, 409)
        hint = ""
        if status in (401, 403):
            hint = "OpenAI refused the credential: check the project's or the site-wide OpenAI key."
        elif status == 404:
            hint = "OpenAI does not know this model for this credential: it may have been deleted."
        return ProviderError(message, permanent=not retry, hint=hint, code=code or str(status))
    return ProviderError(f"OpenAI failed: {exc}", permanent=False)
