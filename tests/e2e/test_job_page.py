from __future__ import annotations

import math
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from finetune_portal.jobs.services import (
    checkpoint_record,
    job_event_record,
    job_transition,
    metric_points_record,
)
from tests.e2e.conftest import watch_csp
from tests.factories import PASSWORD, make_dataset, make_job, make_version

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def worker_points(first: int, last: int, total: int = 600) -> list[dict]:
    """Points shaped like an OpenAI metrics event: train every step, validation every 10th."""
    points = []
    for step in range(first, last + 1):
        point = {
            "step": step,
            "total_steps": total,
            "train_loss": 2.2 * math.exp(-step / 120) + 0.25 + 0.08 * math.sin(step / 3),
            "train_mean_token_accuracy": min(0.97, 0.55 + step / 900),
        }
        if step % 10 == 0:
            point["valid_loss"] = 2.3 * math.exp(-step / 130) + 0.32
            point["valid_mean_token_accuracy"] = min(0.95, 0.5 + step / 1000)
        if step % 200 == 0:
            point["full_valid_loss"] = 2.3 * math.exp(-step / 130) + 0.3
        points.append(point)
    return points


@pytest.fixture
def running_job(cast):
    version = make_version(make_dataset(cast.project, name="bank-reviews-chat"), example_count=200)
    job = make_job(
        cast.project,
        name="reviews-sft-lr1.8",
        created_by=cast.member,
        status="submitted",
        training_version=version,
        hyperparameters={"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 1.8},
        estimated_cost=Decimal("4.20"),
        trained_tokens=None,
        provider_job_id="ftjob-abc123",
    )
    job_transition(job=job, to="running", reason="Fine-tuning job started")
    job.started_at = timezone.now() - timedelta(minutes=12)
    job.save(update_fields=["started_at"])
    metric_points_record(job=job, points=worker_points(1, 240))
    checkpoint_record(job=job, step=200)
    job_event_record(job=job, message="Fine-tuning job started", provider_event_id="ev-1")
    job_event_record(job=job, message="Step 240/600: training loss=0.61", provider_event_id="ev-2")
    return job


def chart_state(page) -> dict:
    return page.evaluate(
        """() => {
            const el = document.getElementById("loss-chart");
            return {lastStep: el.dataset.lastStep, count: Number(el.dataset.pointCount),
                    drawn: el.uplot ? el.uplot.data[0].length : 0, marker: window.__sameDocument === true};
        }"""
    )


def test_the_chart_gains_new_points_without_a_reload(page, cast, log_in, screenshot, running_job):
    metric_requests: list[str] = []
    page.on("request", lambda r: metric_requests.append(r.url) if "/metrics/" in r.url else None)
    log_in(cast.member)
    page.goto(f"/p/{cast.project.slug}/jobs/{running_job.pk}/")
    chart = page.locator("#loss-chart")
    expect(chart).to_have_attribute("data-last-step", "240")
    page.evaluate("window.__sameDocument = true")
    before = chart_state(page)
    assert before["drawn"] == 240

    # What a worker does when the provider reports more steps.
    metric_points_record(job=running_job, points=worker_points(241, 250))

    expect(chart).to_have_attribute("data-last-step", "250", timeout=3000)
    expect(page.locator('[data-figure="last-step"]')).to_have_text("250")
    after = chart_state(page)
    assert after["marker"] is True, "the page was reloaded"
    assert after["drawn"] == 250
    assert after["count"] > before["count"]
    polls = [url for url in metric_requests if "after_step=" in url]
    assert polls
    assert all("after_step=240" in url or "after_step=250" in url for url in polls)

    # The events log is live too, newest first.
    job_event_record(job=running_job, message="Step 250/600: training loss=0.58", provider_event_id="ev-3")
    events = page.locator("#job-events li")
    expect(events.first).to_contain_text("Step 250/600", timeout=3000)

    expect(page.get_by_role("button", name="Cancel job")).to_be_visible()
    expect(page.locator("#job-status")).to_contain_text("Time left")
    page.get_by_role("switch", name="Log scale").check()
    page.locator('[data-control="x"]').select_option("epoch")
    page.locator("#loss-chart .u-over").hover()
    expect(page.locator(".chart-readout")).to_contain_text("Train loss")
    page.locator('[data-control="x"]').select_option("step")
    page.get_by_role("switch", name="Log scale").uncheck()
    page.get_by_role("link", name="Token accuracy").click()
    expect(page.locator(".chart-legend")).to_contain_text("Validation token accuracy")
    page.get_by_role("link", name="Loss", exact=True).click()
    expect(page.locator(".chart-legend")).to_contain_text("Full validation loss")
    screenshot("job-page-running")


def test_polling_stops_when_the_job_ends(page, cast, log_in, running_job):
    metric_requests: list[str] = []
    page.on("request", lambda r: metric_requests.append(r.url) if "/metrics/" in r.url else None)
    log_in(cast.member)
    page.goto(f"/p/{cast.project.slug}/jobs/{running_job.pk}/")
    expect(page.locator("#loss-chart")).to_have_attribute("data-last-step", "240")

    metric_points_record(job=running_job, points=worker_points(241, 260))
    job_transition(job=running_job, to="succeeded", reason="The job has successfully completed")

    expect(page.locator("#job-status .badge")).to_have_text("Succeeded", timeout=3000)
    expect(page.locator("#loss-chart")).to_have_attribute("data-final", "true", timeout=3000)
    expect(page.locator("#loss-chart")).to_have_attribute("data-last-step", "260")
    expect(page.get_by_role("button", name="Cancel job")).to_have_count(0)
    settled = len(metric_requests)
    page.wait_for_timeout(3500)
    assert len(metric_requests) == settled


def test_zooming_fetches_the_visible_range(page, cast, log_in, running_job):
    log_in(cast.member)
    page.goto(f"/p/{cast.project.slug}/jobs/{running_job.pk}/")
    expect(page.locator("#loss-chart")).to_have_attribute("data-last-step", "240")
    box = page.locator("#loss-chart .u-over").bounding_box()

    with page.expect_response(lambda r: "from=" in r.url and "to=" in r.url) as zoom:
        page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2, steps=5)
        page.mouse.up()

    assert zoom.value.ok
    expect(page.get_by_role("button", name="Reset zoom")).to_be_visible()


