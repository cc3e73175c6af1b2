"""The launch form's optional "when this job succeeds, evaluate it and its base on version X": saved in
the same transaction as the job, so a launch that fails leaves none and a form sent twice makes one job
and one attachment."""

from __future__ import annotations

import re
import threading

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from finetune_portal.celery import app
from finetune_portal.core.models import AuditEntry
from finetune_portal.evaluations.models import Evaluation, EvaluationOnSuccess
from finetune_portal.jobs.models import FineTuningJob
from finetune_portal.jobs.services import job_transition
from finetune_portal.jobs.states import JobStatus
from finetune_portal.registry.services import fine_tuned_model_record
from tests.celery_support import DEAD_BROKER, broker_for_test
from tests.evaluations.conftest import review_lines
from tests.factories import make_dataset, make_version


def _training(cast):
    return make_version(make_dataset(cast.project, name="train", kind="chat"), example_count=20)


def _held_out(cast):
    dataset = make_dataset(cast.project, name="held-out reviews", kind="chat")
    return make_version(dataset, content=review_lines(12), example_count=12, split_role="validation")


def _launch_form(client: Client, project, training, **extra) -> dict:
    from finetune_portal.providers.peft.form_fields import DEFAULTS

    page = client.get(reverse("jobs:new", args=[project.slug]), {"provider": "local_peft"}).content.decode()
    [token] = re.findall(r'name="launch_token" value="([^"]+)"', page)
    return {
        **DEFAULTS,
        "provider": "local_peft",
        "method": "sft",
        "base_model": "demo:tiny",
        "training_version": training.pk,
        "launch_token": token,
        **extra,
    }


def _launch(client, project, form, **kwargs):
    with broker_for_test(app, DEAD_BROKER):
        return client.post(reverse("jobs:new", args=[project.slug]), form, **kwargs)


@pytest.fixture
def member(client, cast):
    client.force_login(cast.member)
    return client


@pytest.mark.django_db
def test_the_launch_form_offers_the_choice_off_by_default(member, cast):
    held_out = _held_out(cast)
    page = member.get(reverse("jobs:new", args=[cast.project.slug]), {"provider": "local_peft"})
    html = page.content.decode()
    assert 'data-testid="evaluate-on-launch"' in html
    assert '<select name="evaluate-version"' in html
    assert '<option value="" selected>Don&#x27;t evaluate</option>' in html
    assert f'<option value="{held_out.pk}">held-out reviews v1</option>' in html
    assert '<option value="accuracy" selected>' in html
    assert '<option value="judge"' not in html, "a judge needs a rubric: the evaluations page asks for it"


@pytest.mark.django_db
def test_launching_with_a_version_attaches_the_evaluation_to_the_new_job(
    member, cast, django_capture_on_commit_callbacks
):
    held_out = _held_out(cast)
    form = _launch_form(
        member,
        cast.project,
        _training(cast),
        **{"evaluate-version": held_out.pk, "evaluate-metric": "macro_f1"},
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = _launch(member, cast.project, form, follow=True)

    job = FineTuningJob.objects.get(project=cast.project)
    assert response.redirect_chain[-1][0] == reverse("jobs:detail", args=[cast.project.slug, job.pk])
    attached = EvaluationOnSuccess.objects.get()
    assert (attached.job, attached.version, attached.metric, attached.created_by) == (
        job,
        held_out,
        "macro_f1",
        cast.member,
    )
    assert AuditEntry.objects.filter(action="evaluation.attach", target_id=str(job.pk)).count() == 1
    # The job's page lists it, waiting for the job.
    section = response.content.decode().split('<section id="job-evaluations"', 1)[1]
    assert "held-out reviews v1" in section
    assert "when the job succeeds" in section


@pytest.mark.django_db
def test_launching_without_choosing_attaches_nothing(member, cast):
    _held_out(cast)
    response = _launch(member, cast.project, _launch_form(member, cast.project, _training(cast)))
    assert response.status_code == 302
    assert FineTuningJob.objects.filter(project=cast.project).count() == 1
    assert not EvaluationOnSuccess.objects.exists()


@pytest.mark.django_db
def test_a_launch_refused_by_its_form_leaves_no_job_and_no_attachment_and_keeps_the_choice(member, cast):
    held_out = _held_out(cast)
    form = _launch_form(member, cast.project, _training(cast), **{"evaluate-version": held_out.pk})
    form["lora_rank"] = -1
    response = _launch(member, cast.project, form)

    assert response.status_code == 200
    assert not FineTuningJob.objects.exists()
    assert not EvaluationOnSuccess.objects.exists()
    assert f'<option value="{held_out.pk}" selected>' in response.content.decode(), "the choice is kept"


@pytest.mark.django_db
def test_a_version_that_is_not_offered_is_refused_with_the_launch(member, cast):
    other = make_version(make_dataset(cast.other_project, kind="chat"), example_count=5)
    form = _launch_form(member, cast.project, _training(cast), **{"evaluate-version": other.pk})
    response = _launch(member, cast.project, form)
    assert response.status_code == 200
    assert 'data-field="version"' in response.content.decode()
    assert not FineTuningJob.objects.exists()
    assert not EvaluationOnSuccess.objects.exists()


@pytest.mark.django_db
def test_the_attached_evaluation_starts_when_the_launched_job_succeeds(
    member, cast, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr("finetune_portal.evaluations.services.start._enqueue", lambda evaluation_id: None)
    held_out = _held_out(cast)
    form = _launch_form(member, cast.project, _training(cast), **{"evaluate-version": held_out.pk})
    _launch(member, cast.project, form)
    job = FineTuningJob.objects.get(project=cast.project)
    fine_tuned_model_record(job=job, base_model="demo:tiny", adapter_uri=f"file:///adapters/{job.pk}")
    FineTuningJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING)

    with django_capture_on_commit_callbacks(execute=True):
        job_transition(job=job, to=JobStatus.SUCCEEDED)

    evaluation = Evaluation.objects.get()
    assert evaluation.job == job
    assert evaluation.version == held_out
    assert EvaluationOnSuccess.objects.get().evaluation == evaluation


@pytest.mark.django_db(transaction=True)
def test_a_form_sent_twice_at_once_makes_one_job_and_one_attachment(cast):
    held_out = _held_out(cast)
    opener = Client()
    opener.force_login(cast.member)
    form = _launch_form(opener, cast.project, _training(cast), **{"evaluate-version": held_out.pk})
    url = reverse("jobs:new", args=[cast.project.slug])
    start = threading.Barrier(3)
    answers: list = [None] * 3

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

    with broker_for_test(app, DEAD_BROKER):
        threads = [threading.Thread(target=submit, args=(i,)) for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)

    [job] = FineTuningJob.objects.filter(project=cast.project)
    assert [getattr(a, "status_code", a) for a in answers] == [302] * 3
    [attached] = EvaluationOnSuccess.objects.all()
    assert (attached.job_id, attached.version_id) == (job.pk, held_out.pk)
