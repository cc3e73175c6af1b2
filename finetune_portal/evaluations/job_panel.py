"""The evaluations part of a job's page: what the job is set to be evaluated on when it succeeds, its
model's scores, and the form that attaches another evaluation."""

from __future__ import annotations

from urllib.parse import urlencode

from django.core.exceptions import ObjectDoesNotExist
from django.urls import reverse

from finetune_portal.evaluations.forms import EvaluateOnSuccessForm
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
    return {
        "project": access.project,
        "access": access,
        "job": job,
        "attached": job_evaluations_attached(job),
        "scores": model_scores([model]).get(model.pk, []) if model is not None else [],
        "form": form if can_attach else None,
        "evaluate_now_href": evaluate_now_href(access.project, model) if access.can_use_playground else "",
        "notice": notice,
        "error": error,
    }
