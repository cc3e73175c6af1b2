"""Pushing a trained job's adapter to the Hugging Face Hub, with a model card, under the project's token."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from finetune_portal.credentials.services import credential_mark_used, credential_resolve
from finetune_portal.jobs.models import EventLevel, FineTuningJob
from finetune_portal.jobs.services import job_event_record
from finetune_portal.providers.base import ProviderError
from finetune_portal.providers.peft import hub
from finetune_portal.providers.peft.base_models import SourceKind
from finetune_portal.registry.models import FineTunedModel
from finetune_portal.registry.services import fine_tuned_model_set_hub_repo

if TYPE_CHECKING:
    from finetune_portal.providers.peft.trainer import TrainingOutcome


def hub_token(job: FineTuningJob) -> str | None:
    """The project's Hugging Face token, if it has one (for gated base models and for pushes)."""
    credential = credential_resolve(kind="huggingface", project=job.project)
    if credential is None:
        return None
    credential_mark_used(credential=credential)
    return credential.secret


def model_push_to_hub(
    job: FineTuningJob,
    *,
    model: FineTunedModel,
    folder: Path,
    repo_id: str,
    source_kind: SourceKind,
    outcome: TrainingOutcome,
    examples: int,
) -> None:
    """Push to a private Hub repo. A failed push keeps the trained model and says why in the events."""
    try:
        card = _model_card(job, repo_id=repo_id, source_kind=source_kind, outcome=outcome, examples=examples)
        url = hub.folder_push(
            folder=folder,
            repo_id=repo_id,
            token=hub_token(job),
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
    fine_tuned_model_set_hub_repo(model=model, repo_id=repo_id)
    job_event_record(
        job=job,
        message=f"Pushed to the private Hub repo {repo_id}.",
        provider_event_id="hub-push",
        data={"url": url},
    )


def _model_card(
    job: FineTuningJob, *, repo_id: str, source_kind: SourceKind, outcome: TrainingOutcome, examples: int
) -> str:
    version = job.training_version
    if version is None:
        # Only jobs imported from another provider lack a training version, and those are never pushed.
        raise ValueError(f"Job {job.pk} has no training version to describe in a model card.")
    hyper = dict(job.hyperparameters or {})
    hyper.pop("hub_repo_id", None)
    return hub.model_card(
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


def _rounded(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value
