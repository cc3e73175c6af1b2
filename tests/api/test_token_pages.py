"""The tokens page: create (the secret shown on that answer only), list and revoke your own tokens."""

from __future__ import annotations

import pytest

from finetune_portal.api.models import ApiToken
from finetune_portal.api.services import api_token_create, api_token_verify

pytestmark = pytest.mark.django_db

URL = "/account/tokens/"


def test_the_user_menu_links_to_the_tokens_page(client, cast):
    client.force_login(cast.member)
    assert f'href="{URL}"' in client.get("/").content.decode()


def test_creating_shows_the_token_once(client, cast):
    client.force_login(cast.member)

    response = client.post(URL, {"name": "eval script", "project": cast.project.pk})

    assert response.status_code == 200
    token = ApiToken.objects.get()
    page = response.content.decode()
    raw = page.split('id="new-token-value" class="token-wrap">', 1)[1].split("<", 1)[0]
    assert api_token_verify(raw=raw).token == token
    assert "not shown again" in page
    again = client.get(URL).content.decode()
    assert raw not in again
    assert token.display_prefix in again
    assert "eval script" in again


def test_only_projects_the_user_is_in_can_be_chosen(client, cast):
    client.force_login(cast.member)

    page = client.get(URL).content.decode()
    response = client.post(URL, {"name": "sneaky", "project": cast.other_project.pk})

    assert "Bank reviews" in page
    assert "Other team" not in page
    assert "Select a valid choice" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_revoking_your_token_and_not_someone_else_s(client, cast):
    mine, raw = api_token_create(user=cast.member, project=cast.project, name="mine", actor=cast.member)
    theirs, their_raw = api_token_create(
        user=cast.admin, project=cast.project, name="theirs", actor=cast.admin
    )
    client.force_login(cast.member)

    assert client.post(f"{URL}{theirs.pk}/revoke/").status_code == 404
    fragment = client.post(f"{URL}{mine.pk}/revoke/", headers={"HX-Request": "true"})

    assert 'id="token-list"' in fragment.content.decode()
    assert "<html" not in fragment.content.decode()
    assert "revoked" in fragment.content.decode()
    assert api_token_verify(raw=raw).token is None
    assert api_token_verify(raw=their_raw).token == theirs
    plain = client.post(f"{URL}{mine.pk}/revoke/")
    assert plain.status_code == 302


def test_the_page_needs_a_login(client):
    assert client.get(URL).status_code == 302
