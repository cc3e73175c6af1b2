"""Evaluation results on other apps' pages (the models page, a job's page), so those apps need not know
how evaluations are stored."""

from __future__ import annotations

from django import template

from finetune_portal.evaluations.job_panel import evaluate_now_href, job_panel_context
from finetune_portal.evaluations.scores import ModelScore, model_scores

register = template.Library()


@register.simple_tag
def model_evaluation_scores(jobs) -> dict[int, list[ModelScore]]:
    """For the jobs' models (a page of the models list, in one pass): their newest scores by pk."""
    return model_scores([job.fine_tuned_model for job in jobs])


@register.simple_tag
def scores_of(scores: dict[int, list[ModelScore]], fine_tuned_model) -> list[ModelScore]:
    return scores.get(fine_tuned_model.pk, [])


@register.simple_tag
def evaluate_href(project, fine_tuned_model) -> str:
    """The evaluation form with this model and its base picked, or "" when it cannot be asked."""
    return evaluate_now_href(project, fine_tuned_model)


@register.inclusion_tag("evaluations/parts/job_panel.html", takes_context=True)
def job_evaluations(context, job) -> dict:
    """The job page's evaluations section."""
    return job_panel_context(context["access"], job)
