from __future__ import annotations

from typing import Any

from django.db import models

from finetune_portal.core.models import AuditEntry

_SECRET_WORDS = ("secret", "api_key", "token", "password", "key")
MASK = "••••"


def mask_secrets(data: dict[str, Any]) -> dict[str, Any]:
    """Audit data never holds a secret, even if a caller passes one by mistake."""
    masked: dict[str, Any] = {}
    for name, value in data.items():
        if isinstance(value, dict):
            masked[name] = mask_secrets(value)
        elif any(word in name.lower() for word in _SECRET_WORDS) and value not in (None, ""):
            masked[name] = MASK
        else:
            masked[name] = value
    return masked


def audit_log(
    *, actor, action: str, target: models.Model, project=None, data: dict[str, Any] | None = None
) -> AuditEntry:
    return AuditEntry.objects.create(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        target_repr=str(target)[:255],
        project=project,
        data=mask_secrets(data or {}),
    )