def test_the_job_page_fits_a_phone(browser, live_server, cast, running_job):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    phone = context.new_page()
    phone_violations = watch_csp(phone)
    phone.goto("/accounts/login/")
    phone.get_by_label("Username").fill(cast.member.username)
    phone.get_by_label("Password").fill(PASSWORD)
    phone.get_by_role("button", name="Log in").click()
    phone.wait_for_url("**/")
    phone.goto(f"/p/{cast.project.slug}/jobs/{running_job.pk}/")
    expect(phone.locator("#loss-chart")).to_have_attribute("data-last-step", "240")
    width = phone.evaluate("document.documentElement.scrollWidth")
    phone.screenshot(path="test-artifacts/job-page-phone.png", full_page=True)
    context.close()
    assert width <= 390
    assert phone_violations == []


def test_the_owner_cancels_a_queued_job_from_its_page(page, cast, log_in):
    job = make_job(cast.project, name="to-cancel", created_by=cast.member, status="queued")
    log_in(cast.member)
    page.goto(f"/p/{cast.project.slug}/jobs/{job.pk}/")
    questions, posts = [], []
    page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)

    # Asked first; saying no sends nothing.
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Cancel job").click()
    assert posts == []
    job.refresh_from_db()
    assert job.status == "queued"
    assert questions == ["Cancel to-cancel? A run that has started stops and cannot be resumed."]

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel job").click()

    expect(page.get_by_text("Cancel requested.")).to_be_visible()
    expect(page.locator("#job-status .badge")).to_have_text("Cancelled")
    job.refresh_from_db()
    assert job.status == "cancelled"


def test_an_opened_training_log_stays_open_across_live_refreshes(page, cast, log_in, screenshot):
    job = make_job(
        cast.project, name="local-run", provider="local_peft", created_by=cast.member, status="running"
    )
    job_event_record(job=job, message="Training started: 135 steps.", provider_event_id="train-start")
    for step in range(1, 31):
        job_event_record(
            job=job, message=f"Step {step}/135: training loss 1.0", provider_event_id=f"step-{step}"
        )
    log_in(cast.member)
    page.goto(f"/p/{cast.project.slug}/jobs/{job.pk}/")

    log = page.locator("#step-log")
    expect(log).not_to_have_attribute("open", "")
    expect(page.locator("#job-events")).to_contain_text("Training started")
    log.locator("summary").click()
    expect(log).to_have_attribute("open", "")
    screenshot("job-page-training-log")

    job_event_record(job=job, message="Step 31/135: training loss 0.9", provider_event_id="step-31")
    page.evaluate("htmx.trigger(document.getElementById('job-events'), 'live-changed')")
    expect(page.locator("#step-log summary")).to_contain_text("31 step lines")
    expect(page.locator("#step-log")).to_have_attribute("open", "")
