from __future__ import annotations

from django.db.models import Count, Max, Q, QuerySet

from finetune_portal.projects.models import Project


def projects_for_user(user) -> QuerySet[Project]:
    if not getattr(user, "is_authenticated", False):
        return Project.objects.none()
    projects = Project.objects.all() if user.is_superuser else Project.objects.filter(memberships__user=user)
    return projects.annotate(
        dataset_count=Count("datasets", distinct=True),
        job_count=Count("jobs", distinct=True),
        running_job_count=Count("jobs", filter=Q(jobs__status__in=["submitted", "running"]), distinct=True),
        last_job_at=Max("jobs__created_at"),
    ).order_by("name")


def project_overview(project: Project) -> dict:
    from finetune_portal.core.models import AuditEntry
    from finetune_portal.datasets.models import Dataset, DatasetVersion
    from finetune_portal.jobs.models import FineTuningJob, JobStatus
    from finetune_portal.registry.models import FineTunedModel

    jobs = FineTuningJob.objects.filter(project=project)
    return {
        "dataset_count": Dataset.objects.filter(project=project).count(),
        "version_count": DatasetVersion.objects.filter(dataset__project=project).count(),
        "job_count": jobs.count(),
        "active_job_count": jobs.filter(status__in=JobStatus.active()).count(),
        "model_count": FineTunedModel.objects.filter(job__project=project).count(),
        "recent_jobs": jobs.select_related("created_by", "training_version__dataset").order_by("-created_at")[
            :8
        ],
        "recent_datasets": Dataset.objects.filter(project=project).order_by("-updated_at")[:5],
        "recent_activity": AuditEntry.objects.filter(project=project).select_related("actor")[:10],
        "member_count": project.memberships.count(),
    }
