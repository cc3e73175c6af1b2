"""Destructive actions ask before they happen."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from finetune_portal.credentials.models import ProviderCredential
from finetune_portal.credentials.services import credential_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_revoking_a_key_asks_first(page, cast, log_in):
    credential = credential_create(
        kind="openai", secret="sk-test-confirm-0000", label="team key", project=cast.project, actor=cast.admin
    )
    log_in(cast.admin)
    page.goto(f"/credentials/project/{cast.project.slug}/")
    questions, posts = [], []
    page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)

    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Revoke").click()

    assert posts == []
    assert questions[0].startswith("Revoke team key?")
    assert ProviderCredential.objects.get(pk=credential.pk).is_active

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke").click()

    expect(page.get_by_text("Revoked team key.")).to_be_visible()
    assert not ProviderCredential.objects.get(pk=credential.pk).is_active
