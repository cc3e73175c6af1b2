"""Jobs started in the browser on the team's own GPUs, named for /v1: OpenAI's job list shows every job
of the organisation however it was created, so the portal's shows every job of the token's project that
the API can describe (its training provider, a method the API knows), each with an id of its own."""

from __future__ import annotations

from typing import Any

from finetune_portal.api.files import public_id, training_provider_key
from finetune_portal.api.fine_tuning_launch import launch_form_data
from finetune_portal.api.fine_tuning_request import METHODS
from finetune_portal.api.models import JOB_ID_PREFIX, ApiFile, ApiJob
from finetune_portal.jobs.models import FineTuningJob
from finetune_portal.providers.registry import get_launch_form_class

API_METHOD = {portal: api for api, portal in METHODS.items()}


def _number(value: Any, default: float) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def _hyperparameters(job: FineTuningJob, base_rate: float) -> dict[str, Any]:
    """The job's settings in OpenAI's terms, as api_job_create resolves them: a whole batch counts
    examples per optimizer step, and the rate is a multiple of the launch form's default for the base."""
    settings = job.hyperparameters or {}
    epochs = _number(settings.get("epochs"), 1.0)
    batch = int(_number(settings.get("batch_size"), 1)) * int(
        _number(settings.get("gradient_accumulation"), 1)
    )
    resolved: dict[str, Any] = {
        "n_epochs": int(epochs) if epochs.is_integer() else epochs,
        "batch_size": max(batch, 1),
        "learning_rate_multiplier": _number(settings.get("learning_rate"), base_rate) / base_rate,
    }
    if job.method in API_METHOD and API_METHOD[job.method] == "dpo" and "dpo_beta" in settings:
        resolved["beta"] = _number(settings["dpo_beta"], 0.1)
    return resolved


def api_jobs_adopt(*, project, user) -> int:
    """Give each job of the project that /v1 can describe but has no name for yet its ApiJob row. Safe
    to run twice at once: the row is unique per job, and a second one is dropped. Returns how many
    were named."""
    missing = list(
        FineTuningJob.objects.filter(
            project=project,
            provider=training_provider_key(),
            method__in=list(API_METHOD),
            api_job__isnull=True,
        )
    )
    if not missing:
        return 0
    versions = {v for job in missing for v in (job.training_version_id, job.validation_version_id) if v}
    files = dict(
        ApiFile.objects.filter(project=project, version_id__in=versions, deleted_at__isnull=True)
        .order_by("-created_at")
        .values_list("version_id", "public_id")
    )
    form_class = get_launch_form_class(training_provider_key())
    base_rates: dict[tuple[str, str], float] = {}
    rows = []
    for job in missing:
        key = (job.base_model, job.method)
        if key not in base_rates:
            defaults = form_class(
                project=project, user=user, initial={"base_model": job.base_model, "method": job.method}
            )
            base_rates[key] = _number(launch_form_data(defaults).get("learning_rate"), 1.0) or 1.0
        hyperparameters = _hyperparameters(job, base_rates[key])
        method = API_METHOD[job.method]
        rows.append(
            ApiJob(
                public_id=public_id(JOB_ID_PREFIX),
                job=job,
                training_file=files.get(job.training_version_id, ""),
                validation_file=files.get(job.validation_version_id, "") if job.validation_version_id else "",
                method={"type": method, method: {"hyperparameters": hyperparameters}},
                hyperparameters=hyperparameters,
                metadata=None,
            )
        )
    ApiJob.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)
