from __future__ import annotations

import pytest
from playwright.sync_api import expect

from finetune_portal.evaluations.services import (
    evaluation_run_batch,
    evaluation_run_in_process,
    evaluation_start,
)
from tests.evaluations.conftest import labels, reviews  # noqa: F401
from tests.evaluations.label_provider import POSITIVE, READER

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("labels")]


def _fits_the_width(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_the_evaluation_page_at_desktop_and_phone_width(page, log_in, screenshot, cast, reviews):  # noqa: F811
    finished = evaluation_start(
        project=cast.project, user=cast.member, version=reviews, model_names=[READER, POSITIVE],
        metric="accuracy", enqueue=False,
    )  # fmt: skip
    evaluation_run_in_process(evaluation_id=finished.pk)
    running = evaluation_start(
        project=cast.project, user=cast.member, version=reviews, model_names=[POSITIVE],
        metric="rouge_l", enqueue=False,
    )  # fmt: skip
    evaluation_run_batch(evaluation_id=running.pk, size=12)
    log_in(cast.member)

    page.goto(f"/p/{cast.project.slug}/evaluations/{finished.pk}/")
    expect(page.get_by_text(f"{READER} is better than {POSITIVE} by 66.7 points")).to_be_visible()
    expect(page.locator("table.heatmap").first).to_be_visible()
    screenshot("evaluation-desktop")
    page.set_viewport_size({"width": 390, "height": 844})
    assert _fits_the_width(page)
    screenshot("evaluation-phone")

    page.goto(f"/p/{cast.project.slug}/evaluations/{running.pk}/")
    expect(page.get_by_text("12 of 30 answers scored")).to_be_visible()
    assert _fits_the_width(page)
    screenshot("evaluation-running-phone")
    page.set_viewport_size({"width": 1280, "height": 860})
    page.goto(f"/p/{cast.project.slug}/evaluations/")
    screenshot("evaluation-list-desktop")
    page.goto(f"/p/{cast.project.slug}/evaluations/new/")
    screenshot("evaluation-new-desktop")
