"""The OpenAI worker flow: submit exactly once, follow, cancel, record, reap and import.

Every function takes ids or rows, talks to OpenAI only through the SDK, and changes job status only
through ``job_transition``. None holds a transaction open across a network call.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import openai
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from finetune_portal.credentials.models import ProviderCredential
from finetune_portal.credentials.services import credential_mark_used, credential_resolve
from finetune_portal.jobs.models import FineTuningJob, JobEvent, Method, Provider
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
from finetune_portal.providers.openai.client import openai_client_for
from finetune_portal.providers.openai.models import UploadedFile
from finetune_portal.registry.models import FineTunedModel

logger = logging.getLogger(__name__)

S = JobStatus
PORTAL_JOB_KEY = "portal_job_id"
PORTAL_INSTANCE_KEY = "portal_instance"

# OpenAI's words -> the portal's machine. Anything else is shown and logged, never fatal.
STATUS_MAP: dict[str, JobStatus] = {
    "validating_files": S.SUBMITTED,
    "queued": S.SUBMITTED,
    "running": S.RUNNING,
    "paused": S.PAUSED,
    "succeeded": S.SUCCEEDED,
    "failed": S.FAILED,
    "cancelled": S.CANCELLED,
}
METHOD_TYPES = {Method.SFT: "supervised", Method.DPO: "dpo", Method.RFT: "reinforcement"}
METHOD_FROM_TYPE = {value: key for key, value in METHOD_TYPES.items()}
HYPERPARAMETERS = {
    Method.SFT: ("n_epochs", "batch_size", "learning_rate_multiplier"),
    Method.DPO: ("n_epochs", "batch_size", "learning_rate_multiplier", "beta"),
    Method.RFT: (
        "n_epochs",
        "batch_size",
        "learning_rate_multiplier",
        "reasoning_effort",
        "compute_multiplier",
        "eval_interval",
        "eval_samples",
    ),
}

# Poll fast while a job trains, slowly while it waits; seconds.
POLL_INTERVALS = {S.RUNNING: 10, S.CANCELLING: 10, S.SUBMITTED: 30, S.PAUSED: 60}
POLL_INTERVAL_UNKNOWN = 60
POLL_LEASE = timedelta(seconds=120)
EVENTS_PAGE_SIZE = 100
# A claim whose worker has not been heard from for this long is taken over (by redelivery or the reaper).
CLAIM_STALE_AFTER = timedelta(minutes=10)
QUEUED_STALE_AFTER = timedelta(minutes=10)
NO_PROGRESS_STALE_AFTER = timedelta(hours=1)


class RetryLater(ProviderError):
    """A transient failure: the task should run again after ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: float):
        super().__init__(message, permanent=False)
        self.retry_after = retry_after


# -- errors and hints --------------------------------------------------------------------------------

_HINTS: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("file format", "invalid_training_file", "invalid_validation_file", "training file", "examples"),
        "OpenAI could not use the training data. Open the dataset version's validation report, fix the "
        "examples OpenAI names, upload a new version and launch again.",
    ),
    (
        ("quota", "billing", "insufficient_quota", "credit", "exceeded your"),
        "The OpenAI account behind this credential is out of credit or over its quota. Ask whoever owns "
        "the account to add credit or raise the limit, then launch again.",
    ),
    (
        ("permission", "not allowed", "not have access", "unauthorized", "incorrect api key", "api key"),
        "OpenAI refused the credential. Check that the API key is valid, belongs to the right "
        "organization and project, and is allowed to fine-tune.",
    ),
    (
        ("model_not_available", "not available for fine-tuning", "does not exist", "invalid model", "model"),
        "This base model cannot be fine-tuned with this account. Pick a model from the list for the "
        "chosen method, or check the spelling of a custom one.",
    ),
)


def hint_for(message: str, code: str = "") -> str:
    text = f"{code} {message}".lower()
    for needles, hint in _HINTS:
        if any(needle in text for needle in needles):
            return hint
    return ""


