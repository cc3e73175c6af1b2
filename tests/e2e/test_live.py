"""The live channel in a browser: pages follow a running job over one event stream, and poll when the
stream is blocked."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from finetune_portal.jobs.services import job_event_record, job_transition, metric_points_record
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.test_job_page import worker_points
from tests.factories import PASSWORD, make_job

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def running_job(cast):
    job = make_job(cast.project, name="live-sft", created_by=cast.member, status="submitted")
    job_transition(job=job, to="running", reason="Fine-tuning job started")
    metric_points_record(job=job, points=worker_points(1, 120))
    return job


def log_in_on(page, user) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/")


def wait_for_the_servers_subscription(job) -> None:
    """Wait until the server follows ``job`` through its Redis subscription. A page streams from its first
    event, which the server reads for it; the subscription starts beside it and then reads every watched
    job once more. A point recorded before that read reaches the page only as the job's state read afresh,
    without the new points (the page then fetches them). Without Redis the server reads the states itself:
    nothing to wait for."""
    from django.conf import settings

    from finetune_portal.core.live import hub as live_hub
    from tests.celery_support import wait_for

    if settings.LIVE_REDIS_URL:
        topic = f"job:{job.pk}"
        wait_for(lambda: any(hub.current(topic) is not None for hub in list(live_hub._hubs.values())))


def polls(urls: list[str]) -> list[str]:
    """Requests a polling page makes: the chart's "points after step N" and the live parts' refresh."""
    return [url for url in urls if "after_step=" in url or "part=live" in url]


def part_requests(urls: list[str]) -> list[str]:
    """Requests for a part of the job page (the HTMX refresh)."""
    return [url for url in urls if "part=" in url]


def test_two_tabs_get_a_new_point_pushed_without_polling(streaming_context, cast, running_job):
    requests: list[str] = []
    streaming_context.on("request", lambda r: requests.append(r.url))
    first = streaming_context.new_page()
    log_in_on(first, cast.member)
    second = streaming_context.new_page()
    url = f"/p/{cast.project.slug}/jobs/{running_job.pk}/"
    for tab in (first, second):
        tab.goto(url)
        expect(tab.locator("#loss-chart")).to_have_attribute("data-last-step", "120")
    for tab in (first, second):
        expect(tab.locator("html")).to_have_attribute("data-live", "streaming")
    wait_for_the_servers_subscription(running_job)
    # Idle: an open page with nothing new asks the server nothing.
    first.wait_for_timeout(2500)
    assert polls(requests) == []

    metric_points_record(job=running_job, points=worker_points(121, 125))

    for tab in (first, second):
        expect(tab.locator("#loss-chart")).to_have_attribute("data-last-step", "125")
        expect(tab.locator('[data-figure="last-step"]')).to_have_text("125")
    assert [url for url in requests if "after_step=" in url] == []
    streams = [url for url in requests if "/jobs/live/" in url]
    assert len(streams) == 2, streams  # one stream per tab

    # Events and status moves arrive rendered in the same stream: the page asks for no part.
    job_event_record(job=running_job, message="Step 125/600: training loss=0.58")
    for tab in (first, second):
        expect(tab.locator("#job-events li").first).to_contain_text("Step 125/600")
    job_transition(job=running_job, to="succeeded", reason="Done")
    for tab in (first, second):
        expect(tab.locator("#job-status .badge")).to_have_text("Succeeded")
        expect(tab.locator("#loss-chart")).to_have_attribute("data-final", "true")
        expect(tab.get_by_role("button", name="Cancel job")).to_have_count(0)
    assert part_requests(requests) == []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    first.screenshot(path=str(ARTIFACTS / "job-page-live.png"), full_page=True)
    phone = streaming_context.new_page()
    phone.set_viewport_size({"width": 390, "height": 844})
    phone.goto(url)
    expect(phone.locator("#loss-chart")).to_have_attribute("data-last-step", "125")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    phone.screenshot(path=str(ARTIFACTS / "job-page-live-phone.png"), full_page=True)


def test_a_status_change_shows_without_a_request_and_its_buttons_still_work(streaming_context, cast):
    job = make_job(cast.project, name="watched", created_by=cast.member, status="submitted")
    page = streaming_context.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    log_in_on(page, cast.member)
    page.goto(f"/p/{cast.project.slug}/jobs/{job.pk}/")
    expect(page.locator("html")).to_have_attribute("data-live", "streaming")
    page.locator("#job-status").evaluate("status => status.dataset.builtWithPage = 'yes'")

    job_transition(job=job, to="running", reason="Fine-tuning job started")

    expect(page.locator("#job-status .badge")).to_have_text("Running")
    # The part was put in place from the event: a new element, and no request for it.
    expect(page.locator("#job-status")).not_to_have_attribute("data-built-with-page", "yes")
    expect(page.locator("#job-status .timeline")).to_contain_text("Fine-tuning job started")
    assert part_requests(requests) == []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "job-page-live-swap.png"), full_page=True)
    phone = streaming_context.new_page()
    phone.set_viewport_size({"width": 390, "height": 844})
    phone.goto(f"/p/{cast.project.slug}/jobs/{job.pk}/")
    expect(phone.locator("html")).to_have_attribute("data-live", "streaming")
    job_event_record(job=job, message="Step 1/600: training loss=1.2")
    expect(phone.locator("#job-events li").first).to_contain_text("Step 1/600")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    phone.screenshot(path=str(ARTIFACTS / "job-page-live-swap-phone.png"), full_page=True)

    # The cancel button of the swapped-in part posts with the page's token, as the page's own did.
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel job").click()
    expect(page.get_by_text("Cancel requested.")).to_be_visible()
    # A started run stops at the provider first.
    expect(page.locator("#job-status .badge")).to_have_text("Cancelling")
    job.refresh_from_db()
    assert job.status == "cancelling"


def test_a_part_too_big_for_the_event_is_asked_for(streaming_context, cast, running_job, monkeypatch):
    from finetune_portal.core.live import parts as live_parts

    monkeypatch.setattr(live_parts, "INLINE_PART_MAX_BYTES", 2000)
    page = streaming_context.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    log_in_on(page, cast.member)
    page.goto(f"/p/{cast.project.slug}/jobs/{running_job.pk}/")
    expect(page.locator("html")).to_have_attribute("data-live", "streaming")
    wait_for_the_servers_subscription(running_job)

    job_event_record(job=running_job, message="A long note: " + "lorem ipsum " * 200)

    expect(page.locator("#job-events li").first).to_contain_text("A long note")
    assert [url for url in part_requests(requests) if "part=events" in url]
    assert [url for url in part_requests(requests) if "part=status" in url] == []


def test_the_page_polls_when_the_stream_is_blocked(streaming_context, cast, running_job):
    page = streaming_context.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.route("**/jobs/live/**", lambda route: route.abort())
    log_in_on(page, cast.member)
    page.goto(f"/p/{cast.project.slug}/jobs/{running_job.pk}/")
    expect(page.locator("#loss-chart")).to_have_attribute("data-last-step", "120")
    expect(page.locator("html")).to_have_attribute("data-live", "polling")

    metric_points_record(job=running_job, points=worker_points(121, 130))
    job_event_record(job=running_job, message="Step 130/600: training loss=0.55")

    expect(page.locator("#loss-chart")).to_have_attribute("data-last-step", "130")
    expect(page.locator("#job-events li").first).to_contain_text("Step 130/600")
    assert any("after_step=120" in url for url in requests)


def test_a_stream_buffered_by_a_proxy_falls_back_to_polling(streaming_context, cast, running_job):
    """A proxy that holds the stream back: the page hears nothing and polls instead."""
    page = streaming_context.new_page()
    page.route(
        "**/jobs/live/**",
        lambda route: route.fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body=""),
    )
    log_in_on(page, cast.member)
    page.goto(f"/p/{cast.project.slug}/jobs/{running_job.pk}/")
    expect(page.locator("html")).to_have_attribute("data-live", "polling", timeout=20_000)
    metric_points_record(job=running_job, points=worker_points(121, 122))
    expect(page.locator("#loss-chart")).to_have_attribute("data-last-step", "122")


def test_the_comparison_page_grows_with_the_stream(streaming_context, cast, running_job):
    other = make_job(cast.project, name="finished", created_by=cast.member, status="succeeded")
    metric_points_record(job=other, points=worker_points(1, 80))
    page = streaming_context.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    log_in_on(page, cast.member)
    page.goto(f"/p/{cast.project.slug}/jobs/compare/?ids={running_job.pk},{other.pk}")
    chart = page.locator("#compare-chart")
    expect(page.locator("html")).to_have_attribute("data-live", "streaming")
    wait_for_the_servers_subscription(running_job)
    before = int(chart.get_attribute("data-point-count"))

    metric_points_record(job=running_job, points=worker_points(121, 130))

    expect(chart).not_to_have_attribute("data-point-count", str(before))
    assert int(chart.get_attribute("data-point-count")) > before
    assert polls(requests) == []


def refreshes(urls: list[str]) -> list[str]:
    return [url for url in urls if "part=results" in url]


def test_the_runs_list_follows_its_stream(streaming_context, cast, running_job, monkeypatch):
    from finetune_portal.jobs.selectors import live as live_selectors
    from finetune_portal.jobs.services import job_create

    page = streaming_context.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    log_in_on(page, cast.member)
    page.goto(f"/p/{cast.project.slug}/jobs/")
    expect(page.locator("html")).to_have_attribute("data-live", "streaming")
    row = page.locator(f'tr[data-job="{running_job.pk}"]')
    expect(row.locator('[data-figure="run-progress"]')).to_contain_text("step 120 / 600")
    row.get_by_role("checkbox").check()
    page.wait_for_timeout(2500)
    assert refreshes(requests) == []  # nothing new: no request at all

    # A new run appears.
    job_create(
        project=cast.project,
        created_by=cast.member,
        provider="openai",
        name="fresh-run",
        base_model="gpt-4o-mini-2024-07-18",
    )
    expect(page.get_by_role("link", name="fresh-run")).to_be_visible()
    # A status move shows, and the ticked box stays ticked across the refresh.
    job_transition(job=running_job, to="paused", reason="Paused")
    expect(row.locator(".badge")).to_have_text("Paused")
    expect(row.get_by_role("checkbox")).to_be_checked()
    # Progress, counted in refresh periods (the test shortens the period).
    job_transition(job=running_job, to="running", reason="Resumed")
    monkeypatch.setattr(live_selectors, "PROGRESS_REFRESH_SECONDS", 1e-6)
    metric_points_record(job=running_job, points=worker_points(121, 180))
    expect(row.locator('[data-figure="run-progress"]')).to_contain_text("step 180 / 600")
    stream_urls = [url for url in requests if "/jobs/live/runs/" in url]
    assert len(stream_urls) == 1
    assert refreshes(requests) == []  # the rows came rendered in the events

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "runs-list-live.png"), full_page=True)
    phone = streaming_context.new_page()
    phone.set_viewport_size({"width": 390, "height": 844})
    phone.goto(f"/p/{cast.project.slug}/jobs/")
    expect(phone.get_by_role("link", name="fresh-run")).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    phone.screenshot(path=str(ARTIFACTS / "runs-list-live-phone.png"), full_page=True)


def test_the_runs_list_polls_when_its_stream_is_blocked(streaming_context, cast, running_job):
    page = streaming_context.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.route("**/jobs/live/runs/**", lambda route: route.abort())
    log_in_on(page, cast.member)
    page.goto(f"/p/{cast.project.slug}/jobs/")
    expect(page.locator("html")).to_have_attribute("data-live", "polling")

    job_transition(job=running_job, to="succeeded", reason="Done")

    row = page.locator(f'tr[data-job="{running_job.pk}"]')
    # The list polls every 5 s: the move shows at the next poll, up to one period and a render later.
    expect(row.locator(".badge")).to_have_text("Succeeded", timeout=15_000)
    assert refreshes(requests)
