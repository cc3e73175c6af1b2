from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core import signing
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from finetune_portal.accounts.models import Invitation, NotificationSettings
from finetune_portal.core.audit import audit_log
from finetune_portal.projects.models import Membership, Project, Role

INVITATION_SALT = "finetune_portal.accounts.invitation"


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


class AccountError(Exception):
    """A request about accounts that cannot be done, in words for the person who asked."""


def _absolute(path: str, base_url: str | None) -> str:
    return f"{(base_url or settings.PORTAL_BASE_URL).rstrip('/')}{path}"


def _mail(*, template: str, to: str, context: dict) -> None:
    subject = render_to_string(f"accounts/email/{template}_subject.txt", context).strip()
    body = render_to_string(f"accounts/email/{template}.txt", context)
    send_mail(subject, body, None, [to])


def invitation_token(invitation: Invitation) -> str:
    return signing.dumps({"invitation": invitation.pk}, salt=INVITATION_SALT)


def invitation_from_token(token: str) -> Invitation:
    """The open invitation a link names; AccountError says why a link no longer works."""
    try:
        payload = signing.loads(token, salt=INVITATION_SALT, max_age=settings.INVITATION_MAX_AGE_SECONDS)
    except signing.SignatureExpired:
        raise AccountError("This invitation has expired. Ask for a new one.") from None
    except signing.BadSignature:
        raise AccountError("This invitation link is not valid. Check that it was copied whole.") from None
    invitation = Invitation.objects.select_related("project", "invited_by").filter(pk=payload["invitation"])
    found = invitation.first()
    if found is None or found.revoked_at is not None:
        raise AccountError("This invitation was withdrawn. Ask for a new one.")
    if found.accepted_at is not None:
        raise AccountError("This invitation has already been used. Log in instead.")
    return found


def invitation_create(*, project: Project, email: str, role: str, actor, base_url: str | None = None):
    """Invite an address into a project and mail the link. A person who already has an account with that
    address is added at once instead. Inviting the same address again re-sends the open invitation.

    Returns the Invitation, or the Membership when the person already had an account.
    """
    from finetune_portal.projects.services import membership_set

    email = get_user_model().objects.normalize_email(email.strip())
    existing = get_user_model().objects.filter(email__iexact=email, is_active=True).first()
    if existing is not None:
        return membership_set(project=project, username=existing.username, role=role, actor=actor)
    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update()
            .filter(project=project, email__iexact=email, accepted_at__isnull=True, revoked_at__isnull=True)
            .first()
        )
        if invitation is None:
            try:
                with transaction.atomic():
                    invitation = Invitation.objects.create(
                        project=project, email=email, role=Role(role), invited_by=actor
                    )
            except IntegrityError:
                # The same address invited twice at once: the other request's invitation stands.
                invitation = Invitation.objects.get(
                    project=project, email__iexact=email, accepted_at__isnull=True, revoked_at__isnull=True
                )
        elif invitation.role != role:
            invitation.role = Role(role)
            invitation.save(update_fields=["role", "updated_at"])
        audit_log(
            actor=actor,
            action="invitation.sent",
            target=invitation,
            project=project,
            data={"email": email, "role": role},
        )
        link = _absolute(reverse("accounts:invitation", args=[invitation_token(invitation)]), base_url)
        context = {
            "invitation": invitation,
            "link": link,
            "inviter": actor,
            "days": settings.INVITATION_MAX_AGE_SECONDS // 86400,
        }
        transaction.on_commit(lambda: _mail(template="invitation", to=email, context=context))
    return invitation


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor) -> None:
    if invitation.is_open:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at", "updated_at"])
        audit_log(
            actor=actor,
            action="invitation.revoked",
            target=invitation,
            project=invitation.project,
            data={"email": invitation.email},
        )


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user=None, username: str = "", password: str = "", **names):
    """Use an invitation: as a new account (username, password, names), or for a signed-in ``user``."""
    locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if not locked.is_open:
        raise AccountError("This invitation has already been used. Log in instead.")
    User = get_user_model()
    if user is None:
        if User.objects.filter(username__iexact=username).exists():
            raise AccountError(f"The username {username!r} is taken; choose another.")
        user = User.objects.create_user(username=username, email=locked.email, password=password, **names)
    Membership.objects.get_or_create(project=locked.project, user=user, defaults={"role": locked.role})
    locked.accepted_at = timezone.now()
    locked.accepted_by = user
    locked.save(update_fields=["accepted_at", "accepted_by", "updated_at"])
    audit_log(
        actor=user,
        action="invitation.accepted",
        target=locked,
        project=locked.project,
        data={"username": user.username, "email": locked.email, "role": locked.role},
    )
    return user


def password_link(user, base_url: str | None = None) -> str:
    """A one-time "set your password" link (Django's reset token: it dies once the password changes)."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    path = reverse("accounts:password_reset_confirm", args=[uid, default_token_generator.make_token(user)])
    return _absolute(path, base_url)


def user_create(
    *,
    username: str,
    email: str,
    actor,
    first_name: str = "",
    last_name: str = "",
    project: Project | None = None,
    role: str = Role.MEMBER,
    base_url: str | None = None,
):
    """A site admin creates an account; its owner gets a link to choose a password."""
    User = get_user_model()
    with transaction.atomic():
        if User.objects.filter(username__iexact=username).exists():
            raise AccountError(f"The username {username!r} is taken.")
        user = User(username=username, email=User.objects.normalize_email(email))
        user.first_name, user.last_name = first_name, last_name
        user.set_unusable_password()
        user.save()
        if project is not None:
            Membership.objects.create(project=project, user=user, role=Role(role))
        audit_log(
            actor=actor,
            action="user.created",
            target=user,
            project=project,
            data={"username": username, "email": email, "role": role if project else ""},
        )
        context = {
            "user": user,
            "link": password_link(user, base_url),
            "creator": actor,
            "project": project,
        }
        transaction.on_commit(lambda: _mail(template="account_created", to=user.email, context=context))
    return user


@transaction.atomic
def profile_update(*, user, first_name: str, last_name: str, email: str) -> None:
    user.first_name, user.last_name = first_name, last_name
    user.email = get_user_model().objects.normalize_email(email)
    user.save(update_fields=["first_name", "last_name", "email"])


def notification_settings_for(user) -> NotificationSettings:
    """The person's settings, unsaved defaults when they never changed them."""
    found = NotificationSettings.objects.filter(user=user).first()
    return found or NotificationSettings(user=user)


@transaction.atomic
def notification_settings_set(*, user, **choices: bool) -> NotificationSettings:
    found, _ = NotificationSettings.objects.update_or_create(user=user, defaults=choices)
    return found
