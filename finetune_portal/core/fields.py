"""A text field encrypted at rest with MultiFernet, so keys can be rotated without downtime."""

from __future__ import annotations

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


@cache
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS must hold at least one Fernet key.")
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(f"FIELD_ENCRYPTION_KEYS holds an invalid Fernet key: {exc}") from exc


def field_fernet() -> MultiFernet:
    """The first key encrypts; every key decrypts."""
    return _fernet_for(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt_text(plain: str) -> str:
    return field_fernet().encrypt(plain.encode()).decode()


def decrypt_text(token: str) -> str:
    try:
        return field_fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "A stored secret cannot be decrypted with FIELD_ENCRYPTION_KEYS; was a key removed too early?"
        ) from exc


class EncryptedTextField(models.TextField):
    """Holds plain text in Python and a Fernet token in the database."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt_text(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt_text(value)


def encrypted_rows_reencrypt(*, skip: tuple[type[models.Model], ...] = ()) -> int:
    """Re-encrypt every row of every model with an EncryptedTextField (but ``skip``) with the newest key,
    so a secret an app adds later is rotated too. Returns how many rows."""
    from django.apps import apps
    from django.db import transaction

    count = 0
    for model in apps.get_models():
        names = [field.name for field in model._meta.concrete_fields if isinstance(field, EncryptedTextField)]
        if not names or model in skip:
            continue
        with transaction.atomic():
            rows = list(model._default_manager.select_for_update())
            for row in rows:
                row.save(update_fields=names)
        count += len(rows)
    return count
