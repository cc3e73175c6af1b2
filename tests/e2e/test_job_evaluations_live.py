"""An evaluation chosen on the launch form, and the job page's evaluations part following it live, at
desktop and phone width."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from finetune_portal.evaluations.models import Evaluation, EvaluationOnSuccess
from finetune_portal.evaluations.on_success import evaluation_on_success_add
from finetune_portal.evaluations.services import evaluation_run_batch
from finetune_portal.jobs.models import FineTuningJob
from finetune_portal.jobs.services import job_transition
from finetune_portal.registry.services import fine_tuned_model_record
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.test_live import log_in_on
from tests.evaluations import label_provider
from tests.evaluations.conftest import OPENAI, review_lines
from tests.factories import make_dataset, make_job, make_version

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}


def _fits_a_phone(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def _held_out(cast):
    dataset = make_dataset(cast.project, name="bank reviews", kind="chat")
    return make_version(dataset, content=review_lines(30), example_count=30, split_role="validation")


def test_an_evaluation_chosen_on_the_launch_form_is_attached_to_the_job(
    page, log_in, screenshot, cast, broker
):
    held_out = _held_out(cast)
    train = make_version(make_dataset(cast.project, name="train", kind="chat"), example_count=20)
    log_in(cast.member)
    page.set_viewport_size(PHONE)
    page.goto(f"/p/{cast.project.slug}/jobs/new/?provider=local_peft")
    extra = page.get_by_test_id("evaluate-on-launch")
    extra.scroll_into_view_if_needed()
    _fits_a_phone(page)
    screenshot("launch-evaluate-phone")
    extra.screenshot(path=str(ARTIFACTS / "launch-evaluate-part-phone.png"))

    page.set_viewport_size(DESKTOP)
    page.get_by_label("Training data").select_option(str(train.pk))
    extra.get_by_label("When it succeeds, evaluate it and its base on").select_option(str(held_out.pk))
    extra.get_by_label("Metric").select_option("macro_f1")
    screenshot("launch-evaluate-desktop")
    page.get_by_role("button", name="Launch").dblclick()
    page.wait_for_url("**/jobs/*/")

    job = FineTuningJob.objects.get(project=cast.project)
    [attached] = EvaluationOnSuccess.objects.all()
    assert (attached.job_id, attached.version_id, attached.metric) == (job.pk, held_out.pk, "macro_f1")
    section = page.locator("#job-evaluations")
    expect(section.get_by_test_id("attached-evaluations")).to_contain_text("bank reviews v1")
    expect(section.get_by_test_id("attached-evaluations")).to_contain_text("when the job succeeds")


def test_the_evaluations_part_follows_the_attached_evaluation_live(
    streaming_context, settings, cast, monkeypatch
):
    settings.FINETUNE_PROVIDERS = [OPENAI, label_provider.PATH]
    # Batches are run here, by hand, rather than by a worker.
    monkeypatch.setattr("finetune_portal.evaluations.services.start._enqueue", lambda evaluation_id: None)
    held_out = _held_out(cast)
    job = make_job(
        cast.project,
        name="reader",
        created_by=cast.member,
        provider=label_provider.KEY,
        base_model=label_provider.READER,
        status="running",
    )
    fine_tuned_model_record(job=job, base_model=label_provider.READER, adapter_uri=f"file:///a/{job.pk}")
    evaluation_on_success_add(job=job, version=held_out, metric="accuracy", user=cast.member)

    page = streaming_context.new_page()
    log_in_on(page, cast.member)
    page.goto(f"/p/{cast.project.slug}/jobs/{job.pk}/")
    attached = page.get_by_test_id("attached-evaluations")
    expect(attached).to_contain_text("when the job succeeds")

    job_transition(job=job, to="succeeded")  # the attached evaluation starts
    evaluation = Evaluation.objects.get(job=job)
    expect(attached).to_contain_text("(running, 0 of 60 answers)")
    expect(page.locator("html")).to_have_attribute("data-live", "streaming")

    evaluation_run_batch(evaluation_id=evaluation.pk, size=20)
    expect(attached).to_contain_text("(running, 20 of 60 answers)")
    page.set_viewport_size(DESKTOP)
    page.locator("#job-evaluations").scroll_into_view_if_needed()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "job-evaluations-live-desktop.png"), full_page=True)
    page.locator("#job-evaluations").screenshot(path=str(ARTIFACTS / "job-evaluations-part-desktop.png"))
    page.set_viewport_size(PHONE)
    _fits_a_phone(page)
    page.screenshot(path=str(ARTIFACTS / "job-evaluations-live-phone.png"), full_page=True)
    page.locator("#job-evaluations").screenshot(path=str(ARTIFACTS / "job-evaluations-part-phone.png"))

    while evaluation_run_batch(evaluation_id=evaluation.pk, size=50):
        pass
    expect(attached).to_contain_text("(finished)")
    expect(page.get_by_test_id("job-scores")).to_contain_text("Exact-match accuracy on bank reviews v1")
    page.screenshot(path=str(ARTIFACTS / "job-evaluations-finished-phone.png"), full_page=True)


def test_without_the_stream_the_part_is_asked_until_the_evaluation_ends(
    page, log_in, settings, cast, monkeypatch
):
    settings.FINETUNE_PROVIDERS = [OPENAI, label_provider.PATH]
    monkeypatch.setattr("finetune_portal.evaluations.services.start._enqueue", lambda evaluation_id: None)
    held_out = _held_out(cast)
    job = make_job(
        cast.project,
        name="reader",
        created_by=cast.member,
        provider=label_provider.KEY,
        base_model=label_provider.READER,
        status="running",
    )
    fine_tuned_model_record(job=job, base_model=label_provider.READER, adapter_uri=f"file:///a/{job.pk}")
    evaluation_on_success_add(job=job, version=held_out, metric="accuracy", user=cast.member)
    job_transition(job=job, to="succeeded")
    evaluation = Evaluation.objects.get(job=job)

    log_in(cast.member)
    page.goto(f"/p/{cast.project.slug}/jobs/{job.pk}/")  # under WSGI: the stream answers 204
    attached = page.get_by_test_id("attached-evaluations")
    expect(attached).to_contain_text("(running, 0 of 60 answers)")
    expect(page.locator("html")).to_have_attribute("data-live", "polling")

    while evaluation_run_batch(evaluation_id=evaluation.pk, size=50):
        pass
    expect(attached).to_contain_text("(finished)", timeout=25_000)
