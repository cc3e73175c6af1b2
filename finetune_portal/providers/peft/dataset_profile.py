"""What the local GPU trainer asks of a training file: token counts with the base model's own tokenizer
where this machine has it. Local training is not billed, so there is no price."""

from __future__ import annotations

import os
from collections.abc import Callable

from finetune_portal.datasets.tokenizers import (
    TokenizerUnavailable,
    hf_model_max_length,
    load_local_hf_tokenizer,
)
from finetune_portal.providers.base import APPROXIMATE_ENCODING, DatasetProfile, TokenCounting
from finetune_portal.providers.peft.base_models import HF_REPO_ID, BaseModelError
from finetune_portal.providers.peft.data import KINDS_FOR_METHOD
from finetune_portal.providers.peft.local_models import local_model_folder


class PeftDatasetProfile(DatasetProfile):
    kinds = frozenset(kind for kinds in KINDS_FOR_METHOD.values() for kind in kinds)
    base_model_help = "a local model path/id for PEFT"

    def token_counting(
        self, *, kind: str, base_model: str | None, warn: Callable[[str], None]
    ) -> TokenCounting:
        # The GPU worker names a folder on the worker "local:/path"; the tokenizer loads from the path.
        base_model = base_model.removeprefix("local:").strip() if base_model else base_model
        if not base_model:
            return super().token_counting(kind=kind, base_model=base_model, warn=warn)
        if _names_a_folder(base_model):
            try:
                # No project here: only the configured model folders, never another project's outputs.
                local_model_folder(base_model, project_id=None)
            except BaseModelError as exc:
                warn(f"Token counts use tiktoken {APPROXIMATE_ENCODING} as an approximation: {exc}")
                return TokenCounting("tiktoken", APPROXIMATE_ENCODING)
        try:
            load_local_hf_tokenizer(base_model)
        except TokenizerUnavailable as exc:
            warn(
                f"Token counts use tiktoken {APPROXIMATE_ENCODING} as an approximation: the tokenizer of "
                f"{base_model} is not available on this machine ({exc})"
            )
            return TokenCounting("tiktoken", APPROXIMATE_ENCODING)
        return TokenCounting("hf", base_model, hf_model_max_length(base_model))


def _names_a_folder(name: str) -> bool:
    """Whether transformers would read ``name`` as a path: an absolute one, or anything not shaped like a
    Hub id (a relative folder such as ``../x``). A Hub-shaped id is looked up in the local Hub cache only."""
    if name.startswith(("/", ".", "~")) or not HF_REPO_ID.match(name) or ".." in name:
        return True
    # transformers prefers a folder of that name in the working directory over the Hub cache.
    return os.path.isdir(name)
