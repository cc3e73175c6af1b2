"""The training itself: TRL's SFTTrainer / DPOTrainer with PEFT, on whatever this worker has.

GPU-worker only. torch, transformers, peft and trl are imported inside the functions, so importing this
module (the tasks module does) costs nothing on the web server. It knows nothing about Django: it
reports through a Reporter, which the portal side implements with the job services.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from finetune_portal.providers.base import ProviderError
from finetune_portal.providers.peft.demo_models import CHATML_TEMPLATE

logger = logging.getLogger(__name__)

# Hugging Face's log keys -> the portal's metric names.
TRAIN_KEYS = {
    "loss": "train_loss",
    "learning_rate": "learning_rate",
    "grad_norm": "grad_norm",
    "mean_token_accuracy": "train_mean_token_accuracy",
    "epoch": "epoch",
}
EVAL_KEYS = {"eval_loss": "valid_loss", "eval_mean_token_accuracy": "valid_mean_token_accuracy"}
SUMMARY_KEYS = {"train_runtime", "train_samples_per_second", "train_steps_per_second", "total_flos"}
# Checkpoint files worth keeping in storage: the weights and what loads them, not optimizer state.
CHECKPOINT_SKIP = {"optimizer.pt", "scheduler.pt", "training_args.bin", "scaler.pt"}


@dataclass
class TrainingSpec:
    model_path: str
    method: str  # "sft" or "dpo"
    train_rows: list[dict[str, Any]]
    output_dir: str
    valid_rows: list[dict[str, Any]] = field(default_factory=list)
    adapter: str = "lora"  # "lora", "qlora" or "full"
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


def _to_float(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return None if isinstance(value, float) and not math.isfinite(value) else float(value)
    return value


def _step_point(logs: dict[str, Any], step: int) -> dict[str, Any]:
    point: dict[str, Any] = {"step": step}
    for key, value in logs.items():
        value = _to_float(value)
        if key in TRAIN_KEYS:
            point[TRAIN_KEYS[key]] = value
        elif key in EVAL_KEYS:
            point[EVAL_KEYS[key]] = value
        elif key.startswith("eval_"):
            if key not in {"eval_runtime", "eval_samples_per_second", "eval_steps_per_second"}:
                point["valid/" + key.removeprefix("eval_")] = value
        elif isinstance(value, (float, int, str)):
            point[key] = value
    return point


def _portal_callback(reporter: Reporter):
    from transformers import TrainerCallback

    class PortalCallback(TrainerCallback):
        """Every logged step and evaluation becomes a metric point; the DB decides whether to go on.

        A train log and an evaluation at the same step are merged into one point: the portal keeps the
        first write for a step, so writing them separately would drop the validation loss.
        """

        def __init__(self):
            self.pending: dict[str, Any] | None = None
            self.stopped_by_request = False
            self.last_metrics: dict[str, Any] = {}
            self.trained_tokens: int | None = None

        def _flush(self):
            if self.pending is not None:
                point, self.pending = self.pending, None
                reporter.metrics(point)
                self.last_metrics.update({k: v for k, v in point.items() if k != "step"})

        def on_train_begin(self, args, state, control, model=None, **kwargs):
            if state.is_world_process_zero:
                processes = args.world_size
                # FSDP2 swaps the sharded modules' classes for FSDP ones: proof that sharding took effect.
                sharded = model is not None and any(
                    type(module).__name__.startswith("FSDP") for module in model.modules()
                )
                where = f" on {processes} processes" + (" (FSDP-sharded)" if sharded else " (DDP)")
                precision = _base_precision(model)
                reporter.event(
                    f"Training started: {state.max_steps} steps{where if processes > 1 else ''}; "
                    f"base weights in {precision}.",
                    key="train-start",
                    data={
                        "max_steps": state.max_steps,
                        "processes": processes,
                        "fsdp_sharded": sharded,
                        "base_precision": precision,
                    },
                )

        def on_step_end(self, args, state, control, **kwargs):
            stop = False
            if state.is_world_process_zero:
                reporter.heartbeat()
                stop = reporter.should_stop()
            stop = _agree_across_processes(stop)
            if stop:
                self.stopped_by_request = True
                control.should_training_stop = True

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero or not logs:
                return
            step = state.global_step
            if SUMMARY_KEYS & logs.keys():
                return
            point = _step_point(logs, step)
            if "num_tokens" in point:
                self.trained_tokens = int(point["num_tokens"])
            is_eval = "valid_loss" in point
            if self.pending is not None and self.pending["step"] != step:
                self._flush()
            if self.pending is None:
                self.pending = point
            else:
                self.pending.update(point)
            if is_eval:
                parts = [f"validation loss {point['valid_loss']:.4f}"]
                if point.get("valid_mean_token_accuracy") is not None:
                    parts.append(f"token accuracy {point['valid_mean_token_accuracy']:.3f}")
                reporter.event(f"Step {step}: " + ", ".join(parts), key=f"eval-{step}", data=point)
            elif "train_loss" in point:
                reporter.event(
                    f"Step {step}/{state.max_steps}: training loss {point['train_loss']:.4f}",
                    key=f"step-{step}",
                    data=point,
                )
            if is_eval or not control.should_evaluate:
                self._flush()

        def on_evaluate(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                self._flush()

        def on_save(self, args, state, control, **kwargs):
            if not state.is_world_process_zero:
                return
            self._flush()
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if folder.exists():
                reporter.checkpoint(step=state.global_step, folder=folder, metrics=dict(self.last_metrics))

        def on_train_end(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                self._flush()

    return PortalCallback()


def _base_precision(model) -> str:
    """How the base model's weights are held: "4-bit NF4" under QLoRA, else their dtype."""
    if model is None:
        return "unknown precision"
    if getattr(model, "is_loaded_in_4bit", False):
        return "4-bit NF4"
    parameter = next(model.parameters(), None)
    return str(parameter.dtype).removeprefix("torch.") if parameter is not None else "unknown precision"


