"""Chats answered as one batch, later and cheaper: what a provider is sent and what it reports back."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from finetune_portal.providers.chat import ChatSettings


@dataclass(frozen=True)
class BatchRequest:
    """One chat of a batch; ``key`` comes back with its result."""

    key: str
    messages: list[dict]
    settings: ChatSettings


@dataclass(frozen=True)
class BatchResult:
    """One chat's outcome in a finished batch: its answer, or why there is none."""

    key: str
    output: str = ""
    finish_reason: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: Decimal | None = None
    error: str = ""
    # "refusal" when the model declined (see AnswerRefused), else the provider's error code, or "".
    code: str = ""


# Where a batch stands at the provider.
BATCH_RUNNING = "running"
BATCH_DONE = "done"  # every request answered or failed; results are final
BATCH_ENDED = "ended"  # expired, cancelled or refused as a whole: results hold what was answered


@dataclass(frozen=True)
class BatchState:
    state: str  # BATCH_RUNNING | BATCH_DONE | BATCH_ENDED
    provider_status: str  # the provider's own word, shown on the page
    completed: int = 0
    failed: int = 0
    total: int = 0
    results: tuple[BatchResult, ...] = ()
    error: str = ""
