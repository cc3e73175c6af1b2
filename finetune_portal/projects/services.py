from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

from finetune_portal.core.audit import audit_log
from finetune_portal.projects.models import Membership, Project, Role


@transaction.atomic
def project_create(*, name: str, slug: str, description: str = "", creator) -> Project:
    project = Project(name=name, slug=slug, description=description)
    project.full_clean()
    project.save()
    Membership.objects.create(project=project, user=creator, role=Role.ADMIN)
    audit_log(actor=creator, action="project.created", target=project, project=project)
    return project


@transaction.atomic
def project_budget_set(*, project: Project, budget_usd, actor) -> Project:
    """Set (or with None, remove) the project's monthly budget in USD."""
    locked = Project.objects.select_for_update().get(pk=project.pk)
    locked.monthly_budget_usd = budget_usd
    locked.full_clean()
    locked.save(update_fields=["monthly_budget_usd", "updated_at"])
    audit_log(
        actor=actor,
        action="project.budget_set",
        target=locked,
        project=locked,
        data={"budget": f"${budget_usd:,.2f}" if budget_usd is not None else "none"},
    )
    project.monthly_budget_usd = locked.monthly_budget_usd
    return locked


@transaction.atomic
def membership_set(*, project: Project, username: str, role: str, actor) -> Membership:
    user = get_user_model().objects.get(username=username)
    current = Membership.objects.filter(project=project, user=user).first()
    if current is not None and _would_leave_no_admin(current, role):
        raise MembershipError("A project keeps at least one admin: make someone else admin first.")
    membership, created = Membership.objects.update_or_create(
        project=project, user=user, defaults={"role": Role(role)}
    )
    audit_log(
        actor=actor,
        action="membership.added" if created else "membership.changed",
        target=membership,
        project=project,
        data={"username": username, "role": role},
    )
    return membership


class MembershipError(Exception):
    pass


def _would_leave_no_admin(membership: Membership, new_role: str | None) -> bool:
    if membership.role != Role.ADMIN or new_role == Role.ADMIN:
        return False
    others = Membership.objects.filter(project=membership.project, role=Role.ADMIN).exclude(pk=membership.pk)
    return not others.select_for_update().exists()


@transaction.atomic
def membership_remove(*, membership: Membership, actor) -> None:
    if _would_leave_no_admin(membership, None):
        raise MembershipError("A project keeps at least one admin: make someone else admin first.")
    audit_log(
        actor=actor,
        action="membership.removed",
        target=membership,
        project=membership.project,
        data={"username": membership.user.username, "role": membership.role},
    )
    membership.delete()
