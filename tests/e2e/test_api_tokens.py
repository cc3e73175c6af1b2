"""The API tokens page in a browser: create a token from the user menu, copy it, use it with the SDK,
revoke it; at desktop and phone width."""

from __future__ import annotations

import openai
import pytest
from playwright.sync_api import expect

from finetune_portal.api.services import api_token_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_create_use_and_revoke_a_token(page, live_server, log_in, screenshot, cast):
    api_token_create(user=cast.member, project=cast.project, name="staging bot", actor=cast.member)
    log_in(cast.member)

    page.get_by_text("mia", exact=True).click()
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Name").fill("nightly eval")
    page.get_by_label("Project").select_option(label="Bank reviews")
    page.get_by_role("button", name="Create token").click()

    secret = page.locator("#new-token-value")
    expect(secret).to_contain_text("ftp_")
    raw = secret.inner_text().strip()
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=raw, max_retries=0)
    assert client.models.list().object == "list"
    screenshot("api-tokens-created-desktop")

    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot("api-tokens-created-phone")

    page.set_viewport_size({"width": 1280, "height": 860})
    page.goto("/account/tokens/")
    expect(page.locator("#new-token-value")).to_have_count(0)
    page.on("dialog", lambda dialog: dialog.accept())
    row = page.locator("#token-list tr", has_text="nightly eval")
    row.get_by_role("button", name="Revoke").click()
    expect(page.locator("#token-list tr", has_text="nightly eval")).to_contain_text("revoked")
    with pytest.raises(openai.AuthenticationError):
        client.models.list()
    screenshot("api-tokens-desktop")

    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot("api-tokens-phone")
