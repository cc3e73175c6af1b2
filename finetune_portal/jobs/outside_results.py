"""Figures other apps work out about a job's model (an evaluation's score, say), shown on the jobs pages
without jobs importing those apps: an app registers its sources from its AppConfig.ready, and the
comparison page and the sweep page ask whatever is registered."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from finetune_portal.jobs.models import FineTuningJob


@dataclass(frozen=True)
class ResultCell:
    text: str
    # Where the figure comes from, when it can be opened.
    href: str = ""


@dataclass(frozen=True)
class ResultRow:
    """One extra row of the comparison table: a label, and a cell per compared run in their order."""

    label: str
    cells: list[ResultCell]
    href: str = ""
    note: str = ""


@dataclass(frozen=True)
class JobScore:
    """A run's score (higher is better) and what it measures, e.g. "Exact-match accuracy on reviews v3"."""

    value: float
    text: str
    measure: str
    href: str = ""


ComparisonRowsSource = Callable[[Sequence[FineTuningJob]], list[ResultRow]]
JobScoresSource = Callable[[Sequence[int]], dict[int, JobScore]]

_COMPARISON_ROWS: dict[str, ComparisonRowsSource] = {}
_JOB_SCORES: dict[str, JobScoresSource] = {}


def register_comparison_rows(key: str, source: ComparisonRowsSource) -> None:
    _COMPARISON_ROWS[key] = source


def register_job_scores(key: str, source: JobScoresSource) -> None:
    _JOB_SCORES[key] = source


def comparison_result_rows(jobs: Sequence[FineTuningJob]) -> list[ResultRow]:
    """The rows every registered source adds for these runs; each row has one cell per run."""
    rows: list[ResultRow] = []
    for source in _COMPARISON_ROWS.values():
        rows += source(jobs)
    return rows


def job_scores(job_ids: Sequence[int]) -> dict[int, JobScore]:
    """Each run's score where a source has one; scores of one call measure the same thing, so they rank.
    The first source registered that scores any of the runs is the one used."""
    for source in _JOB_SCORES.values():
        scores = source(job_ids)
        if scores:
            return scores
    return {}
