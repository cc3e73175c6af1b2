"""The GPU worker's settings, read from Django settings with working defaults."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings


def model_cache_dir() -> Path:
    """Built demo models and converted checkpoints; Hub downloads go to huggingface_hub's own cache."""
    return Path(getattr(settings, "PEFT_MODEL_CACHE", settings.VAR_DIR / "peft" / "models"))


def work_dir() -> Path:
    """Scratch space for a run (trainer checkpoints) before results are copied to storage."""
    return Path(getattr(settings, "PEFT_WORK_DIR", settings.VAR_DIR / "peft" / "runs"))


def heartbeat_seconds() -> float:
    return float(getattr(settings, "PEFT_HEARTBEAT_SECONDS", 30))


def stale_after_seconds() -> float:
    """A job whose worker has been silent this long is considered lost."""
    return float(getattr(settings, "PEFT_STALE_AFTER_SECONDS", 600))


def start_lost_after_seconds() -> float:
    """A queued job whose start message is missing from the gpu queue this long is sent again."""
    return float(getattr(settings, "PEFT_START_LOST_AFTER_SECONDS", 300))


def training_time_limit_seconds() -> int:
    return int(getattr(settings, "PEFT_TRAINING_TIME_LIMIT_SECONDS", 48 * 3600))


def cpu_stands_in_for_gpu() -> bool:
    """On a worker without CUDA, run multi-GPU jobs as CPU processes and QLoRA on the CPU, not refuse them.

    Slow, and for trying those paths on a machine without GPUs (the tests do).
    """
    return bool(getattr(settings, "PEFT_CPU_STANDS_IN_FOR_GPU", False))
