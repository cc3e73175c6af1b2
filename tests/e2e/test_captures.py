from __future__ import annotations

import pytest

from finetune_portal.captures import services
from finetune_portal.captures.models import Capture
from finetune_portal.captures.running import capture_step
from tests.captures.conftest import fine_tuned, questions  # noqa: F401
from tests.providers.openai.conftest import openai_credential, standin, wind_down_day  # noqa: F401

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("wind_down_day", "openai_credential"),
]


def _fits_a_phone(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_a_capture_is_estimated_started_and_shown_on_the_exit_page(
    page,
    cast,
    log_in,
    screenshot,
    fine_tuned,  # noqa: F811
    questions,  # noqa: F811
    standin,  # noqa: F811
    monkeypatch,
):
    sent: list[int] = []
    monkeypatch.setattr(services, "enqueue_capture", sent.append)
    standin.state.faults.refuse_containing.append("Question 3")
    page.set_viewport_size({"width": 1366, "height": 900})
    log_in(cast.member)
    page.goto(f"/p/{cast.project.slug}/exit/")
    page.get_by_test_id("capture").click()
    page.get_by_label("Prompts").select_option(label="support questions v1 · held out")
    page.get_by_role("button", name="Estimate the cost").click()
    assert page.get_by_test_id("estimate").is_visible()
    screenshot("capture-new-desktop")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot("capture-new-phone")
    _fits_a_phone(page)

    page.get_by_test_id("start-capture").click()
    page.wait_for_url("**/captures/*/")
    capture = Capture.objects.get()
    assert sent == [capture.pk]
    while capture_step(capture_id=capture.pk) is not None:
        pass
    page.reload()
    assert page.get_by_test_id("result-version").is_visible()
    screenshot("capture-detail-phone")
    _fits_a_phone(page)
    page.set_viewport_size({"width": 1366, "height": 900})
    screenshot("capture-detail-desktop")

    page.goto(f"/p/{cast.project.slug}/exit/")
    assert page.get_by_test_id("captured-version").is_visible()
    screenshot("exit-page-captured-desktop")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    screenshot("exit-page-captured-phone")
    _fits_a_phone(page)
