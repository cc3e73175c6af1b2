"""Hyperparameters under one name and one label, whichever provider stored them.

Providers keep their own keys in ``job.hyperparameters`` (OpenAI's ``n_epochs``, the local trainer's
``epochs``); pages that put runs side by side read them through this vocabulary, so equal settings of two
providers share a row, and nobody reads a raw key. A provider may also store the values it resolved for
settings left to it ("auto") under ``provider_data["resolved_hyperparameters"]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# canonical name -> (label, the keys providers store it under, dotted for nested settings)
VOCABULARY: dict[str, tuple[str, tuple[str, ...]]] = {
    "epochs": ("Epochs", ("n_epochs", "num_train_epochs", "epochs")),
    "batch_size": ("Batch size", ("batch_size", "per_device_train_batch_size")),
    "learning_rate": ("Learning rate", ("learning_rate",)),
    "learning_rate_multiplier": ("Learning-rate multiplier", ("learning_rate_multiplier",)),
    "beta": ("DPO beta", ("beta", "dpo_beta")),
    "adapter": ("Adapter", ("adapter",)),
    "lora_rank": ("LoRA rank", ("lora_rank", "lora.r")),
    "lora_alpha": ("LoRA alpha", ("lora_alpha", "lora.alpha")),
    "lora_dropout": ("LoRA dropout", ("lora_dropout", "lora.dropout")),
    "target_modules": ("LoRA target modules", ("target_modules", "lora.target_modules")),
    "max_steps": ("Max steps", ("max_steps",)),
    "lr_scheduler": ("Learning-rate schedule", ("lr_scheduler", "lr_scheduler_type")),
    "warmup_ratio": ("Warm-up share of steps", ("warmup_ratio",)),
    "gradient_accumulation": ("Gradient accumulation steps", ("gradient_accumulation",)),
    "max_length": ("Max sequence length (tokens)", ("max_length", "max_seq_length")),
    "packing": ("Packing", ("packing",)),
    "assistant_only_loss": ("Loss on assistant replies only", ("assistant_only_loss",)),
    "eval_steps": ("Evaluate every (steps)", ("eval_steps",)),
    "save_steps": ("Checkpoint every (steps)", ("save_steps",)),
    "gpus": ("GPUs", ("gpus",)),
    "sharding": ("Multi-GPU sharding", ("sharding",)),
    "hub_repo_id": ("Hugging Face repository", ("hub_repo_id",)),
    "start_from_checkpoint": ("Continued from checkpoint", ("start_from_checkpoint",)),
    "reasoning_effort": ("Reasoning effort", ("reasoning_effort",)),
    "compute_multiplier": ("RFT compute multiplier", ("compute_multiplier",)),
    "eval_interval": ("RFT eval interval", ("eval_interval",)),
    "eval_samples": ("RFT eval samples", ("eval_samples",)),
    "seed": ("Seed", ("seed",)),
}
ALIASES = {alias: name for name, (_, aliases) in VOCABULARY.items() for alias in aliases}
AUTO = "auto"


def flatten_settings(settings: Mapping[str, Any] | None, prefix: str = "") -> dict[str, Any]:
    """Nested settings as dotted names, e.g. ``{"lora": {"r": 8}}`` -> ``{"lora.r": 8}``."""
    flat: dict[str, Any] = {}
    for key, value in (settings or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten_settings(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def canonical_name(key: str) -> str:
    """The vocabulary's name for a provider's key, also when nested (``method.supervised.n_epochs``)."""
    return ALIASES.get(key) or ALIASES.get(key.rsplit(".", 1)[-1]) or key


def setting_label(name: str) -> str:
    """The label of a canonical name or a provider's key; an unknown key reads as words."""
    canonical = canonical_name(name)
    if canonical in VOCABULARY:
        return VOCABULARY[canonical][0]
    words = name.replace(".", " ").replace("_", " ").strip()
    return words[:1].upper() + words[1:]


@dataclass(frozen=True)
class Setting:
    value: Any
    resolved_by_provider: bool = False  # the launch left it to the provider ("auto"), which chose this


def job_settings(job) -> dict[str, Setting]:
    """A job's settings by canonical name: what was asked, and where the provider chose, what it used."""
    asked = {canonical_name(key): value for key, value in flatten_settings(job.hyperparameters).items()}
    resolved_raw = (job.provider_data or {}).get("resolved_hyperparameters")
    resolved = {
        canonical_name(key): value
        for key, value in flatten_settings(resolved_raw if isinstance(resolved_raw, Mapping) else {}).items()
        if value not in (None, AUTO)
    }
    settings = {name: Setting(value) for name, value in asked.items()}
    for name, value in resolved.items():
        if asked.get(name) in (None, AUTO):
            settings[name] = Setting(value, resolved_by_provider=True)
    if job.seed is not None:
        settings["seed"] = Setting(job.seed)  # the job's own seed field; a copy in the settings is the same
    return settings