def _retry_after(exc: openai.APIStatusError, default: float) -> float:
    headers = exc.response.headers
    try:
        if headers.get("retry-after-ms"):
            return max(1.0, float(headers["retry-after-ms"]) / 1000)
        if headers.get("retry-after"):
            return max(1.0, float(headers["retry-after"]))
    except ValueError:
        pass
    return default


def _error_message(exc: openai.APIStatusError) -> tuple[str, str]:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error", body) if isinstance(body.get("error", body), dict) else {}
    return str(error.get("message") or exc.message), str(error.get("code") or "")


def as_provider_error(exc: Exception) -> ProviderError:
    """Read an SDK exception as permanent (the job fails, verbatim) or retryable (try again later)."""
    if isinstance(exc, openai.APIConnectionError):
        return RetryLater(f"Could not reach OpenAI: {exc}", retry_after=30)
    if isinstance(exc, openai.APIStatusError):
        message, code = _error_message(exc)
        if exc.status_code == 429 and code != "insufficient_quota":
            return RetryLater(message, retry_after=_retry_after(exc, 30))
        if exc.status_code >= 500 or exc.status_code in (408, 409):
            return RetryLater(message, retry_after=_retry_after(exc, 30))
        return ProviderError(message, permanent=True, hint=hint_for(message, code), code=code)
    raise exc


# -- helpers -----------------------------------------------------------------------------------------


def portal_instance() -> str:
    """Tells this installation's jobs apart from another portal's on a shared OpenAI account."""
    configured = getattr(settings, "OPENAI_PORTAL_INSTANCE", "")
    return configured or hashlib.sha256(settings.SECRET_KEY.encode()).hexdigest()[:12]


def provider_metadata(job: FineTuningJob) -> dict[str, str]:
    return {PORTAL_JOB_KEY: str(job.pk), PORTAL_INSTANCE_KEY: portal_instance()}


def _credential_for(job: FineTuningJob) -> ProviderCredential:
    credential = job.credential if job.credential_id and job.credential.is_active else None
    credential = credential or credential_resolve(kind="openai", project=job.project)
    if credential is None:
        raise ProviderError(
            "No OpenAI credential is configured for this project or site-wide.",
            permanent=True,
            hint="A project admin can add one under Credentials; a site admin can add a site-wide one.",
        )
    return credential


def _timestamp(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, tz=UTC) if value else None


def _update(job: FineTuningJob, **fields: Any) -> None:
    """Non-status fields, written without touching status (that is job_transition's alone)."""
    FineTuningJob.objects.filter(pk=job.pk).update(updated_at=timezone.now(), **fields)
    for name, value in fields.items():
        setattr(job, name, value)


def _provider_data(job: FineTuningJob, **changes: Any) -> dict[str, Any]:
    data = dict(job.provider_data or {})
    data.update(changes)
    return data


def find_provider_job(client: openai.OpenAI, job: FineTuningJob):
    """The job OpenAI already has for this portal job (found by its metadata), or None."""
    found = list(client.fine_tuning.jobs.list(limit=20, metadata=provider_metadata(job)))
    # Oldest first: if a duplicate ever slipped through, we keep following the first one.
    return found[-1] if found else None


# -- submit ------------------------------------------------------------------------------------------


def _claim(job: FineTuningJob, worker_id: str) -> bool:
    now = timezone.now()
    if job.status == S.QUEUED:
        claimed = job_transition(
            job=job,
            to=S.VALIDATING_FILES,
            expected=[S.QUEUED],
            reason="Claimed by an OpenAI worker",
            claimed_by=worker_id,
            heartbeat_at=now,
        )
        if claimed:
            return True
        job.refresh_from_db()
    if job.status != S.VALIDATING_FILES or job.provider_job_id:
        return False
    # Ours again (Celery redelivers and retries with the same task id), or abandoned by a dead worker.
    taken = (
        FineTuningJob.objects.filter(pk=job.pk, status=S.VALIDATING_FILES, provider_job_id="")
        .filter(
            Q(claimed_by=worker_id)
            | Q(heartbeat_at__isnull=True)
            | Q(heartbeat_at__lt=now - CLAIM_STALE_AFTER)
        )
        .update(claimed_by=worker_id, heartbeat_at=now)
    )
    return bool(taken)


