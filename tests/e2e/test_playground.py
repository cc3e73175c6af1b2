"""The playground from a user's side: from a succeeded job's "Try it" to two models answering side by side
as their answers stream in, a probe saved and run on both, and the same page on a phone."""

from __future__ import annotations

import threading

import pytest
from celery.contrib.testing.worker import start_worker
from playwright.sync_api import expect

from finetune_portal.celery import app as celery_app
from finetune_portal.playground.models import Probe
from tests.playground import paced_provider
from tests.playground.conftest import _fresh_cache, adapter, scripted  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_member_tries_a_model_next_to_a_base_then_runs_a_probe_on_both(
    page,
    cast,
    adapter,  # noqa: F811 (the fixture imported above)
    log_in,
    screenshot,
    broker,
):
    gate = threading.Event()
    paced_provider.PacedChatProvider.gate = gate  # the base model holds after its first piece
    slug = cast.project.slug

    log_in(cast.member)
    page.goto(f"/p/{slug}/jobs/{adapter.job_id}/")
    page.locator("#job-outputs").scroll_into_view_if_needed()
    screenshot("job-outputs-try-it")
    page.get_by_test_id("try-it").click()
    expect(page.locator("#playground[data-ready]")).to_be_attached()  # its buttons answer
    expect(page.locator(".pg-model").first).to_have_value(adapter.name)

    page.get_by_role("button", name="Add a model to compare").click()
    page.locator(".pg-model").nth(1).select_option(paced_provider.BASE)
    page.get_by_label("Message").fill("Hi there")
    page.get_by_role("button", name="Send").click()

    fine_tuned = page.locator('.pg-answer[data-col="0"]')
    base = page.locator('.pg-answer[data-col="1"]')
    expect(fine_tuned).to_contain_text("Hello there")
    expect(fine_tuned.locator(".pg-figures")).to_contain_text("12 → 3 tokens")
    expect(fine_tuned.locator(".pg-figures")).to_contain_text("$0.002500")
    # The base model's first piece is on the page while it is still answering.
    expect(base.locator(".pg-text")).to_have_text("Hel")
    expect(base).to_have_class("pg-answer pg-streaming")
    gate.set()
    expect(base.locator(".pg-text")).to_have_text("Hello there")
    expect(base.locator(".pg-figures")).to_contain_text("5 → 3 tokens")
    screenshot("playground-side-by-side")

    page.get_by_text("Save as a probe, copy the conversation").click()
    page.get_by_label("Probe name").fill("Greeting")
    page.get_by_role("button", name="Save as probe").click()
    expect(page.locator("#pg-save-result")).to_have_text("Saved the probe 'Greeting'.")
    assert Probe.objects.get().messages == [{"role": "user", "content": "Hi there"}]

    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        page.goto(f"/p/{slug}/playground/probes/")
        for name in (adapter.name, paced_provider.BASE):
            page.get_by_label("Model to run the probes on").select_option(name)
            page.get_by_role("button", name="Run all probes (1)").click()
            expect(page.locator(".flash-success")).to_contain_text("answers appear below")
        grid = page.locator("#probe-grid")
        expect(grid.locator("thead th")).to_have_count(3)
        expect(grid.locator("td.probe-done")).to_have_count(2)  # the grid polls until both have answered
    expect(grid).to_contain_text("Hello there")
    screenshot("playground-probe-grid")

    # On a phone the columns stack, each answer labelled with its model; nothing is wider than the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"/p/{slug}/playground/?model={adapter.name}&model={paced_provider.BASE}")
    expect(page.locator("#playground[data-ready]")).to_be_attached()
    page.get_by_label("Message").fill("Hi again")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".pg-answer .pg-figures")).to_have_count(2)
    screenshot("playground-side-by-side-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    boxes = [page.locator(f'.pg-answer[data-col="{col}"]').bounding_box() for col in (0, 1)]
    assert boxes[1]["y"] > boxes[0]["y"]  # stacked, not squeezed side by side
    page.goto(f"/p/{slug}/playground/probes/")
    screenshot("playground-probe-grid-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
