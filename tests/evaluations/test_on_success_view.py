"""Attaching "when this job succeeds, evaluate it (and its base) on version X" from the job's page."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from finetune_portal.core.models import AuditEntry
from finetune_portal.evaluations.models import Evaluation, EvaluationOnSuccess
from finetune_portal.jobs.services import job_transition
from finetune_portal.jobs.states import JobStatus
from tests.factories import make_dataset, make_job, make_version

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("labels")]

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def member(client, cast):
    client.force_login(cast.member)
    return client


def _attach(client, job, version, metric="accuracy", **headers):
    url = reverse("evaluations:on_success", args=[job.project.slug, job.pk])
    return client.post(url, {"version": version.pk, "metric": metric}, **headers)


def test_the_job_page_offers_the_form_and_htmx_gets_the_section_back_with_the_attachment(
    member, cast, tuned_job, reviews
):
    job = tuned_job(status=JobStatus.RUNNING)
    page = member.get(reverse("jobs:detail", args=[cast.project.slug, job.pk])).content.decode()
    assert 'id="job-evaluations"' in page
    assert "Evaluate when it succeeds" in page
    assert f'<option value="{reviews.pk}" selected>' in page, "the validation version is picked"

    response = _attach(member, job, reviews, **HTMX)

    assert response.status_code == 200
    section = response.content.decode()
    assert section.startswith('<section id="job-evaluations"')
    assert "attached." in section
    assert "when the job succeeds" in section
    attached = EvaluationOnSuccess.objects.get()
    assert (attached.job, attached.version, attached.metric, attached.created_by) == (
        job,
        reviews,
        "accuracy",
        cast.member,
    )
    assert AuditEntry.objects.filter(action="evaluation.attach", target_id=str(job.pk)).count() == 1


def test_sending_the_form_twice_attaches_once(member, tuned_job, reviews):
    job = tuned_job(status=JobStatus.RUNNING)
    _attach(member, job, reviews, **HTMX)
    again = _attach(member, job, reviews, **HTMX)
    assert "already attached" in again.content.decode()
    assert EvaluationOnSuccess.objects.count() == 1
    assert AuditEntry.objects.filter(action="evaluation.attach").count() == 1


@pytest.mark.django_db(transaction=True)
def test_four_concurrent_submissions_attach_once(cast, tuned_job, reviews):
    job = tuned_job(status=JobStatus.RUNNING)
    start = threading.Barrier(4)
    answers: list = [None] * 4

    def submit(i: int) -> None:
        try:
            client = Client()
            client.force_login(cast.member)
            start.wait()
            answers[i] = _attach(client, job, reviews, **HTMX)
        except Exception as exc:
            answers[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert [getattr(a, "status_code", a) for a in answers] == [200] * 4
    assert EvaluationOnSuccess.objects.filter(job=job).count() == 1
    notices = sorted("already attached" in a.content.decode() for a in answers)
    assert notices == [False, True, True, True], "one request attached it, the others found it"


def test_without_javascript_the_post_returns_to_the_job_page_with_a_message(member, cast, tuned_job, reviews):
    job = tuned_job(status=JobStatus.RUNNING)
    response = _attach(member, job, reviews, follow=True)
    assert response.redirect_chain[-1][0] == reverse("jobs:detail", args=[cast.project.slug, job.pk])
    assert "attached." in response.content.decode()


def test_when_the_job_succeeds_its_model_and_base_are_evaluated(
    member, cast, tuned_job, reviews, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr("finetune_portal.evaluations.services.start._enqueue", lambda evaluation_id: None)
    job = tuned_job(status=JobStatus.RUNNING)
    _attach(member, job, reviews, **HTMX)

    with django_capture_on_commit_callbacks(execute=True):
        job_transition(job=job, to=JobStatus.SUCCEEDED)

    evaluation = Evaluation.objects.get()
    assert evaluation.job == job
    assert EvaluationOnSuccess.objects.get().evaluation == evaluation


def test_a_job_that_already_succeeded_is_evaluated_at_once(
    member, tuned_job, reviews, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr("finetune_portal.evaluations.services.start._enqueue", lambda evaluation_id: None)
    job = tuned_job()
    with django_capture_on_commit_callbacks(execute=True):
        response = _attach(member, job, reviews, **HTMX)
    assert response.status_code == 200
    evaluation = Evaluation.objects.get()
    assert evaluation.model_names[1] == job.fine_tuned_model.base_model


@pytest.mark.parametrize(
    ("status", "metric", "words"),
    [
        (JobStatus.FAILED, "accuracy", "ended without a model"),
        (JobStatus.CANCELLED, "accuracy", "ended without a model"),
        (JobStatus.RUNNING, "judge", "Select a valid choice"),
    ],
)
def test_refusals_say_why_and_save_nothing(member, tuned_job, reviews, status, metric, words):
    job = tuned_job(status=JobStatus.RUNNING)
    job.status = status
    job.save(update_fields=["status"])
    response = _attach(member, job, reviews, metric=metric, **HTMX)
    assert response.status_code == 200
    assert words in response.content.decode()
    assert not EvaluationOnSuccess.objects.exists()


def test_a_version_of_another_project_or_a_preference_set_cannot_be_chosen(member, cast, tuned_job, reviews):
    job = tuned_job(status=JobStatus.RUNNING)
    foreign = make_version(make_dataset(cast.other_project, name="theirs", kind="chat"), example_count=3)
    pairs = make_version(make_dataset(cast.project, name="pairs", kind="dpo"), example_count=3)
    for version in (foreign, pairs):
        response = _attach(member, job, version, **HTMX)
        assert "Select a valid choice" in response.content.decode()
    assert not EvaluationOnSuccess.objects.exists()


def test_outsiders_and_other_projects_jobs_get_404(client, cast, tuned_job, reviews):
    job = tuned_job(status=JobStatus.RUNNING)
    client.force_login(cast.outsider)
    assert _attach(client, job, reviews).status_code == 404
    client.force_login(cast.member)
    theirs = make_job(cast.other_project, status=JobStatus.RUNNING)
    assert _attach(client, theirs, reviews).status_code == 404
    assert not EvaluationOnSuccess.objects.exists()
