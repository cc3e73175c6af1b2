"""Side-by-side runs: which runs, the whole comparison (figures, results other apps add, settings) and
the same table as CSV. Per-run figures live in compare_runs, settings and notes in compare_settings."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.http import Http404

from finetune_portal.jobs.compare_runs import MISSING, RUN_COLOURS, RunSummary, run_curves, run_summary
from finetune_portal.jobs.compare_settings import MetricNote, SettingRow, metric_notes, settings_rows
from finetune_portal.jobs.models import FineTuningJob
from finetune_portal.jobs.outside_results import ResultRow, comparison_result_rows
from finetune_portal.jobs.selectors.lists import jobs_for_project

MIN_RUNS = 2
MAX_RUNS = 10


class RunSelectionError(ValueError):
    """The ids in a comparison URL do not name 2 to 10 runs."""


def parse_run_ids(raw: str | None) -> list[int]:
    """Run ids from ``?ids=3,5,8`` in the order given, duplicates dropped."""
    ids: list[int] = []
    for part in (raw or "").replace(" ", "").split(","):
        if not part:
            continue
        if not part.isdigit():
            raise RunSelectionError(f"“{part}” is not a run number.")
        if int(part) not in ids:
            ids.append(int(part))
    if not MIN_RUNS <= len(ids) <= MAX_RUNS:
        raise RunSelectionError(f"Pick {MIN_RUNS} to {MAX_RUNS} runs to compare; {len(ids)} given.")
    return ids


def runs_for_comparison(project, ids: Sequence[int]) -> list[FineTuningJob]:
    """The project's runs with these ids, in the order asked; one id outside the project is a 404."""
    found = {job.pk: job for job in jobs_for_project(project).filter(pk__in=ids)}
    if len(found) != len(ids):
        raise Http404("No such job.")
    return [found[pk] for pk in ids]


# --- the whole comparison ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    runs: list[RunSummary]
    settings: list[SettingRow]
    notes: list[MetricNote]
    mixed_providers: bool
    # Rows other apps add about the runs' models (an evaluation's scores), one cell per run.
    results: list[ResultRow] = field(default_factory=list)

    @property
    def jobs(self) -> list[FineTuningJob]:
        return [run.job for run in self.runs]

    def chart_data(self) -> list[dict[str, Any]]:
        return [run_curves(run) for run in self.runs]


def comparison_build(project, ids: Sequence[int]) -> Comparison:
    jobs = runs_for_comparison(project, ids)
    runs = [run_summary(job, RUN_COLOURS[i % len(RUN_COLOURS)]) for i, job in enumerate(jobs)]
    return Comparison(
        runs=runs,
        settings=settings_rows(jobs),
        notes=metric_notes(jobs),
        mixed_providers=len({job.provider for job in jobs}) > 1,
        results=comparison_result_rows(jobs),
    )


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def comparison_rows(comparison: Comparison) -> list[list[str]]:
    """The comparison as a table: a header of runs, then one row per figure and per setting."""
    runs = comparison.runs
    rows: list[list[str]] = [["", *[f"#{run.job.pk} {run.job.display_name}" for run in runs]]]

    def add(name: str, values: Sequence[Any]) -> None:
        rows.append([name, *["" if v is None or v == MISSING else str(v) for v in values]])

    add("status", [run.job.get_status_display() for run in runs])
    add("provider", [run.job.get_provider_display() for run in runs])
    add("base model", [run.job.base_model for run in runs])
    add("training data", [run.dataset_label for run in runs])
    add("validation data", [run.validation_dataset_label for run in runs])
    add("validation metric", [run.valid_metric for run in runs])
    add("best validation loss", [_number(run.best_valid_loss) for run in runs])
    add("step of best validation loss", [run.best_valid_step for run in runs])
    add("final validation loss", [_number(run.final_valid_loss) for run in runs])
    add("final train loss", [_number(run.final_train_loss) for run in runs])
    add("trained tokens", [run.job.trained_tokens for run in runs])
    add("duration (s)", [int(run.duration.total_seconds()) if run.duration else None for run in runs])
    add("cost (USD)", [None if run.cost is None else f"{run.cost:.2f}" for run in runs])
    for result in comparison.results:
        add(result.label, [cell.text for cell in result.cells])
    for setting in comparison.settings:
        add(f"setting: {setting.name}", setting.values)
    return rows


def _safe_cell(value: str) -> str:
    """Keep spreadsheet programs from running a run name such as ``=HYPERLINK(...)`` as a formula."""
    if value[:1] in ("=", "+", "@", "\t", "\r") or (value[:1] == "-" and not _is_number(value)):
        return "'" + value
    return value


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def comparison_csv(comparison: Comparison) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerows([[_safe_cell(cell) for cell in row] for row in comparison_rows(comparison)])
    return buffer.getvalue()
