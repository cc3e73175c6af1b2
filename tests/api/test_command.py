"""`manage.py api_token`: a token for automation, printed alone on stdout; revoked by its prefix."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from finetune_portal.api.models import ApiToken
from finetune_portal.api.services import api_token_verify
from finetune_portal.core.models import AuditEntry

pytestmark = pytest.mark.django_db


def _run(*args) -> str:
    out = StringIO()
    call_command("api_token", *args, stdout=out)
    return out.getvalue()


def test_create_prints_a_working_token_and_nothing_else(cast):
    printed = _run("create", "--user", "mia", "--project", "bank-reviews", "--name", "nightly eval")

    raw = printed.strip()
    assert printed == raw + "\n"
    assert raw.startswith("ftp_")
    token = api_token_verify(raw=raw).token
    assert (token.user, token.project, token.name) == (cast.member, cast.project, "nightly eval")
    entry = AuditEntry.objects.get(action="api_token.created")
    assert entry.actor is None
    assert raw.split("_", 2)[2] not in str(entry.data)


def test_revoke_by_prefix_or_whole_token_and_list_without_secrets(cast):
    raw = _run("create", "--user", "mia", "--project", "bank-reviews").strip()
    token = ApiToken.objects.get()

    listed = _run("list", "--user", "mia")
    assert token.display_prefix in listed
    assert "active" in listed
    assert raw not in listed
    assert _run("revoke", token.display_prefix).startswith(f"Revoked {token.display_prefix}")
    assert _run("revoke", raw).startswith("Already revoked:")
    assert api_token_verify(raw=raw).token is None
    assert "revoked" in _run("list")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "--user", "nobody", "--project", "bank-reviews"], "No user named 'nobody'"),
        (["create", "--user", "mia", "--project", "nope"], "No project with the slug 'nope'"),
        (["create", "--user", "otto", "--project", "bank-reviews"], "otto is not a member of Bank reviews"),
        (["revoke", "ftp_000000000000"], "No token"),
    ],
)
def test_mistakes_are_clear_errors_and_create_nothing(cast, args, message):
    with pytest.raises(CommandError, match=message):
        _run(*args)
    assert not ApiToken.objects.exists()
