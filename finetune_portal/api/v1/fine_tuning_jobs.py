"""/v1/fine_tuning/jobs: OpenAI's fine-tuning jobs, trained on the team's own GPUs
(api/fine_tuning_request.py reads a request, api/fine_tuning_launch.py starts the job)."""

from __future__ import annotations

from django.http import HttpResponseBase, JsonResponse

from finetune_portal.api.adopted_jobs import api_jobs_adopt
from finetune_portal.api.auth import ApiCaller
from finetune_portal.api.body import json_body
from finetune_portal.api.errors import ApiError, invalid
from finetune_portal.api.fine_tuning_launch import api_job_create
from finetune_portal.api.fine_tuning_request import job_request_parse
from finetune_portal.api.models import ApiJob
from finetune_portal.api.v1.paging import limit_param, page_after
from finetune_portal.datasets.models import VersionStatus
from finetune_portal.inference.catalog import portal_model_name, served_model_of, served_model_of_checkpoint
from finetune_portal.jobs.models import Checkpoint, JobEvent, JobTransition
from finetune_portal.jobs.services import job_cancel, job_pause, job_resume
from finetune_portal.jobs.states import IllegalTransition, JobStatus
from finetune_portal.projects.access import project_access_for
from finetune_portal.providers.base import ProviderError
from finetune_portal.registry.models import ModelStatus

# The portal's statuses in OpenAI's words. A draft waits for its files' validation; a job that is being
# cancelled stops at its next step, so it already reads as OpenAI's answer to a cancel does.
STATUS = {
    JobStatus.DRAFT: "validating_files",
    JobStatus.AWAITING_APPROVAL: "queued",
    JobStatus.QUEUED: "queued",
    JobStatus.VALIDATING_FILES: "validating_files",
    JobStatus.SUBMITTED: "queued",
    JobStatus.RUNNING: "running",
    JobStatus.PAUSED: "paused",
    JobStatus.CANCELLING: "cancelled",
    JobStatus.SUCCEEDED: "succeeded",
    JobStatus.FAILED: "failed",
    JobStatus.CANCELLED: "cancelled",
}
CHECKPOINT_METRICS = (
    "step",
    "train_loss",
    "train_mean_token_accuracy",
    "valid_loss",
    "valid_mean_token_accuracy",
    "full_valid_loss",
    "full_valid_mean_token_accuracy",
)


def _ts(when) -> int | None:
    return int(when.timestamp()) if when is not None else None


def _error(api_job: ApiJob) -> dict | None:
    job = api_job.job
    if job.status != JobStatus.FAILED:
        return None
    param, code = None, "training_failed"
    for version, name in (
        (job.training_version, "training_file"),
        (job.validation_version, "validation_file"),
    ):
        if version is not None and version.status == VersionStatus.INVALID:
            param, code = name, f"invalid_{name}"
            break
    return {"code": code, "message": job.error_message or "The job failed.", "param": param}


def _fine_tuned_model(api_job: ApiJob) -> str | None:
    model = getattr(api_job.job, "fine_tuned_model", None)
    if model is None or model.status != ModelStatus.AVAILABLE:
        return None
    return served_model_of(model).name


def job_object(api_job: ApiJob) -> dict:
    job = api_job.job
    return {
        "id": api_job.public_id,
        "object": "fine_tuning.job",
        "created_at": _ts(job.created_at),
        "error": _error(api_job),
        "fine_tuned_model": _fine_tuned_model(api_job),
        "finished_at": _ts(job.finished_at) if job.is_final else None,
        "hyperparameters": api_job.hyperparameters,
        "model": job.base_model,
        "organization_id": f"org-{job.project.slug}",
        # The portal keeps the run's metrics on the job page (and its CSV), not as a results file.
        "result_files": [],
        "status": STATUS[JobStatus(job.status)],
        "trained_tokens": job.trained_tokens,
        "training_file": api_job.training_file,
        "validation_file": api_job.validation_file or None,
        "integrations": [],
        "seed": job.seed if job.seed is not None else 0,
        "estimated_finish": None,
        "method": api_job.method,
        "metadata": api_job.metadata,
    }


def _jobs(caller: ApiCaller):
    return ApiJob.objects.filter(job__project=caller.project).select_related(
        "job__project", "job__training_version", "job__validation_version", "job__fine_tuned_model"
    )


def _job_or_404(caller: ApiCaller, job_id: str) -> ApiJob:
    found = _jobs(caller).filter(public_id=job_id).first()
    if found is None:
        # Another project's job reads the same as one that never was.
        raise ApiError(
            404, f"No such fine-tuning job: {job_id}.", param="fine_tuning_job_id", code="not_found"
        )
    return found


def _access(caller: ApiCaller):
    access = project_access_for(caller.user, caller.project)
    if access is None:
        raise ApiError(403, "You are no longer a member of this project.")
    return access


def job_create(request, caller: ApiCaller) -> HttpResponseBase:
    if not _access(caller).can_launch_jobs:
        raise ApiError(403, "Your role in this project does not allow creating fine-tuning jobs.")
    parsed = job_request_parse(caller.project, json_body(request))
    api_job = api_job_create(project=caller.project, user=caller.user, request=parsed)
    return JsonResponse(job_object(_job_or_404(caller, api_job.public_id)))


