"""Following jobs at OpenAI: which are due a poll, and one poll (status, events, metrics, checkpoints,
and what a succeeded job leaves behind).

A poll that finds nothing new writes only when to poll next, so the job's live page stays "unchanged".
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import openai
from django.db.models import Q
from django.utils import timezone

from finetune_portal.jobs.models import FineTuningJob, JobEvent
from finetune_portal.jobs.services import (
    checkpoint_record,
    job_event_record,
    job_record_progress,
    job_transition,
    metric_points_record,
)
from finetune_portal.jobs.states import JobStatus, is_allowed
from finetune_portal.providers.base import ProviderError
from finetune_portal.providers.openai import catalog
from finetune_portal.providers.openai.client import credential_for, openai_client_for
from finetune_portal.providers.openai.job_fields import job_fields_save, provider_data_with
from finetune_portal.providers.openai.mapping import (
    STATUS_MAP,
    RetryLater,
    as_provider_error,
    failure_fields,
    metric_point,
    parse_results_csv,
    resolved_hyperparameters,
    timestamp,
)
from finetune_portal.providers.openai.provider import KEY
from finetune_portal.registry.services import fine_tuned_model_record

logger = logging.getLogger(__name__)

S = JobStatus
# Poll fast while a job trains, slowly while it waits; seconds.
POLL_INTERVALS = {S.RUNNING: 10, S.CANCELLING: 10, S.SUBMITTED: 30, S.PAUSED: 60}
POLL_INTERVAL_UNKNOWN = 60
POLL_LEASE = timedelta(seconds=120)
EVENTS_PAGE_SIZE = 100
FOLLOWED_STATUSES = (S.SUBMITTED, S.RUNNING, S.PAUSED, S.CANCELLING)


def jobs_poll_due(*, now: datetime | None = None) -> list[int]:
    """The ids of jobs whose next poll is due, each leased so one beat tick never sends it twice."""
    now = now or timezone.now()
    candidates = (
        FineTuningJob.objects.filter(provider=KEY, status__in=FOLLOWED_STATUSES)
        .exclude(provider_job_id="")
        .filter(Q(next_poll_at__isnull=True) | Q(next_poll_at__lte=now))
        .values_list("pk", "next_poll_at")
    )
    leased = []
    for pk, due_at in candidates:
        if FineTuningJob.objects.filter(pk=pk, next_poll_at=due_at).update(next_poll_at=now + POLL_LEASE):
            leased.append(pk)
    return leased


def _schedule(job: FineTuningJob, seconds: float, **fields: Any) -> None:
    job_fields_save(job, next_poll_at=timezone.now() + timedelta(seconds=seconds), **fields)


def job_poll(*, job_id: int) -> None:
    """Bring one job up to date with OpenAI: status, new events, metrics, checkpoints, outcome."""
    job = FineTuningJob.objects.select_related("project", "credential").filter(pk=job_id).first()
    if job is None or job.is_final or not job.provider_job_id:
        return
    try:
        credential = credential_for(job)
    except ProviderError as error:
        job_event_record(job=job, message=error.message, level="warn", provider_event_id="poll:no-credential")
        _schedule(job, POLL_INTERVAL_UNKNOWN * 10)
        return
    client = openai_client_for(credential, max_retries=0)
    try:
        remote = client.fine_tuning.jobs.retrieve(job.provider_job_id)
        events_sync(client, job)
        checkpoints_sync(client, job)
        if remote.status == "succeeded":
            record_success(client, job, remote)
    except openai.OpenAIError as exc:
        failure = as_provider_error(exc)
        failures = int((job.provider_data or {}).get("poll_failures", 0)) + 1
        if isinstance(failure, RetryLater):
            wait = max(failure.retry_after, min(15 * 2**failures, 900))
        else:
            wait = min(60 * 2**failures, 3600)
            job_event_record(
                job=job,
                message=f"OpenAI answered a status check with: {failure.message}",
                level="warn",
                provider_event_id=f"poll-error:{failure.code or failure.message[:80]}",
            )
        logger.warning("Polling job %s failed (%s); next try in %ss", job.pk, failure.message, wait)
        _schedule(job, wait, provider_data=provider_data_with(job, poll_failures=failures))
        return
    apply_remote_status(job, remote)


def finished_at_for(job: FineTuningJob, remote) -> datetime:
    """When the job ended, on the clock its start was taken from, so that durations use one clock.

    A job launched here started on the portal's clock (its transitions), so it ends on it too: when the
    portal learns of the end. OpenAI's own ``finished_at`` stays in provider_data. An imported job ran
    before the portal knew it, so both its ends come from OpenAI."""
    if job.imported:
        return timestamp(remote.finished_at) or timezone.now()
    return timezone.now()


def event_time_for(job: FineTuningJob, provider_time: int | None) -> datetime | None:
    """An event's time on the job's clock (see ``finished_at_for``); None means "now" when stored."""
    return timestamp(provider_time) if job.imported else None


def apply_remote_status(job: FineTuningJob, remote) -> None:
    """Record OpenAI's status of the job: a move through the machine when it means one, otherwise only
    the provider's own word and when to look again."""
    status = str(remote.status)
    data = provider_data_with(job, poll_failures=0, model=remote.model)
    if remote.estimated_finish:
        data["estimated_finish"] = remote.estimated_finish
    if remote.finished_at:
        data["finished_at"] = remote.finished_at  # OpenAI's clock: kept as provider data only
    resolved = resolved_hyperparameters(remote)
    if resolved:
        # What OpenAI chose for the settings left to it, for the comparison page.
        data["resolved_hyperparameters"] = resolved
    target = STATUS_MAP.get(status)
    if target is None:
        logger.warning("OpenAI job %s reports an unknown status %r", job.provider_job_id, status)
        job_event_record(
            job=job,
            level="warn",
            message=(
                f"OpenAI reports the status “{status}”, which this portal does not know yet. "
                f"The job stays {job.get_status_display().lower()} here and is still followed."
            ),
            provider_event_id=f"unknown-status:{status}",
        )
    current = S(job.status)
    fields: dict[str, Any] = {"provider_status": status, "provider_data": data}
    move_to = target if target is not None and target != current and is_allowed(current, target) else None
    if current == S.CANCELLING and move_to in (S.SUBMITTED, S.RUNNING, S.PAUSED):
        move_to = None  # our cancel is on its way; keep showing that
    if move_to is not None:
        if move_to == S.FAILED:
            fields.update(failure_fields(remote))
        if move_to.is_final:
            fields["finished_at"] = finished_at_for(job, remote)
            fields["next_poll_at"] = None
        moved = job_transition(job=job, to=move_to, expected=[current], reason=f"OpenAI: {status}", **fields)
        if moved and not move_to.is_final:
            _schedule(job, POLL_INTERVALS.get(move_to, POLL_INTERVAL_UNKNOWN))
        return
    interval = POLL_INTERVALS.get(current, POLL_INTERVAL_UNKNOWN) if target else POLL_INTERVAL_UNKNOWN
    _schedule(job, interval, **fields)


