"""/v1 leaves the middleware stack early (api/middleware.py): what guards every answer still guards it,
what only pages need does not run, and a /v1 view that has not opted out of CSRF and the login gets the
whole stack."""

from __future__ import annotations

import json

import pytest
from django.http import HttpResponse
from django.urls import include, path

from finetune_portal.api.models import ApiToken

pytestmark = pytest.mark.django_db

HELLO = [{"role": "user", "content": "Hi"}]


def _page_only(request):
    return HttpResponse("a page under /v1")


urlpatterns = [
    path("v1/page-only", _page_only),
    path("", include("finetune_portal.urls")),
]


def _chat(client, raw_token, model, **extra):
    return client.post(
        "/v1/chat/completions",
        json.dumps({"model": model, "messages": HELLO}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw_token}",
        **extra,
    )


def test_an_answer_keeps_the_headers_every_answer_gets_and_sets_no_cookie(client, raw_token, adapter):
    response = _chat(client, raw_token, adapter.name)

    assert response.status_code == 200
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    # Whole, so the client can keep its connection for the next call.
    assert int(response["Content-Length"]) == len(response.content)
    assert json.loads(response.content)["choices"][0]["message"]["content"] == "Hello there"
    assert not response.cookies  # no session, no CSRF cookie
    assert ApiToken.objects.get().last_used_at is not None


def test_a_host_outside_allowed_hosts_is_refused(client, raw_token, adapter, settings):
    settings.ALLOWED_HOSTS = ["portal.example"]

    response = _chat(client, raw_token, adapter.name, HTTP_HOST="attacker.example")

    assert response.status_code == 400
    assert ApiToken.objects.get().last_used_at is None  # refused before the token was looked at
    assert _chat(client, raw_token, adapter.name, HTTP_HOST="portal.example").status_code == 200


def test_a_signed_in_browser_without_a_token_is_not_let_in(client, cast, adapter):
    client.force_login(cast.member)

    response = client.post(
        "/v1/chat/completions",
        json.dumps({"model": adapter.name, "messages": HELLO}),
        content_type="application/json",
    )

    assert response.status_code == 401
    assert response.json()["error"]["message"].startswith("You didn't provide an API token.")


@pytest.mark.urls(__name__)
def test_a_view_under_v1_that_does_not_opt_out_goes_through_the_whole_stack(client, cast):
    """A view that is not CSRF exempt and login-free gets the login (and CSRF, sessions, ...) as any page."""
    response = client.get("/v1/page-only")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")

    client.force_login(cast.member)
    assert client.get("/v1/page-only").content == b"a page under /v1"
