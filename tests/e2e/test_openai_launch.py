"""A user launches an OpenAI job from the form and watches it succeed (stand-in server, real worker)."""

from __future__ import annotations

import time

import pytest
from celery.contrib.testing.worker import start_worker

from finetune_portal.jobs.models import FineTuningJob, MetricPoint
from finetune_portal.jobs.states import JobStatus
from finetune_portal.providers.openai.tasks import jobs_poll_due_task
from tests.providers.openai.conftest import (  # noqa: F401 - fixtures used by name
    make_valid_version,
    memory_broker,
    openai_credential,
    standin,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_member_launches_an_openai_job_and_sees_it_succeed(
    page,
    log_in,
    screenshot,
    cast,
    standin,  # noqa: F811 - the imported fixture
    openai_credential,  # noqa: F811
    memory_broker,  # noqa: F811
):
    version = make_valid_version(cast.project, examples=12)
    log_in(cast.member)
    page.goto(f"/p/{cast.project.slug}/jobs/new/?provider=openai")
    page.get_by_label("Training data").select_option(str(version.pk))
    page.get_by_label("Epochs").fill("2")
    page.get_by_label("Job name").fill("Bank reviews SFT")
    tokens = version.validation_report["stats"]["total_tokens"]
    estimated = page.get_by_test_id("estimated-tokens")
    estimated.filter(has_text=f"{tokens * 2:,}").wait_for()
    screenshot("openai-launch-form")

    with start_worker(
        memory_broker, pool="solo", perform_ping_check=False, shutdown_timeout=10, queues=["openai"]
    ):
        page.get_by_role("button", name="Launch").click()
        page.get_by_text("Bank reviews SFT is queued").wait_for()
        job = FineTuningJob.objects.get(name="Bank reviews SFT")
        for _ in range(200):
            job.refresh_from_db()
            if job.is_final:
                break
            standin.state.advance(5)
            # Five stand-in seconds passed, so the job's poll is due again.
            FineTuningJob.objects.filter(pk=job.pk).update(next_poll_at=None)
            jobs_poll_due_task.delay()  # beat's tick
            time.sleep(0.1)

    assert job.status == JobStatus.SUCCEEDED
    page.reload()
    page.locator(".badge-succeeded").wait_for()
    page.get_by_text("New fine-tuned model created").first.wait_for()
    assert (
        MetricPoint.objects.filter(job=job, train_loss__isnull=False).count()
        == standin.state.jobs[job.provider_job_id].obj["_total_steps"]
    )
    assert len(standin.state.jobs) == 1
    screenshot("openai-job-succeeded")
