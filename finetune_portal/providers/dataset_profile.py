"""What a provider asks of a dataset (kinds, example counts, token limits) and what training on it would
cost; dataset validation and the dataset pages read it instead of knowing any provider."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

# The tokenizer the portal approximates with when a provider's own one is unknown or unavailable.
APPROXIMATE_ENCODING = "o200k_base"


@dataclass(frozen=True)
class TokenCounting:
    """How a dataset's tokens are counted for one provider and base model."""

    tokenizer: str  # "tiktoken" or "hf" (see datasets/tokenizers.py)
    name: str  # the tiktoken encoding, or the Hugging Face model id or folder
    token_limit: int | None = None  # per example; None: no limit known
    priced_model: str | None = None  # the model the cost estimate prices; None: no estimate


def epochs_when_unset(example_count: int) -> int:
    """The epochs a run gets when none are chosen, as OpenAI's n_epochs=auto picks them (from its
    data-preparation cookbook); the dataset page estimates with it for every provider."""
    target, low, high = 3, 100, 25_000
    if example_count <= 0:
        return target
    if example_count * target < low:
        return min(25, low // example_count)
    if example_count * target > high:
        return max(1, high // example_count)
    return target


class DatasetProfile:
    """What a provider asks of a dataset and what training on it would cost: dataset validation reads
    this instead of knowing any provider. The defaults describe a provider with no rules and no prices."""

    # The dataset kinds the provider trains on (see datasets.models.DatasetKind).
    kinds: frozenset[str] = frozenset()
    # Suggestions for the upload form's base model field, and the one shown as its placeholder.
    base_model_names: tuple[str, ...] = ()
    base_model_placeholder: str = ""
    # How the upload form's base model help names what this provider takes, e.g. "a local model path".
    base_model_help: str = ""
    # The day the prices were copied from the provider; None: no prices.
    prices_taken_on: date | None = None

    def too_few_examples(self, examples: int) -> str | None:
        """The error for a file with too few examples for this provider (at least one it has), or None."""
        return None

    def default_base_model(self, kind: str) -> str | None:
        """The base model a dataset of this kind is priced for when none is chosen, and the one the
        launch form starts from, so both show the same figure; None: the provider has no default."""
        return None

    def token_counting(
        self, *, kind: str, base_model: str | None, warn: Callable[[str], None]
    ) -> TokenCounting:
        """The tokenizer, per-example limit and priced model; ``warn`` notes an approximation."""
        warn(f"No base model chosen: token counts use tiktoken {APPROXIMATE_ENCODING} as an approximation.")
        return TokenCounting("tiktoken", APPROXIMATE_ENCODING)

    def default_epochs(self, example_count: int) -> int:
        return epochs_when_unset(example_count)

    def price_per_million(self, model: str) -> Decimal | None:
        return None

    def training_cost(self, model: str, billed_tokens: int) -> Decimal | None:
        return None
