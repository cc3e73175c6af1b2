"""Proving parity from the exit page: one click compares the OpenAI model with its local replacement on
held-out items, and the evaluation's verdict is said in plain words on the page."""

from __future__ import annotations

import pytest

from finetune_portal.evaluations.models import Evaluation, EvaluationStatus
from finetune_portal.evaluations.services import evaluation_run_in_process
from finetune_portal.evaluations.stats import verdict
from finetune_portal.exits.parity import parity_words
from finetune_portal.inference.catalog import served_model_of
from tests.exits.conftest import reviews_version

pytestmark = pytest.mark.django_db

EXIT = "/p/bank-reviews/exit/"


def _click(client, job, **data):
    """What the Parity cell's form sends with its defaults left alone."""
    page = client.get(EXIT)
    form = next(row.parity_form for row in page.context["rows"] if row.job.pk == job.pk)
    sent = {"version": form["version"].value() or "", "metric": form["metric"].value(), **data}
    return client.post(f"{EXIT}parity/{job.pk}/", sent)


def test_one_click_compares_both_models_on_the_validation_version_and_the_page_says_the_verdict(
    client, cast, imported_model, replacement
):
    held_out = reviews_version(cast, 30)
    imported_model.validation_version = held_out
    imported_model.save(update_fields=["validation_version"])
    client.force_login(cast.member)
    assert 'data-testid="prove-parity"' in client.get(EXIT).content.decode()

    response = _click(client, imported_model)

    evaluation = Evaluation.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/p/bank-reviews/evaluations/{evaluation.pk}/"
    assert evaluation.version == held_out
    assert evaluation.metric == "accuracy", "short labels are scored by exact match"
    assert evaluation.job == replacement
    assert evaluation.model_names == [
        served_model_of(replacement.fine_tuned_model).name,
        imported_model.fine_tuned_model.provider_model_id,
    ]
    running = client.get(EXIT).content.decode()
    assert 'data-testid="parity-running"' in running
    assert "The local model" not in running

    evaluation_run_in_process(evaluation_id=evaluation.pk)

    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.SUCCEEDED
    found = evaluation.results["verdict"]
    # The local model answers POSITIVE (right on every third review); the stand-in echoes the prompt.
    assert found["n"] == 30
    assert found["difference"] == pytest.approx(100 / 3)
    low, high = found["ci95"]
    page = client.get(EXIT).content.decode()
    assert (
        f"The local model is better by 33.3 points, 95% CI {low:.1f}\u2013{high:.1f}, n = 30 "
        "(Exact-match accuracy)." in page
    )
    assert 'data-testid="parity-running"' not in page
    assert f"/p/bank-reviews/evaluations/{evaluation.pk}/" in page


def test_a_double_click_starts_one_evaluation(client, cast, imported_model, replacement):
    held_out = reviews_version(cast, 12)
    client.force_login(cast.member)
    first = _click(client, imported_model, version=held_out.pk)
    second = _click(client, imported_model, version=held_out.pk)
    assert Evaluation.objects.count() == 1
    assert first["Location"] == second["Location"]
    assert "already running" in client.get(second["Location"]).content.decode()


def test_an_imported_model_without_validation_data_asks_for_the_held_out_version(
    client, cast, imported_model, replacement
):
    held_out = reviews_version(cast, 12)
    client.force_login(cast.member)
    response = _click(client, imported_model)
    assert not Evaluation.objects.exists()
    assert "Choose the held-out version to compare on." in client.get(response["Location"]).content.decode()

    _click(client, imported_model, version=held_out.pk, metric="rouge_l")
    evaluation = Evaluation.objects.get()
    assert (evaluation.version, evaluation.metric) == (held_out, "rouge_l")


def test_too_few_items_are_said_to_be_too_few(client, cast, imported_model, replacement):
    held_out = reviews_version(cast, 6)
    client.force_login(cast.member)
    _click(client, imported_model, version=held_out.pk)
    evaluation_run_in_process(evaluation_id=Evaluation.objects.get().pk)
    page = client.get(EXIT).content.decode()
    assert "Too few items for a verdict: n = 6 scored by both models (Exact-match accuracy)." in page


def test_without_a_succeeded_replacement_there_is_nothing_to_compare(
    client, cast, imported_model, replacement
):
    replacement.status = "running"
    replacement.save(update_fields=["status"])
    held_out = reviews_version(cast, 12)
    client.force_login(cast.member)
    page = client.get(EXIT).content.decode()
    assert 'data-testid="prove-parity"' not in page
    assert "no local replacement has succeeded yet" in page
    response = client.post(f"{EXIT}parity/{imported_model.pk}/", {"version": held_out.pk, "metric": "auto"})
    assert "retrain it first" in client.get(response["Location"]).content.decode()
    assert not Evaluation.objects.exists()


def test_an_outsider_cannot_start_a_comparison(client, cast, imported_model, replacement):
    held_out = reviews_version(cast, 12)
    client.force_login(cast.outsider)
    response = client.post(f"{EXIT}parity/{imported_model.pk}/", {"version": held_out.pk, "metric": "auto"})
    assert response.status_code == 404
    assert not Evaluation.objects.exists()


@pytest.mark.parametrize(
    ("local", "remote", "said"),
    [
        ([1.0] * 20, [1.0] * 10 + [0.0] * 10, "The local model is better by 50.0 points"),
        (
            [1.0] * 10 + [0.0] * 10,
            [1.0] * 20,
            "The local model is worse by 50.0 points, 95% CI 28.1\u201371.9",
        ),
        ([1.0, 0.0] * 10, [0.0, 1.0] + [1.0, 0.0] * 9, "The local model matches within 0.0 points"),
    ],
)
def test_the_evaluations_verdict_is_said_from_the_local_models_side(local, remote, said):
    found = verdict(a_name="local", b_name="openai", a=local, b=remote, binary=True, points=100)
    evaluation = Evaluation(metric="accuracy", results={"verdict": found.as_json()})
    assert parity_words(evaluation).startswith(said)
    assert parity_words(evaluation).endswith("n = 20 (Exact-match accuracy).")


def test_the_replacements_page_starts_the_comparison_of_that_replacement(
    client, cast, imported_model, replacement
):
    imported_model.validation_version = reviews_version(cast, 12)
    imported_model.save(update_fields=["validation_version"])
    client.force_login(cast.member)
    page = client.get(f"/p/bank-reviews/jobs/{replacement.pk}/").content.decode()
    assert 'data-testid="prove-parity"' in page
    assert f'name="replacement" value="{replacement.pk}"' in page

    client.post(
        f"{EXIT}parity/{imported_model.pk}/",
        {"version": imported_model.validation_version_id, "metric": "auto", "replacement": replacement.pk},
    )
    assert Evaluation.objects.get().job == replacement
    response = client.post(
        f"{EXIT}parity/{imported_model.pk}/",
        {"version": imported_model.validation_version_id, "metric": "auto", "replacement": imported_model.pk},
    )
    assert "not a succeeded local replacement" in client.get(response["Location"]).content.decode()
