"""The charts' metric points: since a step (the live poll), the whole run (downsampled, cached) or a
zoomed range, and the steps that have checkpoints."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db.models import Count, Max

from finetune_portal.jobs import metrics
from finetune_portal.jobs.models import Checkpoint, FineTuningJob, MetricPoint

# The most points per series the full view sends; uPlot draws this in a few milliseconds and it is
# more than a chart a thousand pixels wide can show.
POINTS_CAP = 2000
# A viewer far behind catches up over several polls instead of one huge response.
POLL_BATCH_LIMIT = 5000

CHART_SERIES = metrics.CHARTED
_POINT_COLUMNS = ("step", *CHART_SERIES)


@dataclass(frozen=True)
class SeriesSet:
    """Metric series of one job, each as parallel lists of steps and values (None never appears)."""

    series: dict[str, tuple[list[int], list[float]]]
    last_step: int | None
    downsampled: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "series": {name: [xs, ys] for name, (xs, ys) in self.series.items() if xs},
            "last_step": self.last_step,
            "downsampled": self.downsampled,
        }


def _split_rows(
    rows: Sequence[Sequence[Any]], names: Sequence[str] = CHART_SERIES
) -> tuple[dict[str, tuple[list, list]], int | None]:
    """Rows of (step, value, value, ...) -> one (steps, values) pair per name, without the gaps."""
    if not rows:
        return {name: ([], []) for name in names}, None
    # Transposing in one zip keeps the per-row work in C; 100k rows take a few milliseconds.
    steps, *columns = zip(*rows, strict=True)
    series = {}
    for name, column in zip(names, columns, strict=True):
        missing = column.count(None)
        if missing == 0:
            series[name] = (list(steps), list(column))
        elif missing == len(column):
            series[name] = ([], [])
        else:
            xs = [step for step, value in zip(steps, column, strict=True) if value is not None]
            series[name] = (xs, [value for value in column if value is not None])
    return series, steps[-1]


def series_of_points(points: Sequence[MetricPoint]) -> dict[str, list]:
    """Unsaved or saved MetricPoint rows as the chart's JSON series ({name: [steps, values]})."""
    ordered = sorted(points, key=lambda point: point.step)
    rows = [(point.step, *(getattr(point, name) for name in CHART_SERIES)) for point in ordered]
    series, _ = _split_rows(rows)
    return {name: [xs, ys] for name, (xs, ys) in series.items() if xs}


def metric_points_since(
    job_id: int, *, after_step: int | None, limit: int = POLL_BATCH_LIMIT
) -> tuple[SeriesSet, bool]:
    """Points recorded after ``after_step`` (all points when None), oldest first, and whether more wait.

    The (job, step) unique index answers this with a range scan that starts at ``after_step``, so a
    "nothing new" poll costs the same on a job of 1,000 or 1,000,000 points.
    """
    points = MetricPoint.objects.filter(job_id=job_id)
    if after_step is not None:
        points = points.filter(step__gt=after_step)
    rows = list(points.order_by("step").values_list(*_POINT_COLUMNS)[: limit + 1])
    has_more = len(rows) > limit
    series, last_step = _split_rows(rows[:limit])
    return SeriesSet(series=series, last_step=last_step), has_more


