"""An OpenAI endpoint that cannot be reached: bounded, shown retries, then a failed job; cancel without it;
exceptions that survive Celery's pickling."""

from __future__ import annotations

import pickle
import socket
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from finetune_portal.credentials.services import credential_create
from finetune_portal.datasets.errors import DatasetInputError
from finetune_portal.datasets.validation.crash import ValidationCrash
from finetune_portal.jobs.models import FineTuningJob
from finetune_portal.jobs.services import job_cancel
from finetune_portal.jobs.states import IllegalTransition, JobStatus
from finetune_portal.providers.base import ProviderError, ProviderUnavailable
from finetune_portal.providers.openai import tasks
from finetune_portal.providers.openai.control import job_cancel_at_provider
from finetune_portal.providers.openai.mapping import RetryLater
from finetune_portal.providers.openai.reaper import jobs_reap
from finetune_portal.providers.openai.retries import submit_retry_or_give_up
from finetune_portal.providers.openai.submit import claim_for_submit, job_submit
from finetune_portal.providers.peft.base_models import BaseModelError
from tests.factories import make_job
from tests.providers.openai.conftest import make_valid_version, queued_job

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "error",
    [
        ProviderError("OpenAI said no", permanent=True, hint="Fix the key", code="invalid_api_key"),
        ProviderUnavailable("The provider is not installed"),
        RetryLater("Could not reach OpenAI: connection error", retry_after=30),
        IllegalTransition("queued", "succeeded"),
        ValidationCrash(3, 9, "KeyError", "messages"),
        BaseModelError("not allowed"),
        DatasetInputError("bad file"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_exceptions_that_cross_celery_pickle_with_their_fields(error):
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes, as Celery does

    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert copy.__dict__ == error.__dict__


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def unreachable_credential(settings, cast, closed_port, monkeypatch):
    settings.OPENAI_REQUEST_TIMEOUT = 2.0
    # The SDK's own retries (two, with backoff) stay on; only their wait is shortened for the test.
    monkeypatch.setattr("openai._base_client.INITIAL_RETRY_DELAY", 0.01)
    return credential_create(
        kind="openai",
        secret="sk-unreachable-0000",
        label="Nothing listens here",
        base_url=f"http://127.0.0.1:{closed_port}/v1",
        actor=cast.site_admin,
    )


def test_an_unreachable_openai_fails_the_job_after_the_shown_retries(
    cast, unreachable_credential, monkeypatch
):
    monkeypatch.setattr(tasks, "SUBMIT_MAX_RETRIES", 3)
    job = queued_job(cast)

    result = tasks.job_submit_task.apply(args=(job.pk,), task_id="task-1")

    assert result.successful()  # the job ended; nothing for Celery to retry or to pickle
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error_message == "Could not reach OpenAI: connection error — gave up after 4 tries."
    assert "base URL" in job.error_hint
    assert job.claimed_by == ""
    retries = [e.message for e in job.events.order_by("id") if "retry" in e.message]
    assert [m.split(" at ")[0] for m in retries] == [
        f"Could not reach OpenAI: connection error — retry {n} of 3" for n in (1, 2, 3)
    ]
    # Failed jobs are not the reaper's to send again, however much later it looks.
    assert job.pk not in jobs_reap(now=timezone.now() + timedelta(hours=3)).resubmit


def test_the_job_page_shows_the_retry_while_it_waits(client, cast, unreachable_credential):
    job = queued_job(cast)
    with pytest.raises(RetryLater) as raised:
        job_submit(job_id=job.pk, worker_id="task-1")

    wait = submit_retry_or_give_up(job_id=job.pk, worker_id="task-1", error=raised.value, max_retries=12)

    assert wait == 30
    job.refresh_from_db()
    assert job.status == JobStatus.VALIDATING_FILES
    client.force_login(cast.member)
    page = client.get(reverse("jobs:detail", args=[cast.project.slug, job.pk])).content.decode()
    at = timezone.localtime(timezone.now() + timedelta(seconds=30))
    notice = "Could not reach OpenAI: connection error — retry 1 of 12 at"
    assert notice in page
    assert f"{notice} {at:%H:%M}" in page or f"{notice} {at - timedelta(minutes=1):%H:%M}" in page
    # While it waits, its heartbeat is fresh: the reaper does not send a second submission.
    assert job.pk not in jobs_reap(now=timezone.now() + timedelta(minutes=5)).resubmit


def test_cancel_of_a_job_that_never_reached_openai_ends_at_once_without_calling_it(
    cast, unreachable_credential
):
    job = queued_job(cast)
    assert claim_for_submit(job, worker_id="task-1")  # claimed; OpenAI never answered
    job_cancel(job=job, actor=cast.member)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLING

    job_cancel_at_provider(job_id=job.pk)  # would raise RetryLater if it tried the closed port

    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert (
        FineTuningJob.objects.get(pk=job.pk)
        .transitions.filter(to_status=JobStatus.CANCELLED, reason="Cancelled before it reached OpenAI")
        .exists()
    )


def test_a_retrying_cancel_is_not_sent_again_by_the_reaper(cast, unreachable_credential):
    job = make_job(
        cast.project,
        created_by=cast.member,
        status=JobStatus.CANCELLING,
        provider_job_id="ftjob-remote",
        training_version=make_valid_version(cast.project),
    )
    FineTuningJob.objects.filter(pk=job.pk).update(status_changed_at=timezone.now() - timedelta(hours=1))

    result = tasks.job_cancel_task.apply(args=(job.pk,), task_id="cancel-1")

    assert result.successful()
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLING
    messages = [e.message for e in job.events.order_by("id")]
    assert messages[0].startswith("Cancel: Could not reach OpenAI: connection error — retry 1 of 12 at")
    assert "gave up after 13 tries" in messages[-1]
    # Sent again once the last try has been silent for a while, and then not again at every beat.
    later = timezone.now() + timedelta(minutes=11)
    assert jobs_reap(now=later).recancel == [job.pk]
    assert jobs_reap(now=later + timedelta(minutes=1)).recancel == []
