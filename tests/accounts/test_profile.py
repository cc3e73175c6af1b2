from __future__ import annotations

import re

import pytest
from django.core import mail
from django.urls import reverse

from finetune_portal.accounts.services import notification_settings_for
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def test_the_profile_saves_name_and_email(client, cast):
    client.login(username=cast.member.username, password=PASSWORD)

    response = client.post(
        reverse("accounts:profile"),
        {"section": "profile", "first_name": "Mia", "last_name": "Rossi", "email": "mia.rossi@example.com"},
    )

    assert response.status_code == 302
    cast.member.refresh_from_db()
    assert (cast.member.get_full_name(), cast.member.email) == ("Mia Rossi", "mia.rossi@example.com")


def test_a_bad_email_is_told_and_nothing_changes(client, cast):
    client.login(username=cast.member.username, password=PASSWORD)

    response = client.post(
        reverse("accounts:profile"), {"section": "profile", "first_name": "X", "email": "not-an-address"}
    )

    assert response.status_code == 200
    assert "Enter a valid email address" in response.content.decode()
    cast.member.refresh_from_db()
    assert cast.member.first_name == ""


def test_notification_settings_opt_out_and_in(client, cast):
    client.login(username=cast.member.username, password=PASSWORD)
    assert notification_settings_for(cast.member).wants("succeeded")

    client.post(
        reverse("accounts:profile"),
        {"section": "notifications", "job_failed": "on", "job_cancelled": "on", "job_needs_approval": "on"},
    )

    chosen = notification_settings_for(cast.member)
    assert not chosen.wants("succeeded")
    assert chosen.wants("failed")


def test_the_profile_marks_the_place_for_api_tokens(client, cast):
    client.login(username=cast.member.username, password=PASSWORD)
    content = client.get(reverse("accounts:profile")).content.decode()
    assert 'id="api-tokens"' in content


def test_changing_the_password_needs_the_old_one(client, cast):
    client.login(username=cast.member.username, password=PASSWORD)
    url = reverse("accounts:password_change")

    wrong = client.post(
        url,
        {
            "old_password": "nope",
            "new_password1": "fresh-passphrase-1",
            "new_password2": "fresh-passphrase-1",
        },
    )
    assert "incorrectly" in wrong.content.decode()

    right = client.post(
        url,
        {
            "old_password": PASSWORD,
            "new_password1": "fresh-passphrase-1",
            "new_password2": "fresh-passphrase-1",
        },
    )
    assert right.status_code == 302
    client.logout()
    assert client.login(username=cast.member.username, password="fresh-passphrase-1")


def test_a_forgotten_password_is_reset_by_email(client, cast):
    response = client.post(reverse("accounts:password_reset"), {"email": cast.member.email})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(r"https?://\S+", mail.outbox[0].body).group(0)

    form_page = client.get(link, follow=True)
    client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "reset-passphrase-2", "new_password2": "reset-passphrase-2"},
    )

    assert client.login(username=cast.member.username, password="reset-passphrase-2")


def test_a_reset_for_an_unknown_address_reveals_nothing(client, cast):
    response = client.post(reverse("accounts:password_reset"), {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert mail.outbox == []


def test_the_login_page_links_to_the_reset(client):
    assert reverse("accounts:password_reset") in client.get(reverse("accounts:login")).content.decode()
