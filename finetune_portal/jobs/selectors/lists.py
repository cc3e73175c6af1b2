"""Jobs as lists and figures: a project's jobs, the runs list's sortable figures, a job's progress."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import (
    Case,
    F,
    FloatField,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404
from django.utils import timezone

from finetune_portal.jobs import metrics
from finetune_portal.jobs.event_keys import STEP_LOG_EVENT_PREFIX
from finetune_portal.jobs.models import FineTuningJob, JobEvent, JobTransition, MetricPoint
from finetune_portal.jobs.states import JobStatus


def jobs_for_project(project) -> QuerySet[FineTuningJob]:
    return FineTuningJob.objects.filter(project=project).select_related(
        "created_by", "training_version__dataset", "validation_version__dataset"
    )


def job_for_launch_token(project, token: str) -> FineTuningJob | None:
    """The job a launch form with this one-time token created already, if any."""
    if not token:
        return None
    return FineTuningJob.objects.filter(project=project, launch_token=token).first()


def job_for_project(project, job_id: int) -> FineTuningJob:
    """A job of this project, or 404: another project's job is never revealed."""
    return get_object_or_404(jobs_for_project(project), pk=job_id)


EVENTS_SHOWN = 100
STEP_LOG_SHOWN = 200


def job_events_for_page(job: FineTuningJob) -> tuple[list[JobEvent], list[JobEvent], int]:
    """The job page's events, newest first: the notable ones, and apart from them the per-step log lines
    (the newest STEP_LOG_SHOWN) with their count, for a collapsed log."""
    is_step_line = Q(provider_event_id__startswith=STEP_LOG_EVENT_PREFIX)
    notable = list(job.events.exclude(is_step_line)[:EVENTS_SHOWN])
    step_lines = job.events.filter(is_step_line)
    return notable, list(step_lines[:STEP_LOG_SHOWN]), step_lines.count()


# --- a job's progress ----------------------------------------------------------------------------------


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


_NEWEST_POINT_FIELDS = ("step", metrics.EPOCH, "extra")


def job_progress(job: FineTuningJob, *, now: datetime | None = None) -> JobProgress:
    """Progress figures from the newest point: steps, epochs, time and money, each None when unknown."""
    last = MetricPoint.objects.filter(job_id=job.pk).order_by("-step").values(*_NEWEST_POINT_FIELDS).first()
    started = job.started_at or _handed_to_provider_at(job)
    return _progress(job, last=last, started=started, now=now or timezone.now())


def _progress(
    job: FineTuningJob, *, last: dict | None, started: datetime | None, now: datetime
) -> JobProgress:
    last_step = last["step"] if last else None
    extra = (last or {}).get("extra") or {}
    total_steps = _as_number(extra.get("total_steps") or extra.get("max_steps"))
    total_steps = int(total_steps) if total_steps else None

    epochs = _as_number(find_setting(job.hyperparameters, "n_epochs", "num_train_epochs", "epochs"))
    steps_per_epoch = None
    if last and last[metrics.EPOCH] and last["step"]:
        steps_per_epoch = last["step"] / last[metrics.EPOCH]
    elif total_steps and epochs:
        steps_per_epoch = total_steps / epochs

    elapsed = None
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
        # The portal's own clock first: a provider's estimated finish is read on the provider's clock.
        if elapsed and fraction and fraction > 0:
            time_left = elapsed * ((1 - fraction) / fraction)
        elif estimated_finish:
            finish = datetime.fromtimestamp(estimated_finish, tz=now.tzinfo)
            time_left = max(timedelta(0), finish - now)

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


COST_ACTUAL, COST_ESTIMATED, COST_UNKNOWN = 0, 1, 2


def runs_progress(jobs) -> dict[int, JobProgress]:
    """Progress of the jobs still at work, for the runs list's progress column (a page at a time): two
    queries however many runs the page lists."""
    at_work = {job.pk: job for job in jobs if not job.is_final}
    if not at_work:
        return {}
    newest_point = MetricPoint.objects.filter(job_id=OuterRef("pk")).order_by("-step").values("pk")[:1]
    rows = list(
        FineTuningJob.objects.filter(pk__in=at_work)
        .annotate(newest_point=Subquery(newest_point), handed_over=_handed_over())
        .values_list("pk", "newest_point", "handed_over")
    )
    handed_over = {pk: when for pk, _, when in rows}
    point_ids = [point for _, point, _ in rows if point is not None]
    last = {
        row["job_id"]: row
        for row in MetricPoint.objects.filter(pk__in=point_ids).values("job_id", *_NEWEST_POINT_FIELDS)
    }
    now = timezone.now()
    return {
        pk: _progress(job, last=last.get(pk), started=job.started_at or handed_over[pk], now=now)
        for pk, job in at_work.items()
    }


def _latest(field: str):
    return Subquery(
        MetricPoint.objects.filter(job_id=OuterRef("pk"), **{f"{field}__isnull": False})
        .order_by("-step")
        .values(field)[:1],
        output_field=FloatField(),
    )


def _lowest(field: str):
    # The first in order rather than Min(): one probe of the field's index instead of an aggregate.
    return Subquery(
        MetricPoint.objects.filter(job_id=OuterRef("pk"), **{f"{field}__isnull": False})
        .order_by(field)
        .values(field)[:1],
        output_field=FloatField(),
    )


def _handed_over():
    return Subquery(
        JobTransition.objects.filter(
            job_id=OuterRef("pk"), to_status__in=[JobStatus.VALIDATING_FILES, JobStatus.SUBMITTED]
        )
        .order_by("created_at", "id")
        .values("created_at")[:1]
    )


def with_run_figures(jobs: QuerySet[FineTuningJob]) -> QuerySet[FineTuningJob]:
    """Annotate final and best validation loss, cost and duration, so the list can sort on them.

    Validation loss means the full-validation-set figure where a run reports one (OpenAI's
    full_valid_loss at each epoch's end) and otherwise the per-evaluation figure (valid_loss).
    """
    return jobs.annotate(
        final_valid_loss=Coalesce(_latest(metrics.FULL_VALID_LOSS), _latest(metrics.VALID_LOSS)),
        best_valid_loss=Coalesce(_lowest(metrics.FULL_VALID_LOSS), _lowest(metrics.VALID_LOSS)),
        final_train_loss=_latest(metrics.TRAIN_LOSS),
        cost=Coalesce("actual_cost", "estimated_cost"),
        # Actual costs and estimates are told apart and sorted apart: 0 actual, 1 estimate, 2 none.
        cost_kind=Case(
            When(actual_cost__isnull=False, then=Value(COST_ACTUAL)),
            When(estimated_cost__isnull=False, then=Value(COST_ESTIMATED)),
            default=Value(COST_UNKNOWN),
            output_field=IntegerField(),
        ),
        # The same start as the job page's "Elapsed": running here, or else handed to the provider.
        duration=F("finished_at") - Coalesce("started_at", _handed_over()),
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