def _heartbeat(job: FineTuningJob) -> None:
    FineTuningJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())


def _upload(client: openai.OpenAI, credential: ProviderCredential, version) -> str:
    cached = UploadedFile.objects.filter(credential=credential, sha256=version.sha256).first()
    if cached is not None:
        try:
            client.files.retrieve(cached.provider_file_id)
            return cached.provider_file_id
        except openai.NotFoundError:
            cached.delete()  # deleted at OpenAI since: upload again
    name = f"{version.dataset.name}-v{version.number}.jsonl".replace(" ", "_")
    with version.file.open("rb") as handle:
        uploaded = client.files.create(file=(name, handle.read()), purpose="fine-tune")
    UploadedFile.objects.get_or_create(
        credential=credential,
        sha256=version.sha256,
        defaults={"provider_file_id": uploaded.id, "byte_size": version.byte_size},
    )
    return uploaded.id


def create_params(job: FineTuningJob, *, training_file: str, validation_file: str | None) -> dict[str, Any]:
    kind = METHOD_TYPES[Method(job.method)]
    chosen = job.hyperparameters or {}
    hyper = {
        key: chosen[key]
        for key in HYPERPARAMETERS[Method(job.method)]
        if chosen.get(key) not in (None, "", "auto", "default")
    }
    section: dict[str, Any] = {"hyperparameters": hyper}
    if job.method == Method.RFT:
        section["grader"] = (job.provider_data or {}).get("grader")
    params: dict[str, Any] = {
        "model": job.base_model,
        "training_file": training_file,
        "metadata": provider_metadata(job),
        "method": {"type": kind, kind: section},
    }
    if validation_file:
        params["validation_file"] = validation_file
    if job.suffix:
        params["suffix"] = job.suffix
    if job.seed is not None:
        params["seed"] = job.seed
    return params


def provider_job_create(
    client: openai.OpenAI, job: FineTuningJob, *, training_file: str, validation_file=None
):
    """One create call with SDK retries off: a retried POST could pay for a second job."""
    params = create_params(job, training_file=training_file, validation_file=validation_file)
    return client.with_options(max_retries=0).fine_tuning.jobs.create(**params)


def _fail_before_submission(job: FineTuningJob, error: ProviderError) -> None:
    job_transition(
        job=job,
        to=S.FAILED,
        expected=[S.VALIDATING_FILES, S.QUEUED],
        reason="OpenAI refused the job",
        error_message=error.message,
        error_hint=error.hint or hint_for(error.message, error.code),
        claimed_by="",
    )


def job_submit(*, job_id: int, worker_id: str) -> None:
    """Claim a queued job, upload its files and create it at OpenAI, at most once.

    Raises RetryLater for transient trouble; the job then stays claimed by this task id, so the retry
    (same id) carries on where this attempt stopped.
    """
    job = FineTuningJob.objects.select_related("project", "credential").filter(pk=job_id).first()
    if job is None or not _claim(job, worker_id):
        return  # deleted, or not ours to submit
    try:
        credential = _credential_for(job)
        if job.training_version is None:
            raise ProviderError(
                "The job has no training data.", permanent=True, hint="Launch it again with data."
            )
    except ProviderError as error:
        _fail_before_submission(job, error)
        return
    client = openai_client_for(credential)
    try:
        existing = find_provider_job(client, job)
        if existing is not None:
            _adopt(
                job,
                existing,
                credential,
                client,
                reason=f"Adopted the job OpenAI already had ({existing.id})",
            )
            return
        training_file = _upload(client, credential, job.training_version)
        validation_file = (
            _upload(client, credential, job.validation_version) if job.validation_version else None
        )
        _heartbeat(job)
    except openai.OpenAIError as exc:
        error = as_provider_error(exc)
        if not error.permanent:
            raise error from exc
        _fail_before_submission(job, error)
        return
    credential_mark_used(credential=credential)
    if not FineTuningJob.objects.filter(pk=job.pk, status=S.VALIDATING_FILES, claimed_by=worker_id).exists():
        return  # cancelled (or taken over) while the files went up: create nothing
    try:
        created = provider_job_create(
            client, job, training_file=training_file, validation_file=validation_file
        )
    except (openai.APIConnectionError, openai.InternalServerError, openai.ConflictError) as exc:
        # We cannot tell whether OpenAI created the job: look before anyone tries again.
        try:
            existing = find_provider_job(client, job)
        except openai.OpenAIError as lookup_exc:
            raise RetryLater(f"Could not confirm the job at OpenAI: {lookup_exc}", retry_after=15) from exc
        if existing is not None:
            _adopt(job, existing, credential, client, reason=f"Adopted {existing.id} after an unclear answer")
            return
        raise as_provider_error(exc) from exc
    except openai.OpenAIError as exc:
        error = as_provider_error(exc)
        if not error.permanent:
            raise error from exc
        _fail_before_submission(job, error)
        return
    _adopt(job, created, credential, client, reason=f"Submitted to OpenAI as {created.id}")


