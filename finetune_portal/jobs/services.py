"""Writes to jobs. Views and tasks call these; nothing else sets a job's status."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from finetune_portal.core.audit import audit_log
from finetune_portal.jobs.budget import launch_budget_check
from finetune_portal.jobs.models import EventLevel, FineTuningJob, JobTransition

# Providers, other apps and tests import the recording services from here (they lived here before
# jobs/recording.py took them); code inside jobs imports them from there.
from finetune_portal.jobs.recording import (  # noqa: F401
    METRIC_FIELDS,
    checkpoint_record,
    job_event_record,
    job_live_publish,
    job_record_progress,
    job_trained_tokens_record,
    metric_points_record,
    runs_live_publish,
)
from finetune_portal.jobs.signals import job_status_changed
from finetune_portal.jobs.states import ALLOWED, IllegalTransition, JobStatus
from finetune_portal.projects.models import Project


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
        runs_live_publish(job.project_id)
    for name, value in fields.items():
        setattr(job, name, value)
    return True


@transaction.atomic
def job_create(*, project, created_by, **fields: Any) -> FineTuningJob:
    job = FineTuningJob(project=project, created_by=created_by, status=JobStatus.DRAFT, **fields)
    job.full_clean()
    job.save()
    runs_live_publish(job.project_id)
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
        runs_live_publish(job.project_id)
    job.status, job.status_changed_at, job.updated_at = target, now, now
    return True


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
        budget = launch_budget_check(job)
        target = JobStatus.AWAITING_APPROVAL if budget.over_budget else JobStatus.QUEUED
        launched = job_transition(
            job=job, to=target, actor=actor, reason=budget.reason, expected=[JobStatus.DRAFT]
        )
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
        if budget.over_budget:
            audit_log(
                actor=actor,
                action="job.approval_requested",
                target=job,
                project=job.project,
                data=budget.audit_data(),
            )
        else:
            transaction.on_commit(lambda: _job_send(job, provider.enqueue_start, what="start"))
    return job


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
