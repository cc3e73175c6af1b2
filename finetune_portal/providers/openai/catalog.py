"""OpenAI's fine-tunable base models: methods, tokenizer, per-example limit and training price.

One reviewable table. Prices are USD per 1M training tokens as published on OpenAI's pricing page,
copied on PRICES_TAKEN_ON; review them whenever that page changes. Any model string is accepted at
launch; models missing here get no estimate rather than a wrong one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from finetune_portal.providers.base import epochs_when_unset

PRICES_TAKEN_ON = date(2026, 8, 1)


@dataclass(frozen=True)
class BaseModelInfo:
    name: str
    methods: frozenset[str]
    encoding: str
    max_tokens_per_example: int | None
    training_price_per_million: Decimal | None  # None: not billed per token (RFT bills per hour)
    vision: bool = False
    legacy: bool = False
    note: str = ""


_SFT_DPO = frozenset({"sft", "dpo"})

BASE_MODELS: tuple[BaseModelInfo, ...] = (
    BaseModelInfo("gpt-4.1-2025-04-14", _SFT_DPO, "o200k_base", 65_536, Decimal("25")),
    BaseModelInfo("gpt-4.1-mini-2025-04-14", _SFT_DPO, "o200k_base", 65_536, Decimal("5")),
    BaseModelInfo("gpt-4.1-nano-2025-04-14", _SFT_DPO, "o200k_base", 65_536, Decimal("1.50")),
    BaseModelInfo("gpt-4o-2024-08-06", _SFT_DPO, "o200k_base", 65_536, Decimal("25"), vision=True),
    BaseModelInfo("gpt-4o-mini-2024-07-18", _SFT_DPO, "o200k_base", 65_536, Decimal("3")),
    BaseModelInfo(
        "o4-mini-2025-04-16",
        frozenset({"rft"}),
        "o200k_base",
        None,
        None,
        note="RFT is billed $100 per hour.",
    ),
    BaseModelInfo("gpt-3.5-turbo-0125", frozenset({"sft"}), "cl100k_base", 16_385, Decimal("8"), legacy=True),
    BaseModelInfo("davinci-002", frozenset({"sft"}), "cl100k_base", 16_385, Decimal("6"), legacy=True),
    BaseModelInfo("babbage-002", frozenset({"sft"}), "cl100k_base", 16_385, Decimal("0.40"), legacy=True),
)

_BY_NAME = {info.name: info for info in BASE_MODELS}
# Aliases resolve to the snapshot OpenAI would pick.
_ALIASES = {
    "gpt-4.1": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano": "gpt-4.1-nano-2025-04-14",
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "o4-mini": "o4-mini-2025-04-16",
    "gpt-3.5-turbo": "gpt-3.5-turbo-0125",
}
DEFAULT_ENCODING = "o200k_base"


def base_model_info(name: str) -> BaseModelInfo | None:
    """The table row for a model, its alias, or the base of an ``ft:`` model; None when unknown."""
    name = name.strip()
    if name.startswith("ft:"):
        name = name.split(":")[1]
    return _BY_NAME.get(_ALIASES.get(name, name))


def base_models_for(method: str) -> list[BaseModelInfo]:
    return [info for info in BASE_MODELS if method in info.methods]


def default_epochs(example_count: int) -> int:
    """The epochs OpenAI picks for n_epochs=auto (from its data-preparation cookbook)."""
    return epochs_when_unset(example_count)


def training_cost(model: str, billed_tokens: int) -> Decimal | None:
    info = base_model_info(model)
    if info is None or info.training_price_per_million is None:
        return None
    return (info.training_price_per_million * billed_tokens / Decimal(1_000_000)).quantize(Decimal("0.0001"))
