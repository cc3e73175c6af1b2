"""Personal API tokens: shown once, kept only as a keyed hash, scoped to one project, revocable, audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from finetune_portal.api.models import ApiToken
from finetune_portal.api.services import (
    ApiTokenError,
    api_token_create,
    api_token_mark_used,
    api_token_revoke,
    api_token_verify,
)
from finetune_portal.core.models import AuditEntry
from finetune_portal.projects.models import Membership

pytestmark = pytest.mark.django_db


def test_a_new_token_is_returned_once_and_only_its_hash_is_stored(cast):
    token, raw = api_token_create(
        user=cast.member, project=cast.project, name="eval script", actor=cast.member
    )

    assert raw.startswith(f"ftp_{token.lookup}_")
    assert len(raw) > 50
    stored = ApiToken.objects.get()
    values = [str(v) for v in ApiToken.objects.values_list(*[f.attname for f in ApiToken._meta.fields]).get()]
    assert not any(raw in value or raw.split("_", 2)[2] in value for value in values)
    assert len(stored.digest) == 64
    assert api_token_verify(raw=raw).token == stored


def test_wrong_malformed_and_tampered_tokens_are_refused(cast):
    token, raw = api_token_create(user=cast.member, project=cast.project, name="t", actor=cast.member)

    assert api_token_verify(raw=raw[:-1] + ("A" if raw[-1] != "A" else "B")).token is None
    assert api_token_verify(raw="sk-not-ours").problem.startswith("This is not a portal API token")
    assert api_token_verify(raw=f"ftp_{token.lookup}").token is None
    assert api_token_verify(raw="ftp_000000000000_" + raw.split("_", 2)[2]).token is None


def test_tokens_survive_a_secret_key_rotation_through_the_fallbacks(cast, settings):
    _, raw = api_token_create(user=cast.member, project=cast.project, name="t", actor=cast.member)
    old = settings.SECRET_KEY

    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a-new-secret-key-" + "x" * 40, [old]
    assert api_token_verify(raw=raw).token is not None
    settings.SECRET_KEY_FALLBACKS = []
    assert api_token_verify(raw=raw).token is None


def test_a_revoked_token_stops_working_and_revoking_twice_logs_once(cast):
    token, raw = api_token_create(user=cast.member, project=cast.project, name="t", actor=cast.member)

    api_token_revoke(token=token, actor=cast.member)
    api_token_revoke(token=token, actor=cast.member)

    check = api_token_verify(raw=raw)
    assert check.token is None
    assert check.problem == "This API token was revoked."
    assert AuditEntry.objects.filter(action="api_token.revoked").count() == 1


def test_a_token_stops_working_when_its_user_leaves_the_project(cast):
    _, raw = api_token_create(user=cast.member, project=cast.project, name="t", actor=cast.member)

    Membership.objects.filter(user=cast.member, project=cast.project).delete()

    check = api_token_verify(raw=raw)
    assert check.token is None
    assert "no longer a member of project bank-reviews" in check.problem


def test_a_site_admin_s_token_works_in_a_project_without_a_membership(cast):
    _, raw = api_token_create(user=cast.site_admin, project=cast.project, name="t", actor=cast.site_admin)
    _, members = api_token_create(user=cast.member, project=cast.project, name="t", actor=cast.member)

    assert api_token_verify(raw=raw).token is not None
    assert api_token_verify(raw=members).token is not None


def test_a_deactivated_user_s_token_stops_working(cast):
    _, raw = api_token_create(user=cast.member, project=cast.project, name="t", actor=cast.member)
    cast.member.is_active = False
    cast.member.save()

    assert api_token_verify(raw=raw).token is None


def test_only_members_get_a_token_for_a_project(cast):
    with pytest.raises(ApiTokenError, match="not a member of Bank reviews"):
        api_token_create(user=cast.outsider, project=cast.project, name="t", actor=cast.outsider)
    with pytest.raises(ApiTokenError, match="Give the token a name"):
        api_token_create(user=cast.member, project=cast.project, name="  ", actor=cast.member)
    assert not ApiToken.objects.exists()


def test_creating_and_revoking_are_audited_without_the_secret(cast):
    token, raw = api_token_create(user=cast.member, project=cast.project, name="bot", actor=cast.member)
    api_token_revoke(token=token, actor=cast.admin)

    created, revoked = AuditEntry.objects.order_by("id")
    assert (created.action, created.actor, created.project) == (
        "api_token.created",
        cast.member,
        cast.project,
    )
    assert created.data == {"name": "bot", "prefix": token.display_prefix, "user": "mia"}
    assert (revoked.action, revoked.actor) == ("api_token.revoked", cast.admin)
    secret = raw.split("_", 2)[2]
    assert not any(secret in str(entry.data) or secret in entry.target_repr for entry in (created, revoked))


def test_last_use_is_written_at_most_once_a_minute(cast, monkeypatch):
    token, _ = api_token_create(user=cast.member, project=cast.project, name="t", actor=cast.member)
    start = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: start)
    api_token_mark_used(token=token)
    assert ApiToken.objects.get().last_used_at == start

    # Another request (its own copy of the row) 30 s later writes nothing; 61 s later it does.
    later = ApiToken.objects.get(pk=token.pk)
    monkeypatch.setattr(timezone, "now", lambda: start + timedelta(seconds=30))
    api_token_mark_used(token=ApiToken.objects.get(pk=token.pk))
    assert ApiToken.objects.get().last_used_at == start
    monkeypatch.setattr(timezone, "now", lambda: start + timedelta(seconds=61))
    api_token_mark_used(token=later)
    assert ApiToken.objects.get().last_used_at == start + timedelta(seconds=61)
