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


# -- serving (providers/peft/serving) -------------------------------------------------------------------


def local_inference_url() -> str:
    """The embedded model server (`python manage.py serve_models`)."""
    return str(getattr(settings, "LOCAL_INFERENCE_URL", "") or "http://127.0.0.1:8766/v1").rstrip("/")


def vllm_base_url() -> str:
    """A vLLM OpenAI-compatible server; when set it is used instead of the embedded one."""
    return str(getattr(settings, "VLLM_BASE_URL", "") or "").rstrip("/")


def vllm_api_key() -> str:
    return str(getattr(settings, "VLLM_API_KEY", "") or "")


def inference_timeout_seconds() -> float:
    """How long the portal waits for the model server: to connect, and between two streamed pieces."""
    return float(getattr(settings, "INFERENCE_TIMEOUT_SECONDS", 120))


def inference_adapter_cache_dir() -> Path:
    """Where adapters kept in S3 are downloaded for the model server to read (a folder vLLM sees too)."""
    return Path(getattr(settings, "INFERENCE_ADAPTER_CACHE", settings.VAR_DIR / "peft" / "serving"))


def inference_max_loaded_models() -> int:
    return int(getattr(settings, "INFERENCE_MAX_LOADED_MODELS", 2))


def inference_max_loaded_bytes() -> int:
    """The embedded server's bound on warm weights (0: only the count bounds them)."""
    return int(getattr(settings, "INFERENCE_MAX_LOADED_BYTES", 16 * 1024**3))


def inference_default_max_tokens() -> int:
    return int(getattr(settings, "INFERENCE_DEFAULT_MAX_TOKENS", 512))


def inference_stream_interval_seconds() -> float:
    """Streamed pieces made within this long of the last one sent go out together (0: every token alone)."""
    return float(getattr(settings, "INFERENCE_STREAM_INTERVAL_MS", 15)) / 1000
