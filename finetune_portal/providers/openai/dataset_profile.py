"""What OpenAI asks of a training file, and what training on it costs, for the dataset pages."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from finetune_portal.providers.base import DatasetProfile, TokenCounting
from finetune_portal.providers.openai.catalog import (
    BASE_MODELS,
    DEFAULT_ENCODING,
    PRICES_TAKEN_ON,
    base_model_info,
    training_cost,
)

MIN_EXAMPLES = 10
# The base model an estimate is made for when none is chosen, and the launch form's first choice: a
# modest current model of each kind (the launch form should not start from the most expensive one).
DEFAULT_BASE_MODELS = {
    "completion": "babbage-002",
    "rft": "o4-mini-2025-04-16",
    "vision": "gpt-4o-2024-08-06",
}
FALLBACK_BASE_MODEL = "gpt-4o-mini-2024-07-18"


class OpenAIDatasetProfile(DatasetProfile):
    kinds = frozenset({"chat", "completion", "vision", "dpo", "rft"})
    base_model_names = tuple(info.name for info in BASE_MODELS)
    base_model_placeholder = FALLBACK_BASE_MODEL
    base_model_help = "An OpenAI model from the price table"
    prices_taken_on = PRICES_TAKEN_ON

    def too_few_examples(self, examples: int) -> str | None:
        if examples >= MIN_EXAMPLES:
            return None
        return f"{examples} example(s); OpenAI requires at least {MIN_EXAMPLES} (50 to 100 usually help)."

    def default_base_model(self, kind: str) -> str:
        return DEFAULT_BASE_MODELS.get(kind, FALLBACK_BASE_MODEL)

    def token_counting(
        self, *, kind: str, base_model: str | None, warn: Callable[[str], None]
    ) -> TokenCounting:
        model = base_model or self.default_base_model(kind)
        info = base_model_info(model)
        if info is None:
            warn(
                f"{model} is not in the model table: tokens are counted with {DEFAULT_ENCODING}, "
                "and there is no per-example limit or cost estimate."
            )
            return TokenCounting("tiktoken", DEFAULT_ENCODING, None, model)
        if kind == "vision" and not info.vision:
            warn(f"{info.name} does not take images; choose a vision model such as gpt-4o-2024-08-06.")
        return TokenCounting("tiktoken", info.encoding, info.max_tokens_per_example, info.name)

    def price_per_million(self, model: str) -> Decimal | None:
        info = base_model_info(model)
        return info.training_price_per_million if info else None

    def training_cost(self, model: str, billed_tokens: int) -> Decimal | None:
        return training_cost(model, billed_tokens)
