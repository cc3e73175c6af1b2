from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from finetune_portal.core.models import AuditEntry
from finetune_portal.projects.services import membership_set
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def test_entries_read_as_sentences(client, cast):
    make_user("leo")
    membership_set(project=cast.project, username="leo", role="ml_lead", actor=cast.admin)
    client.login(username=cast.admin.username, password=PASSWORD)

    content = client.get(reverse("projects:audit", args=[cast.project.slug])).content.decode()

    assert "leo was added as ML lead by ada" in content
    assert ">membership.added<" not in content


def test_filters_by_person_action_and_date(client, cast):
    make_user("leo")
    make_user("zoe")
    membership_set(project=cast.project, username="leo", role="member", actor=cast.admin)
    membership_set(project=cast.project, username="zoe", role="member", actor=cast.site_admin)
    membership_set(project=cast.project, username="zoe", role="ml_lead", actor=cast.admin)
    client.login(username=cast.admin.username, password=PASSWORD)
    url = reverse("projects:audit", args=[cast.project.slug])

    by_root = client.get(url, {"person": cast.site_admin.pk}).content.decode()
    assert "zoe was added as Member by root" in by_root
    assert "leo" not in by_root

    changes = client.get(url, {"action": "membership.changed"}).content.decode()
    assert "zoe was made ML lead by ada" in changes
    assert "was added" not in changes

    AuditEntry.objects.filter(data__username="leo").update(created_at="2020-01-05T10:00:00Z")
    january = client.get(url, {"since": "2020-01-01", "until": "2020-01-31"}).content.decode()
    assert "leo was added" in january
    assert "zoe" not in january


def test_reversed_dates_are_told_and_nothing_is_hidden(client, cast):
    client.login(username=cast.admin.username, password=PASSWORD)
    response = client.get(
        reverse("projects:audit", args=[cast.project.slug]), {"since": "2024-02-01", "until": "2024-01-01"}
    )
    assert response.status_code == 200
    assert "The end date is before the start date." in response.content.decode()


def test_csv_export_holds_the_filtered_entries(client, cast):
    make_user("leo")
    membership_set(project=cast.project, username="leo", role="ml_lead", actor=cast.admin)
    make_user("=cmd")
    membership_set(project=cast.project, username="=cmd", role="member", actor=cast.admin)
    client.login(username=cast.admin.username, password=PASSWORD)

    response = client.get(
        reverse("projects:audit", args=[cast.project.slug]), {"action": "membership.added", "format": "csv"}
    )

    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["time", "person", "action", "what happened", "project", "target"]
    labels = sorted(row[3] for row in rows[1:])
    assert labels == ["'=cmd was added as Member by ada", "leo was added as ML lead by ada"]


def test_a_project_audit_log_shows_only_that_project(client, cast):
    make_user("leo")
    membership_set(project=cast.other_project, username="leo", role="member", actor=cast.outsider)
    client.login(username=cast.admin.username, password=PASSWORD)

    content = client.get(reverse("projects:audit", args=[cast.project.slug])).content.decode()

    assert "leo" not in content


def test_the_site_audit_log_shows_every_project(client, cast):
    make_user("leo")
    membership_set(project=cast.other_project, username="leo", role="member", actor=cast.outsider)
    client.login(username=cast.site_admin.username, password=PASSWORD)

    content = client.get(reverse("projects:audit_site")).content.decode()

    assert "leo was added as Member by otto" in content


def test_the_audit_log_cannot_be_changed_through_its_page(client, cast):
    client.login(username=cast.admin.username, password=PASSWORD)
    response = client.post(reverse("projects:audit", args=[cast.project.slug]))
    assert response.status_code == 405
