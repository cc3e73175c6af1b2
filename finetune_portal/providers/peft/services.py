"""Writes for the local GPU provider: claiming, training, reporting, reaping, and worker reports.

The heavy lifting is in trainer.py (torch, imported lazily); this module holds the rules: a job is
trained by at most one worker (compare-and-set claim + heartbeat), every report goes through the jobs
services, and every ending, good or bad, leaves the job in a final state with a plain message.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import threading
import time
from dataclasses import asdict, fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from finetune_portal.core.storage import storage_folder_download
from finetune_portal.credentials.services import credential_mark_used, credential_resolve
from finetune_portal.jobs.models import Checkpoint, EventLevel, FineTuningJob, Provider
from finetune_portal.jobs.services import (
    checkpoint_record,
    job_event_record,
    job_transition,
    metric_points_record,
)
from finetune_portal.jobs.states import JobStatus
from finetune_portal.providers.base import ProviderError
from finetune_portal.providers.peft import conf
from finetune_portal.providers.peft.base_models import BaseModelError, SourceKind, base_model_parse
from finetune_portal.providers.peft.data import check_kind_fits, rows_from_jsonl, texts_of
from finetune_portal.providers.peft.models import WorkerNode
from finetune_portal.providers.peft.trainer import CHECKPOINT_SKIP, TrainingSpec
from finetune_portal.registry.models import FineTunedModel

logger = logging.getLogger(__name__)

WORKING_STATUSES = (JobStatus.VALIDATING_FILES, JobStatus.RUNNING, JobStatus.CANCELLING)

# Job hyperparameters (as the form stores them) -> TrainingSpec fields.
SPEC_FIELDS = {f.name for f in fields(TrainingSpec)} - {
    "model_path",
    "method",
    "train_rows",
    "valid_rows",
    "output_dir",
    "cpu_stands_in_for_gpu",
    "start_adapter_path",
}


# --- Workers -------------------------------------------------------------------------------------


def worker_node_report(*, hostname: str, queues: list[str], hardware: dict[str, Any]) -> WorkerNode:
    """Record what a GPU worker has; the launch form warns when a job will not fit the largest GPU."""
    now = timezone.now()
    gpus = hardware.get("gpus") or []
    node, _ = WorkerNode.objects.update_or_create(
        hostname=hostname,
        defaults={
            "queues": sorted(queues),
            "gpu_name": gpus[0]["name"] if gpus else "",
            "gpu_count": len(gpus),
            "gpu_memory_bytes": max((g["memory_bytes"] for g in gpus), default=0),
            "bf16_supported": bool(hardware.get("bf16")),
            "torch_version": str(hardware.get("torch_version", "")),
            "started_at": now,
            "last_seen_at": now,
        },
    )
    return node


def worker_node_seen(*, hostname: str) -> None:
    WorkerNode.objects.filter(hostname=hostname).update(last_seen_at=timezone.now())


# --- Claim and heartbeat -------------------------------------------------------------------------


def job_claim(*, job: FineTuningJob, claimant: str) -> bool:
    """Take a queued job for this task. False when it is not queued any more (another delivery won)."""
    return job_transition(
        job=job,
        to=JobStatus.VALIDATING_FILES,
        expected=[JobStatus.QUEUED],
        reason=f"Claimed by {claimant}",
        claimed_by=claimant[:200],
        heartbeat_at=timezone.now(),
    )


def job_heartbeat(*, job_id: int, claimant: str) -> bool:
    """Say this worker still holds the job. False when the claim is gone (reaped or finished)."""
    now = timezone.now()
    updated = FineTuningJob.objects.filter(
        pk=job_id, claimed_by=claimant[:200], status__in=WORKING_STATUSES
    ).update(heartbeat_at=now)
    return updated == 1


class Heartbeat:
    """Beats from a thread too, so a long step, a download or a checkpoint upload never looks like a crash."""

    def __init__(self, *, job_id: int, claimant: str, interval: float):
        self.job_id = job_id
        self.claimant = claimant
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-job-{job_id}", daemon=True)
        self._last = 0.0

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def beat(self) -> bool:
        """From the training loop: write at most once per half interval."""
        if time.monotonic() - self._last < self.interval / 2:
            return True
        self._last = time.monotonic()
        return job_heartbeat(job_id=self.job_id, claimant=self.claimant)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    job_heartbeat(job_id=self.job_id, claimant=self.claimant)
                except Exception:
                    logger.exception("Heartbeat for job %s failed", self.job_id)
        finally:
            connection.close()


# --- Storage -------------------------------------------------------------------------------------


def storage_prefix(job: FineTuningJob, name: str) -> str:
    return f"peft/{job.project_id}/job-{job.pk}/{name}"


def folder_store(*, folder: Path, prefix: str, skip: set[str] = frozenset()) -> str:
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


# --- Reporting during training -------------------------------------------------------------------


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
        if row is None or row["claimed_by"] != self.heartbeat_keeper.claimant[:200]:
            self.claim_lost = True
            return True
        return row["status"] != JobStatus.RUNNING

    def metrics(self, point: dict[str, Any]) -> None:
        metric_points_record(job=self.job, points=[point])

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


# --- The training run ----------------------------------------------------------------------------


def _hub_token(job: FineTuningJob) -> str | None:
    credential = credential_resolve(kind="huggingface", project=job.project)
    if credential is None:
        return None
    credential_mark_used(credential=credential)
    return credential.secret


def _model_path(job: FineTuningJob, *, texts: list[str]) -> tuple[Path, SourceKind]:
    from finetune_portal.providers.peft import demo_models, hub

    try:
        source = base_model_parse(job.base_model)
    except BaseModelError as exc:
        raise ProviderError(str(exc), permanent=True, code="model_unknown") from exc
    if source.kind == SourceKind.DEMO_TINY:
        return demo_models.tiny_model_folder(cache_dir=conf.model_cache_dir(), texts=texts), source.kind
    if source.kind == SourceKind.DEMO_SMOLLM2:
        return demo_models.smollm2_folder(cache_dir=conf.model_cache_dir()), source.kind
    if source.kind == SourceKind.LOCAL:
        folder = Path(source.value)
        if not (folder / "config.json").exists():
            raise ProviderError(
                f"There is no model folder {folder} on this GPU worker (no config.json there).",
                permanent=True,
                hint="Give a folder that every GPU worker has, or a Hugging Face model id.",
                code="model_unknown",
            )
        return folder, source.kind
    return hub.model_download(repo_id=source.value, token=_hub_token(job)), source.kind


def _start_adapter(job: FineTuningJob, *, run_dir: Path) -> str | None:
    """The checkpoint a job continues from, fetched from storage into the run folder; None to start fresh."""
    checkpoint_id = (job.hyperparameters or {}).get("start_from_checkpoint")
    if not checkpoint_id:
        return None
    checkpoint = (
        Checkpoint.objects.select_related("job")
        .filter(pk=checkpoint_id, job__project_id=job.project_id)
        .exclude(storage_uri="")
        .first()
    )
    folder = run_dir / "start-adapter"
    if checkpoint is None or not storage_folder_download(checkpoint.storage_uri, folder):
        raise ProviderError(
            "The checkpoint this job continues from is no longer stored.",
            permanent=True,
            hint="Launch it without a starting checkpoint, or pick another one.",
            code="checkpoint_missing",
        )
    job_event_record(
        job=job,
        message=f"Continuing from job #{checkpoint.job_id} at step {checkpoint.step}.",
        provider_event_id="start-adapter",
        data={"checkpoint": checkpoint.pk, "job": checkpoint.job_id, "step": checkpoint.step},
    )
    return str(folder)


def training_spec(job: FineTuningJob, **spec_fields: Any) -> TrainingSpec:
    settings = {k: v for k, v in (job.hyperparameters or {}).items() if k in SPEC_FIELDS}
    if job.seed is not None:
        settings["seed"] = int(job.seed)
    return TrainingSpec(
        method=job.method, **settings, cpu_stands_in_for_gpu=conf.cpu_stands_in_for_gpu(), **spec_fields
    )


def _fail(job: FineTuningJob, *, message: str, hint: str = "", code: str = "") -> None:
    job.refresh_from_db(fields=["status"])
    if job.is_final:
        return
    updates = {"error_message": message, "error_hint": hint}
    if job.status == JobStatus.CANCELLING:
        job_transition(job=job, to=JobStatus.CANCELLED, reason="Cancelled (training ended early)")
        return
    job_transition(job=job, to=JobStatus.FAILED, reason=(code or message)[:500], **updates)
    job_event_record(
        job=job,
        message=message + (f" {hint}" if hint else ""),
        level=EventLevel.ERROR,
        provider_event_id="failed",
    )


def job_train(*, job_id: int, claimant: str) -> str:
    """Train one queued job to its end. Safe to call again for the same job: only one call trains.

    Returns what happened, for the task's log: "skipped", "succeeded", "cancelled" or "failed".
    """
    job = (
        FineTuningJob.objects.select_related("project", "training_version__dataset").filter(pk=job_id).first()
    )
    if job is None or job.provider != Provider.LOCAL_PEFT:
        return "skipped"
    if not job_claim(job=job, claimant=claimant):
        # A redelivered task, or one that lost the race: the job is someone else's (or finished).
        logger.info(
            "Job %s is %s and claimed by %r; not training it again.", job_id, job.status, job.claimed_by
        )
        return "skipped"
    run_dir = conf.work_dir() / f"job-{job.pk}"
    with Heartbeat(job_id=job.pk, claimant=claimant, interval=conf.heartbeat_seconds()) as heartbeat:
        try:
            return _train_claimed(job, heartbeat=heartbeat, run_dir=run_dir)
        except ProviderError as exc:
            _fail(job, message=exc.message, hint=exc.hint, code=exc.code)
            return "failed"
        except Exception as exc:
            logger.exception("Training job %s crashed", job.pk)
            _fail(job, message=f"Training stopped with an unexpected error: {type(exc).__name__}: {exc}")
            return "failed"
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)
            close_old_connections()


def _train_claimed(job: FineTuningJob, *, heartbeat: Heartbeat, run_dir: Path) -> str:
    from finetune_portal.providers.peft import trainer

    train_version = job.training_version
    if train_version is None:
        raise ProviderError("The job has no training data.", permanent=True, code="dataset_missing")
    check_kind_fits(method=job.method, kind=train_version.dataset.kind)
    train_rows = rows_from_jsonl(
        version_bytes(train_version), kind=train_version.dataset.kind, method=job.method
    )
    valid_rows: list[dict[str, Any]] = []
    if job.validation_version is not None:
        valid_version = job.validation_version
        check_kind_fits(method=job.method, kind=valid_version.dataset.kind, role="validation")
        valid_rows = rows_from_jsonl(
            version_bytes(valid_version), kind=valid_version.dataset.kind, method=job.method
        )
    model_path, source_kind = _model_path(job, texts=texts_of(train_rows + valid_rows))
    spec = training_spec(
        job,
        model_path=str(model_path),
        train_rows=train_rows,
        valid_rows=valid_rows,
        output_dir=str(run_dir),
        start_adapter_path=_start_adapter(job, run_dir=run_dir),
    )
    started = job_transition(
        job=job,
        to=JobStatus.RUNNING,
        expected=[JobStatus.VALIDATING_FILES],
        reason="Training",
        provider_data={**job.provider_data, "base_model_path": str(model_path), "worker": heartbeat.claimant},
    )
    if not started:
        job.refresh_from_db()
        if job.status == JobStatus.CANCELLING:
            job_transition(job=job, to=JobStatus.CANCELLED, reason="Cancelled before training started")
            return "cancelled"
        return "skipped"

    reporter = JobReporter(job=job, heartbeat=heartbeat)
    gpus = int((job.hyperparameters or {}).get("gpus") or 1)
    if gpus > 1:
        from finetune_portal.providers.peft.launch import run_distributed

        outcome = run_distributed(spec, reporter=reporter, gpus=gpus)
    else:
        outcome = trainer.run_training(spec, reporter)

    if reporter.claim_lost:
        # The reaper gave up on us (or the job was failed by hand): what we made is not recorded.
        return "skipped"
    job.refresh_from_db(fields=["status"])
    if job.status == JobStatus.CANCELLING or outcome.stopped_early:
        uri = folder_store(
            folder=outcome.final_folder, prefix=storage_prefix(job, f"checkpoint-{outcome.global_step}")
        )
        checkpoint_record(
            job=job,
            step=outcome.global_step,
            provider_checkpoint_id=f"checkpoint-{outcome.global_step}",
            storage_uri=uri,
            metrics=outcome.last_metrics,
        )
        job_event_record(
            job=job,
            message=f"Stopped at step {outcome.global_step} on request; "
            "the weights so far are saved as a checkpoint.",
            provider_event_id="cancelled",
            data={"storage_uri": uri},
        )
        job_transition(
            job=job,
            to=JobStatus.CANCELLED,
            expected=[JobStatus.CANCELLING],
            reason=f"Stopped at step {outcome.global_step}",
            trained_tokens=outcome.trained_tokens,
        )
        return "cancelled"

    adapter_uri = folder_store(folder=outcome.final_folder, prefix=storage_prefix(job, "final"))
    hyper = job.hyperparameters or {}
    repo_id = (hyper.get("hub_repo_id") or "").strip()
    with transaction.atomic():
        model, _ = FineTunedModel.objects.get_or_create(
            job=job, defaults={"adapter_uri": adapter_uri, "base_model": job.base_model}
        )
        done = job_transition(
            job=job,
            to=JobStatus.SUCCEEDED,
            expected=[JobStatus.RUNNING],
            reason=f"Trained {outcome.global_step} steps",
            trained_tokens=outcome.trained_tokens,
            provider_data={
                **job.provider_data,
                "adapter_uri": adapter_uri,
                "global_step": outcome.global_step,
                "trainable_parameters": outcome.trainable_parameters,
                "total_parameters": outcome.total_parameters,
                "final_metrics": outcome.last_metrics,
            },
        )
        if not done:
            transaction.set_rollback(True)
            job.refresh_from_db(fields=["status"])
            return _fail_or_cancel_after_training(job)
    job_event_record(
        job=job,
        message=f"Training finished after {outcome.global_step} steps; adapter saved.",
        provider_event_id="succeeded",
        data={"adapter_uri": adapter_uri},
    )
    if repo_id:
        _push(
            job,
            model=model,
            folder=outcome.final_folder,
            repo_id=repo_id,
            source_kind=source_kind,
            outcome=outcome,
            examples=len(train_rows),
        )
    return "succeeded"


def _fail_or_cancel_after_training(job: FineTuningJob) -> str:
    if job.status == JobStatus.CANCELLING:
        job_transition(job=job, to=JobStatus.CANCELLED, reason="Cancelled as training finished")
        return "cancelled"
    return "skipped"


def _push(
    job, *, model: FineTunedModel, folder: Path, repo_id: str, source_kind, outcome, examples: int
) -> None:
    """Push to a private Hub repo. A failed push keeps the trained model and says why in the events."""
    from finetune_portal.providers.peft import hub

    version = job.training_version
    hyper = dict(job.hyperparameters or {})
    hyper.pop("hub_repo_id", None)
    try:
        card = hub.model_card(
            repo_id=repo_id,
            base_model=job.base_model,
            base_model_on_hub=source_kind == SourceKind.HUB,
            method=job.method,
            adapter=hyper.get("adapter", "lora"),
            dataset={
                "name": version.dataset.name,
                "version": version.number,
                "sha256": version.sha256,
                "examples": version.example_count or examples,
            },
            hyperparameters=hyper,
            results={
                "Steps": outcome.global_step,
                "Trained tokens": outcome.trained_tokens,
                "Final training loss": _rounded(outcome.last_metrics.get("train_loss")),
                "Final validation loss": _rounded(outcome.last_metrics.get("valid_loss")),
            },
        )
        url = hub.folder_push(
            folder=folder,
            repo_id=repo_id,
            token=_hub_token(job),
            card=card,
            commit_message=f"Fine-tuned by job {job.pk}",
        )
    except ProviderError as exc:
        job_event_record(
            job=job,
            message=f"The model is saved here, but the push to {repo_id} failed: {exc.message}",
            level=EventLevel.WARN,
            provider_event_id="hub-push",
        )
        return
    FineTunedModel.objects.filter(pk=model.pk).update(hf_repo_id=repo_id)
    job_event_record(
        job=job,
        message=f"Pushed to the private Hub repo {repo_id}.",
        provider_event_id="hub-push",
        data={"url": url},
    )


def _rounded(value):
    return round(value, 4) if isinstance(value, float) else value


def job_fail_time_limit(*, job_id: int) -> None:
    job = FineTuningJob.objects.get(pk=job_id)
    hours = conf.training_time_limit_seconds() / 3600
    _fail(
        job,
        message=f"Training ran past the GPU worker's time limit of {hours:g} hours and was stopped.",
        hint="Train fewer epochs or steps, or raise PEFT_TRAINING_TIME_LIMIT_SECONDS on the worker.",
        code="time_limit",
    )


# --- Reaping and cancelling ----------------------------------------------------------------------


def jobs_reap_stalled(*, now=None) -> list[int]:
    """Fail the jobs whose worker stopped beating (a cancelling one simply ends cancelled)."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=conf.stale_after_seconds())
    stalled = FineTuningJob.objects.filter(
        provider=Provider.LOCAL_PEFT, status__in=WORKING_STATUSES, heartbeat_at__lt=cutoff
    )
    reaped = []
    for job in stalled:
        if job_settle_lost(job=job, last_heard=job.heartbeat_at):
            reaped.append(job.pk)
    return reaped


