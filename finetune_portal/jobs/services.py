"""Writes to jobs. Views and tasks call these; nothing else sets a job's status."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, models, transaction
from django.utils import timezone

from finetune_portal.core.audit import audit_log
from finetune_portal.core.live import live_channel_enabled, live_publish_on_commit
from finetune_portal.jobs import metrics
from finetune_portal.jobs.models import (
    Checkpoint,
    EventLevel,
    FineTuningJob,
    JobEvent,
    JobTransition,
    MetricPoint,
)
from finetune_portal.jobs.signals import job_status_changed
from finetune_portal.jobs.states import ALLOWED, IllegalTransition, JobStatus
from finetune_portal.projects.models import Project
from finetune_portal.projects.selectors import project_month_spend

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


def job_transition(
    *,
    job: FineTuningJob,
    to: JobStatus | str,
    reason: str = "",
    actor=None,
    expected: Iterable[JobStatus | str] | None = None,
    **updates: Any,
) -> bool:
    """Move a job to ``to`` and record the move.

    With ``expected`` this is a compare-and-set: it returns False, changing nothing, when the job is no
    longer in one of those statuses (another worker won). A move the machine forbids raises
    IllegalTransition. ``updates`` are saved in the same write (e.g. ``error_message``).
    """
    target = JobStatus(to)
    with transaction.atomic():
        locked = FineTuningJob.objects.select_for_update().get(pk=job.pk)
        current = JobStatus(locked.status)
        if expected is not None and current not in {JobStatus(s) for s in expected}:
            return False
        if target not in ALLOWED[current]:
            raise IllegalTransition(current, target)
        now = timezone.now()
        fields = {"status": target, "status_changed_at": now, "updated_at": now, **updates}
        if target in (JobStatus.RUNNING,) and locked.started_at is None:
            fields["started_at"] = now
        if target.is_final:
            fields.setdefault("finished_at", now)
        FineTuningJob.objects.filter(pk=job.pk).update(**fields)
        JobTransition.objects.create(
            job_id=job.pk, from_status=current, to_status=target, reason=reason[:500], actor=actor
        )
        actor_id = getattr(actor, "pk", None)
        # robust: a listener that fails is logged; the committed move stands and its caller goes on.
        transaction.on_commit(
            lambda: job_status_changed.send(
                sender=FineTuningJob, job_id=job.pk, from_status=current, to_status=target, actor_id=actor_id
            ),
            robust=True,
        )
        job_live_publish(job.pk)
    for name, value in fields.items():
        setattr(job, name, value)
    return True


@transaction.atomic
def job_create(*, project, created_by, **fields: Any) -> FineTuningJob:
    job = FineTuningJob(project=project, created_by=created_by, status=JobStatus.DRAFT, **fields)
    job.full_clean()
    job.save()
    return job


def job_enter_imported(*, job: FineTuningJob, to: JobStatus | str, reason: str, actor) -> bool:
    """Enter a draft job that was launched outside the portal at the status its provider reports it in.

    None of the machine's moves out of draft (queued, claimed, handed over) happened to such a job, and
    walking it through them would record steps that never ran. It enters with one recorded move instead;
    from there every move goes through job_transition. Only an imported draft can enter this way.
    """
    target = JobStatus(to)
    with transaction.atomic():
        locked = FineTuningJob.objects.select_for_update().get(pk=job.pk)
        if not locked.imported or locked.status != JobStatus.DRAFT:
            return False
        now = timezone.now()
        FineTuningJob.objects.filter(pk=job.pk).update(status=target, status_changed_at=now, updated_at=now)
        JobTransition.objects.create(
            job_id=job.pk, from_status=JobStatus.DRAFT, to_status=target, reason=reason[:500], actor=actor
        )
        job_live_publish(job.pk)
    job.status, job.status_changed_at, job.updated_at = target, now, now
    return True


LAUNCH_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def launch_token_new() -> str:
    """A one-time token for one rendering of a launch form."""
    return secrets.token_urlsafe(24)


def job_create_once(*, project, token: str, save: Callable[[], FineTuningJob]) -> tuple[FineTuningJob, bool]:
    """Create a job with ``save`` (the launch form's) once per form token.

    Returns (the new job, True), or (the job an earlier submission of the same form created, False) when
    the token was used already, even by a submission still running: the token is written in the same
    transaction as the job, and the unique constraint lets only one of them commit. A token that is not
    one the portal makes is ignored (the job is created).
    """
    if not LAUNCH_TOKEN.match(token or ""):
        return save(), True
    try:
        with transaction.atomic():
            job = save()
            FineTuningJob.objects.filter(pk=job.pk).update(launch_token=token)
            job.launch_token = token
    except IntegrityError:
        earlier = FineTuningJob.objects.filter(project=project, launch_token=token).first()
        if earlier is None:
            raise
        return earlier, False
    return job, True


def job_launch(*, job: FineTuningJob, actor) -> FineTuningJob:
    """Queue a draft job and hand it to its provider's worker once the transaction commits.

    A job whose estimated cost would pass what is left of the project's monthly budget waits in
    ``awaiting_approval`` instead, until an ML lead approves or rejects it. The project row is locked
    while the spend is read and the job moves, so two launches at once cannot both slip under it.
    """
    from finetune_portal.providers.registry import get_provider

    provider = get_provider(job.provider)
    with transaction.atomic():
        Project.objects.select_for_update().only("pk").get(pk=job.project_id)
        spend = project_month_spend(job.project)
        cost, remaining = job.estimated_cost, spend.remaining
        target, reason, over_budget = JobStatus.QUEUED, "Launched", False
        if cost is not None and remaining is not None and cost > remaining:
            target, over_budget = JobStatus.AWAITING_APPROVAL, True
            reason = (
                f"Waits for approval: estimated {_usd(cost)}, {_usd(max(remaining, Decimal(0)))} left of the "
                f"{_usd(spend.budget)} monthly budget"
            )
        launched = job_transition(job=job, to=target, actor=actor, reason=reason, expected=[JobStatus.DRAFT])
        if not launched:
            job.refresh_from_db(fields=["status"])
            raise IllegalTransition(job.status, target)
        audit_log(
            actor=actor,
            action="job.launched",
            target=job,
            project=job.project,
            data={"provider": job.provider, "method": job.method, "base_model": job.base_model},
        )
        if over_budget:
            audit_log(
                actor=actor,
                action="job.approval_requested",
                target=job,
                project=job.project,
                data={"estimated_cost": _usd(cost), "remaining": _usd(remaining)},
            )
        else:
            transaction.on_commit(lambda: _job_send(job, provider.enqueue_start, what="start"))
    return job


def _usd(amount: Decimal | None) -> str:
    # As the pages show money: test runs cost fractions of a cent, which "$0.00" would hide.
    if amount is None:
        return "—"
    return f"${amount:,.4f}" if 0 < amount < Decimal("0.01") else f"${amount:,.2f}"


def job_approve(*, job: FineTuningJob, actor) -> FineTuningJob:
    """Let a job that waits for approval go ahead: it is queued and handed to its worker."""
    from finetune_portal.providers.registry import get_provider

    provider = get_provider(job.provider)
    with transaction.atomic():
        approved = job_transition(
            job=job,
            to=JobStatus.QUEUED,
            actor=actor,
            reason=f"Approved by {actor}",
            expected=[JobStatus.AWAITING_APPROVAL],
        )
        if not approved:
            job.refresh_from_db(fields=["status"])
            raise IllegalTransition(job.status, JobStatus.QUEUED)
        audit_log(actor=actor, action="job.approved", target=job, project=job.project)
        transaction.on_commit(lambda: _job_send(job, provider.enqueue_start, what="start"))
    return job


def job_reject(*, job: FineTuningJob, actor, reason: str = "") -> FineTuningJob:
    """Turn down a job that waits for approval: it ends cancelled, with the reason on its page."""
    why = f"Rejected by {actor}" + (f": {reason.strip()}" if reason.strip() else "")
    with transaction.atomic():
        rejected = job_transition(
            job=job,
            to=JobStatus.CANCELLED,
            actor=actor,
            reason=why,
            expected=[JobStatus.AWAITING_APPROVAL],
            error_message=why[:2000],
        )
        if not rejected:
            job.refresh_from_db(fields=["status"])
            raise IllegalTransition(job.status, JobStatus.CANCELLED)
        audit_log(
            actor=actor,
            action="job.rejected",
            target=job,
            project=job.project,
            data={"reason": reason.strip()},
        )
    return job


def _job_send(job: FineTuningJob, enqueue, *, what: str, reaped: bool = True) -> None:
    """Hand a saved job to its worker. With the broker down the job stays saved and says so.

    ``reaped``: a beat reaper finds the job waiting and sends it again (starts and cancels); otherwise
    the user is asked to try again.
    """
    from finetune_portal.celery import broker_send

    if broker_send(lambda: enqueue(job.pk), what=f"the {what} of job {job.pk}"):
        return
    then = (
        "It is sent again automatically once the queue is back."
        if reaped
        else "Nothing changed; try again once the queue is back."
    )
    job_event_record(
        job=job,
        message=f"The job is saved, but its {what} could not be handed to the workers because the "
        f"task queue did not answer. {then}",
        level=EventLevel.WARN,
    )


def job_cancel(*, job: FineTuningJob, actor) -> FineTuningJob:
    """Stop a job. Nothing at a provider yet: cancelled at once. Otherwise ask the provider first."""
    from finetune_portal.providers.registry import get_provider

    before_provider = {JobStatus.DRAFT, JobStatus.AWAITING_APPROVAL, JobStatus.QUEUED}
    with transaction.atomic():
        cancelled_at_once = job_transition(
            job=job,
            to=JobStatus.CANCELLED,
            actor=actor,
            reason="Cancelled before submission",
            expected=before_provider,
        )
        if not cancelled_at_once:
            job_transition(job=job, to=JobStatus.CANCELLING, actor=actor, reason="Cancel requested")
            provider = get_provider(job.provider)
            transaction.on_commit(lambda: _job_send(job, provider.enqueue_cancel, what="cancel request"))
        audit_log(actor=actor, action="job.cancel_requested", target=job, project=job.project)
    return job


def job_pause(*, job: FineTuningJob, actor) -> None:
    """Ask the provider to pause a running job; its worker records the new status when the provider agrees."""
    _job_pause_or_resume(job=job, actor=actor, pause=True)


def job_resume(*, job: FineTuningJob, actor) -> None:
    _job_pause_or_resume(job=job, actor=actor, pause=False)


def _job_pause_or_resume(*, job: FineTuningJob, actor, pause: bool) -> None:
    from finetune_portal.providers.base import ProviderUnavailable
    from finetune_portal.providers.registry import get_provider

    provider = get_provider(job.provider)
    verb = "pause" if pause else "resume"
    if not provider.capabilities.pause:
        raise ProviderUnavailable(f"{job.get_provider_display()} jobs cannot be paused.")
    job.refresh_from_db(fields=["status"])
    needed, target = (JobStatus.RUNNING, JobStatus.PAUSED) if pause else (JobStatus.PAUSED, JobStatus.RUNNING)
    if job.status != needed:
        raise IllegalTransition(job.status, target)
    enqueue = provider.enqueue_pause if pause else provider.enqueue_resume
    with transaction.atomic():
        audit_log(actor=actor, action=f"job.{verb}_requested", target=job, project=job.project)
        job_event_record(job=job, message=f"{verb.capitalize()} requested by {actor}.")
        transaction.on_commit(lambda: _job_send(job, enqueue, what=f"{verb} request", reaped=False))


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
