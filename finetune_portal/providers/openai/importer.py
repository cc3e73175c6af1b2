"""Bringing an OpenAI account's past fine-tuning jobs into a project as read-only history."""

from __future__ import annotations

import logging

import openai
from django.contrib.auth import get_user_model
from django.db import transaction

from finetune_portal.credentials.models import ProviderCredential
from finetune_portal.jobs.models import FineTuningJob, Method
from finetune_portal.jobs.services import job_create, job_enter_imported, job_event_record
from finetune_portal.jobs.states import JobStatus
from finetune_portal.projects.models import Project
from finetune_portal.providers.openai.client import openai_client_for
from finetune_portal.providers.openai.mapping import (
    METHOD_FROM_TYPE,
    PORTAL_INSTANCE_KEY,
    as_provider_error,
    portal_instance,
    timestamp,
)
from finetune_portal.providers.openai.provider import KEY
from finetune_portal.providers.openai.sync import (
    apply_remote_status,
    checkpoints_sync,
    events_sync,
    record_success,
)

logger = logging.getLogger(__name__)

IMPORT_REASON = "Imported from the OpenAI account"


def jobs_import(*, credential: ProviderCredential, project, actor) -> list[FineTuningJob]:
    """Bring an account's fine-tuning jobs into a project as read-only history, with their metrics."""
    client = openai_client_for(credential)
    known = set(
        FineTuningJob.objects.filter(provider=KEY)
        .exclude(provider_job_id="")
        .values_list("provider_job_id", flat=True)
    )
    instance = portal_instance()
    imported = []
    for remote in client.fine_tuning.jobs.list(limit=100):
        if remote.id in known or (remote.metadata or {}).get(PORTAL_INSTANCE_KEY) == instance:
            continue  # already here, or launched from this portal
        job = _job_create_imported(remote, credential=credential, project=project, actor=actor)
        events_sync(client, job)
        checkpoints_sync(client, job)
        if remote.status == "succeeded":
            record_success(client, job, remote)
        apply_remote_status(job, remote)
        imported.append(job)
    return imported


def _job_create_imported(remote, *, credential: ProviderCredential, project, actor) -> FineTuningJob:
    """The portal job for one of the account's jobs, created like any other and entered as submitted.

    It enters the machine at submitted (``job_enter_imported``); ``apply_remote_status`` then moves it
    on, so a finished job also shows "submitted -> succeeded: OpenAI: succeeded".
    """
    method_type = remote.method.type if remote.method else "supervised"
    section = getattr(remote.method, method_type, None) if remote.method else None
    hyper = (
        section.hyperparameters.model_dump(exclude_none=True) if section and section.hyperparameters else {}
    )
    suffix = getattr(remote, "user_provided_suffix", None) or ""
    with transaction.atomic():
        job = job_create(
            project=project,
            created_by=actor,
            name=f"Imported {remote.id}",
            provider=KEY,
            method=METHOD_FROM_TYPE.get(method_type, Method.SFT),
            base_model=remote.model,
            hyperparameters=hyper,
            suffix=suffix[:64],
            seed=remote.seed,
            credential=credential,
            provider_job_id=remote.id,
            provider_status=str(remote.status),
            imported=True,
            # It ran before the portal knew it: its start and end both come from OpenAI's clock.
            started_at=timestamp(remote.created_at),
        )
        job_enter_imported(job=job, to=JobStatus.SUBMITTED, reason=IMPORT_REASON, actor=actor)
        job_event_record(job=job, message=f"Imported from OpenAI ({remote.id}).")
    return job


def jobs_import_by_ids(*, credential_id: int, project_id: int, actor_id: int | None) -> list[FineTuningJob]:
    """The import as a background task runs it: ids in. A revoked credential imports nothing, and so does
    a request whose user is gone (every job records who created it)."""
    credential = ProviderCredential.objects.active().filter(pk=credential_id).first()
    project = Project.objects.filter(pk=project_id).first()
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    if credential is None or project is None or actor is None:
        return []
    try:
        imported = jobs_import(credential=credential, project=project, actor=actor)
    except openai.OpenAIError as exc:
        logger.warning(
            "Importing jobs for project %s stopped: %s", project.pk, as_provider_error(exc).message
        )
        return []
    logger.info("Imported %d OpenAI job(s) into project %s", len(imported), project.pk)
    return imported
