"""Each project may start only so many answers per period; the count is the project's, not the user's."""

from __future__ import annotations

import threading

import pytest
from django.test import RequestFactory

from finetune_portal.inference.limits import inference_allowed, inference_rate

pytestmark = pytest.mark.django_db


@pytest.fixture
def request_():
    return RequestFactory().post("/v1/chat/completions")


def test_answers_past_the_rate_are_denied_for_that_project_only(cast, settings, request_):
    # An hour-long window, so the test does not straddle two windows.
    settings.INFERENCE_RATE_LIMIT = "3/h"

    allowed = [inference_allowed(request_, cast.project) for _ in range(5)]

    assert allowed == [True, True, True, False, False]
    assert inference_allowed(request_, cast.other_project) is True


def test_the_rate_defaults_to_sixty_a_minute(settings):
    del settings.INFERENCE_RATE_LIMIT
    assert inference_rate() == "60/m"


def test_requests_arriving_at_once_are_counted_exactly(cast, settings):
    settings.INFERENCE_RATE_LIMIT = "5/h"
    results: list[bool] = []
    start = threading.Barrier(12)

    def ask() -> None:
        request = RequestFactory().post("/v1/chat/completions")
        start.wait()
        results.append(inference_allowed(request, cast.project))

    threads = [threading.Thread(target=ask) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [False] * 7 + [True] * 5
