"""Retraining another provider's job on the team's own GPUs: the same data, its settings mapped, and an
open base model suggested by quality and the memory of the largest reported GPU."""

from __future__ import annotations

from typing import Any

from finetune_portal.jobs.selectors.lists import find_setting
from finetune_portal.providers.peft.base_models import DEMO_TINY, SUGGESTED_MODELS
from finetune_portal.providers.peft.data import KINDS_FOR_METHOD
from finetune_portal.providers.peft.form_fields import DEFAULTS, DEMO_TINY_SUGGESTED
from finetune_portal.providers.peft.memory_fit import memory_fit

# OpenAI does not publish the base learning rate its multiplier scales, so 1.0 is taken as the local
# default for the chosen model and scaled linearly; no more than this many times it (LoRA diverges).
LEARNING_RATE_CAP_FACTOR = 10
LEARNING_RATE_MAPPING = (
    "OpenAI does not publish the learning rate its multiplier scales, so a multiplier of 1.0 is taken as "
    "the local default for this base model (2e-4 for LoRA; 5e-3 for the tiny demo model) and scaled "
    f"linearly, capped at {LEARNING_RATE_CAP_FACTOR}x that default."
)


def suggested_base_model(*, method: str, batch_size: int) -> str:
    """The best suggested model (the list goes from the smallest to the best) whose LoRA training fits the
    largest reported GPU; the tiny demo model when no GPU is reported or none fits."""
    for model, _label in reversed(SUGGESTED_MODELS):
        if model == DEMO_TINY:
            continue
        fit = memory_fit(
            base_model=model,
            method=method,
            adapter="lora",
            lora_rank=DEFAULTS["lora_rank"],
            batch_size=batch_size,
            max_length=DEFAULTS["max_length"],
            gpus=1,
            sharding="ddp",
        )
        if fit.get("fits"):
            return model
    return DEMO_TINY


def _number(value: Any) -> float | None:
    return (
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 else None
    )


def retrain_initial(job, *, training_version_id: int | None = None) -> dict[str, Any] | None:
    """The local launch form's values that retrain ``job``; None where it cannot be trained here (no
    training data kept, or a method the local trainer does not have). With ``training_version_id`` (the
    model's captured answers) it is distilled: supervised training on those answers."""
    distilled = training_version_id is not None
    method = "sft" if distilled else job.method
    if (not distilled and job.training_version_id is None) or method not in KINDS_FOR_METHOD:
        return None
    settings = job.hyperparameters or {}
    epochs = _number(find_setting(settings, "n_epochs", "epochs"))
    batch_size = _number(find_setting(settings, "batch_size"))
    multiplier = _number(find_setting(settings, "learning_rate_multiplier"))
    per_device = int(batch_size) if batch_size else DEFAULTS["batch_size"]
    base_model = suggested_base_model(method=method, batch_size=per_device)
    default_rate = (
        DEMO_TINY_SUGGESTED["learning_rate"] if base_model == DEMO_TINY else DEFAULTS["learning_rate"]
    )
    rate = default_rate * min(multiplier or 1.0, LEARNING_RATE_CAP_FACTOR)
    initial: dict[str, Any] = {
        "name": f"{job.display_name} {'distilled ' if distilled else ''}on own GPUs",
        "method": method,
        "base_model": base_model,
        "training_version": training_version_id if distilled else job.training_version_id,
        "validation_version": job.validation_version_id,
        "learning_rate": rate,
        "replaces": job.pk,
    }
    if epochs:
        initial["epochs"] = epochs
    if batch_size:
        # OpenAI's batch size counts examples per step: one device, no accumulation, gives the same.
        initial["batch_size"] = per_device
        initial["gradient_accumulation"] = 1
    if job.seed is not None:
        initial["seed"] = job.seed
    return initial