def jobs_list(request, caller: ApiCaller) -> HttpResponseBase:
    limit = limit_param(request, default=20, most=100)
    # Jobs launched in the browser are listed too, as OpenAI lists every job of the organisation.
    api_jobs_adopt(project=caller.project, user=caller.user)
    jobs = _jobs(caller).order_by("-job__created_at", "-job_id")
    metadata = {
        key[9:-1]: value
        for key, value in request.GET.items()
        if key.startswith("metadata[") and key.endswith("]")
    }
    for key, value in metadata.items():
        jobs = jobs.filter(**{f"metadata__{key}": value})
    after = request.GET.get("after")
    if after:
        anchor = _jobs(caller).filter(public_id=after).first()
        if anchor is None:
            raise invalid(f"No fine-tuning job {after!r} in this project (after).", param="after")
        jobs = jobs.filter(job__created_at__lte=anchor.job.created_at).exclude(
            job__created_at=anchor.job.created_at, job_id__gte=anchor.job_id
        )
    page = list(jobs[: limit + 1])
    return JsonResponse(
        {"object": "list", "data": [job_object(j) for j in page[:limit]], "has_more": len(page) > limit}
    )


def job_retrieve(request, caller: ApiCaller, job_id: str) -> HttpResponseBase:
    return JsonResponse(job_object(_job_or_404(caller, job_id)))


def _control(caller: ApiCaller, job_id: str, action) -> HttpResponseBase:
    api_job = _job_or_404(caller, job_id)
    if not _access(caller).can_control_job(api_job.job):
        raise ApiError(403, "Only whoever created this job, or an ML lead of the project, may do that.")
    try:
        action(job=api_job.job, actor=caller.user)
    except IllegalTransition as exc:
        raise invalid(
            f"Job {job_id} is {STATUS[JobStatus(exc.current)]}; it cannot go to {exc.target} now.",
            code="invalid_job_status",
        ) from exc
    except ProviderError as exc:
        raise invalid(
            f"{exc.message} Jobs on the team's own GPUs cannot be paused or resumed; cancel it instead.",
            code="unsupported_operation",
        ) from exc
    return JsonResponse(job_object(_job_or_404(caller, job_id)))


def job_cancel_view(request, caller: ApiCaller, job_id: str) -> HttpResponseBase:
    return _control(caller, job_id, job_cancel)


def job_pause_view(request, caller: ApiCaller, job_id: str) -> HttpResponseBase:
    return _control(caller, job_id, job_pause)


def job_resume_view(request, caller: ApiCaller, job_id: str) -> HttpResponseBase:
    return _control(caller, job_id, job_resume)


def _events(api_job: ApiJob) -> list[dict]:
    """The job's status moves and the events its worker recorded, newest first. Ids are per kind of row
    (``t`` a move, ``e`` an event)."""
    rows = []
    for move in JobTransition.objects.filter(job=api_job.job):
        rows.append(
            (
                move.created_at,
                f"ftevent-t{move.pk}",
                {
                    "level": "error" if move.to_status == JobStatus.FAILED else "info",
                    "message": f"Job {move.get_to_status_display().lower()}"
                    + (f": {move.reason}" if move.reason else ""),
                    "type": "message",
                    "data": {"from": move.from_status, "to": move.to_status},
                },
            )
        )
    for event in JobEvent.objects.filter(job=api_job.job):
        rows.append(
            (
                event.created_at,
                f"ftevent-e{event.pk}",
                {"level": event.level, "message": event.message, "type": "message", "data": event.data or {}},
            )
        )
    rows.sort(key=lambda row: (row[0], row[1]), reverse=True)
    return [
        {"object": "fine_tuning.job.event", "id": event_id, "created_at": _ts(when), **fields}
        for when, event_id, fields in rows
    ]


def job_events(request, caller: ApiCaller, job_id: str) -> HttpResponseBase:
    api_job = _job_or_404(caller, job_id)
    limit = limit_param(request, default=20, most=1000)
    page, has_more = page_after(
        _events(api_job), id_of=lambda e: e["id"], after=request.GET.get("after"), limit=limit
    )
    return JsonResponse({"object": "list", "data": page, "has_more": has_more})


def _checkpoint_object(api_job: ApiJob, checkpoint: Checkpoint) -> dict:
    served = served_model_of_checkpoint(checkpoint)
    name = (
        served.name if served is not None else f"{portal_model_name(api_job.job)}:ckpt-step-{checkpoint.step}"
    )
    metrics = {
        key: float(value)
        for key, value in (checkpoint.metrics or {}).items()
        if key in CHECKPOINT_METRICS and isinstance(value, int | float) and not isinstance(value, bool)
    }
    metrics["step"] = float(checkpoint.step)
    return {
        "object": "fine_tuning.job.checkpoint",
        "id": f"ftckpt_{checkpoint.pk}",
        "created_at": _ts(checkpoint.created_at),
        "fine_tuning_job_id": api_job.public_id,
        "fine_tuned_model_checkpoint": name,
        "step_number": checkpoint.step,
        "metrics": metrics,
    }


def job_checkpoints(request, caller: ApiCaller, job_id: str) -> HttpResponseBase:
    api_job = _job_or_404(caller, job_id)
    limit = limit_param(request, default=10, most=100)
    checkpoints = list(
        Checkpoint.objects.filter(job=api_job.job)
        .select_related("job__project", "job__fine_tuned_model")
        .order_by("-step")
    )
    items = [_checkpoint_object(api_job, c) for c in checkpoints]
    page, has_more = page_after(items, id_of=lambda c: c["id"], after=request.GET.get("after"), limit=limit)
    return JsonResponse(
        {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": has_more,
        }
    )
