"""Side-by-side runs: which settings differ, how each run ended, and the same table as CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.http import Http404
from django.urls import reverse

from finetune_portal.jobs import metrics
from finetune_portal.jobs.models import FineTuningJob, MetricPoint
from finetune_portal.jobs.selectors.lists import job_progress, jobs_for_project
from finetune_portal.jobs.selectors.series import checkpoint_steps, metric_points_full_view
from finetune_portal.jobs.setting_names import VOCABULARY, Setting, job_settings, setting_label
from finetune_portal.providers.registry import all_providers

MIN_RUNS = 2
MAX_RUNS = 10
MISSING = "—"


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


# --- what each run reports -----------------------------------------------------------------------------


def validation_metric(job_id: int) -> str | None:
    """The validation series that stands for a run: the whole-set figure when the run has one."""
    points = MetricPoint.objects.filter(job_id=job_id)
    for name in (metrics.FULL_VALID_LOSS, metrics.VALID_LOSS):
        if points.filter(**{f"{name}__isnull": False}).exists():
            return name
    return None


@dataclass(frozen=True)
class RunSummary:
    job: FineTuningJob
    colour: str
    valid_metric: str | None
    best_valid_loss: float | None
    best_valid_step: int | None
    final_valid_loss: float | None
    final_train_loss: float | None
    duration: timedelta | None
    cost: Decimal | None
    cost_is_final: bool

    @property
    def dataset_label(self) -> str:
        version = self.job.training_version
        return f"{version.dataset.name} v{version.number}" if version else MISSING

    @property
    def validation_dataset_label(self) -> str:
        version = self.job.validation_version
        return f"{version.dataset.name} v{version.number}" if version else MISSING


# Ten line colours, told apart with normal vision and under simulated protanopia, deuteranopia and
# tritanopia (CIELAB distance of every pair; tests/jobs/test_palette.py): Okabe-Ito's blue, vermillion and
# green first, then the colours farthest from those already taken. Vermillion beside a dark green, as an
# earlier palette had, looks the same to a protanope.
RUN_COLOURS = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#000000",
    "#332288",
    "#17BECF",
    "#882255",
    "#E69F00",
    "#CC79A7",
    "#8C564B",
)


def _latest_value(job_id: int, metric: str) -> float | None:
    return (
        MetricPoint.objects.filter(job_id=job_id, **{f"{metric}__isnull": False})
        .order_by("-step")
        .values_list(metric, flat=True)
        .first()
    )


def run_summary(job: FineTuningJob, colour: str) -> RunSummary:
    metric = validation_metric(job.pk)
    best_value = best_step = final_value = None
    if metric:
        best = (
            MetricPoint.objects.filter(job_id=job.pk, **{f"{metric}__isnull": False})
            .order_by(metric, "step")
            .values_list(metric, "step")
            .first()
        )
        best_value, best_step = best
        final_value = _latest_value(job.pk, metric)
    progress = job_progress(job)
    return RunSummary(
        job=job,
        colour=colour,
        valid_metric=metric,
        best_valid_loss=best_value,
        best_valid_step=best_step,
        final_valid_loss=final_value,
        final_train_loss=_latest_value(job.pk, metrics.TRAIN_LOSS),
        duration=progress.elapsed,
        cost=progress.cost_so_far,
        cost_is_final=progress.cost_is_final,
    )


def run_curves(summary: RunSummary) -> dict[str, Any]:
    """One run's downsampled train and validation curves for the overlaid chart."""
    curves = metric_points_full_view(summary.job)
    series = {}
    if curves.series.get("train_loss", ([], []))[0]:
        series["train"] = list(curves.series["train_loss"])
    if summary.valid_metric and curves.series[summary.valid_metric][0]:
        series["valid"] = list(curves.series[summary.valid_metric])
    return {
        "id": summary.job.pk,
        # A zoomed chart asks this for the visible steps at full resolution.
        "metrics_url": reverse("jobs:metrics", args=[summary.job.project.slug, summary.job.pk]),
        "valid_metric": summary.valid_metric,
        "label": f"#{summary.job.pk} {summary.job.display_name}",
        "colour": summary.colour,
        "series": series,
        "steps_per_epoch": job_progress(summary.job).steps_per_epoch,
        "checkpoints": checkpoint_steps(summary.job.pk),
        # Where the live stream's updates continue from.
        "last_step": curves.last_step,
        "final": summary.job.is_final,
    }


