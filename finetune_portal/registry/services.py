"""Writes to the model registry. Every provider records its fine-tuned models through these."""

from __future__ import annotations

from finetune_portal.jobs.models import FineTuningJob
from finetune_portal.registry.models import FineTunedModel, ModelStatus


def fine_tuned_model_record(
    *, job: FineTuningJob, base_model: str, provider_model_id: str = "", adapter_uri: str = ""
) -> FineTunedModel:
    """The model a succeeded job produced, recorded once: a second call (a redelivered task, a repeated
    poll) returns the model already recorded and changes nothing."""
    if not provider_model_id and not adapter_uri:
        raise ValueError("A fine-tuned model needs a provider model id or an adapter location.")
    model, _ = FineTunedModel.objects.get_or_create(
        job=job,
        defaults={
            "provider_model_id": provider_model_id,
            "adapter_uri": adapter_uri,
            "base_model": base_model,
        },
    )
    return model


def fine_tuned_model_set_hub_repo(*, model: FineTunedModel, repo_id: str) -> None:
    """Record where the model was pushed on the Hugging Face Hub."""
    FineTunedModel.objects.filter(pk=model.pk).update(hf_repo_id=repo_id)
    model.hf_repo_id = repo_id


def fine_tuned_model_delete(*, model: FineTunedModel, actor) -> None:
    """Stop serving the model: it leaves the chat lists and /v1. Its row and lineage stay (the job's page
    still tells what was trained); weights held by a provider are not touched."""
    from finetune_portal.core.audit import audit_log

    model.status = ModelStatus.DELETED
    # Saved (not updated) so that what keeps the catalog in memory hears that the model left it.
    model.save(update_fields=["status", "updated_at"])
    audit_log(actor=actor, action="model.deleted", target=model, project=model.job.project)
