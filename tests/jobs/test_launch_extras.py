"""What other apps add to the launch form is saved with the job or not at all."""

from __future__ import annotations

import re

import pytest
from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse

from finetune_portal.celery import app
from finetune_portal.core.audit import audit_log
from finetune_portal.core.models import AuditEntry
from finetune_portal.jobs import launch_extras
from finetune_portal.jobs.models import FineTuningJob
from tests.celery_support import DEAD_BROKER, broker_for_test
from tests.factories import make_dataset, make_version

pytestmark = pytest.mark.django_db


class NoteForm(forms.Form):
    """An app's extra: it writes an audit entry for the job, then refuses when asked to."""

    note = forms.CharField(required=False)

    def save_for(self, *, job, user) -> None:
        audit_log(actor=user, action="note.saved", target=job, project=job.project)
        if self.cleaned_data["note"] == "refuse":
            self.add_error("note", "Refused after writing.")
            raise ValidationError("Refused after writing.")


@pytest.fixture
def note_extra(monkeypatch):
    monkeypatch.setitem(launch_extras._EXTRAS, "notes", lambda data, access: NoteForm(data, prefix="notes"))


def _form(client, project, **extra) -> dict:
    from finetune_portal.providers.peft.form_fields import DEFAULTS

    version = make_version(make_dataset(project, kind="chat"), example_count=20)
    page = client.get(reverse("jobs:new", args=[project.slug]), {"provider": "local_peft"}).content.decode()
    [token] = re.findall(r'name="launch_token" value="([^"]+)"', page)
    assert 'name="notes-note"' in page, "the extra is on the form"
    return {**DEFAULTS, "provider": "local_peft", "method": "sft", "base_model": "demo:tiny",
            "training_version": version.pk, "launch_token": token, **extra}  # fmt: skip


def test_an_extra_saved_with_the_job(client, cast, note_extra):
    client.force_login(cast.member)
    with broker_for_test(app, DEAD_BROKER):
        response = client.post(reverse("jobs:new", args=[cast.project.slug]), _form(client, cast.project))
    job = FineTuningJob.objects.get()
    assert response["Location"] == reverse("jobs:detail", args=[cast.project.slug, job.pk])
    assert AuditEntry.objects.filter(action="note.saved", target_id=str(job.pk)).count() == 1


def test_an_extra_that_refuses_leaves_no_job_and_nothing_it_wrote(client, cast, note_extra):
    client.force_login(cast.member)
    form = _form(client, cast.project, **{"notes-note": "refuse"})
    with broker_for_test(app, DEAD_BROKER):
        response = client.post(reverse("jobs:new", args=[cast.project.slug]), form)
    assert response.status_code == 200
    assert "Refused after writing." in response.content.decode()
    assert not FineTuningJob.objects.exists()
    assert not AuditEntry.objects.filter(action="note.saved").exists()