def downsample_min_max(xs: Sequence[float], ys: Sequence[float], cap: int = POINTS_CAP) -> tuple[list, list]:
    """At most ``cap`` points that keep the shape: the first, last, lowest and highest of each bucket.

    Plain averaging or striding would hide a loss spike; keeping each bucket's extremes keeps it.
    """
    n = len(xs)
    if n <= cap:
        return list(xs), list(ys)
    buckets = max(1, cap // 4)
    width = n / buckets
    out_x: list = []
    out_y: list = []
    get = ys.__getitem__
    for b in range(buckets):
        lo = int(b * width)
        hi = min(n, int((b + 1) * width))
        if lo >= hi:
            continue
        chosen = {lo, hi - 1, min(range(lo, hi), key=get), max(range(lo, hi), key=get)}
        for i in sorted(chosen):
            out_x.append(xs[i])
            out_y.append(ys[i])
    return out_x, out_y


def _downsampled(series: Mapping[str, tuple[list, list]], cap: int) -> tuple[dict, bool]:
    reduced = {}
    any_reduced = False
    for name, (xs, ys) in series.items():
        if len(xs) > cap:
            any_reduced = True
        reduced[name] = downsample_min_max(xs, ys, cap)
    return reduced, any_reduced


def metric_points_overview(
    job_id: int, *, cap: int = POINTS_CAP, names: Sequence[str] = CHART_SERIES
) -> SeriesSet:
    """Series of the job (all chart series unless ``names``) for the full chart, ``cap`` points each."""
    rows = list(MetricPoint.objects.filter(job_id=job_id).order_by("step").values_list("step", *names))
    series, last_step = _split_rows(rows, names)
    reduced, any_reduced = _downsampled(series, cap)
    return SeriesSet(series=reduced, last_step=last_step, downsampled=any_reduced)


def _overview_cache_key(job: FineTuningJob) -> str:
    # The creation time keeps a reused id (a restored or recreated database) from meeting old data.
    return f"jobs:metric-overview:{job.pk}:{job.created_at.timestamp()}"


def metric_points_full_view(job: FineTuningJob, *, cap: int = POINTS_CAP) -> SeriesSet:
    """The downsampled full view, kept in the cache and brought up to date with only the new points.

    Reading and reducing 100,000 points takes a few hundred milliseconds; a page opened while the job
    runs instead costs one count and the few points recorded since the last view. Points stored out of
    order (a provider backfilling older steps) do not match the count, and the view is rebuilt.
    """
    job_id = job.pk
    stats = MetricPoint.objects.filter(job_id=job_id).aggregate(count=Count("pk"), last=Max("step"))
    key = _overview_cache_key(job)
    cached = cache.get(key)
    if cached and (cached["count"], cached["last"]) == (stats["count"], stats["last"]):
        return cached["view"]
    view = None
    if cached and cached["last"] is not None and stats["count"] > cached["count"]:
        rows = list(
            MetricPoint.objects.filter(job_id=job_id, step__gt=cached["last"])
            .order_by("step")
            .values_list(*_POINT_COLUMNS)[: cap + 1]
        )
        if cached["count"] + len(rows) == stats["count"]:
            new_series, last_step = _split_rows(rows)
            old: SeriesSet = cached["view"]
            combined = {
                name: (old.series[name][0] + new_series[name][0], old.series[name][1] + new_series[name][1])
                for name in CHART_SERIES
            }
            reduced, any_reduced = _downsampled(combined, cap)
            view = SeriesSet(series=reduced, last_step=last_step, downsampled=old.downsampled or any_reduced)
    if view is None:
        view = metric_points_overview(job_id, cap=cap)
    cache.set(key, {"count": stats["count"], "last": stats["last"], "view": view}, timeout=3600)
    return view


def full_view_kept_by_writers(*, newest_step: int) -> bool:
    """Whether a worker that records points should also bring the cached full view up to date.

    Only with a cache the web processes share (a per-process memory cache would keep it in the worker
    alone), and only for jobs long enough that building the view from nothing is slow: the page of a
    job of 100,000 points then opens on a view the worker just extended, never on a cold build.
    """
    from django.conf import settings

    backend = settings.CACHES["default"]["BACKEND"]
    return newest_step > POINTS_CAP and not backend.endswith(("LocMemCache", "DummyCache"))


def metric_points_in_range(job_id: int, *, from_step: int, to_step: int, cap: int = POINTS_CAP) -> SeriesSet:
    """Points with from_step <= step <= to_step: full resolution when a series fits under the cap."""
    rows = list(
        MetricPoint.objects.filter(job_id=job_id, step__gte=from_step, step__lte=to_step)
        .order_by("step")
        .values_list(*_POINT_COLUMNS)
    )
    series, last_step = _split_rows(rows)
    reduced, any_reduced = _downsampled(series, cap)
    return SeriesSet(series=reduced, last_step=last_step, downsampled=any_reduced)


def checkpoint_steps(job_id: int) -> list[int]:
    return list(Checkpoint.objects.filter(job_id=job_id).order_by("step").values_list("step", flat=True))
