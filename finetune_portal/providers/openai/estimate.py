"""A launch's token and cost estimate: trained tokens from the data's validation stats and the epochs, priced
from the catalog."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from finetune_portal.datasets.models import DatasetVersion
from finetune_portal.providers.openai import catalog


@dataclass(frozen=True)
class Estimate:
    dataset_tokens: int | None
    epochs: int | None
    epochs_are_auto: bool
    trained_tokens: int | None
    cost: Decimal | None
    note: str = ""


def estimate_for(*, version: DatasetVersion | None, base_model: str, n_epochs: int | None) -> Estimate | None:
    """Trained tokens ≈ dataset tokens x epochs (OpenAI's default epochs when auto); cost from the catalog."""
    if version is None:
        return None
    stats = (version.validation_report or {}).get("stats") or {}
    tokens = stats.get("total_tokens")
    examples = stats.get("examples") or version.example_count or 0
    epochs = n_epochs or (catalog.default_epochs(int(examples)) if examples else None)
    info = catalog.base_model_info(base_model or "")
    trained = int(tokens) * epochs if isinstance(tokens, int | float) and epochs else None
    cost = catalog.training_cost(base_model, trained) if trained and base_model else None
    note = info.note if info else ("No price is known for this model." if base_model else "")
    return Estimate(
        dataset_tokens=int(tokens) if isinstance(tokens, int | float) else None,
        epochs=epochs,
        epochs_are_auto=not n_epochs,
        trained_tokens=trained,
        cost=cost,
        note=note,
    )
