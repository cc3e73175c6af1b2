"""The capture pages: the estimate before the start, one capture per form however often it is sent, the
progress page, who may capture, and the exit page's Captured column."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from finetune_portal.captures import services
from finetune_portal.captures.models import Capture, CaptureStatus
from finetune_portal.captures.running import capture_step

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("wind_down_day", "openai_credential")]


@pytest.fixture
def sent(monkeypatch):
    sent: list[int] = []
    monkeypatch.setattr(services, "enqueue_capture", sent.append)
    return sent


def _form(cast, fine_tuned, questions, **extra):
    return {"model": fine_tuned.pk, "source": questions.pk, "mode": "direct", "max_tokens": 64, **extra}


def test_a_member_sees_the_estimate_then_starts_one_capture_however_often_the_form_is_sent(
    client, cast, fine_tuned, questions, sent, django_capture_on_commit_callbacks
):
    client.force_login(cast.member)
    url = reverse("captures:new", args=[cast.project.slug])
    page = client.get(url, {"model": fine_tuned.pk}).content.decode()
    token = re.search(r'name="token" value="([^"]+)"', page)[1]

    estimate = client.post(url, _form(cast, fine_tuned, questions, token=token, action="estimate"))
    body = estimate.content.decode()
    assert 'data-testid="estimate"' in body
    assert "5 prompts" in body
    assert re.search(r"at most \$0\.\d{4}", body)
    assert not Capture.objects.exists(), "an estimate starts nothing"

    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(url, _form(cast, fine_tuned, questions, token=token, action="start"))
        second = client.post(url, _form(cast, fine_tuned, questions, token=token, action="start"))
    capture = Capture.objects.get()
    detail = reverse("captures:detail", args=[cast.project.slug, capture.pk])
    assert first.url == detail
    assert second.url == detail
    assert sent == [capture.pk]
    assert capture.cost_estimate_usd is not None

    page = client.get(detail).content.decode()
    assert 'data-testid="capture-status">Capturing' in page
    assert "0 of 5 prompts settled" in page
    assert reverse("captures:progress", args=[cast.project.slug, capture.pk]) in page


def test_the_progress_part_refreshes_the_page_once_the_capture_has_ended(
    client, cast, fine_tuned, questions, sent
):
    capture, _ = services.capture_start(
        project=cast.project, user=cast.member, fine_tuned_model=fine_tuned, version=questions, mode="direct"
    )
    while capture_step(capture_id=capture.pk) is not None:
        pass
    client.force_login(cast.member)
    progress = client.get(reverse("captures:progress", args=[cast.project.slug, capture.pk]))
    assert progress["HX-Refresh"] == "true"
    page = client.get(reverse("captures:detail", args=[cast.project.slug, capture.pk])).content.decode()
    assert 'data-testid="result-version"' in page
    assert "5 answered" in page

    exit_page = client.get(reverse("exits:project", args=[cast.project.slug])).content.decode()
    assert 'data-testid="captured">captured</a>' in exit_page
    assert f"Answers of {fine_tuned.provider_model_id}"[:37] in exit_page
    assert 'data-testid="captured-version"' in exit_page


def test_bad_input_is_a_message_not_an_error(client, cast, fine_tuned, questions, sent):
    client.force_login(cast.member)
    url = reverse("captures:new", args=[cast.project.slug])
    response = client.post(url, _form(cast, fine_tuned, questions, max_tokens=0, action="start"))
    assert response.status_code == 200
    assert "Ensure this value is greater than or equal to 1" in response.content.decode()
    response = client.post(url, _form(cast, fine_tuned, questions, source="probes", action="start"))
    assert "no saved probes" in response.content.decode()
    assert not Capture.objects.exists()


def test_outsiders_cannot_capture_and_the_exit_page_offers_it_to_members(
    client, cast, fine_tuned, questions, sent
):
    capture, _ = services.capture_start(
        project=cast.project, user=cast.member, fine_tuned_model=fine_tuned, version=questions, mode="direct"
    )
    client.force_login(cast.outsider)
    assert client.get(reverse("captures:new", args=[cast.project.slug])).status_code == 404
    assert client.get(reverse("captures:detail", args=[cast.project.slug, capture.pk])).status_code == 404
    cancel = reverse("captures:cancel", args=[cast.project.slug, capture.pk])
    assert client.post(cancel).status_code == 404
    capture.refresh_from_db()
    assert capture.status == CaptureStatus.RUNNING

    client.force_login(cast.member)
    page = client.get(reverse("exits:project", args=[cast.project.slug])).content.decode()
    assert 'data-testid="capture"' in page
    assert 'data-testid="captured">capturing</a>' in page
    assert client.post(cancel).status_code == 302
    capture.refresh_from_db()
    assert capture.status == CaptureStatus.CANCELLED


def test_the_models_page_offers_a_capture_of_a_model_that_shuts_down(client, cast, fine_tuned):
    client.force_login(cast.member)
    page = client.get(reverse("registry:list", args=[cast.project.slug])).content.decode()
    assert f"{reverse('captures:new', args=[cast.project.slug])}?model={fine_tuned.pk}" in page
