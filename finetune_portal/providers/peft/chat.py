"""Chats with the local provider's models: which base models a project can try, and the answers, which
come from the model server (the embedded one, or vLLM) through serving/client.py."""

from __future__ import annotations

from collections.abc import Iterator

from finetune_portal.jobs.models import FineTuningJob
from finetune_portal.jobs.states import JobStatus
from finetune_portal.providers.chat import ChatEvent, ChatSettings, ServedModel
from finetune_portal.providers.peft.base_models import DEMO_SMOLLM2, DEMO_TINY


def _smollm2_installed() -> bool:
    from finetune_portal.providers.peft.demo_models import smollm2_gguf_path

    return smollm2_gguf_path() is not None


def chat_base_models(project, *, provider_key: str) -> list[ServedModel]:
    """The demo models the model server builds itself, and the base models the project's local runs
    trained on (a base answers without any adapter, so a run can be set beside where it started)."""
    names = [DEMO_TINY, *([DEMO_SMOLLM2] if _smollm2_installed() else [])]
    trained_on = (
        FineTuningJob.objects.filter(project=project, provider=provider_key, status=JobStatus.SUCCEEDED)
        .order_by()
        .values_list("base_model", flat=True)
        .distinct()
    )
    names += sorted(name for name in set(trained_on) if name not in names)
    return [
        ServedModel(
            name=name,
            label=f"{name} (base model, own GPUs)",
            provider=provider_key,
            kind="base",
            provider_model=name,
            base_model=name,
        )
        for name in names
    ]


def chat_stream(*, model: ServedModel, messages: list[dict], settings: ChatSettings) -> Iterator[ChatEvent]:
    from finetune_portal.providers.peft.serving.client import engine_chat_stream

    return engine_chat_stream(
        model_name=model.name,
        base_model=model.base_model or model.provider_model,
        adapter_uri=model.adapter_uri,
        messages=messages,
        settings=settings,
    )
