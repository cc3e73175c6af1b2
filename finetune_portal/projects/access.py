"""Who may see and do what in a project.

Every object lookup in a view goes through here: a project the user is not in answers 404 (we do not
reveal that it exists), and an action the user's role does not allow answers 403.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.http import Http404

from finetune_portal.projects.models import ROLE_RANK, Membership, Project, Role


@dataclass(frozen=True)
class ProjectAccess:
    project: Project
    user: object
    role: Role

    @property
    def is_site_admin(self) -> bool:
        return bool(getattr(self.user, "is_superuser", False))

    def has_role(self, role: Role) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[Role(role)]

    @property
    def can_upload_datasets(self) -> bool:
        return self.has_role(Role.MEMBER)

    @property
    def can_launch_jobs(self) -> bool:
        return self.has_role(Role.MEMBER)

    @property
    def can_use_playground(self) -> bool:
        """Chat with the project's models and run its probes (answers cost money: members, not guests)."""
        return self.has_role(Role.MEMBER)

    @property
    def can_manage_members(self) -> bool:
        return self.has_role(Role.ADMIN)

    @property
    def can_approve_jobs(self) -> bool:
        """Let a launch over the monthly budget go ahead, or turn it down."""
        return self.has_role(Role.ML_LEAD)

    @property
    def can_manage_credentials(self) -> bool:
        return self.has_role(Role.ADMIN)

    def can_control_job(self, job) -> bool:
        """Cancel, pause or resume it: ML leads, and whoever launched it."""
        # Imported runs are read-only history from a provider account; the portal did not start them.
        if job.imported:
            return False
        return self.has_role(Role.ML_LEAD) or job.created_by_id == getattr(self.user, "pk", None)

    def require(self, allowed: bool) -> None:
        if not allowed:
            raise PermissionDenied("Your role in this project does not allow that.")


def project_access_for(user, project: Project) -> ProjectAccess | None:
    if not getattr(user, "is_authenticated", False):
        return None
    if user.is_superuser:
        return ProjectAccess(project=project, user=user, role=Role.ADMIN)
    role = Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()
    return ProjectAccess(project=project, user=user, role=Role(role)) if role else None


def get_project_access(user, slug: str) -> ProjectAccess:
    """The project with this slug as the user may see it, or 404: one query, the project with the
    user's role in it (every page of a project starts here)."""
    if not getattr(user, "is_authenticated", False):
        raise Http404("No such project.")
    projects = Project.objects.filter(slug=slug)
    if not user.is_superuser:
        role = Membership.objects.filter(project=OuterRef("pk"), user=user).values("role")[:1]
        projects = projects.annotate(viewer_role=Subquery(role))
    project = projects.first()
    if project is None:
        raise Http404("No such project.")
    if user.is_superuser:
        return ProjectAccess(project=project, user=user, role=Role.ADMIN)
    if not project.viewer_role:
        raise Http404("No such project.")
    return ProjectAccess(project=project, user=user, role=Role(project.viewer_role))
