"""Repeated wrong passwords lock that username from that address, with a message a person understands."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse

from tests.factories import PASSWORD

pytestmark = [pytest.mark.django_db, pytest.mark.axes]


def _login(client: Client, username: str, password: str, ip: str = "10.0.0.1"):
    return client.post(
        reverse("accounts:login"), {"username": username, "password": password}, REMOTE_ADDR=ip
    )


def _signed_in(client: Client) -> bool:
    return (
        django_settings.SESSION_COOKIE_NAME in client.cookies
        and client.get(reverse("projects:list")).status_code == 200
    )


def test_the_right_password_after_forty_wrong_ones_is_refused(client, cast):
    for _ in range(40):
        _login(client, cast.member.username, "wrong-password")

    response = _login(client, cast.member.username, PASSWORD)

    assert response.status_code == 429
    page = response.content.decode()
    assert "Sign-in paused" in page
    assert "wrong passwords in a row" in page
    assert "15 minutes" in page
    assert "ask a site admin" in page
    assert not _signed_in(client)


def test_the_lockout_starts_at_the_failure_limit(client, cast):
    for _ in range(django_settings.AXES_FAILURE_LIMIT - 1):
        assert _login(client, cast.member.username, "wrong-password").status_code == 200
    assert _login(client, cast.member.username, "wrong-password").status_code == 429


def test_another_user_and_the_same_user_elsewhere_are_not_locked(cast):
    attacker = Client()
    for _ in range(40):
        _login(attacker, cast.member.username, "wrong-password")

    colleague = Client()
    assert _login(colleague, cast.ml_lead.username, PASSWORD).status_code == 302
    elsewhere = Client()
    assert _login(elsewhere, cast.member.username, PASSWORD, ip="10.0.0.2").status_code == 302


def test_an_admin_unlock_lets_the_user_in_again(client, cast):
    from axes.models import AccessAttempt

    for _ in range(10):
        _login(client, cast.member.username, "wrong-password")
    admin = Client()
    admin.force_login(cast.site_admin)
    attempts = AccessAttempt.objects.filter(username=cast.member.username)
    assert attempts.exists()
    admin.post(
        reverse("admin:axes_accessattempt_changelist"),
        {"action": "delete_selected", "_selected_action": [a.pk for a in attempts], "post": "yes"},
    )

    assert _login(client, cast.member.username, PASSWORD).status_code == 302
