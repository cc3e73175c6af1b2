"""A fine-tuning job request to /v1, read and checked the way OpenAI checks it.

Every field is checked on its own (unknown fields, OpenAI's own model names, integrations, the method and
its hyperparameters, suffix, seed, metadata) and the files are looked up in the token's project; whatever
is wrong is a 400 naming the parameter. The result, a JobRequest, is what api/fine_tuning_launch.py builds
the portal's job from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from finetune_portal.api.errors import ApiError, invalid
from finetune_portal.api.files import api_file_get
from finetune_portal.api.models import ApiFile
from finetune_portal.datasets.models import DatasetKind
from finetune_portal.jobs.models import Method

FIELDS = {
    "model",
    "training_file",
    "validation_file",
    "hyperparameters",
    "method",
    "suffix",
    "seed",
    "metadata",
    "integrations",
}
METHODS = {"supervised": Method.SFT, "dpo": Method.DPO}
KINDS = {Method.SFT: {DatasetKind.CHAT, DatasetKind.COMPLETION}, Method.DPO: {DatasetKind.DPO}}
HYPERPARAMETERS = {"n_epochs", "batch_size", "learning_rate_multiplier"}
# Names of OpenAI's own models: this portal trains open models on the team's GPUs, not these.
OPENAI_MODEL = re.compile(r"^(gpt-|chatgpt|o\d|davinci|babbage|text-)", re.IGNORECASE)
SUFFIX = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
MAX_SEED = 2_147_483_647


@dataclass
class JobRequest:
    model: str
    training: ApiFile
    validation: ApiFile | None
    method: str  # "supervised" or "dpo"
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    suffix: str = ""
    seed: int | None = None
    metadata: dict[str, str] | None = None


def _auto_or(value, *, name: str, kind: type, low: float, high: float | None, open_low: bool = False):
    """OpenAI's "auto" or a number in range; None stands for auto."""
    if value is None or value == "auto":
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (kind is int and not float(value).is_integer())
    ):
        raise invalid(f'{name} must be "auto" or {"an integer" if kind is int else "a number"}.', param=name)
    too_low = value <= low if open_low else value < low
    if too_low or (high is not None and value > high):
        bounds = f"above {low:g}" if open_low else f"at least {low:g}"
        raise invalid(f"{name} must be {bounds}{f' and at most {high:g}' if high else ''}.", param=name)
    return kind(value)


