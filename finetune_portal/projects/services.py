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
def membership_set(*, project: Project, username: str, role: str, actor) -> Membership:
    user = get_user_model().objects.get(username=username)
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


@transaction.atomic
def membership_remove(*, membership: Membership, actor) -> None:
    audit_log(
        actor=actor,
        action="membership.removed",
        target=membership,
        project=membership.project,
        data={"username": membership.user.username, "role": membership.role},
    )
    membership.delete()
