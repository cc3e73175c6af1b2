"""OpenAI's fine-tunable base models: methods, tokenizer, per-example limit, training price, chat
(inference) prices and shutdown dates.

Reviewable tables. Training prices are USD per 1M training tokens as published on OpenAI's pricing page,
copied on PRICES_TAKEN_ON; inference prices on INFERENCE_PRICES_TAKEN_ON; shutdown dates as of
SHUTDOWNS_KNOWN_ON. Review them whenever those pages change. Any model string is accepted at launch;
models missing here get no estimate (and no cost per answer) rather than a wrong one.
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


def base_model_of(name: str) -> str:
    """The base snapshot a model name stands for: an alias resolved, an ``ft:`` model's (or checkpoint's)
    base read from its name; anything else as given."""
    name = name.strip()
    if name.startswith("ft:"):
        name = name.split(":")[1]
    return _ALIASES.get(name, name)


def base_model_info(name: str) -> BaseModelInfo | None:
    """The table row for a model, its alias, or the base of an ``ft:`` model; None when unknown."""
    return _BY_NAME.get(base_model_of(name))


# -- chats (inference) ---------------------------------------------------------------------------------

# Models that take chat completions (davinci-002 and babbage-002 only complete text).
CHAT_MODELS = frozenset(info.name for info in BASE_MODELS if info.name not in {"davinci-002", "babbage-002"})

# OpenAI's wind-down (its deprecations page, "Update to OpenAI's self-serve fine-tuning", and the notice
# of 2026-10-14): after these days a base model and every model fine-tuned from it stop answering.
SHUTDOWNS_KNOWN_ON = date(2026, 11, 30)
SHUTDOWN_ON: dict[str, date] = {
    "gpt-3.5-turbo-0125": date(2026, 10, 23),
    "gpt-4.1-nano-2025-04-14": date(2026, 10, 23),
    "o4-mini-2025-04-16": date(2026, 10, 23),
    "gpt-4o-2024-05-13": date(2026, 10, 23),
    "gpt-4o-2024-08-06": date(2027, 1, 14),
    "gpt-4o-2024-11-20": date(2027, 1, 14),
    "gpt-4o-mini-2024-07-18": date(2027, 1, 14),
    "gpt-4.1-2025-04-14": date(2027, 1, 14),
    "gpt-4.1-mini-2025-04-14": date(2027, 1, 14),
}


# From this day OpenAI takes no new fine-tuning jobs from anyone (reported from its deprecations page).
FINE_TUNING_ENDS_ON = date(2027, 1, 6)


def shutdown_on(model: str) -> date | None:
    """The day a model stops answering at OpenAI (a fine-tuned model or checkpoint follows its base), or
    None when no date is known."""
    return SHUTDOWN_ON.get(base_model_of(model))


def is_shut_down(model: str, *, today: date) -> bool:
    """Whether the model is past its shutdown: the shutdown day itself no longer answers."""
    day = shutdown_on(model)
    return day is not None and today >= day


@dataclass(frozen=True)
class ChatPrices:
    """USD per 1M tokens of a chat answer: the base model's, and a model fine-tuned from it (dearer)."""

    input: Decimal
    output: Decimal
    fine_tuned_input: Decimal
    fine_tuned_output: Decimal


# USD per 1M tokens: input, output, fine-tuned input, fine-tuned output. The fine-tuned prices of
# gpt-4.1-mini and gpt-4o-mini were checked against a copy of the pricing page on this date; the rest are
# OpenAI's long-standing list prices and were not re-checked then: confirm them before relying on a total.
INFERENCE_PRICES_TAKEN_ON = date(2026, 11, 30)
CHAT_PRICES: dict[str, ChatPrices] = {
    "gpt-4.1-2025-04-14": ChatPrices(Decimal("2.00"), Decimal("8.00"), Decimal("3.00"), Decimal("12.00")),
    "gpt-4.1-mini-2025-04-14": ChatPrices(Decimal("0.40"), Decimal("1.60"), Decimal("0.80"), Decimal("3.20")),
    "gpt-4.1-nano-2025-04-14": ChatPrices(Decimal("0.10"), Decimal("0.40"), Decimal("0.20"), Decimal("0.80")),
    "gpt-4o-2024-08-06": ChatPrices(Decimal("2.50"), Decimal("10.00"), Decimal("3.75"), Decimal("15.00")),
    "gpt-4o-mini-2024-07-18": ChatPrices(Decimal("0.15"), Decimal("0.60"), Decimal("0.30"), Decimal("1.20")),
    "o4-mini-2025-04-16": ChatPrices(Decimal("1.10"), Decimal("4.40"), Decimal("4.00"), Decimal("16.00")),
    "gpt-3.5-turbo-0125": ChatPrices(Decimal("0.50"), Decimal("1.50"), Decimal("3.00"), Decimal("6.00")),
}


def chat_cost(model: str, *, prompt_tokens: int | None, completion_tokens: int | None) -> Decimal | None:
    """What one answer cost, at fine-tuned prices for an ``ft:`` model or checkpoint; None when the
    model's prices or the token counts are unknown."""
    prices = CHAT_PRICES.get(base_model_of(model))
    if prices is None or prompt_tokens is None or completion_tokens is None:
        return None
    fine_tuned = model.strip().startswith("ft:")
    per_input = prices.fine_tuned_input if fine_tuned else prices.input
    per_output = prices.fine_tuned_output if fine_tuned else prices.output
    cost = (per_input * prompt_tokens + per_output * completion_tokens) / Decimal(1_000_000)
    return cost.quantize(Decimal("0.000001"))


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
