"""A launch form sent several times (double click, resend, two tabs) creates one job."""

from __future__ import annotations

import re
import threading

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from finetune_portal.celery import app
from finetune_portal.jobs.models import FineTuningJob
from tests.celery_support import DEAD_BROKER, broker_for_test
from tests.factories import make_dataset, make_version


def _launch_form(client: Client, project, version) -> dict:
    from finetune_portal.providers.peft.form_fields import DEFAULTS

    page = client.get(reverse("jobs:new", args=[project.slug]), {"provider": "local_peft"}).content.decode()
    [token] = re.findall(r'name="launch_token" value="([^"]+)"', page)
    return {
        **DEFAULTS,
        "provider": "local_peft",
        "method": "sft",
        "base_model": "demo:tiny",
        "training_version": version.pk,
        "launch_token": token,
    }


@pytest.mark.django_db(transaction=True)
def test_five_concurrent_submissions_of_one_form_create_one_job(cast):
    version = make_version(make_dataset(cast.project, kind="chat"), example_count=20)
    opener = Client()
    opener.force_login(cast.member)
    form = _launch_form(opener, cast.project, version)
    url = reverse("jobs:new", args=[cast.project.slug])
    start = threading.Barrier(5)
    answers: list = [None] * 5

    def submit(i: int) -> None:
        try:
            client = Client()
            client.force_login(cast.member)
            start.wait()
            answers[i] = client.post(url, form)
        except Exception as exc:
            answers[i] = exc
        finally:
            connection.close()

    # The queue is down, so nothing reaches a worker; the launch is saved either way.
    with broker_for_test(app, DEAD_BROKER):
        threads = [threading.Thread(target=submit, args=(i,)) for i in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)

    [job] = FineTuningJob.objects.filter(project=cast.project)
    detail = reverse("jobs:detail", args=[cast.project.slug, job.pk])
    assert [getattr(a, "status_code", a) for a in answers] == [302] * 5
    assert {a["Location"] for a in answers} == {detail}


@pytest.mark.django_db
def test_a_resent_form_shows_the_job_it_launched(client, cast, django_capture_on_commit_callbacks):
    member_client = client
    member_client.force_login(cast.member)
    version = make_version(make_dataset(cast.project, kind="chat"), example_count=20)
    form = _launch_form(member_client, cast.project, version)
    url = reverse("jobs:new", args=[cast.project.slug])
    with broker_for_test(app, DEAD_BROKER), django_capture_on_commit_callbacks(execute=True):
        first = member_client.post(url, form)
        again = member_client.post(url, form, follow=True)

    job = FineTuningJob.objects.get(project=cast.project)
    assert (
        first["Location"]
        == again.redirect_chain[-1][0]
        == reverse("jobs:detail", args=[cast.project.slug, job.pk])
    )
    assert "This form was already sent" in again.content.decode()
    # A fresh form (a new token) launches a new job.
    fresh = _launch_form(member_client, cast.project, version)
    assert fresh["launch_token"] != form["launch_token"]
    with broker_for_test(app, DEAD_BROKER), django_capture_on_commit_callbacks(execute=True):
        member_client.post(url, fresh)
    assert FineTuningJob.objects.filter(project=cast.project).count() == 2
