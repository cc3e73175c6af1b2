"""Submitting a queued job to OpenAI exactly once: claim, upload, create (or adopt what already exists).

Changes job status only through the shared lifecycle (``jobs/claims.py``) and ``job_transition``; no
transaction is held open across a network call.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import openai
from django.utils import timezone

from finetune_portal.credentials.models import ProviderCredential
from finetune_portal.credentials.services import credential_mark_used
from finetune_portal.jobs.claims import job_claim, job_heartbeat, job_reclaim
from finetune_portal.jobs.models import FineTuningJob
from finetune_portal.jobs.services import job_event_record, job_transition
from finetune_portal.jobs.states import JobStatus
from finetune_portal.providers.base import ProviderError
from finetune_portal.providers.openai.client import credential_for, openai_client_for
from finetune_portal.providers.openai.job_fields import job_fields_save, provider_data_with
from finetune_portal.providers.openai.mapping import (
    RetryLater,
    as_provider_error,
    create_params,
    hint_for,
    provider_metadata,
)
from finetune_portal.providers.openai.models import UploadedFile

logger = logging.getLogger(__name__)

S = JobStatus
# A claim whose worker has not been heard from for this long is taken over (by redelivery or the reaper).
CLAIM_STALE_AFTER = timedelta(minutes=10)


def claim_for_submit(job: FineTuningJob, *, worker_id: str) -> bool:
    """Claim a queued job, or take back one that is claimed but not yet at OpenAI: our own claim (Celery
    redelivers and retries with the same task id) or one abandoned by a dead worker."""
    if job.status == S.QUEUED:
        if job_claim(job=job, claimant=worker_id, reason="Claimed by an OpenAI worker"):
            return True
        job.refresh_from_db()
    if job.status != S.VALIDATING_FILES or job.provider_job_id:
        return False
    return job_reclaim(job=job, claimant=worker_id, stale_after=CLAIM_STALE_AFTER)


def find_provider_job(client: openai.OpenAI, job: FineTuningJob):
    """The job OpenAI already has for this portal job (found by its metadata), or None."""
    found = list(client.fine_tuning.jobs.list(limit=20, metadata=provider_metadata(job)))
    # Oldest first: if a duplicate ever slipped through, we keep following the first one.
    return found[-1] if found else None


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
    if job is None or not claim_for_submit(job, worker_id=worker_id):
        return  # deleted, or not ours to submit
    try:
        credential = credential_for(job)
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
        job_heartbeat(job_id=job.pk, claimant=worker_id)
    except openai.OpenAIError as exc:
        failure = as_provider_error(exc)
        if not failure.permanent:
            raise failure from exc
        _fail_before_submission(job, failure)
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
        failure = as_provider_error(exc)
        if not failure.permanent:
            raise failure from exc
        _fail_before_submission(job, failure)
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
        # OpenAI answered: the "could not reach" notice of earlier tries is over.
        provider_data=provider_data_with(job, retry_notice=None),
    )
    if adopted:
        return
    # Cancelled while we were creating it: the job exists at OpenAI now, so stop it there too.
    job.refresh_from_db()
    if job.status in (S.CANCELLING, S.CANCELLED) and not job.provider_job_id:
        job_fields_save(
            job, provider_job_id=remote.id, provider_status=str(remote.status), credential=credential
        )
        try:
            client.fine_tuning.jobs.cancel(remote.id)
        except openai.OpenAIError:
            logger.warning("Could not cancel %s at OpenAI after the portal job was cancelled", remote.id)
        job_event_record(
            job=job, message=f"Cancelled {remote.id} at OpenAI: the job was cancelled meanwhile."
        )