def _agree_across_processes(stop: bool) -> bool:
    """With several GPUs every process must stop at the same step, or DDP waits forever: rank 0 decides."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return stop
    import torch

    device = torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else "cpu"
    flag = torch.tensor([1 if stop else 0], device=device)
    dist.broadcast(flag, src=0)
    return bool(flag.item())


def _lora_config(spec: TrainingSpec):
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


def _load_model(spec: TrainingSpec, *, cuda: bool, bf16: bool):
    import torch
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"dtype": torch.float32}
    if cuda:
        kwargs["dtype"] = torch.bfloat16 if bf16 else torch.float16
        if not bf16 and spec.adapter == "full":
            # fp16 mixed precision needs fp32 master weights to train: the gradient scaler refuses
            # fp16 parameters.
            kwargs["dtype"] = torch.float32
        attn = spec.attn_implementation
        if attn is None and importlib.util.find_spec("flash_attn") is not None:
            attn = "flash_attention_2"
        kwargs["attn_implementation"] = attn or "sdpa"
    if spec.adapter == "qlora":
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=kwargs["dtype"],
        )
    model = AutoModelForCausalLM.from_pretrained(spec.model_path, **kwargs)
    if spec.adapter == "qlora":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=spec.gradient_checkpointing is not False,
            # torch asks for the choice to be explicit; the non-reentrant variant works with frozen inputs.
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    return model


def _fsdp(spec: TrainingSpec) -> bool:
    """FSDP asked for, in a run of several processes (one process has nothing to shard across)."""
    return spec.sharding == "fsdp" and int(os.environ.get("WORLD_SIZE", "1")) > 1


def _continue_adapter(model, folder: str):
    """The base model with a checkpoint's LoRA adapter loaded, trainable, to go on training it."""
    from peft import PeftModel

    try:
        return PeftModel.from_pretrained(model, folder, is_trainable=True)
    except (RuntimeError, ValueError, KeyError) as exc:
        raise ProviderError(
            f"The checkpoint to continue from does not fit this base model ({type(exc).__name__}: "
            f"{str(exc)[:300]}).",
            permanent=True,
            hint="Continue a checkpoint on the base model it was trained on (the demo model: on its data).",
            code="checkpoint_mismatch",
        ) from exc


