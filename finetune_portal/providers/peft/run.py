"""One training run on a GPU worker, in phases: claim, prepare, train, record the outcome, push.

A job is trained by at most one worker (compare-and-set claim + heartbeat, from jobs/claims.py), every
report goes through the jobs services, and every ending, good or bad, leaves the job in a final state
with a plain message. The heavy lifting is in trainer.py (torch, imported lazily).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from celery.exceptions import SoftTimeLimitExceeded
from django.db import close_old_connections, transaction

from finetune_portal.jobs.claims import Heartbeat, job_claim
from finetune_portal.jobs.models import EventLevel, FineTuningJob
from finetune_portal.jobs.services import checkpoint_record, job_event_record, job_transition
from finetune_portal.jobs.states import JobStatus
from finetune_portal.providers.base import ProviderError
from finetune_portal.providers.peft import conf
from finetune_portal.providers.peft.prepare import PreparedRun, run_prepare
from finetune_portal.providers.peft.provider import KEY
from finetune_portal.providers.peft.publish import model_push_to_hub
from finetune_portal.providers.peft.reporting import JobReporter, folder_store, storage_prefix
from finetune_portal.registry.services import fine_tuned_model_record

if TYPE_CHECKING:
    from finetune_portal.providers.peft.trainer import TrainingOutcome, TrainingSpec

logger = logging.getLogger(__name__)


def job_train(*, job_id: int, claimant: str) -> str:
    """Train one queued job to its end. Safe to call again for the same job: only one call trains.

    Returns what happened, for the task's log: "skipped", "succeeded", "cancelled" or "failed".
    """
    job = (
        FineTuningJob.objects.select_related("project", "training_version__dataset").filter(pk=job_id).first()
    )
    if job is None or job.provider != KEY:
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
        except SoftTimeLimitExceeded:
            # The task fails the job with the time-limit message; caught below, it would read as a crash.
            raise
        except Exception as exc:
            logger.exception("Training job %s crashed", job.pk)
            _fail(job, message=f"Training stopped with an unexpected error: {type(exc).__name__}: {exc}")
            return "failed"
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)
            close_old_connections()


def _train_claimed(job: FineTuningJob, *, heartbeat: Heartbeat, run_dir: Path) -> str:
    prepared = run_prepare(job, run_dir=run_dir)
    if not _run_start(job, prepared=prepared, claimant=heartbeat.claimant):
        return _not_started(job)
    reporter = JobReporter(job=job, heartbeat=heartbeat)
    outcome = _run_training(job, spec=prepared.spec, reporter=reporter)
    if reporter.claim_lost:
        # The reaper gave up on us (or the job was failed by hand): what we made is not recorded.
        return "skipped"
    job.refresh_from_db(fields=["status"])
    if job.status == JobStatus.CANCELLING or outcome.stopped_early:
        return _record_stopped(job, outcome=outcome)
    return _record_succeeded(job, outcome=outcome, prepared=prepared)


def _run_start(job: FineTuningJob, *, prepared: PreparedRun, claimant: str) -> bool:
    return job_transition(
        job=job,
        to=JobStatus.RUNNING,
        expected=[JobStatus.VALIDATING_FILES],
        reason="Training",
        provider_data={**job.provider_data, "base_model_path": str(prepared.model_path), "worker": claimant},
    )


def _not_started(job: FineTuningJob) -> str:
    """The job left VALIDATING_FILES while its data and model were prepared: a cancel, or someone else."""
    job.refresh_from_db()
    if job.status == JobStatus.CANCELLING:
        job_transition(job=job, to=JobStatus.CANCELLED, reason="Cancelled before training started")
        return "cancelled"
    return "skipped"


def _run_training(job: FineTuningJob, *, spec: TrainingSpec, reporter: JobReporter) -> TrainingOutcome:
    gpus = int((job.hyperparameters or {}).get("gpus") or 1)
    if gpus > 1:
        from finetune_portal.providers.peft.launch import run_distributed

        return run_distributed(spec, reporter=reporter, gpus=gpus)
    from finetune_portal.providers.peft import trainer

    return trainer.run_training(spec, reporter)


def _record_stopped(job: FineTuningJob, *, outcome: TrainingOutcome) -> str:
    """Stopped on request: the weights so far become a checkpoint, and the job ends cancelled."""
    step = outcome.global_step
    uri = folder_store(folder=outcome.final_folder, prefix=storage_prefix(job, f"checkpoint-{step}"))
    checkpoint_record(
        job=job,
        step=step,
        provider_checkpoint_id=f"checkpoint-{step}",
        storage_uri=uri,
        metrics=outcome.last_metrics,
    )
    job_event_record(
        job=job,
        message=f"Stopped at step {step} on request; the weights so far are saved as a checkpoint.",
        provider_event_id="cancelled",
        data={"storage_uri": uri},
    )
    job_transition(
        job=job,
        to=JobStatus.CANCELLED,
        expected=[JobStatus.CANCELLING],
        reason=f"Stopped at step {step}",
        trained_tokens=outcome.trained_tokens,
    )
    return "cancelled"


def _record_succeeded(job: FineTuningJob, *, outcome: TrainingOutcome, prepared: PreparedRun) -> str:
    """Store the adapter, record the model and the success together, then push it if the job asks."""
    adapter_uri = folder_store(folder=outcome.final_folder, prefix=storage_prefix(job, "final"))
    with transaction.atomic():
        model = fine_tuned_model_record(job=job, base_model=job.base_model, adapter_uri=adapter_uri)
        done = job_transition(
            job=job,
            to=JobStatus.SUCCEEDED,
            expected=[JobStatus.RUNNING],
            reason=f"Trained {outcome.global_step} steps",
            trained_tokens=outcome.trained_tokens,
            provider_data=_succeeded_data(job, outcome=outcome, adapter_uri=adapter_uri),
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
    repo_id = ((job.hyperparameters or {}).get("hub_repo_id") or "").strip()
    if repo_id:
        model_push_to_hub(
            job,
            model=model,
            folder=outcome.final_folder,
            repo_id=repo_id,
            source_kind=prepared.source_kind,
            outcome=outcome,
            examples=len(prepared.spec.train_rows),
        )
    return "succeeded"


def _succeeded_data(job: FineTuningJob, *, outcome: TrainingOutcome, adapter_uri: str) -> dict[str, Any]:
    return {
        **job.provider_data,
        "adapter_uri": adapter_uri,
        "global_step": outcome.global_step,
        "trainable_parameters": outcome.trainable_parameters,
        "total_parameters": outcome.total_parameters,
        "final_metrics": outcome.last_metrics,
    }


def _fail_or_cancel_after_training(job: FineTuningJob) -> str:
    if job.status == JobStatus.CANCELLING:
        job_transition(job=job, to=JobStatus.CANCELLED, reason="Cancelled as training finished")
        return "cancelled"
    return "skipped"


def _fail(job: FineTuningJob, *, message: str, hint: str = "", code: str = "") -> None:
    job.refresh_from_db(fields=["status"])
    if job.is_final:
        return
    if job.status == JobStatus.CANCELLING:
        job_transition(job=job, to=JobStatus.CANCELLED, reason="Cancelled (training ended early)")
        return
    job_transition(
        job=job, to=JobStatus.FAILED, reason=(code or message)[:500], error_message=message, error_hint=hint
    )
    job_event_record(
        job=job,
        message=message + (f" {hint}" if hint else ""),
        level=EventLevel.ERROR,
        provider_event_id="failed",
    )


def job_fail_time_limit(*, job_id: int) -> None:
    job = FineTuningJob.objects.get(pk=job_id)
    hours = conf.training_time_limit_seconds() / 3600
    _fail(
        job,
        message=f"Training ran past the GPU worker's time limit of {hours:g} hours and was stopped.",
        hint="Train fewer epochs or steps, or raise PEFT_TRAINING_TIME_LIMIT_SECONDS on the worker.",
        code="time_limit",
    )
