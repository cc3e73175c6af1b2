"""Fine-tuning jobs created through /v1: a checked request (api/fine_tuning_request.py) turned into a
portal job and launched.

The job is built by the training provider's own launch form (``get_launch_form_class``), filled with the
form's defaults for that base model and the request's settings mapped onto its fields, so the checks and
defaults are the browser's. It is then an ordinary FineTuningJob: created with ``job_create`` (inside the
form) and launched with ``job_launch``, on the same state machine, job page and charts.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from finetune_portal.api.errors import invalid
from finetune_portal.api.files import public_id, training_provider_key
from finetune_portal.api.fine_tuning_request import METHODS, JobRequest, model_unavailable
from finetune_portal.api.models import JOB_ID_PREFIX, ApiJob
from finetune_portal.datasets.models import DatasetVersion
from finetune_portal.jobs.models import FineTuningJob
from finetune_portal.jobs.services import job_launch
from finetune_portal.jobs.states import JobStatus
from finetune_portal.providers.registry import get_launch_form_class


def launch_form_data(form) -> dict[str, Any]:
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
    data = _mapped(request, launch_form_data(defaults))
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
            raise model_unavailable(request.model, errors["base_model"][0]["message"])
        name, problems = next(iter(errors.items()))
        raise invalid(
            f"{name}: {problems[0]['message']}", param="hyperparameters" if name != "__all__" else None
        )
    base_rate = float(launch_form_data(defaults)["learning_rate"])
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
