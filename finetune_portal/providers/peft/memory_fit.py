"""The GPU memory estimate shown beside the launch form's settings, against the largest reported GPU."""

from __future__ import annotations

from typing import Any

from finetune_portal.providers.peft.base_models import model_shape
from finetune_portal.providers.peft.memory import GIB, estimate_training_memory
from finetune_portal.providers.peft.selectors import gpu_workers_recent, largest_worker_gpu

# The launch form's fields the estimate reads, by the names memory_fit takes.
MEMORY_FIT_SETTINGS = (
    "base_model",
    "method",
    "adapter",
    "lora_rank",
    "batch_size",
    "max_length",
    "gpus",
    "sharding",
)


def memory_fit(
    *,
    base_model: Any,
    method: Any,
    adapter: Any,
    lora_rank: Any,
    batch_size: Any,
    max_length: Any,
    gpus: Any,
    sharding: Any,
) -> dict[str, Any]:
    """What a job with these settings will need on each GPU, and whether the largest reported GPU has it.

    The settings are the form's values as they are being edited: possibly empty or not yet valid.
    """
    shape = model_shape(str(base_model or ""))
    largest = largest_worker_gpu()
    result: dict[str, Any] = {
        "largest": largest,
        "largest_gib": largest.gpu_memory_gib if largest else None,
        "workers": gpu_workers_recent().count(),
        "adapter": adapter,
    }
    if shape is None:
        result["unknown_size"] = True
        return result
    try:
        estimate = estimate_training_memory(
            shape,
            adapter=str(adapter or "lora"),
            lora_rank=int(lora_rank or 16),
            batch_size=int(batch_size or 1),
            max_length=int(max_length or 1024),
            method=str(method or "sft"),
            bf16=bool(largest.bf16_supported) if largest else True,
            shards=int(gpus or 1) if sharding == "fsdp" else 1,
        )
    except (TypeError, ValueError, KeyError):
        result["unknown_size"] = True
        return result
    result.update(
        {
            "estimate": estimate,
            "total_gib": estimate.total / GIB,
            "weights_gib": estimate.weights / GIB,
            "optimizer_gib": estimate.optimizer_and_gradients / GIB,
            "activations_gib": estimate.activations / GIB,
            "parameters": shape.parameters,
            "parameters_display": _count(shape.parameters),
            "weights_display": _size(estimate.weights),
            "optimizer_display": _size(estimate.optimizer_and_gradients),
            "activations_display": _size(estimate.activations),
            "fits": largest is not None and estimate.total <= largest.gpu_memory_bytes,
            "too_big": largest is not None and estimate.total > largest.gpu_memory_bytes,
        }
    )
    return result


def _count(number: int) -> str:
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if number >= scale:
            return f"{number / scale:.3g}{suffix}"
    return str(number)


def _size(size: int) -> str:
    return f"{size / GIB:.1f} GiB" if size >= GIB / 10 else f"{size / 1024**2:.0f} MiB"