def _check_hardware(spec: TrainingSpec, *, cuda: bool) -> None:
    if _fsdp(spec):
        if not cuda:
            # accelerate only shards across GPUs; on CPU processes it would quietly fall back to DDP.
            raise ProviderError(
                "FSDP shards a model across CUDA GPUs, and these training processes run on the CPU.",
                permanent=True,
                hint="Choose DDP for CPU processes, or run the job on a worker with GPUs.",
                code="fsdp_needs_gpus",
            )
        if spec.adapter == "qlora":
            raise ProviderError(
                "QLoRA's 4-bit weights are not sharded with FSDP here.",
                permanent=True,
                hint="Use QLoRA with DDP, or LoRA or full fine-tuning with FSDP.",
                code="qlora_with_fsdp",
            )
    if spec.adapter == "qlora":
        if not cuda and not spec.cpu_stands_in_for_gpu:
            raise ProviderError(
                "QLoRA (4-bit) needs a CUDA GPU, and this worker has none.",
                permanent=True,
                hint="Choose LoRA or full fine-tuning for a CPU worker, or run the job on a GPU worker.",
                code="qlora_needs_gpu",
            )
        if importlib.util.find_spec("bitsandbytes") is None:
            raise ProviderError(
                "QLoRA needs the bitsandbytes package, which is not installed on this GPU worker.",
                permanent=True,
                hint="pip install bitsandbytes on the worker, or choose LoRA.",
                code="qlora_needs_bitsandbytes",
            )


def _config(spec: TrainingSpec, *, cuda: bool, bf16: bool, has_eval: bool):
    from trl import DPOConfig, SFTConfig

    batches_per_step = max(1, spec.batch_size * spec.gradient_accumulation)
    steps_per_epoch = max(1, math.ceil(len(spec.train_rows) / batches_per_step))
    total_steps = spec.max_steps if spec.max_steps > 0 else math.ceil(spec.epochs * steps_per_epoch)
    # An interval longer than the run would never evaluate (or save); fall back to once per epoch.
    per_epoch = spec.eval_steps <= 0 or spec.eval_steps > total_steps
    save_per_epoch = spec.save_steps <= 0 or spec.save_steps > total_steps
    common: dict[str, Any] = {
        "output_dir": spec.output_dir,
        "num_train_epochs": spec.epochs,
        "max_steps": spec.max_steps if spec.max_steps and spec.max_steps > 0 else -1,
        "learning_rate": spec.learning_rate,
        "lr_scheduler_type": spec.lr_scheduler,
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
        "save_steps": 500 if save_per_epoch else spec.save_steps,
        "save_total_limit": 2,
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
    if _fsdp(spec):
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


def _prepare_tokenizer(spec: TrainingSpec, reporter: Reporter):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(spec.model_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template:
        tokenizer.chat_template = CHATML_TEMPLATE
        reporter.event(
            "The base model has no chat template; using ChatML.", key="chat-template", level="warn"
        )
    if spec.assistant_only_loss and "generation" not in tokenizer.chat_template:
        spec.assistant_only_loss = False
        reporter.event(
            "Assistant-only loss is off: this model's chat template does not mark the assistant's turns "
            "({% generation %}), so the loss covers the whole conversation.",
            key="assistant-only-off",
            level="warn",
        )
    return tokenizer


def _needs_activation_checkpointing(spec: TrainingSpec, model) -> bool:
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


def run_training(spec: TrainingSpec, reporter: Reporter) -> TrainingOutcome:
    """Train, reporting as it goes; returns where the final weights are. Raises ProviderError."""
    import datasets
    import torch
    from datasets import Dataset

    # Progress bars would fill the worker's log; the portal shows progress instead.
    datasets.disable_progress_bars()
    cuda = torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported()
    _check_hardware(spec, cuda=cuda)
    if spec.assistant_only_loss and spec.train_rows and "messages" not in spec.train_rows[0]:
        # Prompt/completion rows already train on the completion only; the flag is for chats.
        spec.assistant_only_loss = False
    tokenizer = _prepare_tokenizer(spec, reporter)
    model = _load_model(spec, cuda=cuda, bf16=bf16)
    if spec.start_adapter_path:
        model = _continue_adapter(model, spec.start_adapter_path)
    total_parameters = sum(p.numel() for p in model.parameters())
    if spec.gradient_checkpointing is None:
        spec.gradient_checkpointing = cuda and _needs_activation_checkpointing(spec, model)
    train_dataset = Dataset.from_list(spec.train_rows)
    eval_dataset = Dataset.from_list(spec.valid_rows) if spec.valid_rows else None
    args = _config(spec, cuda=cuda, bf16=bf16, has_eval=eval_dataset is not None)
    callback = _portal_callback(reporter)
    fresh_adapter = spec.adapter in ("lora", "qlora") and not spec.start_adapter_path
    peft_config = _lora_config(spec) if fresh_adapter else None

    if spec.method == "dpo":
        from trl import DPOTrainer as trainer_class
    else:
        from trl import SFTTrainer as trainer_class
    trainer = trainer_class(
        model=model,
        args=args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[callback],
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
