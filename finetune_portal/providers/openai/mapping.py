"""OpenAI's words <-> the portal's: statuses, methods, create parameters, errors, metrics, timestamps.

Pure translation: nothing here talks to OpenAI or writes to the database.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import math
from datetime import UTC, datetime
from typing import Any

import openai
from django.conf import settings

from finetune_portal.jobs import metrics
from finetune_portal.jobs.models import FineTuningJob, Method
from finetune_portal.jobs.states import JobStatus
from finetune_portal.providers.base import ProviderError

S = JobStatus
PORTAL_JOB_KEY = "portal_job_id"
PORTAL_INSTANCE_KEY = "portal_instance"

# OpenAI's words -> the portal's machine. Anything else is shown and logged, never fatal.
STATUS_MAP: dict[str, JobStatus] = {
    "validating_files": S.SUBMITTED,
    "queued": S.SUBMITTED,
    "running": S.RUNNING,
    "paused": S.PAUSED,
    "succeeded": S.SUCCEEDED,
    "failed": S.FAILED,
    "cancelled": S.CANCELLED,
}
METHOD_TYPES = {Method.SFT: "supervised", Method.DPO: "dpo", Method.RFT: "reinforcement"}
METHOD_FROM_TYPE = {value: key for key, value in METHOD_TYPES.items()}
HYPERPARAMETERS = {
    Method.SFT: ("n_epochs", "batch_size", "learning_rate_multiplier"),
    Method.DPO: ("n_epochs", "batch_size", "learning_rate_multiplier", "beta"),
    Method.RFT: (
        "n_epochs",
        "batch_size",
        "learning_rate_multiplier",
        "reasoning_effort",
        "compute_multiplier",
        "eval_interval",
        "eval_samples",
    ),
}

# A metrics event's data keys -> portal metric names. Other numeric keys are kept under their own name
# (the point's extras).
EVENT_METRIC_KEYS = metrics.key_map(
    {
        "train_loss": metrics.TRAIN_LOSS,
        "train_mean_token_accuracy": metrics.TRAIN_TOKEN_ACCURACY,
        "valid_loss": metrics.VALID_LOSS,
        "valid_mean_token_accuracy": metrics.VALID_TOKEN_ACCURACY,
        "full_valid_loss": metrics.FULL_VALID_LOSS,
    }
)
# The results file's columns -> portal metric names; older files call token accuracy "train_accuracy".
RESULT_COLUMNS = metrics.key_map(
    {
        "train_loss": metrics.TRAIN_LOSS,
        "train_accuracy": metrics.TRAIN_TOKEN_ACCURACY,
        "train_mean_token_accuracy": metrics.TRAIN_TOKEN_ACCURACY,
        "valid_loss": metrics.VALID_LOSS,
        "valid_mean_token_accuracy": metrics.VALID_TOKEN_ACCURACY,
        "full_valid_loss": metrics.FULL_VALID_LOSS,
    }
)


class RetryLater(ProviderError):
    """A transient failure: the task should run again after ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: float):
        super().__init__(message, permanent=False)
        self.retry_after = retry_after


# -- errors and hints --------------------------------------------------------------------------------

_HINTS: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("file format", "invalid_training_file", "invalid_validation_file", "training file", "examples"),
        "OpenAI could not use the training data. Open the dataset version's validation report, fix the "
        "examples OpenAI names, upload a new version and launch again.",
    ),
    (
        ("quota", "billing", "insufficient_quota", "credit", "exceeded your"),
        "The OpenAI account behind this credential is out of credit or over its quota. Ask whoever owns "
        "the account to add credit or raise the limit, then launch again.",
    ),
    (
        ("permission", "not allowed", "not have access", "unauthorized", "incorrect api key", "api key"),
        "OpenAI refused the credential. Check that the API key is valid, belongs to the right "
        "organization and project, and is allowed to fine-tune.",
    ),
    (
        ("model_not_available", "not available for fine-tuning", "does not exist", "invalid model", "model"),
        "This base model cannot be fine-tuned with this account. Pick a model from the list for the "
        "chosen method, or check the spelling of a custom one.",
    ),
)


def hint_for(message: str, code: str = "") -> str:
    text = f"{code} {message}".lower()
    for needles, hint in _HINTS:
        if any(needle in text for needle in needles):
            return hint
    return ""


def _retry_after(exc: openai.APIStatusError, default: float) -> float:
    headers = exc.response.headers
    try:
        if headers.get("retry-after-ms"):
            return max(1.0, float(headers["retry-after-ms"]) / 1000)
        if headers.get("retry-after"):
            return max(1.0, float(headers["retry-after"]))
    except ValueError:
        pass
    return default


def error_message_and_code(exc: openai.APIStatusError) -> tuple[str, str]:
    """OpenAI's own message and error code from an SDK error's body."""
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error", body) if isinstance(body.get("error", body), dict) else {}
    return str(error.get("message") or exc.message), str(error.get("code") or "")


