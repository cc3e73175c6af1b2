from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, Max, Q, QuerySet, Sum
from django.utils import timezone

from finetune_portal.core.models import AuditEntry
from finetune_portal.projects.audit_labels import audit_label
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
        "recent_activity": [
            (entry, audit_label(entry))
            for entry in AuditEntry.objects.filter(project=project).select_related("actor")[:10]
        ],
        "member_count": project.memberships.count(),
        "spend": project_month_spend(project),
        "awaiting_approval_count": jobs.filter(status="awaiting_approval").count(),
    }


def audit_entries(
    *, project: Project | None, actor_id: int | None = None, action: str = "", since=None, until=None
) -> QuerySet[AuditEntry]:
    """The audit trail, newest first: one project's, or (``project=None``) the whole site's."""
    entries = AuditEntry.objects.select_related("actor", "project")
    if project is not None:
        entries = entries.filter(project=project)
    if actor_id is not None:
        entries = entries.filter(actor_id=actor_id)
    if action:
        entries = entries.filter(action=action)
    if since is not None:
        entries = entries.filter(created_at__date__gte=since)
    if until is not None:
        entries = entries.filter(created_at__date__lte=until)
    return entries.order_by("-created_at", "-id")


def audit_actors(project: Project | None) -> QuerySet:
    """The people who appear in a project's (or the site's) audit trail, for the person filter."""
    from django.contrib.auth import get_user_model

    entries = AuditEntry.objects.all() if project is None else AuditEntry.objects.filter(project=project)
    return get_user_model().objects.filter(pk__in=entries.values("actor_id")).order_by("username")


# Statuses of jobs that never reached a provider or were not let through yet: they spend nothing.
# (Spelled out here: the jobs app builds on projects, so projects reads jobs through project.jobs.)
_NOT_SPENDING = ("draft", "awaiting_approval")
# A job that ended this way without a reported cost is counted at nothing, not at its estimate.
_ENDED_WITHOUT_RESULT = ("failed", "cancelled")


@dataclass(frozen=True)
class MonthSpend:
    """A project's spend this calendar month: what providers reported, and estimates for the rest."""

    month_start: datetime
    actual: Decimal
    estimated: Decimal
    budget: Decimal | None

    @property
    def total(self) -> Decimal:
        return self.actual + self.estimated

    @property
    def remaining(self) -> Decimal | None:
        return None if self.budget is None else self.budget - self.total

    @property
    def left(self) -> Decimal | None:
        """What is left to spend, never below nothing."""
        remaining = self.remaining
        return None if remaining is None else max(remaining, Decimal(0))

    @property
    def fraction_used(self) -> float | None:
        if not self.budget:
            return None
        return float(min(self.total / self.budget, Decimal(1)))


def month_start(now: datetime | None = None) -> datetime:
    local = timezone.localtime(now or timezone.now())
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def project_month_spend(project: Project, *, now: datetime | None = None) -> MonthSpend:
    """Jobs launched this month: their actual cost where known, else their estimate while it may still
    be billed. Call under a lock of the project row to decide a launch on it."""
    start = month_start(now)
    launched = project.jobs.filter(created_at__gte=start).exclude(status__in=_NOT_SPENDING)
    actual = launched.filter(actual_cost__isnull=False).aggregate(total=Sum("actual_cost"))["total"]
    estimated = (
        launched.filter(actual_cost__isnull=True, estimated_cost__isnull=False)
        .exclude(status__in=_ENDED_WITHOUT_RESULT)
        .aggregate(total=Sum("estimated_cost"))["total"]
    )
    return MonthSpend(
        month_start=start,
        actual=Decimal(actual or 0),
        estimated=Decimal(estimated or 0),
        budget=project.monthly_budget_usd,
    )
