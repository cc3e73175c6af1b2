from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction

from finetune_portal.projects.models import Membership, Project, Role


@dataclass(frozen=True)
class DemoAdmin:
    username: str
    password: str | None  # None when the user already existed: we never reset a password.
    created: bool


@transaction.atomic
def demo_admin_ensure(*, username: str, password: str = "", email: str = "") -> DemoAdmin:
    """A first site admin and a demo project for a fresh install, without createsuperuser."""
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    created = user is None
    chosen_password = None
    if created:
        chosen_password = password or secrets.token_urlsafe(12)
        user = User.objects.create_superuser(username=username, email=email, password=chosen_password)
    project, _ = Project.objects.get_or_create(
        slug="demo", defaults={"name": "Demo project", "description": "A place to try the portal."}
    )
    Membership.objects.get_or_create(project=project, user=user, defaults={"role": Role.ADMIN})
    return DemoAdmin(username=username, password=chosen_password, created=created)
