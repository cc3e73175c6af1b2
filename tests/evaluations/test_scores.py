"""Evaluation scores where models are listed and compared: the models page, the comparison page's extra
rows (and its CSV), and the score each run of a sweep is ranked by."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from finetune_portal.evaluations.models import EvaluationStatus
from finetune_portal.evaluations.scores import comparison_rows, job_scores, model_scores
from finetune_portal.inference.catalog import served_model_of
from finetune_portal.jobs.compare import comparison_build, comparison_csv
from tests.evaluations.label_provider import READER
from tests.factories import make_version

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("labels")]


def _name(job) -> str:
    return served_model_of(job.fine_tuned_model).name


@pytest.fixture
def other_version(reviews):
    return make_version(reviews.dataset, content=b"", example_count=30, split_role="validation")


class TestModelScores:
    def test_each_model_gets_its_newest_score_per_metric_and_version(
        self, tuned_job, reviews, other_version, finished_evaluation
    ):
        job, other = tuned_job(), tuned_job()
        finished_evaluation(reviews, {_name(job): 0.5, READER: 0.9})
        newest = finished_evaluation(reviews, {_name(job): 0.75, READER: 0.9})
        on_other_version = finished_evaluation(other_version, {_name(job): 0.25})
        bleu = finished_evaluation(reviews, {_name(job): 31.456}, metric="bleu")

        scores = model_scores([job.fine_tuned_model, other.fine_tuned_model])

        mine = scores[job.fine_tuned_model.pk]
        assert [s.evaluation for s in mine] == [bleu, on_other_version, newest]
        assert [s.text for s in mine] == ["31.46", "25.0%", "75.0%"]
        assert mine[2].measure == f"Exact-match accuracy on bank reviews v{reviews.number}"
        assert mine[2].href == reverse("evaluations:detail", args=[job.project.slug, newest.pk])
        assert scores[other.fine_tuned_model.pk] == [], "a model no evaluation asked has no score"

    def test_running_failed_and_cancelled_evaluations_do_not_count(
        self, tuned_job, reviews, finished_evaluation
    ):
        job = tuned_job()
        for status in (EvaluationStatus.RUNNING, EvaluationStatus.FAILED, EvaluationStatus.CANCELLED):
            evaluation = finished_evaluation(reviews, {_name(job): 1.0})
            evaluation.status = status
            evaluation.save()
        assert model_scores([job.fine_tuned_model]) == {job.fine_tuned_model.pk: []}

    def test_the_models_page_shows_each_models_scores_with_links(
        self, client, cast, tuned_job, reviews, finished_evaluation
    ):
        job, unevaluated = tuned_job(), tuned_job()
        evaluation = finished_evaluation(reviews, {_name(job): 0.875, READER: 0.5})
        client.force_login(cast.member)

        page = client.get(reverse("registry:list", args=[cast.project.slug])).content.decode()

        href = reverse("evaluations:detail", args=[cast.project.slug, evaluation.pk])
        assert f'<a href="{href}"><strong>87.5%</strong></a>' in page
        assert page.count("87.5%") == 1, "the unevaluated model shows no score"
        evaluate = reverse("evaluations:new", args=[cast.project.slug])
        assert f"{evaluate}?model={_name(unevaluated).replace(':', '%3A')}&amp;model={READER}" in page


class TestComparisonRows:
    def test_a_row_per_evaluation_of_any_compared_model_with_a_dash_where_a_model_was_not_in_it(
        self, cast, tuned_job, reviews, finished_evaluation
    ):
        a, b, c = tuned_job(), tuned_job(), tuned_job()
        both = finished_evaluation(reviews, {_name(a): 0.6, _name(b): 0.8})
        only_b = finished_evaluation(reviews, {_name(b): 21.5}, metric="chrf")
        finished_evaluation(reviews, {_name(c): 0.1})  # c is not compared

        rows = comparison_rows([a, b])

        assert [row.label for row in rows] == [
            f"chrF on bank reviews v{reviews.number} (evaluation #{only_b.pk})",
            f"Exact-match accuracy on bank reviews v{reviews.number} (evaluation #{both.pk})",
        ]
        assert [cell.text for cell in rows[0].cells] == ["—", "21.50"]
        assert [cell.text for cell in rows[1].cells] == ["60.0%", "80.0%"]
        assert rows[1].cells[0].href == reverse("evaluations:detail", args=[cast.project.slug, both.pk])

    def test_the_rows_reach_the_comparison_page_and_its_csv(
        self, client, cast, tuned_job, reviews, finished_evaluation
    ):
        a, b = tuned_job(), tuned_job()
        evaluation = finished_evaluation(reviews, {_name(a): 0.5, READER: 0.9})

        table = list(csv.reader(io.StringIO(comparison_csv(comparison_build(cast.project, [a.pk, b.pk])))))
        label = f"Exact-match accuracy on bank reviews v{reviews.number} (evaluation #{evaluation.pk})"
        assert [label, "50.0%", ""] in table

        client.force_login(cast.member)
        page = client.get(reverse("jobs:compare", args=[cast.project.slug]) + f"?ids={a.pk},{b.pk}")
        content = page.content.decode()
        assert 'data-testid="result-row"' in content
        assert label in content

    def test_runs_without_a_model_or_evaluation_add_no_rows(self, cast, reviews):
        from tests.factories import make_job

        jobs = [make_job(cast.project, status="running"), make_job(cast.project, status="failed")]
        assert comparison_rows(jobs) == []
        assert comparison_build(cast.project, [j.pk for j in jobs]).results == []


class TestJobScores:
    def test_the_measure_covering_most_runs_ranks_them(
        self, tuned_job, reviews, other_version, finished_evaluation
    ):
        a, b, c = tuned_job(), tuned_job(), tuned_job()
        finished_evaluation(reviews, {_name(a): 0.4})
        finished_evaluation(reviews, {_name(b): 0.7, READER: 0.9})
        # Newer, but it covers one run: its score would not rank against the others.
        finished_evaluation(other_version, {_name(c): 0.99})

        scores = job_scores([a.pk, b.pk, c.pk])

        assert {job_id: score.value for job_id, score in scores.items()} == {a.pk: 0.4, b.pk: 0.7}
        assert scores[b.pk].text == "70.0%"
        assert scores[b.pk].measure == f"Exact-match accuracy on bank reviews v{reviews.number}"

    def test_a_rerun_on_the_same_measure_replaces_the_older_score(
        self, tuned_job, reviews, finished_evaluation
    ):
        job = tuned_job()
        finished_evaluation(reviews, {_name(job): 0.4})
        newest = finished_evaluation(reviews, {_name(job): 0.6})
        score = job_scores([job.pk])[job.pk]
        assert (score.value, score.href.rstrip("/").rsplit("/", 1)[-1]) == (0.6, str(newest.pk))

    def test_nothing_evaluated_means_no_scores(self, tuned_job):
        assert job_scores([tuned_job().pk]) == {}