def job_settle_lost(*, job: FineTuningJob, last_heard) -> bool:
    silent_for = int((timezone.now() - last_heard).total_seconds()) if last_heard else None
    worker = job.claimed_by or "no worker"
    if job.status == JobStatus.CANCELLING:
        moved = job_transition(
            job=job,
            to=JobStatus.CANCELLED,
            expected=[JobStatus.CANCELLING],
            reason=f"Cancelled; the worker ({worker}) had stopped",
            claimed_by="",
        )
    else:
        message = (
            f"The GPU worker training this job ({worker}) stopped sending heartbeats"
            + (f" {silent_for} s ago" if silent_for is not None else "")
            + "; it probably crashed or was restarted, so the job was marked failed."
        )
        moved = job_transition(
            job=job,
            to=JobStatus.FAILED,
            expected=[job.status],
            reason="Worker lost",
            error_message=message,
            error_hint="Launch the job again (New job from these settings), or continue from its last "
            "checkpoint under Outputs.",
            claimed_by="",
        )
        if moved:
            job_event_record(
                job=job, message=message, level=EventLevel.ERROR, provider_event_id="worker-lost"
            )
    return moved


def jobs_resend_lost_starts(*, waiting: int | None, now=None) -> list[int]:
    """Pick the queued jobs whose start message is gone from the gpu queue; the caller sends them again.

    Age alone proves nothing: a queued job may rightly wait hours behind a long training. What does is a
    gpu queue holding fewer waiting messages (``waiting``) than there are queued jobs; the broker cannot
    say which messages are missing, so the longest-waiting jobs not re-sent lately are picked. A copy
    that was not lost after all finds the job claimed and does nothing. ``waiting=None`` (the broker
    could not be asked) picks none.
    """
    if waiting is None:
        return []
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=conf.start_lost_after_seconds())
    queued = list(
        FineTuningJob.objects.filter(provider=Provider.LOCAL_PEFT, status=JobStatus.QUEUED).order_by(
            "status_changed_at", "pk"
        )
    )
    missing = len(queued) - waiting
    picked = []
    for job in queued:
        if len(picked) >= missing:
            break
        resent_at = job.provider_data.get("start_resent_at")
        if job.status_changed_at and job.status_changed_at >= cutoff:
            continue
        if resent_at and datetime.fromisoformat(resent_at) >= cutoff:
            continue
        if _start_resend_mark(job=job, now=now):
            picked.append(job.pk)
    return picked


