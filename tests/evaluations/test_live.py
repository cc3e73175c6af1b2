"""The job page's evaluations part follows the job's live stream: an attached evaluation's start, its
progress and its end go out on the job's topic, and the part served for the refresh shows them."""

from __future__ import annotations

import pytest
from django.urls import reverse

from finetune_portal.core.live import channel
from finetune_portal.evaluations.models import Evaluation, EvaluationStatus
from finetune_portal.evaluations.on_success import evaluation_on_success_add
from finetune_portal.evaluations.services import evaluation_cancel, evaluation_run_batch
from finetune_portal.jobs.selectors.live import job_live_state
from finetune_portal.jobs.services import job_transition
from finetune_portal.jobs.states import JobStatus

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("labels")]


@pytest.fixture
def published(settings, monkeypatch) -> list[tuple[str, dict]]:
    """What goes out on the live channel (Redis is the edge: the publication itself is caught)."""
    settings.LIVE_REDIS_URL = "redis://127.0.0.1:6379/15"
    sent: list[tuple[str, dict]] = []
    monkeypatch.setattr(channel, "live_publish", lambda *, topic, state: sent.append((topic, state)))
    monkeypatch.setattr("finetune_portal.evaluations.services.start._enqueue", lambda evaluation_id: None)
    return sent


def _token(job) -> str:
    state = job_live_state(job.pk)
    assert state is not None
    return state["parts"]["evaluations"]


def _job_states(sent: list[tuple[str, dict]], job) -> list[dict]:
    return [state for topic, state in sent if topic == f"job:{job.pk}"]


@pytest.fixture
def attached_and_succeeded(cast, tuned_job, reviews, published, django_capture_on_commit_callbacks):
    """A running job with "evaluate on reviews" attached, which then succeeds: its evaluation starts."""
    job = tuned_job(status=JobStatus.RUNNING)
    evaluation_on_success_add(job=job, version=reviews, metric="accuracy", user=cast.member)
    before = _token(job)
    with django_capture_on_commit_callbacks(execute=True):
        job_transition(job=job, to=JobStatus.SUCCEEDED)
    return job, before


def test_the_start_progress_and_end_of_an_attached_evaluation_go_out_on_the_job_stream(
    attached_and_succeeded, published, django_capture_on_commit_callbacks
):
    job, before = attached_and_succeeded
    evaluation = Evaluation.objects.get(job=job)
    started = _job_states(published, job)[-1]
    assert started["parts"]["evaluations"] == _token(job) != before, "the start moved the part's token"

    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert evaluation_run_batch(evaluation_id=evaluation.pk, size=10), "work is left"
    progressed = _job_states(published, job)
    assert progressed, "settled answers are published"
    assert progressed[-1]["parts"]["evaluations"] != started["parts"]["evaluations"]
    assert progressed[-1]["version"] != started["version"], "a new event id: the stream sends it"

    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        while evaluation_run_batch(evaluation_id=evaluation.pk, size=50):
            pass
    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.SUCCEEDED
    finished = _job_states(published, job)[-1]
    assert finished["parts"]["evaluations"] == _token(job) != progressed[-1]["parts"]["evaluations"]


def test_cancelling_an_attached_evaluation_is_published(
    cast, attached_and_succeeded, published, django_capture_on_commit_callbacks
):
    job, _ = attached_and_succeeded
    evaluation = Evaluation.objects.get(job=job)
    running = _token(job)
    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert evaluation_cancel(evaluation=evaluation, user=cast.member)
    assert _job_states(published, job)[-1]["parts"]["evaluations"] == _token(job) != running


def test_a_job_without_evaluations_has_an_empty_token(tuned_job):
    job = tuned_job(status=JobStatus.RUNNING)
    assert job_live_state(job.pk)["parts"] == {"evaluations": ""}


def test_the_part_shows_the_new_state_and_follows_only_while_something_can_change(
    client, cast, attached_and_succeeded, django_capture_on_commit_callbacks
):
    job, _ = attached_and_succeeded
    client.force_login(cast.member)
    evaluation = Evaluation.objects.get(job=job)
    url = reverse("evaluations:job_panel", args=[cast.project.slug, job.pk])

    with django_capture_on_commit_callbacks(execute=True):
        evaluation_run_batch(evaluation_id=evaluation.pk, size=10)
    part = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert part.startswith('<section id="job-evaluations"')
    assert f'data-live-token="{_token(job)}"' in part
    assert "(running, 10 of 60 answers)" in part
    assert 'hx-trigger="evaluations-changed' in part, "a running evaluation is followed"
    # Asked with the token it holds, an unchanged part is not sent again (a form there is left alone).
    assert client.get(url, {"t": _token(job)}, HTTP_HX_REQUEST="true").status_code == 204

    with django_capture_on_commit_callbacks(execute=True):
        while evaluation_run_batch(evaluation_id=evaluation.pk, size=50):
            pass
    response = client.get(url, {"t": "an older token"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    part = response.content.decode()
    assert "(finished)" in part
    assert "33.3%" in part, "and the score it found"
    assert "hx-get" not in part.split(">", 1)[0], "nothing left to follow"


def test_a_pending_attachment_is_followed_until_the_job_ends(client, cast, tuned_job, reviews):
    job = tuned_job(status=JobStatus.RUNNING)
    evaluation_on_success_add(job=job, version=reviews, metric="accuracy", user=cast.member)
    client.force_login(cast.member)
    page = client.get(reverse("jobs:detail", args=[cast.project.slug, job.pk])).content.decode()
    section = page[page.index('<section id="job-evaluations"') :]
    assert 'hx-trigger="evaluations-changed' in section.split(">", 1)[0]
    assert "when the job succeeds" in section


def test_someone_outside_the_project_gets_no_part(client, cast, tuned_job):
    job = tuned_job(status=JobStatus.RUNNING)
    client.force_login(cast.outsider)
    response = client.get(reverse("evaluations:job_panel", args=[cast.project.slug, job.pk]))
    assert response.status_code == 404
