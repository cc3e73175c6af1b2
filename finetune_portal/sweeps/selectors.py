"""Reads for the sweep pages: a project's sweeps, and a sweep's runs with their figures."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, QuerySet
from django.shortcuts import get_object_or_404

from finetune_portal.jobs.models import FineTuningJob
from finetune_portal.jobs.outside_results import JobScore, job_scores
from finetune_portal.jobs.selectors.lists import with_run_figures
from finetune_portal.jobs.states import JobStatus
from finetune_portal.sweeps.models import Sweep, SweepRun


def sweeps_for_project(project) -> QuerySet[Sweep]:
    return (
        Sweep.objects.filter(project=project).select_related("created_by").annotate(run_count=Count("runs"))
    )


def sweep_for_project(project, sweep_id: int) -> Sweep:
    return get_object_or_404(Sweep.objects.select_related("created_by"), pk=sweep_id, project=project)


def evaluation_scores(job_ids: Iterable[int]) -> dict[int, JobScore]:
    """Each run's evaluation score (higher is better), where its model was evaluated: all on the one
    measure (metric and dataset version) that covers most of the runs, so they rank against each other."""
    return job_scores(list(job_ids))


@dataclass(frozen=True)
class SweepRow:
    run: SweepRun
    job: FineTuningJob
    best_valid_loss: float | None
    evaluation: JobScore | None
    is_best: bool = False

    @property
    def evaluation_score(self) -> float | None:
        return self.evaluation.value if self.evaluation is not None else None

    @property
    def params(self) -> dict[str, Any]:
        return self.run.params


@dataclass(frozen=True)
class SweepSummary:
    rows: list[SweepRow]
    best: SweepRow | None
    counts: dict[str, int]
    # What the evaluation scores measure ("Exact-match accuracy on reviews v3"), when a run has one.
    score_measure: str = ""

    @property
    def unfinished(self) -> int:
        return sum(1 for row in self.rows if not row.job.is_final)

    @property
    def job_ids(self) -> list[int]:
        return [row.job.pk for row in self.rows]


def sweep_summary(sweep: Sweep) -> SweepSummary:
    """Every run in order with its best validation loss and evaluation score; the best run marked.

    The best run is the one with the highest evaluation score where runs have scores, else the lowest best
    validation loss.
    """
    runs = list(SweepRun.objects.filter(sweep=sweep).order_by("index"))
    jobs = {
        job.pk: job
        for job in with_run_figures(
            FineTuningJob.objects.filter(pk__in=[run.job_id for run in runs]).select_related(
                "training_version__dataset"
            )
        )
    }
    scores = evaluation_scores(jobs)
    rows = [
        SweepRow(
            run=run,
            job=jobs[run.job_id],
            best_valid_loss=getattr(jobs[run.job_id], "best_valid_loss", None),
            evaluation=scores.get(run.job_id),
        )
        for run in runs
    ]
    scored = [row for row in rows if row.evaluation_score is not None]
    with_loss = [row for row in rows if row.best_valid_loss is not None]
    best = None
    if scored:
        best = max(scored, key=lambda row: row.evaluation_score or 0.0)
    elif with_loss:
        best = min(with_loss, key=lambda row: row.best_valid_loss or 0.0)
    if best is not None:
        rows = [SweepRow(r.run, r.job, r.best_valid_loss, r.evaluation, r is best) for r in rows]
        best = next(row for row in rows if row.is_best)
    counts: dict[str, int] = {}
    for row in rows:
        label = JobStatus(row.job.status).label
        counts[label] = counts.get(label, 0) + 1
    measure = next((score.measure for score in scores.values()), "")
    return SweepSummary(rows=rows, best=best, counts=counts, score_measure=measure)