def _start_resend_mark(*, job: FineTuningJob, now) -> bool:
    with transaction.atomic():
        locked = FineTuningJob.objects.select_for_update().filter(pk=job.pk, status=JobStatus.QUEUED).first()
        if locked is None:
            return False  # a worker claimed it meanwhile
        resends = int(locked.provider_data.get("start_resends", 0)) + 1
        locked.provider_data = {
            **locked.provider_data,
            "start_resent_at": now.isoformat(),
            "start_resends": resends,
        }
        locked.save(update_fields=["provider_data", "updated_at"])
        job_event_record(
            job=locked,
            message="No GPU worker had picked this job up and its start was missing from the gpu queue "
            "(the broker lost it or was unreachable at launch); it was sent again.",
            level=EventLevel.WARN,
            provider_event_id=f"start-resent-{resends}",
        )
    return True


def job_cancel_settle(*, job_id: int) -> None:
    """After a cancel request: a live worker stops at its next step; a silent one is settled now."""
    job = FineTuningJob.objects.filter(pk=job_id, provider=Provider.LOCAL_PEFT).first()
    if job is None or job.status != JobStatus.CANCELLING:
        return
    cutoff = timezone.now() - timedelta(seconds=conf.stale_after_seconds())
    if not job.claimed_by or job.heartbeat_at is None or job.heartbeat_at < cutoff:
        job_settle_lost(job=job, last_heard=job.heartbeat_at)
        return
    job_event_record(
        job=job,
        message="Cancel requested; training stops at the next step.",
        provider_event_id="cancel-requested",
    )


def spec_as_dict(spec: TrainingSpec) -> dict[str, Any]:
    return asdict(spec)