def events_sync(client: openai.OpenAI, job: FineTuningJob) -> int:
    """Read events newest first until one we already have; store them oldest first. Returns how many."""
    marker = (job.provider_data or {}).get("last_event_id")
    fresh = []
    after = None
    while True:
        if after:
            page = client.fine_tuning.jobs.list_events(
                job.provider_job_id, limit=EVENTS_PAGE_SIZE, after=after
            )
        else:
            page = client.fine_tuning.jobs.list_events(job.provider_job_id, limit=EVENTS_PAGE_SIZE)
        ids = [event.id for event in page.data]
        stored = set(
            JobEvent.objects.filter(job_id=job.pk, provider_event_id__in=ids).values_list(
                "provider_event_id", flat=True
            )
        )
        reached_known = False
        for event in page.data:
            if event.id == marker or event.id in stored:
                reached_known = True
                break
            fresh.append(event)
        if reached_known or not page.has_more or not page.data:
            break
        after = page.data[-1].id
    if not fresh:
        return 0
    points = []
    for event in reversed(fresh):
        if event.type == "metrics":
            point = metric_point(event.data)
            if point is not None:
                points.append(point)
                continue
        job_event_record(
            job=job,
            message=event.message,
            level=event.level,
            provider_event_id=event.id,
            created_at=event_time_for(job, event.created_at),
            data={
                **(event.data if isinstance(event.data, dict) else {}),
                "provider_created_at": event.created_at,
            },
        )
    metric_points_record(job=job, points=points)
    job_record_progress(job=job)
    job_fields_save(job, provider_data=provider_data_with(job, last_event_id=fresh[0].id))
    return len(fresh)


def checkpoints_sync(client: openai.OpenAI, job: FineTuningJob) -> int:
    page = client.fine_tuning.jobs.checkpoints.list(job.provider_job_id, limit=10)
    for checkpoint in page.data:
        metrics = checkpoint.metrics.model_dump(exclude_none=True) if checkpoint.metrics else {}
        checkpoint_record(
            job=job,
            step=int(checkpoint.step_number),
            provider_checkpoint_id=checkpoint.fine_tuned_model_checkpoint,
            metrics=metrics,
        )
    return len(page.data)


def record_success(client: openai.OpenAI, job: FineTuningJob, remote) -> None:
    """Everything a succeeded job leaves behind, before the status says so (so the page is complete)."""
    for file_id in remote.result_files or []:
        content = client.files.content(file_id).content
        metric_points_record(job=job, points=parse_results_csv(content))
    trained = remote.trained_tokens
    cost = catalog.training_cost(job.base_model, trained) if trained else None
    if cost is None and trained:
        cost = catalog.training_cost(remote.model, trained)
    job_fields_save(job, trained_tokens=trained, actual_cost=cost)
    if remote.fine_tuned_model:
        fine_tuned_model_record(job=job, base_model=remote.model, provider_model_id=remote.fine_tuned_model)
