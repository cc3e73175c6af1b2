"""What a training run writes as it goes: files to shared storage and the trainer's reports to the job."""

from __future__ import annotations

import hashlib
from collections.abc import Set
from pathlib import Path
from typing import Any

from django.core.files import File
from django.core.files.storage import default_storage

from finetune_portal.jobs.claims import CLAIMANT_MAX_LENGTH, Heartbeat
from finetune_portal.jobs.models import EventLevel, FineTuningJob
from finetune_portal.jobs.services import (
    checkpoint_record,
    job_event_record,
    job_trained_tokens_record,
    metric_points_record,
)
from finetune_portal.jobs.states import JobStatus
from finetune_portal.providers.base import ProviderError
from finetune_portal.providers.peft.trainer import CHECKPOINT_SKIP


def storage_prefix(job: FineTuningJob, name: str) -> str:
    return f"peft/{job.project_id}/job-{job.pk}/{name}"


def folder_store(*, folder: Path, prefix: str, skip: Set[str] = frozenset()) -> str:
    """Copy a folder into the default storage under ``prefix`` (replacing what a retry left there)."""
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.name in skip:
            continue
        name = f"{prefix}/{path.relative_to(folder).as_posix()}"
        if default_storage.exists(name):
            default_storage.delete(name)
        with path.open("rb") as handle:
            default_storage.save(name, File(handle, name=path.name))
    return prefix


def version_bytes(version) -> bytes:
    """The dataset version's bytes from shared storage, refused if they do not match its sha256."""
    try:
        with default_storage.open(version.file.name, "rb") as handle:
            content = handle.read()
    except OSError as exc:
        raise ProviderError(
            f"The GPU worker cannot read {version} from storage ({exc}).",
            permanent=True,
            hint="The worker must share MEDIA_ROOT (or the storage bucket) with the web server.",
            code="dataset_unreadable",
        ) from exc
    digest = hashlib.sha256(content).hexdigest()
    if digest != version.sha256:
        raise ProviderError(
            f"The stored file of {version} does not match its checksum (expected {version.sha256[:12]}…, "
            f"read {digest[:12]}…).",
            permanent=True,
            hint="The file was changed or damaged in storage; upload the data again as a new version.",
            code="dataset_checksum",
        )
    return content


class JobReporter:
    """What the trainer's callback calls: metric points, events, checkpoints, and "should I stop?"."""

    def __init__(self, *, job: FineTuningJob, heartbeat: Heartbeat):
        self.job = job
        self.heartbeat_keeper = heartbeat
        self.claim_lost = False

    def heartbeat(self) -> None:
        if not self.heartbeat_keeper.beat():
            self.claim_lost = True

    def should_stop(self) -> bool:
        if self.claim_lost:
            return True
        row = FineTuningJob.objects.filter(pk=self.job.pk).values("status", "claimed_by").first()
        if row is None or row["claimed_by"] != self.heartbeat_keeper.claimant[:CLAIMANT_MAX_LENGTH]:
            self.claim_lost = True
            return True
        return row["status"] != JobStatus.RUNNING

    def metrics(self, point: dict[str, Any]) -> None:
        metric_points_record(job=self.job, points=[point])
        tokens = point.get("num_tokens")
        if isinstance(tokens, (int, float)) and tokens > 0:
            # Tokens trained so far, shown while it runs; the run's outcome writes the final count.
            job_trained_tokens_record(job=self.job, tokens=int(tokens))

    def event(
        self, message: str, *, key: str, level: str = EventLevel.INFO, data: dict | None = None
    ) -> None:
        job_event_record(job=self.job, message=message, level=level, provider_event_id=key, data=data)

    def checkpoint(self, *, step: int, folder: Path, metrics: dict[str, Any]) -> None:
        uri = folder_store(
            folder=folder, prefix=storage_prefix(self.job, f"checkpoint-{step}"), skip=CHECKPOINT_SKIP
        )
        checkpoint_record(
            job=self.job,
            step=step,
            provider_checkpoint_id=f"checkpoint-{step}",
            storage_uri=uri,
            metrics=metrics,
        )
        self.event(f"Checkpoint saved at step {step}.", key=f"checkpoint-{step}", data={"storage_uri": uri})
