"""Fine-tuning jobs created through /v1: OpenAI's request read, checked and turned into a portal job.

The job is built by the training provider's own launch form (``get_launch_form_class``), filled with the
form's defaults for that base model and the request's settings mapped onto its fields, so the checks and
defaults are the browser's. It is then an ordinary FineTuningJob: created with ``job_create`` (inside the
form) and launched with ``job_launch``, on the same state machine, job page and charts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from finetune_portal.api.errors import ApiError, invalid
from finetune_portal.api.files import api_file_get, public_id, training_provider_key
from finetune_portal.api.models import JOB_ID_PREFIX, ApiFile, ApiJob
from finetune_portal.datasets.models import DatasetKind, DatasetVersion
from finetune_portal.jobs.models import FineTuningJob, Method
from finetune_portal.jobs.services import job_launch
from finetune_portal.jobs.states import JobStatus
from finetune_portal.providers.registry import get_launch_form_class

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
        raise _model_unavailable(model)
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


def _model_unavailable(model: str, detail: str = "") -> ApiError:
    return invalid(
        f"Model {model} is not available for fine-tuning or does not exist. This portal trains open models "
        "on the team's own GPUs: give a base model such as demo:tiny or a Hugging Face id "
        f"(owner/name) the GPU workers have.{f' {detail}' if detail else ''}",
        param="model",
        code="model_not_available",
    )


def _form_data(form) -> dict[str, Any]:
    """What the browser would post for this unbound form: each field's initial value."""
    data: dict[str, Any] = {}
    for name, form_field in form.fields.items():
        value = form.initial.get(name, form_field.initial)
        if value is None or value is False:
            continue  # an unticked box and an empty choice are absent from a posted form
        data[name] = "on" if value is True else value
    return data


def _mapped(request: JobRequest, data: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's hyperparameters on the form's fields; what the request leaves out keeps the form's default.

    - n_epochs → epochs.
    - batch_size is OpenAI's whole batch: the per-device batch, with gradient accumulation 1, so one
      optimizer step sees exactly that many examples (the form's default is 4 times 4 accumulated).
    - learning_rate_multiplier scales OpenAI's own base rate, which it does not publish; here it scales the
      form's default rate for this base model (2e-4 for LoRA, 5e-3 for the tiny demo model), so 1.0 (and
      "auto") trains at the rate a person launching in the browser would start from, and 2.0 at twice it.
    - beta (DPO) → DPO beta.
    """
    hp = request.hyperparameters
    data = dict(data)
    if "n_epochs" in hp:
        data["epochs"] = hp["n_epochs"]
    if "batch_size" in hp:
        data["batch_size"], data["gradient_accumulation"] = hp["batch_size"], 1
    if "learning_rate_multiplier" in hp:
        data["learning_rate"] = float(data["learning_rate"]) * hp["learning_rate_multiplier"]
    if "beta" in hp:
        data["dpo_beta"] = hp["beta"]
    if request.seed is not None:
        data["seed"] = request.seed
    data["name"] = request.suffix
    data["training_version"] = request.training.version_id
    if request.validation is not None:
        data["validation_version"] = request.validation.version_id
    return data


def _resolved(request: JobRequest, data: dict[str, Any], base_rate: float) -> dict[str, Any]:
    """The hyperparameters as OpenAI shows them once resolved, from what the job will train with."""
    epochs = float(data["epochs"])
    resolved: dict[str, Any] = {
        "n_epochs": int(epochs) if epochs.is_integer() else epochs,
        "batch_size": int(data["batch_size"]) * int(data.get("gradient_accumulation") or 1),
        "learning_rate_multiplier": float(data["learning_rate"]) / base_rate,
    }
    if request.method == "dpo":
        resolved["beta"] = float(data["dpo_beta"])
    return resolved


def api_job_create(*, project, user, request: JobRequest) -> ApiJob:
    """Build the job with the training provider's launch form and launch it. A file still being
    validated holds the job in validating_files until its verdict (a task launches it then); a file
    that failed validation fails the job on the worker with the report's first errors."""
    key = training_provider_key()
    form_class = get_launch_form_class(key)
    method = METHODS[request.method]
    defaults = form_class(project=project, user=user, initial={"base_model": request.model, "method": method})
    data = _mapped(request, _form_data(defaults))
    form = form_class(data, project=project, user=user)
    # The form offers valid versions only; the API's file may still be validating or have failed, which
    # the job reports in OpenAI's way (validating_files, or failed with the errors) instead of a 400.
    form.fields["training_version"].queryset = DatasetVersion.objects.filter(pk=request.training.version_id)
    form.fields["validation_version"].queryset = DatasetVersion.objects.filter(
        pk__in=[request.validation.version_id] if request.validation else []
    )
    if not form.is_valid():
        errors = form.errors.get_json_data()
        if "base_model" in errors:
            raise _model_unavailable(request.model, errors["base_model"][0]["message"])
        name, problems = next(iter(errors.items()))
        raise invalid(
            f"{name}: {problems[0]['message']}", param="hyperparameters" if name != "__all__" else None
        )
    base_rate = float(_form_data(defaults)["learning_rate"])
    with transaction.atomic():
        job: FineTuningJob = form.save()
        job.suffix = request.suffix
        job.save(update_fields=["suffix"])
        api_job = ApiJob.objects.create(
            public_id=public_id(JOB_ID_PREFIX),
            job=job,
            training_file=request.training.public_id,
            validation_file=request.validation.public_id if request.validation else "",
            method={
                "type": request.method,
                request.method: {"hyperparameters": _resolved(request, form.cleaned_data, base_rate)},
            },
            hyperparameters=_resolved(request, form.cleaned_data, base_rate),
            metadata=request.metadata,
        )
        if _files_settled(job):
            job_launch(job=job, actor=user)
        else:
            transaction.on_commit(lambda: _enqueue_launch_when_ready(job.pk))
    return api_job


def _files_settled(job: FineTuningJob) -> bool:
    versions = [v for v in (job.training_version, job.validation_version) if v is not None]
    for version in versions:
        version.refresh_from_db(fields=["status"])
    return all(version.is_settled for version in versions)


def _enqueue_launch_when_ready(job_id: int) -> None:
    from finetune_portal.api.tasks import api_job_launch_when_ready_task
    from finetune_portal.celery import broker_send

    broker_send(lambda: api_job_launch_when_ready_task.delay(job_id), what=f"the launch of job {job_id}")


def api_job_launch_when_ready(*, job_id: int) -> str:
    """Launch a job held for its files once their validation has a verdict. Returns "waiting",
    "launched" or "skipped" (no longer a draft: launched already, or cancelled meanwhile)."""
    job = FineTuningJob.objects.select_related("training_version", "validation_version", "created_by").get(
        pk=job_id
    )
    if job.status != JobStatus.DRAFT:
        return "skipped"
    if not _files_settled(job):
        return "waiting"
    with transaction.atomic():
        locked = FineTuningJob.objects.select_for_update().get(pk=job_id)
        if locked.status != JobStatus.DRAFT:
            return "skipped"
        job_launch(job=job, actor=job.created_by)
    return "launched"
