"""The evaluations part of a job's page: what the job is set to be evaluated on when it succeeds (with
each started run's progress), its model's scores, and the form that attaches another evaluation. While
an attached evaluation waits for the job or runs, the part follows the job's live stream (live.py)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Count, Q
from django.urls import reverse

from finetune_portal.evaluations.forms import EvaluateOnSuccessForm
from finetune_portal.evaluations.live import job_evaluations_live_tokens
from finetune_portal.evaluations.models import EvaluationOutput, EvaluationStatus, OutputStatus
from finetune_portal.evaluations.on_success import job_evaluations_attached
from finetune_portal.evaluations.scores import model_scores
from finetune_portal.inference.catalog import served_model_of
from finetune_portal.jobs.states import JobStatus
from finetune_portal.projects.access import ProjectAccess
from finetune_portal.providers.registry import provider_or_none
from finetune_portal.registry.models import ModelStatus

ENDED_WITHOUT_MODEL = (JobStatus.FAILED, JobStatus.CANCELLED)


def evaluate_now_href(project, fine_tuned_model) -> str:
    """The evaluation form with this model and its base picked, or "" when it cannot be asked."""
    if fine_tuned_model is None or fine_tuned_model.status != ModelStatus.AVAILABLE:
        return ""
    served = served_model_of(fine_tuned_model)
    provider = provider_or_none(served.provider)
    if provider is None or not provider.capabilities.inference:
        return ""
    query = urlencode([("model", served.name), ("model", served.base_model)])
    return f"{reverse('evaluations:new', args=[project.slug])}?{query}"


def _progress(evaluation_ids: list[int]) -> dict[int, tuple[int, int]]:
    """Per evaluation: (answers settled, answers in all), in one query."""
    rows = (
        EvaluationOutput.objects.filter(evaluation_id__in=evaluation_ids)
        .values("evaluation_id")
        .annotate(
            total=Count("pk"),
            settled=Count("pk", filter=Q(status__in=[OutputStatus.DONE, OutputStatus.FAILED])),
        )
    )
    return {row["evaluation_id"]: (row["settled"], row["total"]) for row in rows}


def live_token(job) -> str:
    """The token the job's live state carries for this part (its page compares them)."""
    return job_evaluations_live_tokens([job.pk]).get(job.pk, "")


def job_panel_context(
    access: ProjectAccess,
    job,
    *,
    form: EvaluateOnSuccessForm | None = None,
    notice: str = "",
    error: str = "",
) -> dict:
    try:
        model = job.fine_tuned_model
    except ObjectDoesNotExist:
        model = None
    can_attach = access.can_use_playground and job.status not in ENDED_WITHOUT_MODEL
    if form is None and can_attach:
        form = EvaluateOnSuccessForm(project=access.project)
    attached = job_evaluations_attached(job)
    progress = _progress([a.evaluation_id for a in attached if a.evaluation_id is not None])
    for a in attached:
        a.settled, a.total = progress.get(a.evaluation_id, (0, 0)) if a.evaluation_id else (0, 0)
    waiting = any(
        (a.evaluation is None and not job.is_final)
        or (a.evaluation is not None and a.evaluation.status == EvaluationStatus.RUNNING)
        for a in attached
    )
    return {
        "project": access.project,
        "access": access,
        "job": job,
        "attached": attached,
        # Followed live while an attached evaluation waits for the job or runs.
        "live": waiting,
        "live_token": live_token(job),
        "scores": model_scores([model]).get(model.pk, []) if model is not None else [],
        "form": form if can_attach else None,
        "evaluate_now_href": evaluate_now_href(access.project, model) if access.can_use_playground else "",
        "notice": notice,
        "error": error,
    }
