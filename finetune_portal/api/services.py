"""Personal API tokens: created, verified, marked used and revoked.

A token is ``ftp_<lookup>_<secret>``: 48 random bits of public lookup id and 256 random bits of secret.
Only an HMAC-SHA256 of the whole token is stored, keyed with SECRET_KEY. A fast keyed hash is the right
tool here, not a slow password hash: slow hashes exist to make guessing a *low-entropy* password from its
stored hash expensive, but nobody can guess 256 random bits at any speed, so PBKDF2's hundreds of
milliseconds would only be added to every API request (and hand attackers a cheap way to load the
server). The key means a copy of the database alone cannot even check a guess.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.crypto import salted_hmac

from finetune_portal.api.models import TOKEN_PREFIX, ApiToken
from finetune_portal.core.audit import audit_log
from finetune_portal.projects.access import project_access_for
from finetune_portal.projects.models import Membership

_KEY_SALT = "finetune_portal.api.ApiToken"
# Writing last_used_at on every request would turn each read into a write; once a minute says enough.
LAST_USED_EVERY = timedelta(minutes=1)


# Table names from the models, no input: nothing to inject.
_MEMBERSHIP, _TOKEN = Membership._meta.db_table, ApiToken._meta.db_table
_IS_MEMBER = (
    f"EXISTS (SELECT 1 FROM {_MEMBERSHIP} AS m WHERE m.project_id = {_TOKEN}.project_id "  # noqa: S608
    f"AND m.user_id = {_TOKEN}.user_id)"
)


class ApiTokenError(Exception):
    pass


@dataclass(frozen=True)
class TokenCheck:
    """The outcome of verifying a presented token: the token, or why it does not open the door."""

    token: ApiToken | None
    problem: str = ""


def _digest(raw: str, secret: str) -> str:
    return salted_hmac(_KEY_SALT, raw, secret=secret, algorithm="sha256").hexdigest()


def _digests(raw: str) -> list[str]:
    # SECRET_KEY_FALLBACKS keep tokens working while SECRET_KEY is rotated, as Django's signing does.
    return [_digest(raw, key) for key in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]]


@transaction.atomic
def api_token_create(*, user, project, name: str, actor) -> tuple[ApiToken, str]:
    """A new token for the user in the project, and its secret text (shown once, never stored)."""
    name = name.strip()
    if not name:
        raise ApiTokenError("Give the token a name, so you can tell it apart later.")
    if not getattr(user, "is_active", False):
        raise ApiTokenError(f"{user} is not an active user.")
    if project_access_for(user, project) is None:
        raise ApiTokenError(f"{user} is not a member of {project}.")
    lookup = secrets.token_hex(6)
    raw = f"{TOKEN_PREFIX}{lookup}_{secrets.token_urlsafe(32)}"
    token = ApiToken(
        user=user, project=project, name=name, lookup=lookup, digest=_digest(raw, settings.SECRET_KEY)
    )
    token.full_clean()
    token.save()
    audit_log(
        actor=actor,
        action="api_token.created",
        target=token,
        project=project,
        # Never the secret: the public prefix identifies the token in the log.
        data={"name": name, "prefix": token.display_prefix, "user": user.get_username()},
    )
    return token, raw


@transaction.atomic
def api_token_revoke(*, token: ApiToken, actor) -> ApiToken:
    """Revoke the token (once: revoking again changes and logs nothing)."""
    locked = ApiToken.objects.select_for_update().get(pk=token.pk)
    if locked.revoked_at is None:
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at"])
        audit_log(
            actor=actor,
            action="api_token.revoked",
            target=locked,
            project=locked.project,
            data={"name": locked.name, "prefix": locked.display_prefix, "user": locked.user.get_username()},
        )
    token.revoked_at = locked.revoked_at
    return token


def api_token_verify(*, raw: str) -> TokenCheck:
    """The active token this text is, with its user still allowed in its project; else why not."""
    prefix, _, rest = raw.partition(TOKEN_PREFIX)
    lookup, _, secret = rest.partition("_")
    if prefix or not lookup or not secret:
        return TokenCheck(None, "This is not a portal API token (they start with ftp_).")
    # One round trip: the token, its user and project, and whether the user is still a member. The
    # membership test is written out rather than built as an Exists() subquery, which took Django
    # several times longer to compile than the database took to answer.
    token = (
        ApiToken.objects.select_related("user", "project")
        .annotate(is_member=RawSQL(_IS_MEMBER, ()))  # noqa: S611 (no input in it)
        .filter(lookup=lookup)
        .first()
    )
    if token is None or not any(hmac.compare_digest(token.digest, d) for d in _digests(raw)):
        return TokenCheck(None, "Incorrect API token provided.")
    if token.revoked_at is not None:
        return TokenCheck(None, "This API token was revoked.")
    # Site admins may use any project, as everywhere in the portal (projects.access).
    if not token.user.is_active or not (token.is_member or token.user.is_superuser):
        return TokenCheck(
            None, f"This API token's user is no longer a member of project {token.project.slug}."
        )
    return TokenCheck(token)


def api_token_mark_used(*, token: ApiToken) -> None:
    """Record that the token was used, at most once a minute per token (a conditional update, so two
    requests at once write once)."""
    now = timezone.now()
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_EVERY:
        return
    stale = ApiToken.objects.filter(pk=token.pk).exclude(last_used_at__gt=now - LAST_USED_EVERY)
    stale.update(last_used_at=now)
    token.last_used_at = now
