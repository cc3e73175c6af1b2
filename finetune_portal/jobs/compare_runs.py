"""What each compared run reports: its validation figures, cost and duration, its colour and curves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.urls import reverse

from finetune_portal.jobs import metrics
from finetune_portal.jobs.models import FineTuningJob, MetricPoint
from finetune_portal.jobs.selectors.lists import job_progress
from finetune_portal.jobs.selectors.series import checkpoint_steps, metric_points_full_view

MISSING = "—"


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
