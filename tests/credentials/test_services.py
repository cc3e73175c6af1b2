from __future__ import annotations

import pytest

from finetune_portal.core.models import AuditEntry
from finetune_portal.credentials.services import (
    CredentialError,
    credential_create,
    credential_resolve,
    credential_revoke,
)

SECRET = "sk-proj-abcdefghijklmnop1234"


@pytest.mark.django_db
def test_resolve_prefers_the_projects_key_then_the_site_key(cast):
    assert credential_resolve(kind="openai", project=cast.project) is None
    site = credential_create(kind="openai", secret=SECRET, label="site", actor=cast.site_admin)
    assert credential_resolve(kind="openai", project=cast.project) == site

    own = credential_create(kind="openai", secret=SECRET, label="own", actor=cast.admin, project=cast.project)
    assert credential_resolve(kind="openai", project=cast.project) == own
    assert credential_resolve(kind="openai", project=cast.other_project) == site
    assert credential_resolve(kind="huggingface", project=cast.project) is None

    credential_revoke(credential=own, actor=cast.admin)
    assert credential_resolve(kind="openai", project=cast.project) == site


@pytest.mark.django_db
def test_a_new_key_replaces_the_active_one_of_its_scope(cast):
    first = credential_create(
        kind="openai", secret=SECRET, label="one", actor=cast.admin, project=cast.project
    )
    second = credential_create(
        kind="openai", secret=SECRET + "x", label="two", actor=cast.admin, project=cast.project
    )
    first.refresh_from_db()
    assert first.revoked_at is not None
    assert credential_resolve(kind="openai", project=cast.project) == second


@pytest.mark.django_db
def test_changes_are_audited_without_the_secret(cast):
    credential = credential_create(
        kind="openai", secret=SECRET, label="one", actor=cast.admin, project=cast.project
    )
    credential_revoke(credential=credential, actor=cast.admin)

    entries = AuditEntry.objects.filter(target_id=str(credential.pk)).order_by("created_at", "id")
    assert [e.action for e in entries] == ["credential.created", "credential.revoked"]
    assert all(e.actor == cast.admin and e.project == cast.project for e in entries)
    assert SECRET not in str([e.data for e in entries])


@pytest.mark.django_db
def test_an_empty_secret_is_refused(cast):
    with pytest.raises(CredentialError):
        credential_create(kind="openai", secret="   ", label="empty", actor=cast.admin)
