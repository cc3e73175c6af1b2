"""The training itself: TRL's SFTTrainer / DPOTrainer with PEFT, on whatever this worker has.

GPU-worker only. torch, transformers, peft and trl are imported inside the functions, so importing this
module (the tasks module does) costs nothing on the web server. It knows nothing about Django: it
reports through a Reporter, which the portal side implements with the job services. The settings are
built in training_config.py, the model in model_loading.py, and the reports in callbacks.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from finetune_portal.providers.base import ProviderError
from finetune_portal.providers.peft.callbacks import portal_callback
from finetune_portal.providers.peft.model_build import MODEL_BUILD_LOCK
from finetune_portal.providers.peft.model_loading import (
    check_hardware,
    continue_adapter,
    load_base_model,
    prepare_tokenizer,
)
from finetune_portal.providers.peft.training_config import (
    LORA_ADAPTERS,
    lora_config,
    needs_activation_checkpointing,
    trainer_config,
)

# Checkpoint files worth keeping in storage: the weights and what loads them, not optimizer state.
CHECKPOINT_SKIP = {"optimizer.pt", "scheduler.pt", "training_args.bin", "scaler.pt"}


@dataclass
class TrainingSpec:
    model_path: str
    method: str  # "sft" or "dpo"
    train_rows: list[dict[str, Any]]
    output_dir: str
    valid_rows: list[dict[str, Any]] = field(default_factory=list)
    adapter: str = "lora"  # "lora", "qlora" (4-bit base), "qlora8" (8-bit base) or "full"
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: str = "all-linear"
    epochs: float = 3.0
    max_steps: int = -1
    learning_rate: float = 2e-4
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.03
    batch_size: int = 4
    gradient_accumulation: int = 1
    max_length: int = 1024
    packing: bool = False
    assistant_only_loss: bool = False
    seed: int = 42
    eval_steps: int = 0  # 0: once per epoch
    save_steps: int = 0  # 0: once per epoch
    dpo_beta: float = 0.1
    weight_decay: float = 0.0
    save_total_limit: int = 3  # 0: keep every checkpoint
    early_stopping_patience: int = 0  # evaluations without improvement; 0: never stop early
    early_stopping_threshold: float = 0.0
    load_best_model_at_end: bool = False
    logging_steps: int = 1
    gradient_checkpointing: bool | None = None  # None: on a GPU only when memory needs it; off on CPU
    # With several GPUs: "ddp" keeps a whole copy of the model on each; "fsdp" shards weights, gradients
    # and optimizer state across them, for a model one GPU cannot hold.
    sharding: str = "ddp"
    # The worker's PEFT_CPU_STANDS_IN_FOR_GPU: without CUDA, run GPU-only settings on the CPU.
    cpu_stands_in_for_gpu: bool = False
    # A local folder holding a LoRA checkpoint to continue training from, instead of a fresh adapter.
    start_adapter_path: str | None = None
    # Speed switches the benchmark compares; all are safe to leave at their defaults.
    use_liger_kernel: bool = False
    padding_free: bool = False
    attn_implementation: str | None = None


class Reporter(Protocol):
    def heartbeat(self) -> None: ...
    def should_stop(self) -> bool: ...
    def metrics(self, point: dict[str, Any]) -> None: ...
    def event(self, message: str, *, key: str, level: str = "info", data: dict | None = None) -> None: ...
    def checkpoint(self, *, step: int, folder: Path, metrics: dict[str, Any]) -> None: ...


@dataclass
class TrainingOutcome:
    final_folder: Path
    global_step: int
    stopped_early: bool
    trained_tokens: int | None
    last_metrics: dict[str, Any]
    trainable_parameters: int
    total_parameters: int


def hardware() -> dict[str, Any]:
    """What this worker trains on; reported to the portal at start-up and used to pick the precision."""
    import torch

    info: dict[str, Any] = {"torch_version": torch.__version__, "cuda": torch.cuda.is_available(), "gpus": []}
    if info["cuda"]:
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            info["gpus"].append({"name": props.name, "memory_bytes": int(props.total_memory)})
        info["bf16"] = bool(torch.cuda.is_bf16_supported())
    else:
        info["bf16"] = False
    return info


def run_training(spec: TrainingSpec, reporter: Reporter) -> TrainingOutcome:
    """Train, reporting as it goes; returns where the final weights are. Raises ProviderError."""
    import datasets
    import torch
    from datasets import Dataset

    # Progress bars would fill the worker's log; the portal shows progress instead.
    datasets.disable_progress_bars()
    cuda = torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported()
    check_hardware(spec, cuda=cuda)
    if spec.assistant_only_loss and spec.train_rows and "messages" not in spec.train_rows[0]:
        # Prompt/completion rows already train on the completion only; the flag is for chats.
        spec.assistant_only_loss = False
    tokenizer = prepare_tokenizer(spec, reporter)
    model = load_base_model(spec, cuda=cuda, bf16=bf16)
    if spec.start_adapter_path:
        model = continue_adapter(model, spec.start_adapter_path)
    total_parameters = sum(p.numel() for p in model.parameters())
    if spec.gradient_checkpointing is None:
        spec.gradient_checkpointing = cuda and needs_activation_checkpointing(spec, model)
    train_dataset = Dataset.from_list(spec.train_rows)
    eval_dataset = Dataset.from_list(spec.valid_rows) if spec.valid_rows else None
    args = trainer_config(spec, cuda=cuda, bf16=bf16, has_eval=eval_dataset is not None)
    callback = portal_callback(reporter)
    callbacks: list[Any] = [callback]
    if spec.early_stopping_patience > 0 and eval_dataset is not None:
        from transformers import EarlyStoppingCallback

        callbacks.append(
            EarlyStoppingCallback(
                early_stopping_patience=spec.early_stopping_patience,
                early_stopping_threshold=spec.early_stopping_threshold,
            )
        )
    fresh_adapter = spec.adapter in LORA_ADAPTERS and not spec.start_adapter_path
    peft_config = lora_config(spec) if fresh_adapter else None

    if spec.method == "dpo":
        from trl import DPOTrainer as trainer_class
    else:
        from trl import SFTTrainer as trainer_class
    # The trainer wraps the model in its fresh adapter (and DPO may load a reference model): a build.
    with MODEL_BUILD_LOCK:
        trainer = trainer_class(
            model=model,
            args=args,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=tokenizer,
            peft_config=peft_config,
            callbacks=callbacks,
        )
    from transformers.trainer_callback import PrinterCallback

    # The portal records every step; the console printer would only repeat it in the worker's log.
    trainer.remove_callback(PrinterCallback)
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    try:
        trainer.train()
    except torch.OutOfMemoryError as exc:
        raise out_of_memory_error(spec) from exc
    except RuntimeError as exc:
        if "out of memory" in str(exc).lower():
            raise out_of_memory_error(spec) from exc
        raise

    state = trainer.state
    if (
        not callback.stopped_by_request
        and len(callbacks) > 1
        and state.max_steps
        and state.global_step < state.max_steps
    ):
        reporter.event(
            f"Stopped early at step {state.global_step} of {state.max_steps}: the validation loss did not "
            f"improve for {spec.early_stopping_patience} evaluation(s).",
            key="early-stopped",
            data={"step": int(state.global_step), "max_steps": int(state.max_steps)},
        )
    if spec.load_best_model_at_end and state.best_model_checkpoint:
        best_step = Path(state.best_model_checkpoint).name.removeprefix("checkpoint-")
        reporter.event(
            f"Kept the best checkpoint (step {best_step}, validation loss {state.best_metric:.4f}) as the "
            "result.",
            key="best-checkpoint",
            data={"checkpoint": best_step, "valid_loss": state.best_metric},
        )
    final = Path(spec.output_dir) / "final"
    trainer.save_model(str(final))
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(str(final))
    return TrainingOutcome(
        final_folder=final,
        global_step=int(trainer.state.global_step),
        stopped_early=callback.stopped_by_request,
        trained_tokens=callback.trained_tokens,
        last_metrics=dict(callback.last_metrics),
        trainable_parameters=int(trainable),
        total_parameters=int(total_parameters),
    )


def out_of_memory_error(spec: TrainingSpec) -> ProviderError:
    if spec.batch_size > 1:
        setting = (
            f"Lower the per-device batch size (now {spec.batch_size}) and raise gradient accumulation "
            f"(now {spec.gradient_accumulation}) to keep the same effective batch"
        )
    else:
        setting = f"Lower the max sequence length (now {spec.max_length})"
    if spec.adapter == "full":
        setting += ", or use LoRA / QLoRA instead of full fine-tuning"
    elif spec.adapter == "lora":
        setting += ", or use QLoRA (4-bit)"
    return ProviderError(
        "The GPU ran out of memory while training.", permanent=True, hint=setting + ".", code="out_of_memory"
    )
