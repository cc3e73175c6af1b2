"""Everything a claimed job needs before training: its checked data, its base model and its spec.

Each step refuses plainly (a permanent ProviderError) what the worker cannot train, before any GPU time.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from finetune_portal.core.storage import storage_folder_download
from finetune_portal.datasets.models import DatasetVersion, VersionStatus
from finetune_portal.datasets.selectors import report_first_errors
from finetune_portal.jobs.models import Checkpoint, FineTuningJob
from finetune_portal.jobs.services import job_event_record
from finetune_portal.providers.base import ProviderError
from finetune_portal.providers.peft import conf, demo_models, hub
from finetune_portal.providers.peft.base_models import BaseModelError, SourceKind, base_model_parse
from finetune_portal.providers.peft.data import check_kind_fits, rows_from_jsonl, texts_of
from finetune_portal.providers.peft.local_models import local_model_folder
from finetune_portal.providers.peft.publish import hub_token
from finetune_portal.providers.peft.reporting import version_bytes
from finetune_portal.providers.peft.trainer import TrainingSpec

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


@dataclass
class PreparedRun:
    spec: TrainingSpec
    model_path: Path
    source_kind: SourceKind


def run_prepare(job: FineTuningJob, *, run_dir: Path) -> PreparedRun:
    """Read the job's data, fetch its base model and the checkpoint it continues from, into ``run_dir``."""
    train_rows, valid_rows = _job_rows(job)
    model_path, source_kind = _model_path(job, texts=texts_of(train_rows + valid_rows))
    spec = training_spec(
        job,
        model_path=str(model_path),
        train_rows=train_rows,
        valid_rows=valid_rows,
        output_dir=str(run_dir),
        start_adapter_path=_start_adapter(job, run_dir=run_dir),
    )
    return PreparedRun(spec=spec, model_path=model_path, source_kind=source_kind)


def training_spec(job: FineTuningJob, **spec_fields: Any) -> TrainingSpec:
    settings = {k: v for k, v in (job.hyperparameters or {}).items() if k in SPEC_FIELDS}
    if job.seed is not None:
        settings["seed"] = int(job.seed)
    return TrainingSpec(
        method=job.method, **settings, cpu_stands_in_for_gpu=conf.cpu_stands_in_for_gpu(), **spec_fields
    )


def _job_rows(job: FineTuningJob) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The training and validation rows, each checked to be a kind the job's method trains on."""
    train_version = job.training_version
    if train_version is None:
        raise ProviderError("The job has no training data.", permanent=True, code="dataset_missing")
    _refuse_invalid(train_version, role="training")
    check_kind_fits(method=job.method, kind=train_version.dataset.kind)
    train_rows = rows_from_jsonl(
        version_bytes(train_version), kind=train_version.dataset.kind, method=job.method
    )
    valid_rows: list[dict[str, Any]] = []
    if job.validation_version is not None:
        valid_version = job.validation_version
        _refuse_invalid(valid_version, role="validation")
        check_kind_fits(method=job.method, kind=valid_version.dataset.kind, role="validation")
        valid_rows = rows_from_jsonl(
            version_bytes(valid_version), kind=valid_version.dataset.kind, method=job.method
        )
    return train_rows, valid_rows


def _refuse_invalid(version: DatasetVersion, *, role: str) -> None:
    """A version that failed validation is not trained on (the launch form offers only valid ones, but a
    job created through the API may name a file whose validation had not finished)."""
    if version.status == VersionStatus.INVALID:
        raise ProviderError(
            f"The {role} file is invalid: {report_first_errors(version.validation_report)}",
            permanent=True,
            hint="Fix these lines and upload the file again.",
            code=f"invalid_{role}_file",
        )


def _model_path(job: FineTuningJob, *, texts: list[str]) -> tuple[Path, SourceKind]:
    try:
        source = base_model_parse(job.base_model)
    except BaseModelError as exc:
        raise ProviderError(str(exc), permanent=True, code="model_unknown") from exc
    if source.kind == SourceKind.DEMO_TINY:
        return demo_models.tiny_model_folder(cache_dir=conf.model_cache_dir(), texts=texts), source.kind
    if source.kind == SourceKind.DEMO_SMOLLM2:
        return demo_models.smollm2_folder(cache_dir=conf.model_cache_dir()), source.kind
    if source.kind == SourceKind.LOCAL:
        # Checked again here: the job may predate the rule, or the worker's folders differ from the web's.
        try:
            folder = local_model_folder(source.value, project_id=job.project_id)
        except BaseModelError as exc:
            raise ProviderError(str(exc), permanent=True, code="model_not_allowed") from exc
        if not (folder / "config.json").exists():
            raise ProviderError(
                f"There is no model folder {folder} on this GPU worker (no config.json there).",
                permanent=True,
                hint="Give a folder that every GPU worker has, or a Hugging Face model id.",
                code="model_unknown",
            )
        return folder, source.kind
    return hub.model_download(repo_id=source.value, token=hub_token(job)), source.kind


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