def _adopt(
    job: FineTuningJob, remote, credential: ProviderCredential, client: openai.OpenAI, *, reason: str
) -> None:
    """Save the provider's id on the job; from here on the poller follows it."""
    now = timezone.now()
    target = S.RUNNING if remote.status == "running" else S.SUBMITTED
    adopted = job_transition(
        job=job,
        to=target,
        expected=[S.VALIDATING_FILES],
        reason=reason,
        provider_job_id=remote.id,
        provider_status=str(remote.status),
        credential=credential,
        claimed_by="",
        next_poll_at=now,
        last_progress_at=now,
    )
    if adopted:
        return
    # Cancelled while we were creating it: the job exists at OpenAI now, so stop it there too.
    job.refresh_from_db()
    if job.status in (S.CANCELLING, S.CANCELLED) and not job.provider_job_id:
        _update(job, provider_job_id=remote.id, provider_status=str(remote.status), credential=credential)
        try:
            client.fine_tuning.jobs.cancel(remote.id)
        except openai.OpenAIError:
            logger.warning("Could not cancel %s at OpenAI after the portal job was cancelled", remote.id)
        job_event_record(
            job=job, message=f"Cancelled {remote.id} at OpenAI: the job was cancelled meanwhile."
        )


# -- follow ------------------------------------------------------------------------------------------


