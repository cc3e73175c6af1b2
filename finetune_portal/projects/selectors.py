from __future__ import annotations

from django.db.models import Count, Max, Q, QuerySet

from finetune_portal.core.models import AuditEntry
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
    # Through the project's reverse relations: the apps that hold datasets, jobs and models build on
    # projects, so projects does not import them.
    jobs = project.jobs.all()
    return {
        "dataset_count": project.datasets.count(),
        "version_count": project.datasets.aggregate(count=Count("versions"))["count"],
        "job_count": jobs.count(),
        "active_job_count": jobs.active().count(),
        "model_count": jobs.filter(fine_tuned_model__isnull=False).count(),
        "recent_jobs": jobs.select_related("created_by", "training_version__dataset").order_by("-created_at")[
            :8
        ],
        "recent_datasets": project.datasets.order_by("-updated_at")[:5],
        "recent_activity": AuditEntry.objects.filter(project=project).select_related("actor")[:10],
        "member_count": project.memberships.count(),
    }
