from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from finetune_portal.credentials.models import ProviderCredential
from finetune_portal.credentials.services import credential_create, credentials_reencrypt

SECRET = "sk-test-4f9c2e7d1a0b3c5e6f7a8b9c0d1e2f3a"


def raw_secret_column(credential) -> str:
    with connection.cursor() as cursor:
        table = connection.ops.quote_name(ProviderCredential._meta.db_table)
        cursor.execute(f"SELECT secret FROM {table} WHERE id = %s", [credential.pk])  # noqa: S608
        return cursor.fetchone()[0]


@pytest.fixture
def one_key(settings):
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    return settings


@pytest.mark.django_db
def test_the_secret_is_encrypted_in_the_database_row(cast, one_key):
    credential = credential_create(kind="openai", secret=SECRET, label="Team key", actor=cast.admin)

    raw = raw_secret_column(credential)
    assert SECRET not in raw
    assert SECRET[-4:] not in raw
    assert ProviderCredential.objects.get(pk=credential.pk).secret == SECRET
    assert credential.last_four == SECRET[-4:]
    assert credential.masked == f"••••{SECRET[-4:]}"


@pytest.mark.django_db
def test_secrets_decrypt_after_a_key_rotation_and_then_need_only_the_new_key(cast, one_key):
    old_key = one_key.FIELD_ENCRYPTION_KEYS[0]
    credential = credential_create(kind="openai", secret=SECRET, label="Team key", actor=cast.admin)
    token_under_old_key = raw_secret_column(credential)

    new_key = Fernet.generate_key().decode()
    one_key.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    assert ProviderCredential.objects.get(pk=credential.pk).secret == SECRET

    assert credentials_reencrypt() == 1
    assert raw_secret_column(credential) != token_under_old_key

    one_key.FIELD_ENCRYPTION_KEYS = [new_key]
    assert ProviderCredential.objects.get(pk=credential.pk).secret == SECRET


@pytest.mark.django_db
def test_a_removed_key_gives_a_clear_error(cast, one_key):
    credential = credential_create(kind="openai", secret=SECRET, label="Team key", actor=cast.admin)
    one_key.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(ImproperlyConfigured, match="FIELD_ENCRYPTION_KEYS"):
        ProviderCredential.objects.get(pk=credential.pk)