def jobs_poll_due(*, now: datetime | None = None) -> list[int]:
    """The ids of jobs whose next poll is due, each leased so one beat tick never sends it twice."""
    now = now or timezone.now()
    candidates = (
        FineTuningJob.objects.filter(
            provider=Provider.OPENAI,
            status__in=[S.SUBMITTED, S.RUNNING, S.PAUSED, S.CANCELLING],
        )
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
    _update(job, next_poll_at=timezone.now() + timedelta(seconds=seconds), **fields)


def job_poll(*, job_id: int) -> None:
    """Bring one job up to date with OpenAI: status, new events, metrics, checkpoints, outcome."""
    job = FineTuningJob.objects.select_related("project", "credential").filter(pk=job_id).first()
    if job is None or job.is_final or not job.provider_job_id:
        return
    try:
        credential = _credential_for(job)
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
            _record_success(client, job, remote)
    except openai.OpenAIError as exc:
        error = as_provider_error(exc)
        failures = int((job.provider_data or {}).get("poll_failures", 0)) + 1
        if isinstance(error, RetryLater):
            wait = max(error.retry_after, min(15 * 2**failures, 900))
        else:
            wait = min(60 * 2**failures, 3600)
            job_event_record(
                job=job,
                message=f"OpenAI answered a status check with: {error.message}",
                level="warn",
                provider_event_id=f"poll-error:{error.code or error.message[:80]}",
            )
        logger.warning("Polling job %s failed (%s); next try in %ss", job.pk, error.message, wait)
        _schedule(job, wait, provider_data=_provider_data(job, poll_failures=failures))
        return
    apply_remote_status(job, remote)


def apply_remote_status(job: FineTuningJob, remote) -> None:
    status = str(remote.status)
    data = _provider_data(job, poll_failures=0, model=remote.model)
    if remote.estimated_finish:
        data["estimated_finish"] = remote.estimated_finish
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
    wants_move = target is not None and target != current and is_allowed(current, target)
    if current == S.CANCELLING and target in (S.SUBMITTED, S.RUNNING, S.PAUSED):
        wants_move = False  # our cancel is on its way; keep showing that
    if wants_move and target == S.FAILED:
        error = remote.error
        message = (getattr(error, "message", None) if error else None) or "OpenAI reported the job as failed."
        code = (getattr(error, "code", None) if error else None) or ""
        fields.update(error_message=message, error_hint=hint_for(message, code))
    if wants_move and target.is_final:
        fields["finished_at"] = _timestamp(remote.finished_at) or timezone.now()
        fields["next_poll_at"] = None
    if wants_move:
        moved = job_transition(job=job, to=target, expected=[current], reason=f"OpenAI: {status}", **fields)
        if moved and not target.is_final:
            _schedule(job, POLL_INTERVALS.get(target, POLL_INTERVAL_UNKNOWN))
        return
    interval = POLL_INTERVALS.get(current, POLL_INTERVAL_UNKNOWN) if target else POLL_INTERVAL_UNKNOWN
    _schedule(job, interval, **fields)


def _metric_point(data: dict[str, Any]) -> dict[str, Any] | None:
    if not isinstance(data, dict) or data.get("step") is None:
        return None
    point: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            point[key] = value
    point["step"] = int(data["step"])
    return point


def events_sync(client: openai.OpenAI, job: FineTuningJob) -> int:
    """Read events newest first until one we already have; store them oldest first. Returns how many."""
    marker = (job.provider_data or {}).get("last_event_id")
    fresh = []
    after = None
    while True:
        kwargs = {"limit": EVENTS_PAGE_SIZE, **({"after": after} if after else {})}
        page = client.fine_tuning.jobs.list_events(job.provider_job_id, **kwargs)
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
            point = _metric_point(event.data)
            if point is not None:
                points.append(point)
                continue
        job_event_record(
            job=job,
            message=event.message,
            level=event.level,
            provider_event_id=event.id,
            created_at=_timestamp(event.created_at),
            data=event.data if isinstance(event.data, dict) else {},
        )
    metric_points_record(job=job, points=points)
    job_record_progress(job=job)
    _update(job, provider_data=_provider_data(job, last_event_id=fresh[0].id))
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


_RESULT_COLUMNS = {
    "train_loss": "train_loss",
    "train_accuracy": "train_mean_token_accuracy",
    "train_mean_token_accuracy": "train_mean_token_accuracy",
    "valid_loss": "valid_loss",
    "valid_mean_token_accuracy": "valid_mean_token_accuracy",
    "full_valid_loss": "full_valid_loss",
}


def parse_results_csv(raw: bytes | str) -> list[dict[str, Any]]:
    """The results file's rows as metric points, read by column name. It may arrive base64-encoded."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    if not text.lstrip().startswith("step"):
        try:
            text = base64.b64decode(text.strip(), validate=False).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return []
    points = []
    for row in csv.DictReader(io.StringIO(text.strip())):
        try:
            point: dict[str, Any] = {"step": int(float(row.get("step") or ""))}
        except ValueError:
            continue
        for column, cell in row.items():
            if column in (None, "step") or cell in (None, ""):
                continue
            try:
                value = float(cell)
            except ValueError:
                continue
            point[_RESULT_COLUMNS.get(column.strip(), column.strip())] = value
        points.append(point)
    return points


def _record_success(client: openai.OpenAI, job: FineTuningJob, remote) -> None:
    """Everything a succeeded job leaves behind, before the status says so (so the page is complete)."""
    for file_id in remote.result_files or []:
        content = client.files.content(file_id).content
        metric_points_record(job=job, points=parse_results_csv(content))
    trained = remote.trained_tokens
    cost = catalog.training_cost(job.base_model, trained) if trained else None
    if cost is None and trained:
        cost = catalog.training_cost(remote.model, trained)
    _update(job, trained_tokens=trained, actual_cost=cost)
    if remote.fine_tuned_model:
        FineTunedModel.objects.get_or_create(
            job=job, defaults={"provider_model_id": remote.fine_tuned_model, "base_model": remote.model}
        )


# -- cancel ------------------------------------------------------------------------------------------


def job_cancel_at_provider(*, job_id: int) -> None:
    job = FineTuningJob.objects.select_related("project", "credential").filter(pk=job_id).first()
    if job is None or job.status != S.CANCELLING:
        return
    credential = _credential_for(job)
    client = openai_client_for(credential)
    try:
        if not job.provider_job_id:
            existing = find_provider_job(client, job)
            if existing is None:
                # Nothing exists at OpenAI; a worker still creating it will see the cancel and stop it.
                job_transition(
                    job=job, to=S.CANCELLED, expected=[S.CANCELLING], reason="Nothing to stop at OpenAI"
                )
                return
            _update(job, provider_job_id=existing.id, credential=credential)
        remote = client.fine_tuning.jobs.cancel(job.provider_job_id)
    except (openai.BadRequestError, openai.NotFoundError, openai.ConflictError):
        # Already over at OpenAI: record how it really ended.
        job_poll(job_id=job.pk)
        return
    except openai.OpenAIError as exc:
        error = as_provider_error(exc)
        if error.permanent:
            job_event_record(job=job, message=f"OpenAI refused the cancel: {error.message}", level="error")
            return
        raise error from exc
    if remote.status == "cancelled":
        job_transition(
            job=job,
            to=S.CANCELLED,
            expected=[S.CANCELLING],
            reason="Cancelled at OpenAI",
            provider_status="cancelled",
            finished_at=_timestamp(remote.finished_at) or timezone.now(),
            next_poll_at=None,
        )
    else:
        apply_remote_status(job, remote)


def job_pause_at_provider(*, job_id: int) -> None:
    _pause_or_resume(job_id=job_id, pause=True)


def job_resume_at_provider(*, job_id: int) -> None:
    _pause_or_resume(job_id=job_id, pause=False)


def _pause_or_resume(*, job_id: int, pause: bool) -> None:
    """Pause or resume at OpenAI. A refusal is recorded in OpenAI's words and the job's status re-read."""
    verb = "pause" if pause else "resume"
    job = FineTuningJob.objects.select_related("project", "credential").filter(pk=job_id).first()
    if job is None or not job.provider_job_id or job.status != (S.RUNNING if pause else S.PAUSED):
        return  # moved on since it was asked (finished, cancelled, or already there)
    client = openai_client_for(_credential_for(job))
    jobs_api = client.fine_tuning.jobs
    try:
        remote = (jobs_api.pause if pause else jobs_api.resume)(job.provider_job_id)
    except openai.OpenAIError as exc:
        error = as_provider_error(exc)
        if not error.permanent:
            raise error from exc
        job_event_record(job=job, message=f"OpenAI refused to {verb} the job: {error.message}", level="error")
        job_poll(job_id=job.pk)
        return
    apply_remote_status(job, remote)


# -- reaper ------------------------------------------------------------------------------------------


@dataclass
class ReapResult:
    resubmit: list[int]
    recancel: list[int]
    repoll: list[int]


def jobs_reap(*, now: datetime | None = None) -> ReapResult:
    """Find OpenAI jobs that stopped making progress and say what must run again for each."""
    now = now or timezone.now()
    openai_jobs = FineTuningJob.objects.filter(provider=Provider.OPENAI)
    abandoned_claims = openai_jobs.filter(status=S.VALIDATING_FILES, provider_job_id="").filter(
        Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - CLAIM_STALE_AFTER)
    )
    lost_starts = openai_jobs.filter(status=S.QUEUED, status_changed_at__lt=now - QUEUED_STALE_AFTER)
    stuck_cancels = openai_jobs.filter(status=S.CANCELLING, status_changed_at__lt=now - CLAIM_STALE_AFTER)
    silent = (
        openai_jobs.filter(status__in=[S.SUBMITTED, S.RUNNING, S.PAUSED])
        .exclude(provider_job_id="")
        .filter(Q(last_progress_at__isnull=True) | Q(last_progress_at__lt=now - NO_PROGRESS_STALE_AFTER))
        .filter(Q(next_poll_at__isnull=True) | Q(next_poll_at__gt=now + timedelta(minutes=5)))
    )
    repoll = list(silent.values_list("pk", flat=True))
    # Poll them now: if OpenAI moved on, the poll records it; if not, the slow interval resumes.
    FineTuningJob.objects.filter(pk__in=repoll).update(next_poll_at=now)
    return ReapResult(
        resubmit=sorted(
            set(abandoned_claims.values_list("pk", flat=True)) | set(lost_starts.values_list("pk", flat=True))
        ),
        recancel=list(stuck_cancels.values_list("pk", flat=True)),
        repoll=repoll,
    )


# -- import ------------------------------------------------------------------------------------------


def jobs_import(*, credential: ProviderCredential, project, actor) -> list[FineTuningJob]:
    """Bring an account's fine-tuning jobs into a project as read-only history, with their metrics."""
    client = openai_client_for(credential)
    known = set(
        FineTuningJob.objects.filter(provider=Provider.OPENAI)
        .exclude(provider_job_id="")
        .values_list("provider_job_id", flat=True)
    )
    instance = portal_instance()
    imported = []
    for remote in client.fine_tuning.jobs.list(limit=100):
        if remote.id in known or (remote.metadata or {}).get(PORTAL_INSTANCE_KEY) == instance:
            continue  # already here, or launched from this portal
        method_type = remote.method.type if remote.method else "supervised"
        method = METHOD_FROM_TYPE.get(method_type, Method.SFT)
        section = getattr(remote.method, method_type, None) if remote.method else None
        hyper = (
            section.hyperparameters.model_dump(exclude_none=True)
            if section and section.hyperparameters
            else {}
        )
        with transaction.atomic():
            job = FineTuningJob.objects.create(
                project=project,
                name=f"Imported {remote.id}",
                provider=Provider.OPENAI,
                method=method,
                base_model=remote.model,
                hyperparameters=hyper,
                suffix=(remote.user_provided_suffix or "")[:64]
                if hasattr(remote, "user_provided_suffix")
                else "",
                seed=remote.seed,
                credential=credential,
                provider_job_id=remote.id,
                provider_status=str(remote.status),
                status=S.SUBMITTED,
                imported=True,
                created_by=actor,
            )
            job_event_record(job=job, message=f"Imported from OpenAI ({remote.id}).")
        events_sync(client, job)
        checkpoints_sync(client, job)
        if remote.status == "succeeded":
            _record_success(client, job, remote)
        apply_remote_status(job, remote)
        imported.append(job)
    return imported


def jobs_import_by_ids(*, credential_id: int, project_id: int, actor_id: int | None) -> list[FineTuningJob]:
    """The import as a background task runs it: ids in; a revoked credential imports nothing."""
    from django.contrib.auth import get_user_model

    from finetune_portal.projects.models import Project

    credential = ProviderCredential.objects.active().filter(pk=credential_id).first()
    project = Project.objects.filter(pk=project_id).first()
    if credential is None or project is None:
        return []
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    try:
        imported = jobs_import(credential=credential, project=project, actor=actor)
    except openai.OpenAIError as exc:
        logger.warning(
            "Importing jobs for project %s stopped: %s", project.pk, as_provider_error(exc).message
        )
        return []
    logger.info("Imported %d OpenAI job(s) into project %s", len(imported), project.pk)
    return imported
