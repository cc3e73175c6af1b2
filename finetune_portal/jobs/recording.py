"""What workers record about a job as it runs: metric points, events, checkpoints and progress.

Each write tells the job's open pages (once the transaction commits) that it changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from finetune_portal.core.live.channel import live_channel_enabled, live_publish_on_commit
from finetune_portal.jobs import metrics
from finetune_portal.jobs.models import Checkpoint, EventLevel, FineTuningJob, JobEvent, MetricPoint

METRIC_FIELDS = metrics.STORED


def job_live_publish(
    job_id: int, *, points: list[MetricPoint] | None = None, after: int | None = None
) -> None:
    """Tell open pages of the job (once the transaction commits) that it changed.

    ``points``: the rows just stored, sent along when few; ``after`` is the newest step stored before
    them, so a chart that holds less knows to ask for the gap instead.
    """
    from finetune_portal.jobs.selectors.live import LIVE_INLINE_POINTS, job_live_state
    from finetune_portal.jobs.selectors.series import series_of_points

    inline = None
    if points and len(points) <= LIVE_INLINE_POINTS:
        inline = {"after": after, "series": series_of_points(points)}

    def describe():
        state = job_live_state(job_id)
        if state is not None and inline is not None:
            state["points"] = inline
        return state

    live_publish_on_commit(topic=f"job:{job_id}", describe=describe)


def runs_live_publish(project_id: int) -> None:
    """Tell open runs lists of the project (once the transaction commits) that a run was added, moved
    or progressed; the list asks for its rows when the version moved."""
    from finetune_portal.jobs.selectors.live import runs_live_state

    live_publish_on_commit(topic=f"runs:{project_id}", describe=lambda: runs_live_state(project_id))


def job_record_progress(*, job: FineTuningJob) -> None:
    FineTuningJob.objects.filter(pk=job.pk).update(last_progress_at=timezone.now())


def job_trained_tokens_record(*, job: FineTuningJob, tokens: int) -> None:
    """Tokens trained so far by a running job; a count never goes down (a late, older report is ignored)."""
    FineTuningJob.objects.filter(pk=job.pk).filter(
        models.Q(trained_tokens__isnull=True) | models.Q(trained_tokens__lt=tokens)
    ).update(trained_tokens=tokens)


def metric_points_record(*, job: FineTuningJob, points: Iterable[Mapping[str, Any]]) -> int:
    """Store points by step; a step already stored keeps its values, so redelivery never duplicates."""
    rows: dict[int, MetricPoint] = {}
    for point in points:
        step = int(point["step"])
        values = {name: point.get(name) for name in METRIC_FIELDS}
        extra = {k: v for k, v in point.items() if k not in METRIC_FIELDS and k != "step"}
        rows.setdefault(step, MetricPoint(job_id=job.pk, step=step, extra=extra, **values))
    if not rows:
        return 0
    # Look only at the incoming steps' range (on the (job, step) index), never at the whole run: this
    # runs for every logged step of a long job.
    stored = set(
        MetricPoint.objects.filter(job_id=job.pk, step__gte=min(rows), step__lte=max(rows)).values_list(
            "step", flat=True
        )
    )
    new_rows = [row for step, row in rows.items() if step not in stored]
    if not new_rows:
        return 0
    after = None
    if live_channel_enabled():
        first_new = min(row.step for row in new_rows)
        after = (
            MetricPoint.objects.filter(job_id=job.pk, step__lt=first_new)
            .order_by("-step")
            .values_list("step", flat=True)
            .first()
        )
    # A concurrent writer may still win a step; ignore_conflicts keeps its values.
    MetricPoint.objects.bulk_create(new_rows, ignore_conflicts=True, batch_size=1000)
    job_record_progress(job=job)
    job_live_publish(job.pk, points=new_rows, after=after)
    runs_live_publish(job.project_id)
    _full_view_keep_current(job, newest_step=max(row.step for row in new_rows))
    return len(new_rows)


def _full_view_keep_current(job: FineTuningJob, *, newest_step: int) -> None:
    from finetune_portal.jobs.selectors.series import full_view_kept_by_writers, metric_points_full_view

    if full_view_kept_by_writers(newest_step=newest_step):
        transaction.on_commit(lambda: metric_points_full_view(job))


def job_event_record(
    *,
    job: FineTuningJob,
    message: str,
    level: str = EventLevel.INFO,
    provider_event_id: str = "",
    created_at=None,
    data: Mapping[str, Any] | None = None,
) -> bool:
    """Store one event; an event id already stored for this job is ignored. Returns True when new."""
    level = level if level in EventLevel.values else EventLevel.INFO
    created_at = created_at or timezone.now()
    data = dict(data or {})
    if not provider_event_id:
        JobEvent.objects.create(job_id=job.pk, level=level, message=message, created_at=created_at, data=data)
        job_live_publish(job.pk)
        return True
    _, created = JobEvent.objects.get_or_create(
        job_id=job.pk,
        provider_event_id=provider_event_id,
        defaults={"level": level, "message": message, "created_at": created_at, "data": data},
    )
    if created:
        job_live_publish(job.pk)
    return created


def checkpoint_record(
    *, job: FineTuningJob, step: int, provider_checkpoint_id: str = "", storage_uri: str = "", metrics=None
) -> Checkpoint:
    checkpoint, created = Checkpoint.objects.get_or_create(
        job_id=job.pk,
        step=step,
        defaults={
            "provider_checkpoint_id": provider_checkpoint_id,
            "storage_uri": storage_uri,
            "metrics": dict(metrics or {}),
        },
    )
    if created:
        job_live_publish(job.pk)
    return checkpoint
