"""A rough GPU memory estimate for a training run, so the form can warn before a job fails on the worker.

It adds up weights, what the optimizer keeps for the trained parameters, activations (with gradient
checkpointing, one stored hidden state per layer plus one layer's working set) and the logits. It is
meant to be right within a factor that decides "fits / does not fit", not to the megabyte.
"""

from __future__ import annotations

from dataclasses import dataclass

from finetune_portal.providers.peft.base_models import ModelShape

GIB = 1024**3
# CUDA context, allocator slack and kernels' workspaces.
FIXED_OVERHEAD_BYTES = int(1.0 * GIB)


@dataclass(frozen=True)
class MemoryEstimate:
    weights: int
    optimizer_and_gradients: int
    activations: int
    total: int
    trainable_parameters: int

    @property
    def total_gib(self) -> float:
        return self.total / GIB


def lora_trainable_parameters(shape: ModelShape, rank: int) -> int:
    """LoRA on every linear layer: each h-by-k matrix gains rank·(h+k) parameters.

    A decoder layer's attention and MLP matrices add up to roughly 4h (q,k,v,o) + 3·(h + 8h/3) inputs
    plus outputs, about 22·h per layer and unit of rank.
    """
    return int(rank * 22 * shape.hidden_size * shape.layers)


def estimate_training_memory(
    shape: ModelShape,
    *,
    adapter: str,
    lora_rank: int = 16,
    batch_size: int = 1,
    max_length: int = 1024,
    method: str = "sft",
    bf16: bool = True,
    activation_checkpointing: bool = True,
    shards: int = 1,
) -> MemoryEstimate:
    """Per GPU. ``shards``: GPUs that FSDP splits weights, gradients and optimizer state across."""
    weight_bytes_per_param = {
        "qlora": 0.55,
        "qlora8": 1.05,
        "lora": 2 if bf16 else 4,
        "full": 2 if bf16 else 4,
    }[adapter]
    weights = int(shape.parameters * weight_bytes_per_param)
    if adapter == "full":
        trainable = shape.parameters
        # fp32 gradients, Adam's two moments and an fp32 master copy when training in bf16.
        optimizer = trainable * (4 + 8 + (4 if bf16 else 0))
    else:
        trainable = lora_trainable_parameters(shape, lora_rank)
        optimizer = trainable * 16
    if method == "dpo":
        # Chosen and rejected pass through the model together; a full fine-tune also keeps a reference copy.
        batch_size *= 2
        if adapter == "full":
            weights *= 2
    tokens = batch_size * max_length
    act_bytes = 2 if bf16 else 4
    per_layer_kept = tokens * shape.hidden_size * act_bytes
    one_layer_working = tokens * shape.hidden_size * 16 * act_bytes
    logits = tokens * shape.vocab_size * 4 * 2  # fp32 logits and their gradient
    if activation_checkpointing:
        activations = per_layer_kept * shape.layers + one_layer_working + logits
    else:
        activations = (per_layer_kept + one_layer_working) * shape.layers + logits
    shards = max(1, shards)
    weights, optimizer = weights // shards, optimizer // shards
    total = weights + optimizer + activations + FIXED_OVERHEAD_BYTES
    return MemoryEstimate(
        weights=weights,
        optimizer_and_gradients=int(optimizer),
        activations=int(activations),
        total=int(total),
        trainable_parameters=int(trainable),
    )
