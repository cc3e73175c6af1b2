from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from finetune_portal.jobs.models import FineTuningJob


def jobs_for_project(project) -> QuerySet[FineTuningJob]:
    return FineTuningJob.objects.filter(project=project).select_related(
        "created_by", "training_version__dataset", "validation_version__dataset"
    )


def job_for_project(project, job_id: int) -> FineTuningJob:
    """A job of this project, or 404: another project's job is never revealed."""
    return get_object_or_404(jobs_for_project(project), pk=job_id)
