"""A user launches an OpenAI job from the form and watches it succeed (stand-in server, real worker)."""

from __future__ import annotations

import pytest
from celery.contrib.testing.worker import start_worker
from playwright.sync_api import expect

from finetune_portal.jobs.models import FineTuningJob, MetricPoint
from finetune_portal.jobs.states import JobStatus
from finetune_portal.providers.openai.tasks import job_poll_task
from tests.celery_support import wait_for
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

    with start_worker(memory_broker, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        page.get_by_role("button", name="Launch").click()
        page.get_by_text("Bank reviews SFT is queued").wait_for()
        job = FineTuningJob.objects.get(name="Bank reviews SFT")
        wait_for(lambda: FineTuningJob.objects.get(pk=job.pk).status == JobStatus.SUBMITTED)
        standin.state.run_to_completion()
        job_poll_task.delay(job.pk)  # the poll beat's fan-out sends once the interval is up
        wait_for(lambda: FineTuningJob.objects.get(pk=job.pk).is_final)

    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    page.reload()
    page.locator(".badge-succeeded").wait_for()
    page.get_by_text("New fine-tuned model created").first.wait_for()
    assert (
        MetricPoint.objects.filter(job=job, train_loss__isnull=False).count()
        == standin.state.jobs[job.provider_job_id].obj["_total_steps"]
    )
    assert len(standin.state.jobs) == 1
    # The chart draws the finished run up to its last recorded step, at least one point per step.
    chart = page.locator("#loss-chart")
    steps = list(MetricPoint.objects.filter(job=job).values_list("step", flat=True))
    page.wait_for_function(
        "step => document.querySelector('#loss-chart').dataset.lastStep === String(step)", arg=max(steps)
    )
    assert int(chart.get_attribute("data-point-count")) >= len(steps)
    assert chart.locator("canvas").count() >= 1
    screenshot("openai-job-succeeded")


def test_form_errors_are_shown_next_to_their_field(page, log_in, screenshot, cast):
    version = make_valid_version(cast.project, kind="rft")
    log_in(cast.member)
    page.goto(f"/p/{cast.project.slug}/jobs/new/?provider=openai")
    page.locator("#id_method").select_option("rft")
    page.get_by_label("Base model").fill("o4-mini-2025-04-16")
    page.get_by_label("Training data").select_option(str(version.pk))
    page.get_by_role("button", name="Launch").click()

    error = page.locator('.field-error[data-field="grader"]')
    error.wait_for()
    assert "needs a grader" in error.inner_text()
    assert FineTuningJob.objects.count() == 0
    screenshot("openai-launch-form-errors")


def test_a_member_pauses_and_resumes_a_running_openai_job(
    page,
    log_in,
    screenshot,
    cast,
    standin,  # noqa: F811
    openai_credential,  # noqa: F811
    memory_broker,  # noqa: F811
):
    from finetune_portal.jobs.services import job_launch
    from finetune_portal.providers.openai.submit import job_submit
    from finetune_portal.providers.openai.sync import job_poll
    from tests.factories import make_job

    job = make_job(
        cast.project,
        created_by=cast.member,
        name="Bank reviews SFT",
        training_version=make_valid_version(cast.project, examples=12),
    )
    job_launch(job=job, actor=cast.member)
    job_submit(job_id=job.pk, worker_id="task-1")
    standin.state.advance(14)
    job_poll(job_id=job.pk)
    log_in(cast.member)
    page.goto(f"/p/{cast.project.slug}/jobs/{job.pk}/")
    page.locator(".badge-running").wait_for()

    with start_worker(memory_broker, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        page.get_by_role("button", name="Pause").click()
        page.get_by_text("Pause requested").first.wait_for()
        wait_for(lambda: FineTuningJob.objects.get(pk=job.pk).status == JobStatus.PAUSED)
        page.locator(".badge-paused").wait_for()  # the live status part picks it up, no reload
        assert page.get_by_role("button", name="Pause").count() == 0
        screenshot("openai-job-paused")

        page.get_by_role("button", name="Resume").click()
        wait_for(lambda: FineTuningJob.objects.get(pk=job.pk).status == JobStatus.RUNNING)
        page.locator(".badge-running").wait_for()
    job.refresh_from_db()
    assert standin.state.jobs[job.provider_job_id].obj["status"] == "running"


def test_the_form_follows_the_method_and_the_model_picked(page, log_in, screenshot, cast):
    chat = make_valid_version(cast.project, kind="chat", examples=12)
    dpo = make_valid_version(cast.project, kind="dpo", examples=12)
    log_in(cast.member)
    page.goto(f"/p/{cast.project.slug}/jobs/new/?provider=openai")
    training = page.locator("#id_training_version")
    assert training.locator(f'option[value="{dpo.pk}"]').count() == 0

    page.locator("#id_method").select_option("dpo")
    expect(page.locator('details[data-method="dpo"]')).to_have_attribute("open", "")
    expect(training.locator(f'option[value="{dpo.pk}"]')).to_have_count(1)
    expect(training.locator(f'option[value="{chat.pk}"]')).to_have_count(0)
    expect(page.get_by_label("DPO beta")).to_be_visible()

    page.locator("#id_method").select_option("sft")
    expect(page.locator('details[data-method="dpo"]')).not_to_have_attribute("open", "")
    training.select_option(str(chat.pk))
    cost = page.get_by_test_id("estimated-cost")
    expect(cost).not_to_have_text("—")
    before = cost.inner_text()
    # Picking from the model list sends an input event and no keyup: the estimate follows it.
    page.get_by_label("Base model").fill("gpt-4o-2024-08-06")
    expect(cost).not_to_have_text(before)
    screenshot("openai-launch-form-method")


def test_errors_are_summed_up_at_the_top_with_links(page, log_in, screenshot, cast):
    make_valid_version(cast.project, kind="chat")
    log_in(cast.member)
    page.goto(f"/p/{cast.project.slug}/jobs/new/?provider=openai")
    page.get_by_label("Base model").fill("")
    page.get_by_role("button", name="Launch").click()
    summary = page.get_by_test_id("error-summary")
    expect(summary).to_be_visible()
    summary.get_by_role("link", name="Training data").click()
    expect(page.locator("#id_training_version")).to_be_focused()
    screenshot("openai-launch-form-error-summary")
