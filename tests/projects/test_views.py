from __future__ import annotations

import pytest
from django.urls import reverse

from finetune_portal.core.models import AuditEntry
from finetune_portal.projects.models import Membership
from tests.factories import PASSWORD, make_job


@pytest.mark.django_db
def test_overview_counts_and_lists_recent_jobs(client, cast):
    make_job(cast.project, name="first-run", created_by=cast.member, status="running")
    client.login(username=cast.member.username, password=PASSWORD)

    response = client.get(reverse("projects:overview", args=[cast.project.slug]))

    assert response.context["job_count"] == 1
    assert response.context["active_job_count"] == 1
    assert "first-run" in response.content.decode()


@pytest.mark.django_db
def test_admin_adds_a_member_and_it_is_audited(client, cast):
    client.login(username=cast.admin.username, password=PASSWORD)
    url = reverse("projects:members", args=[cast.project.slug])

    response = client.post(url, {"username": cast.outsider.username, "role": "ml_lead"})

    assert response.status_code == 302
    assert Membership.objects.get(project=cast.project, user=cast.outsider).role == "ml_lead"
    assert AuditEntry.objects.filter(action="membership.added", project=cast.project).exists()


@pytest.mark.django_db
def test_adding_an_unknown_user_shows_the_error_next_to_the_field(client, cast):
    client.login(username=cast.admin.username, password=PASSWORD)
    response = client.post(
        reverse("projects:members", args=[cast.project.slug]), {"username": "nobody", "role": "member"}
    )
    assert response.status_code == 200
    assert "There is no user called" in response.content.decode()


@pytest.mark.django_db
def test_credentials_page_never_renders_the_secret(client, cast):
    client.login(username=cast.admin.username, password=PASSWORD)
    secret = "sk-live-0123456789abcdefWXYZ"
    url = reverse("credentials:project", args=[cast.project.slug])

    client.post(url, {"kind": "openai", "label": "Team", "secret": secret})
    page = client.get(url).content.decode()

    assert "••••WXYZ" in page
    assert secret not in page
    assert AuditEntry.objects.filter(action="credential.created", project=cast.project).exists()


@pytest.mark.django_db
def test_an_imported_run_cannot_be_cancelled_from_the_portal(client, cast):
    job = make_job(cast.project, name="old-run", created_by=cast.ml_lead, status="running", imported=True)
    client.login(username=cast.ml_lead.username, password=PASSWORD)

    page = client.get(reverse("jobs:detail", args=[cast.project.slug, job.pk])).content.decode()
    response = client.post(reverse("jobs:cancel", args=[cast.project.slug, job.pk]))

    assert "Cancel job" not in page
    assert response.status_code == 403
    job.refresh_from_db()
    assert job.status == "running"


@pytest.mark.django_db
def test_the_last_admin_can_neither_leave_nor_be_demoted(client, cast):
    client.login(username=cast.admin.username, password=PASSWORD)
    own = Membership.objects.get(project=cast.project, user=cast.admin)

    removed = client.post(reverse("projects:member_remove", args=[cast.project.slug, own.pk]), follow=True)
    demoted = client.post(
        reverse("projects:members", args=[cast.project.slug]),
        {"username": cast.admin.username, "role": "member"},
    )

    assert "at least one admin" in removed.content.decode()
    assert "at least one admin" in demoted.content.decode()
    own.refresh_from_db()
    assert own.role == "admin"

    client.post(reverse("projects:members", args=[cast.project.slug]), {"username": "lee", "role": "admin"})
    response = client.post(reverse("projects:member_remove", args=[cast.project.slug, own.pk]))
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=own.pk).exists()
