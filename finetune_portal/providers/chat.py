"""What a chat with a model is made of, as the portal and every provider that answers chats see it.

Pure data: this module imports nothing of the portal, so the core apps, the provider packages and the
pages can all share it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class ChatSettings:
    """What a caller may set; None means the engine's default."""

    system_prompt: str = ""
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()  # at most 4
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None


@dataclass(frozen=True)
class ServedModel:
    """One model the portal can chat with."""

    name: str  # what /v1 and the playground call it (see inference/catalog.py for the naming rule)
    label: str  # human text for pickers
    provider: str  # provider key
    kind: str  # "fine_tuned" | "checkpoint" | "base"
    provider_model: str  # what the provider's engine is asked for (OpenAI model id / base model id)
    base_model: str = ""
    adapter_uri: str = ""  # storage URI of a local adapter or checkpoint folder ("" otherwise)
    fine_tuned_model_id: int | None = None
    checkpoint_id: int | None = None
    job_id: int | None = None


@dataclass(frozen=True)
class ChatDelta:
    """A piece of the answer, as it streams."""

    text: str


@dataclass(frozen=True)
class ChatDone:
    """The last event of every stream."""

    finish_reason: str  # "stop" | "length" | ...
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: Decimal | None = None


ChatEvent = ChatDelta | ChatDone


def with_system_prompt(messages: list[dict], settings: ChatSettings) -> list[dict]:
    """The conversation as an engine receives it: the settings' system prompt first, unless the
    conversation already has its own system (or developer) message."""
    if not settings.system_prompt or any(m.get("role") in ("system", "developer") for m in messages):
        return list(messages)
    return [{"role": "system", "content": settings.system_prompt}, *messages]
