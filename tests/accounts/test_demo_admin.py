from __future__ import annotations

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from finetune_portal.projects.models import Membership


@pytest.mark.django_db
def test_a_fresh_install_gets_a_demo_admin_from_the_environment(settings, capsys):
    settings.DEMO_ADMIN_USERNAME = "boss"
    settings.DEMO_ADMIN_PASSWORD = "a-long-demo-password"

    call_command("ensure_demo_admin")

    assert "boss / a-long-demo-password" in capsys.readouterr().out
    user = authenticate(username="boss", password="a-long-demo-password")
    assert user is not None
    assert user.is_superuser
    assert Membership.objects.filter(user=user, project__slug="demo", role="admin").exists()


@pytest.mark.django_db
def test_without_a_password_one_is_generated_and_printed_once(settings, capsys):
    settings.DEMO_ADMIN_USERNAME = "admin"
    settings.DEMO_ADMIN_PASSWORD = ""

    call_command("ensure_demo_admin")
    printed = capsys.readouterr().out
    password = printed.strip().rsplit(" / ", 1)[1]
    assert authenticate(username="admin", password=password) is not None

    call_command("ensure_demo_admin")
    assert "already exists" in capsys.readouterr().out
    assert authenticate(username="admin", password=password) is not None
