from __future__ import annotations

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from finetune_portal.core.audit import audit_log
from finetune_portal.credentials.checks import CheckResult, credential_check
from finetune_portal.credentials.models import ProviderCredential


class CredentialError(Exception):
    pass


def _last_four(secret: str) -> str:
    return secret[-4:] if len(secret) >= 8 else ""


@transaction.atomic
def credential_create(
    *, kind: str, secret: str, label: str, actor, project=None, base_url: str = "", options=None
) -> ProviderCredential:
    """Add a credential; an active one of the same kind and scope is revoked, so this one replaces it."""
    secret = secret.strip()
    if not secret:
        raise CredentialError("The secret is empty.")
    replaced = ProviderCredential.objects.active().filter(kind=kind, project=project).select_for_update()
    for old in replaced:
        credential_revoke(credential=old, actor=actor, reason="replaced")
    credential = ProviderCredential(
        kind=kind,
        project=project,
        label=label,
        secret=secret,
        last_four=_last_four(secret),
        base_url=base_url,
        options=dict(options or {}),
        created_by=actor,
    )
    credential.full_clean()
    credential.save()
    audit_log(
        actor=actor,
        action="credential.created",
        target=credential,
        project=project,
        data={"kind": kind, "label": label, "base_url": base_url, "last_four": credential.last_four},
    )
    return credential


@transaction.atomic
def credential_revoke(*, credential: ProviderCredential, actor, reason: str = "") -> ProviderCredential:
    if credential.revoked_at is None:
        credential.revoked_at = timezone.now()
        credential.save(update_fields=["revoked_at", "updated_at"])
        audit_log(
            actor=actor,
            action="credential.revoked",
            target=credential,
            project=credential.project,
            data={"reason": reason} if reason else {},
        )
    return credential


def credential_test(*, credential: ProviderCredential, actor) -> CheckResult:
    """Check the key at its provider and record that it was tested and how it went."""
    result = credential_check(credential)
    audit_log(
        actor=actor,
        action="credential.checked",
        target=credential,
        project=credential.project,
        data={"ok": result.ok, "outcome": result.summary[:200]},
    )
    return result


def credential_resolve(*, kind: str, project) -> ProviderCredential | None:
    """The project's active credential of this kind, else the site-wide one."""
    candidates = (
        ProviderCredential.objects.active()
        .filter(kind=kind)
        .filter(Q(project=project) | Q(project__isnull=True))
    )
    return sorted(candidates, key=lambda c: c.project_id is None)[0] if candidates else None


def credential_mark_used(*, credential: ProviderCredential) -> None:
    ProviderCredential.objects.filter(pk=credential.pk).update(last_used_at=timezone.now())


def credentials_reencrypt() -> int:
    """Re-encrypt every stored secret with the first FIELD_ENCRYPTION_KEYS key. Returns how many.

    Loading decrypts with any configured key; saving encrypts with the first one.
    """
    with transaction.atomic():
        credentials = list(ProviderCredential.objects.select_for_update())
        for credential in credentials:
            credential.save(update_fields=["secret"])
    return len(credentials)
