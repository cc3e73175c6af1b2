"""Evaluation scores of fine-tuned models, for the pages of apps below this one: the models page, the
comparison page's extra rows and the sweep page's score column (the last two through the jobs app's
outside-results sources, registered in apps.py)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.urls import reverse

from finetune_portal.evaluations.metrics import METRICS
from finetune_portal.evaluations.models import Evaluation, EvaluationStatus
from finetune_portal.inference.catalog import served_model_of
from finetune_portal.jobs.outside_results import JobScore, ResultCell, ResultRow
from finetune_portal.registry.models import FineTunedModel

MISSING = "—"
# The newest finished evaluations of a project searched for a model's name; older ones are not shown.
SEARCHED = 500
# At most this many evaluations become rows of the comparison table, and scores per model on its page.
COMPARISON_ROWS = 8
PER_MODEL = 3


@dataclass(frozen=True)
class ModelScore:
    evaluation: Evaluation
    value: float
    text: str
    measure: str
    href: str


def format_score(metric: str, value: float) -> str:
    """As the evaluation page shows it: a share as a percentage, anything else with two decimals."""
    if METRICS[metric].points == 100.0:
        return f"{value * 100:.1f}%"
    return f"{value:.2f}"


def measure_of(evaluation: Evaluation) -> str:
    version = evaluation.version
    return f"{evaluation.get_metric_display()} on {version.dataset.name} v{version.number}"


def _href(evaluation: Evaluation) -> str:
    return reverse("evaluations:detail", args=[evaluation.project.slug, evaluation.pk])


def _value(evaluation: Evaluation, name: str) -> float | None:
    value = (evaluation.results or {}).get("models", {}).get(name, {}).get("value")
    return float(value) if isinstance(value, int | float) else None


def _served_names(job_ids: Iterable[int]) -> tuple[dict[int, str], set[int]]:
    """Job id -> the name its model is evaluated under (the name evaluations record), and the projects."""
    models = list(FineTunedModel.objects.filter(job_id__in=list(job_ids)).select_related("job__project"))
    return {model.job_id: served_model_of(model).name for model in models}, {m.job.project_id for m in models}


def _finished_covering(project_ids: Iterable[int], names: Iterable[str]) -> list[Evaluation]:
    """The projects' finished evaluations that scored any of these names, newest first."""
    wanted = set(names)
    if not wanted:
        return []
    evaluations = (
        Evaluation.objects.filter(project_id__in=set(project_ids), status=EvaluationStatus.SUCCEEDED)
        .select_related("project", "version__dataset")
        .order_by("-created_at", "-id")[:SEARCHED]
    )
    return [e for e in evaluations if wanted & set(e.model_names)]


def _score(evaluation: Evaluation, name: str) -> ModelScore | None:
    value = _value(evaluation, name)
    if value is None:
        return None
    return ModelScore(
        evaluation=evaluation,
        value=value,
        text=format_score(evaluation.metric, value),
        measure=measure_of(evaluation),
        href=_href(evaluation),
    )


def model_scores(models: Sequence[FineTunedModel]) -> dict[int, list[ModelScore]]:
    """Per fine-tuned model (by pk): its newest score for each metric and dataset version it was
    evaluated on, newest first, at most PER_MODEL."""
    if not models:
        return {}
    names = {model.pk: served_model_of(model).name for model in models}
    project_ids = {model.job.project_id for model in models}
    found: dict[int, list[ModelScore]] = {pk: [] for pk in names}
    seen: dict[int, set[tuple[int, str]]] = {pk: set() for pk in names}
    for evaluation in _finished_covering(project_ids, names.values()):
        for pk, name in names.items():
            measured = (evaluation.version_id, evaluation.metric)
            if len(found[pk]) >= PER_MODEL or measured in seen[pk]:
                continue
            score = _score(evaluation, name)
            if score is not None:
                found[pk].append(score)
                seen[pk].add(measured)
    return found


def comparison_rows(jobs: Sequence) -> list[ResultRow]:
    """One row per finished evaluation that scored any of the runs' models (newest first): each run's
    score in it, or a dash where its model was not in that evaluation."""
    names, project_ids = _served_names(job.pk for job in jobs)
    rows = []
    for evaluation in _finished_covering(project_ids, names.values())[:COMPARISON_ROWS]:
        cells = []
        for job in jobs:
            score = _score(evaluation, names[job.pk]) if job.pk in names else None
            cells.append(ResultCell(score.text, score.href) if score else ResultCell(MISSING))
        rows.append(
            ResultRow(
                label=f"{measure_of(evaluation)} (evaluation #{evaluation.pk})",
                cells=cells,
                href=_href(evaluation),
            )
        )
    return rows


def job_scores(job_ids: Sequence[int]) -> dict[int, JobScore]:
    """Each run's score on the one measure (metric and dataset version) that covers most of the runs,
    the newest evaluation first; runs not evaluated on that measure have no score. Scores on different
    measures never rank against each other."""
    names, project_ids = _served_names(job_ids)
    per_measure: dict[tuple[int, str], dict[int, ModelScore]] = {}
    for evaluation in _finished_covering(project_ids, names.values()):
        runs = per_measure.setdefault((evaluation.version_id, evaluation.metric), {})
        for job_id, name in names.items():
            if job_id not in runs and (score := _score(evaluation, name)) is not None:
                runs[job_id] = score
    if not per_measure:
        return {}
    # Dicts keep insertion order, newest measure first: max() keeps the first of equal counts.
    chosen = max(per_measure.values(), key=len)
    return {
        job_id: JobScore(value=score.value, text=score.text, measure=score.measure, href=score.href)
        for job_id, score in chosen.items()
    }