def _hyperparameters(raw, *, method: str, where: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise invalid(f"{where} must be an object.", param=where)
    allowed = HYPERPARAMETERS | ({"beta"} if method == "dpo" else set())
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise invalid(
            f"Unknown hyperparameter {unknown[0]!r}; accepted: {', '.join(sorted(allowed))}.", param=where
        )
    values = {
        "n_epochs": _auto_or(raw.get("n_epochs"), name=f"{where}.n_epochs", kind=int, low=1, high=50),
        "batch_size": _auto_or(raw.get("batch_size"), name=f"{where}.batch_size", kind=int, low=1, high=256),
        "learning_rate_multiplier": _auto_or(
            raw.get("learning_rate_multiplier"),
            name=f"{where}.learning_rate_multiplier",
            kind=float,
            low=0,
            high=None,
            open_low=True,
        ),
    }
    if method == "dpo":
        values["beta"] = _auto_or(
            raw.get("beta"), name=f"{where}.beta", kind=float, low=0, high=2, open_low=True
        )
    return {name: value for name, value in values.items() if value is not None}


def _method(body: dict) -> tuple[str, dict[str, Any]]:
    method = body.get("method")
    top = body.get("hyperparameters")
    if method is None:
        return "supervised", _hyperparameters(top, method="supervised", where="hyperparameters")
    if not isinstance(method, dict) or not isinstance(method.get("type"), str):
        raise invalid("method must be an object with a type: supervised or dpo.", param="method")
    kind = method["type"]
    if kind not in METHODS:
        raise invalid(
            f"Method {kind!r} is not trained on this portal's GPUs; use supervised or dpo.",
            param="method.type",
            code="unsupported_method",
        )
    unknown = sorted(set(method) - {"type", kind})
    if unknown:
        raise invalid(
            f"method.{unknown[0]} does not go with method type {kind!r}.", param=f"method.{unknown[0]}"
        )
    inner = method.get(kind) or {}
    if not isinstance(inner, dict) or set(inner) - {"hyperparameters"}:
        raise invalid(f"method.{kind} takes only hyperparameters.", param=f"method.{kind}")
    if top is not None and inner.get("hyperparameters") is not None:
        raise invalid(
            "Send hyperparameters in method only (the top-level hyperparameters field is deprecated).",
            param="hyperparameters",
        )
    if top is not None and kind != "supervised":
        raise invalid(
            "The top-level hyperparameters field is for supervised jobs only.", param="hyperparameters"
        )
    raw = inner.get("hyperparameters") if top is None else top
    where = f"method.{kind}.hyperparameters" if top is None else "hyperparameters"
    return kind, _hyperparameters(raw, method=kind, where=where)


def _file(project, value, *, param: str, required: bool) -> ApiFile | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise invalid(f"Missing required parameter: '{param}'.", param=param)
    found = api_file_get(project, value)
    if found is None:
        raise invalid(
            f"invalid {param}: {value} (no such file in this project).", param=param, code="file_not_found"
        )
    return found


def job_request_parse(project, body: dict) -> JobRequest:
    """The request checked field by field; anything wrong is a 400 naming the parameter."""
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise invalid(f"Unrecognized request argument supplied: {unknown[0]}", param=unknown[0])
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise invalid("Missing required parameter: 'model'.", param="model")
    model = model.strip()
    if OPENAI_MODEL.match(model) or model.startswith("ft:"):
        raise model_unavailable(model)
    integrations = body.get("integrations")
    if integrations not in (None, []):
        raise invalid(
            "Integrations (such as Weights & Biases) are not available on this portal; its job page charts "
            "the run live. Send integrations: [] or leave it out.",
            param="integrations",
            code="integrations_not_supported",
        )
    method, hyperparameters = _method(body)
    suffix = body.get("suffix")
    if suffix is not None and (not isinstance(suffix, str) or not SUFFIX.match(suffix)):
        raise invalid("suffix must be 1 to 64 letters, digits, '-', '_' or '.'.", param="suffix")
    seed = body.get("seed")
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED
    ):
        raise invalid(f"seed must be an integer from 0 to {MAX_SEED}.", param="seed")
    metadata = body.get("metadata")
    if metadata is not None:
        ok = isinstance(metadata, dict) and len(metadata) <= 16
        ok = ok and all(
            isinstance(k, str) and len(k) <= 64 and isinstance(v, str) and len(v) <= 512
            for k, v in metadata.items()
        )
        if not ok:
            raise invalid(
                "metadata must be at most 16 string pairs, keys up to 64 and values up to 512 characters.",
                param="metadata",
            )
    training = _file(project, body.get("training_file"), param="training_file", required=True)
    validation = _file(project, body.get("validation_file"), param="validation_file", required=False)
    if training is None:  # required=True never returns None; this tells the type checker so
        raise invalid("Missing required parameter: 'training_file'.", param="training_file")
    for api_file, param in ((training, "training_file"), (validation, "validation_file")):
        if api_file is not None and api_file.version.dataset.kind not in KINDS[METHODS[method]]:
            kind = api_file.version.dataset.get_kind_display()
            raise invalid(
                f"{api_file.public_id} holds {kind} examples, which a {method} job does not train on.",
                param=param,
            )
    if validation is not None and validation.version_id == training.version_id:
        raise invalid("The validation file must differ from the training file.", param="validation_file")
    return JobRequest(
        model=model,
        training=training,
        validation=validation,
        method=method,
        hyperparameters=hyperparameters,
        suffix=suffix or "",
        seed=seed,
        metadata=metadata,
    )


def model_unavailable(model: str, detail: str = "") -> ApiError:
    return invalid(
        f"Model {model} is not available for fine-tuning or does not exist. This portal trains open models "
        "on the team's own GPUs: give a base model such as demo:tiny or a Hugging Face id "
        f"(owner/name) the GPU workers have.{f' {detail}' if detail else ''}",
        param="model",
        code="model_not_available",
    )