# --- hyperparameters -----------------------------------------------------------------------------------


_ABSENT = object()


def _comparable(value: Any) -> tuple:
    """A key under which equal settings match: 3 and 3.0 are the same, "3" and 3 are not."""
    if value is _ABSENT:
        return ("absent",)
    if isinstance(value, bool) or value is None:
        return ("const", value)
    if isinstance(value, int | float | Decimal):
        return ("number", float(value))
    return ("json", json.dumps(value, sort_keys=True, default=str))


def _display(value: Any) -> str:
    if isinstance(value, Setting):
        shown = _display(value.value)
        return f"{shown} (auto)" if value.resolved_by_provider else shown
    if value is _ABSENT or value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


@dataclass(frozen=True)
class SettingRow:
    name: str
    values: list[str]
    differs: bool


def _row(name: str, raw_values: Sequence[Any]) -> SettingRow:
    """A row of values; values a provider resolved compare by the value it used."""
    comparable = {_comparable(v.value if isinstance(v, Setting) else v) for v in raw_values}
    return SettingRow(name=name, values=[_display(v) for v in raw_values], differs=len(comparable) > 1)


def settings_rows(jobs: Sequence[FineTuningJob]) -> list[SettingRow]:
    """One row per setting any run has, under its label; equal settings of two providers share a row. A
    run without the setting shows a dash, which counts as different."""
    per_job = [job_settings(job) for job in jobs]
    rows = [
        _row("Provider", [job.get_provider_display() for job in jobs]),
        _row("Method", [job.get_method_display() for job in jobs]),
        _row("Base model", [job.base_model for job in jobs]),
        _row(
            "Training data",
            [
                f"{job.training_version.dataset.name} v{job.training_version.number}"
                if job.training_version
                else _ABSENT
                for job in jobs
            ],
        ),
    ]
    known = [name for name in VOCABULARY if any(name in settings for settings in per_job)]
    others = sorted({name for settings in per_job for name in settings} - set(VOCABULARY))
    rows += [
        _row(setting_label(name), [settings.get(name, _ABSENT) for settings in per_job])
        for name in known + others
    ]
    return rows


# --- the whole comparison ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricNote:
    metric: str
    notes: list[tuple[str, str]] = field(default_factory=list)


# The figures whose meaning differs between providers, in the order the page explains them. Providers'
# ``metric_notes`` are keyed the same way.
NOTED_FIGURES: dict[str, str] = {
    metrics.TRAIN_LOSS: metrics.BY_NAME[metrics.TRAIN_LOSS].label,
    metrics.VALID_LOSS: metrics.BY_NAME[metrics.VALID_LOSS].label,
    metrics.ACCURACY_CHART: "Token accuracy",
    "trained_tokens": "Trained tokens",
    "cost": "Cost",
}


def metric_notes(jobs: Sequence[FineTuningJob]) -> list[MetricNote]:
    """What each figure means for each provider present; shown only when runs come from several."""
    present = {job.provider for job in jobs}
    providers = [provider for provider in all_providers() if provider.key in present]
    return [
        MetricNote(
            metric=heading,
            notes=[
                (provider.label, provider.metric_notes[figure])
                for provider in providers
                if figure in provider.metric_notes
            ],
        )
        for figure, heading in NOTED_FIGURES.items()
    ]


@dataclass(frozen=True)
class Comparison:
    runs: list[RunSummary]
    settings: list[SettingRow]
    notes: list[MetricNote]
    mixed_providers: bool

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
