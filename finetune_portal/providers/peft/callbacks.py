"""The portal's TrainerCallback: each logged step and evaluation becomes a metric point, each save a
checkpoint, and a stop asked for in the portal ends the run at the next step.

GPU-worker only: transformers and torch are imported inside the functions.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finetune_portal.jobs import metrics
from finetune_portal.jobs.event_keys import STEP_LOG_EVENT_PREFIX
from finetune_portal.jobs.metrics import key_map

if TYPE_CHECKING:
    from finetune_portal.providers.peft.trainer import Reporter

# Hugging Face's log keys -> the portal's metric names.
TRAIN_KEYS = key_map(
    {
        "loss": metrics.TRAIN_LOSS,
        "learning_rate": metrics.LEARNING_RATE,
        "grad_norm": metrics.GRAD_NORM,
        "mean_token_accuracy": metrics.TRAIN_TOKEN_ACCURACY,
        "epoch": metrics.EPOCH,
        # TRL's DPOTrainer logs its implicit rewards under these names.
        "rewards/margins": metrics.DPO_REWARD_MARGIN,
        "rewards/chosen": metrics.DPO_REWARD_CHOSEN,
        "rewards/rejected": metrics.DPO_REWARD_REJECTED,
        "rewards/accuracies": metrics.DPO_REWARD_ACCURACY,
    }
)
EVAL_KEYS = key_map(
    {"eval_loss": metrics.VALID_LOSS, "eval_mean_token_accuracy": metrics.VALID_TOKEN_ACCURACY}
)
SUMMARY_KEYS = {"train_runtime", "train_samples_per_second", "train_steps_per_second", "total_flos"}
# Timings of an evaluation, not results of it.
EVAL_TIMING_KEYS = {"eval_runtime", "eval_samples_per_second", "eval_steps_per_second"}


def _to_float(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return None if isinstance(value, float) and not math.isfinite(value) else float(value)
    return value


def step_point(logs: dict[str, Any], step: int) -> dict[str, Any]:
    point: dict[str, Any] = {"step": step}
    for key, value in logs.items():
        value = _to_float(value)
        if key in TRAIN_KEYS:
            point[TRAIN_KEYS[key]] = value
        elif key in EVAL_KEYS:
            point[EVAL_KEYS[key]] = value
        elif key.startswith("eval_"):
            if key not in EVAL_TIMING_KEYS:
                point["valid/" + key.removeprefix("eval_")] = value
        elif isinstance(value, (float, int, str)):
            point[key] = value
    return point


def portal_callback(reporter: Reporter):
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
            point = step_point(logs, step)
            if state.max_steps and state.max_steps > 0:
                # The planned total, so the job page can show "Step 8 / 135", a bar and the time left.
                point["total_steps"] = state.max_steps
            if "num_tokens" in point:
                self.trained_tokens = int(point["num_tokens"])
            is_eval = metrics.VALID_LOSS in point
            if self.pending is not None and self.pending["step"] != step:
                self._flush()
            if self.pending is None:
                self.pending = point
            else:
                self.pending.update(point)
            if is_eval:
                parts = [f"validation loss {point[metrics.VALID_LOSS]:.4f}"]
                if point.get(metrics.VALID_TOKEN_ACCURACY) is not None:
                    parts.append(f"token accuracy {point[metrics.VALID_TOKEN_ACCURACY]:.3f}")
                reporter.event(f"Step {step}: " + ", ".join(parts), key=f"eval-{step}", data=point)
            elif metrics.TRAIN_LOSS in point:
                reporter.event(
                    f"Step {step}/{state.max_steps}: training loss {point[metrics.TRAIN_LOSS]:.4f}",
                    key=f"{STEP_LOG_EVENT_PREFIX}{step}",
                    data=point,
                )
            if is_eval or not (control.should_evaluate or _epoch_evaluation_due(args, state)):
                self._flush()

        def on_evaluate(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                self._flush()

        def on_save(self, args, state, control, **kwargs):
            if not state.is_world_process_zero:
                return
            if not _epoch_evaluation_due(args, state):
                # At the run's last step the trainer saves before its epoch-end evaluation: keep the point
                # open for the validation loss.
                self._flush()
            current = {**self.last_metrics, **{k: v for k, v in (self.pending or {}).items() if k != "step"}}
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if folder.exists():
                reporter.checkpoint(step=state.global_step, folder=folder, metrics=current)

        def on_train_end(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                self._flush()

    return PortalCallback()


def _epoch_evaluation_due(args, state) -> bool:
    """Whether this step ends an epoch of a run that evaluates once per epoch.

    The trainer decides to evaluate at an epoch's end only after it has logged that step's training loss,
    so ``control.should_evaluate`` is still False then; the point waits for the validation loss instead.
    """
    strategy = getattr(args, "eval_strategy", "no")
    if getattr(strategy, "value", strategy) != "epoch" or state.epoch is None:
        return False
    return abs(state.epoch - round(state.epoch)) < 1e-6


def _base_precision(model) -> str:
    """How the base model's weights are held: "4-bit NF4" under QLoRA, else their dtype."""
    if model is None:
        return "unknown precision"
    if getattr(model, "is_loaded_in_4bit", False):
        return "4-bit NF4"
    if getattr(model, "is_loaded_in_8bit", False):
        return "8-bit (LLM.int8)"
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
