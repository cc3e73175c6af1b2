"""Reads for jobs: lists, the live chart's points, and the figures shown beside them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.db.models import Count, Exists, F, FloatField, Max, Min, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from finetune_portal.jobs.models import Checkpoint, FineTuningJob, JobEvent, JobTransition, MetricPoint
from finetune_portal.jobs.states import JobStatus

# The most points per series the full view sends; uPlot draws this in a few milliseconds and it is
# more than a chart a thousand pixels wide can show.
POINTS_CAP = 2000
# A viewer far behind catches up over several polls instead of one huge response.
POLL_BATCH_LIMIT = 5000

CHART_SERIES = (
    "train_loss",
    "valid_loss",
    "full_valid_loss",
    "train_mean_token_accuracy",
    "valid_mean_token_accuracy",
)
_POINT_COLUMNS = ("step", *CHART_SERIES)


def jobs_for_project(project) -> QuerySet[FineTuningJob]:
    return FineTuningJob.objects.filter(project=project).select_related(
        "created_by", "training_version__dataset", "validation_version__dataset"
    )


def job_for_project(project, job_id: int) -> FineTuningJob:
    """A job of this project, or 404: another project's job is never revealed."""
    return get_object_or_404(jobs_for_project(project), pk=job_id)


def job_poll_state(user, slug: str, job_id: int, *, after_step: int | None) -> tuple[str, bool, str]:
    """(status, whether points after ``after_step`` exist, live version) for a job the user may see.

    One indexed query, with the same answer as get_project_access (members and site admins see the
    project's jobs; anyone else gets 404). The chart polls this every 2 s for every open job page and
    most polls find nothing new: those cost this query and nothing else. The live version tells the
    page whether its status and events parts need refreshing, so they need no fast poll of their own.
    """
    newer = MetricPoint.objects.filter(job_id=OuterRef("pk"))
    if after_step is not None:
        newer = newer.filter(step__gt=after_step)
    row = (
        _viewable_job(user, slug, job_id)
        .annotate(has_new=Exists(newer), newest_event=Subquery(_newest_event_id()))
        .values_list("status", "has_new", "updated_at", "last_progress_at", "newest_event")
        .first()
    )
    if row is None:
        raise Http404("No such job.")
    status, has_new, *version = row
    return status, has_new, live_version_token(*version)


def _newest_event_id():
    return JobEvent.objects.filter(job_id=OuterRef("pk")).order_by("-id").values("id")[:1]


def _viewable_job(user, slug: str, job_id: int) -> QuerySet[FineTuningJob]:
    """The job as a one-row queryset when the user may see it (members and site admins), else empty."""
    jobs = FineTuningJob.objects.filter(pk=job_id, project__slug=slug)
    if not getattr(user, "is_superuser", False):
        jobs = jobs.filter(project__memberships__user=user)
    return jobs


def job_live_version(user, slug: str, job_id: int) -> str:
    """A token that changes whenever the job page's live parts (status, timeline, figures, events) would.

    The page sends it back with each refresh; an unchanged token is answered with 204 and nothing is
    rendered. Status moves bump ``updated_at``; new metric points bump ``last_progress_at``, which counts
    in steps of PROGRESS_REFRESH_SECONDS.
    """
    row = (
        _viewable_job(user, slug, job_id)
        .annotate(newest_event=Subquery(_newest_event_id()))
        .values_list("updated_at", "last_progress_at", "newest_event")
        .first()
    )
    if row is None:
        raise Http404("No such job.")
    return live_version_token(*row)


# New points alone refresh the status figures (step, time left, cost) at most this often: each refresh
# renders the part once per open page, and the chart already shows every point as it arrives.
PROGRESS_REFRESH_SECONDS = 30