def as_provider_error(exc: Exception) -> ProviderError:
    """Read an SDK exception as permanent (the job fails, verbatim) or retryable (try again later)."""
    if isinstance(exc, openai.APIConnectionError):
        # The SDK says "Connection error." or "Request timed out."; the page reads it mid-sentence.
        reason = str(exc).strip().rstrip(".") or "no answer"
        return RetryLater(f"Could not reach OpenAI: {reason[:1].lower()}{reason[1:]}", retry_after=30)
    if isinstance(exc, openai.APIStatusError):
        message, code = error_message_and_code(exc)
        if exc.status_code == 429 and code != "insufficient_quota":
            return RetryLater(message, retry_after=_retry_after(exc, 30))
        if exc.status_code >= 500 or exc.status_code in (408, 409):
            return RetryLater(message, retry_after=_retry_after(exc, 30))
        return ProviderError(message, permanent=True, hint=hint_for(message, code), code=code)
    raise exc


def failure_fields(remote) -> dict[str, str]:
    """The error fields of a job OpenAI reports as failed: its message verbatim, and our hint."""
    error = remote.error
    message = (getattr(error, "message", None) if error else None) or "OpenAI reported the job as failed."
    code = (getattr(error, "code", None) if error else None) or ""
    return {"error_message": message, "error_hint": hint_for(message, code)}


# -- the create call ---------------------------------------------------------------------------------


def portal_instance() -> str:
    """Tells this installation's jobs apart from another portal's on a shared OpenAI account."""
    configured = getattr(settings, "OPENAI_PORTAL_INSTANCE", "")
    return configured or hashlib.sha256(settings.SECRET_KEY.encode()).hexdigest()[:12]


def provider_metadata(job: FineTuningJob) -> dict[str, str]:
    return {PORTAL_JOB_KEY: str(job.pk), PORTAL_INSTANCE_KEY: portal_instance()}


def create_params(job: FineTuningJob, *, training_file: str, validation_file: str | None) -> dict[str, Any]:
    kind = METHOD_TYPES[Method(job.method)]
    chosen = job.hyperparameters or {}
    hyper = {
        key: chosen[key]
        for key in HYPERPARAMETERS[Method(job.method)]
        if chosen.get(key) not in (None, "", "auto", "default")
    }
    section: dict[str, Any] = {"hyperparameters": hyper}
    if job.method == Method.RFT:
        section["grader"] = (job.provider_data or {}).get("grader")
    params: dict[str, Any] = {
        "model": job.base_model,
        "training_file": training_file,
        "metadata": provider_metadata(job),
        "method": {"type": kind, kind: section},
    }
    if validation_file:
        params["validation_file"] = validation_file
    if job.suffix:
        params["suffix"] = job.suffix
    if job.seed is not None:
        params["seed"] = job.seed
    return params


# -- metrics and time --------------------------------------------------------------------------------


def timestamp(value: int | None) -> datetime | None:
    """OpenAI's Unix seconds as an aware datetime; 0 and None mean "not yet"."""
    return datetime.fromtimestamp(value, tz=UTC) if value else None


def metric_point(data: object) -> dict[str, Any] | None:
    """A metrics event's data as a metric point, or None when it is not an object naming a step."""
    if not isinstance(data, dict) or data.get("step") is None:
        return None
    point: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            name = str(key)  # JSON object keys are strings; str() tells the type checker so
            point[EVENT_METRIC_KEYS.get(name, name)] = value
    point["step"] = int(data["step"])
    return point


def parse_results_csv(raw: bytes | str) -> list[dict[str, Any]]:
    """The results file's rows as metric points, read by column name. It may arrive base64-encoded."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    if not text.lstrip().startswith("step"):
        try:
            text = base64.b64decode(text.strip(), validate=False).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return []
    points = []
    for row in csv.DictReader(io.StringIO(text.strip())):
        try:
            point: dict[str, Any] = {"step": int(float(row.get("step") or ""))}
        except ValueError:
            continue
        for column, cell in row.items():
            if column in (None, "step") or cell in (None, ""):
                continue
            try:
                value = float(cell)
            except ValueError:
                continue
            point[RESULT_COLUMNS.get(column.strip(), column.strip())] = value
        points.append(point)
    return points


def resolved_hyperparameters(remote) -> dict[str, Any]:
    """The hyperparameters OpenAI used for a job, as far as it has chosen them ("auto" ones once chosen)."""
    method = getattr(remote, "method", None)
    method_type = getattr(method, "type", None) if method else None
    section = getattr(method, method_type, None) if method_type else None
    hyper = getattr(section, "hyperparameters", None) if section else None
    if hyper is None:
        hyper = getattr(remote, "hyperparameters", None)
    values = hyper.model_dump(exclude_none=True) if hyper is not None else {}
    return {key: value for key, value in values.items() if value != "auto"}
