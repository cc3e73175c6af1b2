"""Reads for the models page: every fine-tuned model of a project with its lineage and figures."""

from __future__ import annotations

from django.db.models import QuerySet

from finetune_portal.jobs.models import FineTuningJob
from finetune_portal.jobs.selectors.lists import with_run_figures


def jobs_with_models(project) -> QuerySet[FineTuningJob]:
    """The project's jobs that produced a model, newest model first, each with its model, data and losses.

    Rows are jobs rather than models so the run figures (final and best losses) come from the same
    annotations the runs list uses.
    """
    return (
        with_run_figures(FineTuningJob.objects.filter(project=project, fine_tuned_model__isnull=False))
        .select_related(
            "fine_tuned_model", "training_version__dataset", "validation_version__dataset", "created_by"
        )
        .order_by("-fine_tuned_model__created_at", "-pk")
    )
