from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse

from finetune_portal.accounts.models import Invitation
from finetune_portal.core.models import AuditEntry
from finetune_portal.projects.models import Membership
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def _link(message) -> str:
    return re.search(r"https?://\S+", message.body).group(0)


def _invite(client, cast, email="maria@example.com", role="ml_lead"):
    client.login(username=cast.admin.username, password=PASSWORD)
    return client.post(reverse("accounts:invite", args=[cast.project.slug]), {"email": email, "role": role})


def test_an_invited_person_creates_an_account_and_joins_with_the_role(
    client, cast, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _invite(client, cast)
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["maria@example.com"]
    assert cast.project.name in mail.outbox[0].subject
    link = _link(mail.outbox[0])
    client.logout()

    page = client.get(link)
    assert page.status_code == 200
    assert "maria@example.com" in page.content.decode()
    response = client.post(
        link,
        {
            "username": "maria",
            "first_name": "Maria",
            "password1": "a-long-new-passphrase",
            "password2": "a-long-new-passphrase",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:login")
    maria = get_user_model().objects.get(username="maria")
    assert maria.email == "maria@example.com"
    assert Membership.objects.get(project=cast.project, user=maria).role == "ml_lead"
    assert client.login(username="maria", password="a-long-new-passphrase")
    assert AuditEntry.objects.filter(action="invitation.accepted", actor=maria).exists()


def test_an_invitation_link_works_once(client, cast, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _invite(client, cast)
    link = _link(mail.outbox[0])
    client.logout()
    data = {"username": "maria", "password1": "a-long-new-passphrase", "password2": "a-long-new-passphrase"}
    client.post(link, data)

    again = client.post(link, {**data, "username": "maria2"})

    assert again.status_code == 410
    assert "already been used" in again.content.decode()
    assert not get_user_model().objects.filter(username="maria2").exists()


def test_an_expired_invitation_says_so(client, cast, settings, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _invite(client, cast)
    link = _link(mail.outbox[0])
    settings.INVITATION_MAX_AGE_SECONDS = -1

    response = client.get(link)

    assert response.status_code == 410
    assert "expired" in response.content.decode()


def test_a_tampered_link_is_refused(client, cast, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _invite(client, cast)
    link = _link(mail.outbox[0])

    response = client.get(link[:-3] + "xyz/")

    assert response.status_code == 410
    assert "not valid" in response.content.decode()


def test_a_bad_password_keeps_the_invitation_open_and_says_why(
    client, cast, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _invite(client, cast)
    link = _link(mail.outbox[0])
    client.logout()

    response = client.post(link, {"username": "maria", "password1": "short", "password2": "short"})

    assert response.status_code == 200
    assert "too short" in response.content.decode()
    assert Invitation.objects.get().is_open
    assert not get_user_model().objects.filter(username="maria").exists()


def test_inviting_an_existing_address_adds_the_person_at_once(
    client, cast, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _invite(client, cast, email=cast.outsider.email, role="member")

    assert Membership.objects.get(project=cast.project, user=cast.outsider).role == "member"
    assert not Invitation.objects.exists()
    assert mail.outbox == []


def test_inviting_twice_resends_one_invitation(client, cast, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _invite(client, cast)
        _invite(client, cast, email="MARIA@example.com", role="member")

    assert Invitation.objects.count() == 1
    assert Invitation.objects.get().role == "member"
    assert len(mail.outbox) == 2


def test_a_withdrawn_invitation_no_longer_works(client, cast, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _invite(client, cast)
    invitation = Invitation.objects.get()
    client.post(reverse("accounts:invitation_revoke", args=[cast.project.slug, invitation.pk]))

    response = client.get(_link(mail.outbox[0]))

    assert response.status_code == 410
    assert "withdrawn" in response.content.decode()


def test_a_signed_in_person_joins_with_their_account(client, cast, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _invite(client, cast, email="otto-private@example.com")
    client.login(username=cast.outsider.username, password=PASSWORD)

    response = client.post(_link(mail.outbox[0]))

    assert response.status_code == 302
    assert Membership.objects.filter(project=cast.project, user=cast.outsider, role="ml_lead").exists()


def test_the_members_page_offers_to_invite_an_unknown_name(client, cast):
    client.login(username=cast.admin.username, password=PASSWORD)

    response = client.post(
        reverse("projects:members", args=[cast.project.slug]), {"username": "maria", "role": "member"}
    )

    content = response.content.decode()
    assert "There is no user called &#x27;maria&#x27;" in content
    assert reverse("accounts:invite", args=[cast.project.slug]) + "?who=maria" in content
    assert "Invite maria by e-mail" in content


def test_a_site_admin_creates_an_account_and_its_owner_sets_a_password(
    client, cast, django_capture_on_commit_callbacks
):
    client.login(username=cast.site_admin.username, password=PASSWORD)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("accounts:user_new"),
            {"username": "leo", "email": "leo@example.com", "project": cast.project.pk, "role": "ml_lead"},
        )
    assert response.status_code == 302
    leo = get_user_model().objects.get(username="leo")
    assert not leo.has_usable_password()
    assert Membership.objects.get(project=cast.project, user=leo).role == "ml_lead"
    link = _link(mail.outbox[0])
    client.logout()

    form_page = client.get(link, follow=True)
    assert "Set your password" in form_page.content.decode()
    done = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "leos-own-passphrase", "new_password2": "leos-own-passphrase"},
    )

    assert done.status_code == 302
    assert client.login(username="leo", password="leos-own-passphrase")
    # The link dies once used.
    assert "no longer works" in client.get(link, follow=True).content.decode()


def test_only_site_admins_create_accounts(client, cast):
    client.login(username=cast.admin.username, password=PASSWORD)
    response = client.post(reverse("accounts:user_new"), {"username": "eve", "email": "eve@example.com"})
    assert response.status_code == 403
    assert not get_user_model().objects.filter(username="eve").exists()
