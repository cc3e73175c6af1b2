from __future__ import annotations

from django.db.models import F, QuerySet

from finetune_portal.api.models import ApiToken
from finetune_portal.projects.models import Project


def api_tokens_for_user(user) -> QuerySet[ApiToken]:
    """The user's tokens, active ones first, newest first."""
    return (
        ApiToken.objects.filter(user=user)
        .select_related("project")
        .order_by(F("revoked_at").asc(nulls_first=True), "-created_at", "-id")
    )


def api_token_projects(user) -> QuerySet[Project]:
    """The projects the user may scope a token to: those the portal lets them into."""
    if not getattr(user, "is_authenticated", False):
        return Project.objects.none()
    projects = Project.objects.all() if user.is_superuser else Project.objects.filter(memberships__user=user)
    return projects.order_by("name")
