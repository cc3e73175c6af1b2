"""A sweep's runs ranked by their models' evaluation scores, when their models were evaluated."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from finetune_portal.evaluations.models import Evaluation, EvaluationStatus
from finetune_portal.inference.catalog import served_model_of
from finetune_portal.jobs.models import FineTuningJob, MetricPoint
from finetune_portal.jobs.states import JobStatus
from finetune_portal.registry.services import fine_tuned_model_record
from finetune_portal.sweeps.models import SweepRun
from finetune_portal.sweeps.selectors import evaluation_scores, sweep_summary

pytestmark = pytest.mark.django_db


def _finished_runs(sweep, losses):
    """The sweep's runs succeeded with these best validation losses; their models, in run order."""
    models = []
    for run, loss in zip(SweepRun.objects.filter(sweep=sweep).order_by("index"), losses, strict=True):
        FineTuningJob.objects.filter(pk=run.job_id).update(status=JobStatus.SUCCEEDED)
        MetricPoint.objects.create(job_id=run.job_id, step=1, valid_loss=loss)
        model = fine_tuned_model_record(
            job=run.job, base_model="demo:tiny", adapter_uri=f"file:///adapters/{run.job_id}"
        )
        models.append(served_model_of(model).name)
    return models


def _evaluated(cast, version, values: dict[str, float], metric="accuracy"):
    return Evaluation.objects.create(
        project=cast.project,
        version=version,
        metric=metric,
        model_names=list(values),
        status=EvaluationStatus.SUCCEEDED,
        results={"models": {name: {"value": value} for name, value in values.items()}},
    )


def test_the_best_run_is_the_best_scored_not_the_lowest_loss(cast, local_sweep, chat_versions):
    sweep = local_sweep(max_concurrent=3)
    a, b, c = _finished_runs(sweep, [0.3, 0.9, 0.6])
    _, valid = chat_versions
    _evaluated(cast, valid, {a: 0.5, b: 0.8, "demo:tiny": 0.2})
    _evaluated(cast, valid, {c: 0.6, "demo:tiny": 0.2})

    summary = sweep_summary(sweep)

    assert [row.evaluation_score for row in summary.rows] == [0.5, 0.8, 0.6]
    assert summary.best is not None
    assert summary.best.run.index == summary.rows[1].run.index
    assert [row.is_best for row in summary.rows] == [False, True, False]
    assert summary.score_measure == f"Exact-match accuracy on colours v{valid.number}"


def test_without_scores_the_lowest_loss_is_best_and_the_column_says_so(client, cast, local_sweep):
    sweep = local_sweep(max_concurrent=3)
    _finished_runs(sweep, [0.3, 0.9, 0.6])
    summary = sweep_summary(sweep)
    assert evaluation_scores(summary.job_ids) == {}
    assert [row.is_best for row in summary.rows] == [True, False, False]

    client.force_login(cast.member)
    page = client.get(reverse("sweeps:detail", args=[cast.project.slug, sweep.pk])).content.decode()
    assert "No run is evaluated yet" in page
    assert "the best run has the lowest best validation loss" in page


def test_the_sweep_page_shows_each_score_with_its_evaluation_and_marks_the_best(
    client, cast, local_sweep, chat_versions
):
    sweep = local_sweep(max_concurrent=3)
    a, b, c = _finished_runs(sweep, [0.3, 0.9, 0.6])
    _, valid = chat_versions
    evaluation = _evaluated(cast, valid, {a: 0.5, b: 0.8, c: 0.25})
    client.force_login(cast.member)

    page = client.get(reverse("sweeps:detail", args=[cast.project.slug, sweep.pk])).content.decode()

    ids = list(SweepRun.objects.filter(sweep=sweep).order_by("index").values_list("job_id", flat=True))
    best = re.search(r'<tr data-job="(\d+)" class="best-run"', page)
    assert best is not None
    assert int(best.group(1)) == ids[1]
    href = reverse("evaluations:detail", args=[cast.project.slug, evaluation.pk])
    assert f'<a href="{href}">80.0%</a>' in page
    assert (
        f"Eval. score: Exact-match accuracy on colours v{valid.number}. The best run has the highest" in page
    )
