"""What the target provider's dataset profile decides for a file: the tokenizer, the per-example token
limit and the priced model, and whether it trains the file's kind at all."""

from __future__ import annotations

from finetune_portal.datasets.tokenizers import TokenizerSpec
from finetune_portal.datasets.validation.kinds import KIND_LABELS, KINDS
from finetune_portal.datasets.validation.notes import Notes
from finetune_portal.providers.base import DatasetProfile
from finetune_portal.providers.registry import get_provider


def choose_tokenizer(
    *, kind: str, profile: DatasetProfile, base_model: str | None, notes: Notes
) -> tuple[TokenizerSpec, int | None, str | None]:
    """The tokenizer, per-example token limit and priced model the target provider's profile names."""
    counting = profile.token_counting(kind=kind, base_model=base_model, warn=notes.warn)
    return TokenizerSpec(counting.tokenizer, counting.name), counting.token_limit, counting.priced_model


def untrained_kind_error(kind: str, target: str, profile: DatasetProfile) -> str | None:
    """The error for a kind the target provider cannot train (its profile lists what it trains)."""
    if not profile.kinds or kind in profile.kinds:
        return None
    label = get_provider(target).label
    trained = ", ".join(KIND_LABELS[k] for k in KINDS if k in profile.kinds)
    return f"{label} does not train {KIND_LABELS[kind]} data; it trains {trained}."
