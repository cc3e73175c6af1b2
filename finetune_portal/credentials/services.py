from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from finetune_portal.core.audit import audit_log
from finetune_portal.credentials.checks import CheckResult, credential_check
from finetune_portal.credentials.models import ProviderCredential


class CredentialError(Exception):
    pass


def _last_four(secret: str) -> str:
    return secret[-4:] if len(secret) >= 8 else ""


# Saves of one scope racing each other: each lost race (possible only for the first site-wide credential,
# which has no row to lock) is tried again, seeing the winner's row and replacing it.
SAVE_ATTEMPTS = 10


@sensitive_variables("secret")
def credential_create(
    *, kind: str, secret: str, label: str, actor, project=None, base_url: str = "", options=None
) -> ProviderCredential:
    """Add a credential; an active one of the same kind and scope is revoked, so this one replaces it.

    One locked operation: saves for the same project wait for each other (the project row is locked), so
    concurrent saves end with the last one active and none failing on the one-active constraint.
    """
    secret = secret.strip()
    if not secret:
        raise CredentialError("The secret is empty.")
    for attempt in range(1, SAVE_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                return _credential_replace(
                    kind=kind,
                    secret=secret,
                    label=label,
                    actor=actor,
                    project=project,
                    base_url=base_url,
                    options=options,
                )
        except IntegrityError:
            if attempt == SAVE_ATTEMPTS:
                raise CredentialError("Another save of this credential got in the way; try again.") from None
    raise AssertionError("unreachable")


@sensitive_variables("secret")
def _credential_replace(
    *, kind: str, secret: str, label: str, actor, project, base_url: str, options
) -> ProviderCredential:
    if project is not None:
        # Serializes saves for this project (the credential rows may not exist yet to be locked).
        list(type(project).objects.select_for_update().filter(pk=project.pk).values_list("pk", flat=True))
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
    # The one-active constraints are the database's to enforce at insert time (a lost race is retried);
    # checking them here first would only race the same way.
    credential.full_clean(validate_constraints=False)
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
