"""How a TrainingSpec becomes TRL's settings: the SFT/DPO config, the LoRA config, FSDP and precision.

GPU-worker only: trl, peft and torch are imported inside the functions.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from finetune_portal.providers.peft.trainer import TrainingSpec

# The adapters that train LoRA weights on a frozen base; they differ in the base's precision.
LORA_ADAPTERS = ("lora", "qlora", "qlora8")
QUANTIZED_ADAPTERS = {"qlora": 4, "qlora8": 8}


def lora_config(spec: TrainingSpec):
    from peft import LoraConfig

    targets: str | list[str] = spec.target_modules.strip() or "all-linear"
    if targets != "all-linear":
        targets = [name.strip() for name in targets.split(",") if name.strip()]
    return LoraConfig(
        r=spec.lora_rank,
        lora_alpha=spec.lora_alpha,
        lora_dropout=spec.lora_dropout,
        target_modules=targets,
        task_type="CAUSAL_LM",
    )


def fsdp_requested(spec: TrainingSpec) -> bool:
    """FSDP asked for, in a run of several processes (one process has nothing to shard across)."""
    return spec.sharding == "fsdp" and int(os.environ.get("WORLD_SIZE", "1")) > 1


def trainer_config(spec: TrainingSpec, *, cuda: bool, bf16: bool, has_eval: bool):
    """TRL's SFTConfig or DPOConfig for ``spec`` on this hardware."""
    from trl import DPOConfig, SFTConfig

    batches_per_step = max(1, spec.batch_size * spec.gradient_accumulation)
    steps_per_epoch = max(1, math.ceil(len(spec.train_rows) / batches_per_step))
    total_steps = spec.max_steps if spec.max_steps > 0 else math.ceil(spec.epochs * steps_per_epoch)
    # An interval longer than the run would never evaluate (or save); fall back to once per epoch.
    per_epoch = spec.eval_steps <= 0 or spec.eval_steps > total_steps
    save_per_epoch = spec.save_steps <= 0 or spec.save_steps > total_steps
    save_steps = spec.save_steps
    load_best = spec.load_best_model_at_end and has_eval
    if load_best:
        # The trainer can only go back to a checkpoint saved where it evaluated: save at each evaluation.
        save_per_epoch, save_steps = per_epoch, spec.eval_steps
    common: dict[str, Any] = {
        "output_dir": spec.output_dir,
        "num_train_epochs": spec.epochs,
        "max_steps": spec.max_steps if spec.max_steps and spec.max_steps > 0 else -1,
        "learning_rate": spec.learning_rate,
        "lr_scheduler_type": spec.lr_scheduler,
        # Not a mix-up: transformers 5 dropped warmup_ratio, and a warmup_steps below 1 is read as that
        # share of the run's steps (TrainingArguments.get_warmup_steps: ceil(total * value)). The form
        # keeps the ratio under 1, where 1.0 or more would mean a count of steps instead.
        "warmup_steps": spec.warmup_ratio,
        "per_device_train_batch_size": spec.batch_size,
        "per_device_eval_batch_size": spec.batch_size,
        "gradient_accumulation_steps": spec.gradient_accumulation,
        "seed": spec.seed,
        "data_seed": spec.seed,
        "logging_steps": spec.logging_steps,
        "logging_first_step": True,
        "eval_strategy": ("epoch" if per_epoch else "steps") if has_eval else "no",
        "eval_steps": None if per_epoch else spec.eval_steps,
        "save_strategy": "epoch" if save_per_epoch else "steps",
        "save_steps": 500 if save_per_epoch else save_steps,
        "save_total_limit": spec.save_total_limit if spec.save_total_limit > 0 else None,
        "weight_decay": spec.weight_decay,
        "report_to": "none",
        "disable_tqdm": True,
        # TRL defaults to bf16, which a CPU cannot do; fp16 is the fallback for older GPUs.
        "bf16": bf16,
        "fp16": cuda and not bf16,
        "use_cpu": not cuda,
        # The new name of gradient_checkpointing; set, it also overrides TRL's default of True.
        "activation_checkpointing": bool(spec.gradient_checkpointing),
        "max_length": spec.max_length,
        "use_liger_kernel": spec.use_liger_kernel,
        "dataloader_pin_memory": cuda,
    }
    if has_eval and (load_best or spec.early_stopping_patience > 0):
        # Early stopping and "keep the best" both judge checkpoints by the validation loss.
        common["metric_for_best_model"] = "eval_loss"
        common["greater_is_better"] = False
        common["load_best_model_at_end"] = load_best
    if fsdp_requested(spec):
        # FSDP2; layers are wrapped by the model's own _no_split_modules. A full state dict saves the
        # adapter (or model) as one ordinary file, as a single-GPU run does. FSDP checkpoints activations
        # itself: the trainer's own switch would gather the weights a second time in the backward pass.
        common["fsdp"] = True
        common["fsdp_config"] = {
            "version": 2,
            "state_dict_type": "FULL_STATE_DICT",
            "activation_checkpointing": common["activation_checkpointing"],
        }
        common["activation_checkpointing"] = False
    if spec.method == "dpo":
        return DPOConfig(**common, beta=spec.dpo_beta)
    return SFTConfig(
        **common,
        packing=spec.packing,
        padding_free=spec.padding_free,
        assistant_only_loss=spec.assistant_only_loss,
    )


def needs_activation_checkpointing(spec: TrainingSpec, model) -> bool:
    """Recomputing activations costs about a third more compute; pay it only when memory requires it."""
    import torch

    from finetune_portal.providers.peft.base_models import ModelShape
    from finetune_portal.providers.peft.memory import estimate_training_memory

    config = model.config
    shape = ModelShape(
        parameters=sum(p.numel() for p in model.parameters()),
        hidden_size=int(getattr(config, "hidden_size", 1024)),
        layers=int(getattr(config, "num_hidden_layers", 24)),
        vocab_size=int(getattr(config, "vocab_size", 32_000)),
    )
    estimate = estimate_training_memory(
        shape,
        adapter=spec.adapter,
        lora_rank=spec.lora_rank,
        batch_size=spec.batch_size,
        max_length=spec.max_length,
        method=spec.method,
        activation_checkpointing=False,
    )
    free, _total = torch.cuda.mem_get_info()
    return estimate.total > 0.85 * free