def live_version_token(updated_at, last_progress_at, newest_event_id) -> str:
    changed = f"{updated_at.timestamp():.6f}" if updated_at else "0"
    progress = int(last_progress_at.timestamp() // PROGRESS_REFRESH_SECONDS) if last_progress_at else 0
    return f"{changed}-{progress}-{newest_event_id or 0}"


def job_live_version_for(job: FineTuningJob) -> str:
    newest_event = job.events.order_by("-id").values_list("id", flat=True).first()
    return live_version_token(job.updated_at, job.last_progress_at, newest_event)


# --- metric points -------------------------------------------------------------------------------------


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


# --- figures beside the chart --------------------------------------------------------------------------


def find_setting(settings: Mapping[str, Any] | None, *names: str) -> Any:
    """A hyperparameter by any of its names, wherever it sits (OpenAI nests them under ``method``)."""
    if not isinstance(settings, Mapping):
        return None
    for name in names:
        if name in settings and not isinstance(settings[name], Mapping):
            return settings[name]
    for value in settings.values():
        if isinstance(value, Mapping):
            found = find_setting(value, *names)
            if found is not None:
                return found
    return None


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class JobProgress:
    last_step: int | None
    total_steps: int | None
    steps_per_epoch: float | None
    elapsed: timedelta | None
    time_left: timedelta | None
    fraction_done: float | None
    cost_so_far: Decimal | None
    cost_estimated: Decimal | None
    cost_is_final: bool


def _handed_to_provider_at(job: FineTuningJob):
    """When the portal gave the job to its provider: the start to count from for a job that finished
    between two polls and so never showed as running here."""
    return (
        JobTransition.objects.filter(
            job_id=job.pk, to_status__in=[JobStatus.VALIDATING_FILES, JobStatus.SUBMITTED]
        )
        .order_by("created_at", "id")
        .values_list("created_at", flat=True)
        .first()
    )


def job_progress(job: FineTuningJob, *, now: datetime | None = None) -> JobProgress:
    """Progress figures from the newest point: steps, epochs, time and money, each None when unknown."""
    now = now or timezone.now()
    last = (
        MetricPoint.objects.filter(job_id=job.pk).order_by("-step").values("step", "epoch", "extra").first()
    )
    last_step = last["step"] if last else None
    extra = (last or {}).get("extra") or {}
    total_steps = _as_number(extra.get("total_steps") or extra.get("max_steps"))
    total_steps = int(total_steps) if total_steps else None

    epochs = _as_number(find_setting(job.hyperparameters, "n_epochs", "num_train_epochs", "epochs"))
    steps_per_epoch = None
    if last and last["epoch"] and last["step"]:
        steps_per_epoch = last["step"] / last["epoch"]
    elif total_steps and epochs:
        steps_per_epoch = total_steps / epochs

    elapsed = None
    started = job.started_at or _handed_to_provider_at(job)
    if started:
        elapsed = (job.finished_at or now) - started

    fraction = None
    if last_step and total_steps:
        fraction = min(1.0, last_step / total_steps)
    if job.is_final and job.status == "succeeded":
        fraction = 1.0

    time_left = None
    estimated_finish = _as_number((job.provider_data or {}).get("estimated_finish"))
    if not job.is_final:
        if estimated_finish:
            finish = datetime.fromtimestamp(estimated_finish, tz=now.tzinfo)
            time_left = max(timedelta(0), finish - now)
        elif elapsed and fraction and fraction > 0:
            time_left = elapsed * ((1 - fraction) / fraction)

    cost_is_final = job.actual_cost is not None
    cost_so_far = job.actual_cost
    if cost_so_far is None and job.estimated_cost is not None and fraction is not None:
        cost_so_far = (job.estimated_cost * Decimal(str(round(fraction, 4)))).quantize(Decimal("0.01"))
    return JobProgress(
        last_step=last_step,
        total_steps=total_steps,
        steps_per_epoch=steps_per_epoch,
        elapsed=elapsed,
        time_left=time_left,
        fraction_done=fraction,
        cost_so_far=cost_so_far,
        cost_estimated=job.estimated_cost,
        cost_is_final=cost_is_final,
    )


# --- the runs list -------------------------------------------------------------------------------------


def _latest(field: str):
    return Subquery(
        MetricPoint.objects.filter(job_id=OuterRef("pk"), **{f"{field}__isnull": False})
        .order_by("-step")
        .values(field)[:1],
        output_field=FloatField(),
    )


def _lowest(field: str):
    return Subquery(
        MetricPoint.objects.filter(job_id=OuterRef("pk"), **{f"{field}__isnull": False})
        .values("job_id")
        .annotate(low=Min(field))
        .values("low")[:1],
        output_field=FloatField(),
    )


def with_run_figures(jobs: QuerySet[FineTuningJob]) -> QuerySet[FineTuningJob]:
    """Annotate final and best validation loss, cost and duration, so the list can sort on them.

    Validation loss means the full-validation-set figure where a run reports one (OpenAI's
    full_valid_loss at each epoch's end) and otherwise the per-evaluation figure (valid_loss).
    """
    return jobs.annotate(
        final_valid_loss=Coalesce(_latest("full_valid_loss"), _latest("valid_loss")),
        best_valid_loss=Coalesce(_lowest("full_valid_loss"), _lowest("valid_loss")),
        final_train_loss=_latest("train_loss"),
        cost=Coalesce("actual_cost", "estimated_cost"),
        duration=F("finished_at") - F("started_at"),
    )


def jobs_using_version(version) -> QuerySet[FineTuningJob]:
    """Jobs that train or validate on this dataset version, newest first: the lineage seen from the data."""
    return (
        FineTuningJob.objects.filter(Q(training_version=version) | Q(validation_version=version))
        .select_related("fine_tuned_model")
        .order_by("-created_at")
    )


def launch_settings_of(job: FineTuningJob) -> dict[str, Any]:
    """The provider-independent launch-form values of ``job``, to start a new job from its settings."""
    return {
        "name": f"{job.name} (copy)" if job.name else "",
        "method": job.method,
        "base_model": job.base_model,
        "training_version": job.training_version_id,
        "validation_version": job.validation_version_id,
    }
