"""What a chat with a served model is made of, shared by the providers and the inference app.

Pure dataclasses: this module imports nothing of the portal.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class ChatSettings:  # what a caller may set; None = the engine's default
    system_prompt: str = ""
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()  # at most 4
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None


@dataclass(frozen=True)
class ServedModel:  # one model the portal can chat with
    name: str  # what /v1 and the playground call it (see naming below)
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
class ChatDelta:  # a piece of the answer, as it streams
    text: str


@dataclass(frozen=True)
class ChatDone:  # the last event of every stream
    finish_reason: str  # "stop" | "length" | ...
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: Decimal | None = None


ChatEvent = ChatDelta | ChatDone
