"""The evaluation pages: new form, the page with progress, verdict and items, download, cancel, fix."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from finetune_portal.datasets.models import DatasetVersion
from finetune_portal.evaluations.models import Evaluation, EvaluationStatus
from finetune_portal.evaluations.services import evaluation_run_in_process
from tests.evaluations.label_provider import POSITIVE, READER

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("labels")]


@pytest.fixture
def member(client, cast):
    client.force_login(cast.member)
    return client


def _new(member, cast, reviews, **extra):
    data = {"version": reviews.pk, "models": [READER, POSITIVE], "metric": "accuracy", "max_tokens": 16}
    return member.post(reverse("evaluations:new", args=[cast.project.slug]), {**data, **extra})


def test_the_form_starts_an_evaluation_and_the_page_shows_the_verdict_and_worst_items(
    member, cast, reviews, django_capture_on_commit_callbacks, monkeypatch
):
    sent = []
    monkeypatch.setattr("finetune_portal.evaluations.services.start._enqueue", sent.append)
    with django_capture_on_commit_callbacks(execute=True):
        response = _new(member, cast, reviews)
    evaluation = Evaluation.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("evaluations:detail", args=[cast.project.slug, evaluation.pk])
    assert sent == [evaluation.pk], "the first batch is sent once the run is saved"

    running = member.get(response.url).content.decode()
    assert "0 of 60 answers scored" in running
    assert 'hx-trigger="every 2s"' in running

    evaluation_run_in_process(evaluation_id=evaluation.pk)
    page = member.get(response.url).content.decode()
    assert f"{READER} is better than {POSITIVE} by 66.7 points" in page
    assert "hx-trigger" not in page
    # worst first: an item the positive-only model got wrong comes before the rest
    assert "The 20 lowest-scored of 30" in page
    assert "<td>2</td>" in page, "a review the positive-only model got wrong is shown"
    assert "<td>1</td>" not in page, "a review both got right is not among the 20 worst"
    assert "Open in playground" in page
    assert 'class="heatmap"' in page

    part = member.get(reverse("evaluations:progress", args=[cast.project.slug, evaluation.pk]))
    assert part["HX-Refresh"] == "true"
    data = json.loads(
        member.get(reverse("evaluations:download", args=[cast.project.slug, evaluation.pk])).content
    )
    assert data["verdict"]["n"] == 30


def test_bad_input_shows_the_form_again_with_the_message(member, cast, reviews):
    response = _new(member, cast, reviews, metric="judge")
    assert response.status_code == 200
    assert "Choose the judge model." in response.content.decode()
    assert not Evaluation.objects.exists()


def test_cancel_and_fix_in_a_new_dataset_version(member, cast, reviews, monkeypatch):
    monkeypatch.setattr("finetune_portal.evaluations.services.start._enqueue", lambda pk: None)
    _new(member, cast, reviews)
    evaluation = Evaluation.objects.get()
    member.post(reverse("evaluations:cancel", args=[cast.project.slug, evaluation.pk]))
    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.CANCELLED

    response = member.post(
        reverse("evaluations:fix", args=[cast.project.slug, evaluation.pk, 2]), {"reference": "NEGATIVE"}
    )
    fixed = DatasetVersion.objects.exclude(pk=reviews.pk).get()
    assert response.status_code == 302
    assert fixed.parent == reviews
    lines = fixed.file.open().read().decode().splitlines()
    assert json.loads(lines[2])["messages"][-1] == {"role": "assistant", "content": "NEGATIVE"}
    assert lines[3] == reviews.file.open().read().decode().splitlines()[3]


def test_outsiders_cannot_see_an_evaluation(client, cast, reviews, monkeypatch):
    monkeypatch.setattr("finetune_portal.evaluations.services.start._enqueue", lambda pk: None)
    client.force_login(cast.member)
    _new(client, cast, reviews)
    client.force_login(cast.outsider)
    evaluation = Evaluation.objects.get()
    response = client.get(reverse("evaluations:detail", args=[cast.project.slug, evaluation.pk]))
    assert response.status_code in (403, 404)
