"""The models a project can chat with, and the names /v1 and the playground call them by.

Naming is provider-neutral: a row's provider id when the provider serves it by that id (OpenAI's
``ft:...`` model and checkpoint names), else the portal's own name, which mirrors OpenAI's:
``ft:{base_model}:{project slug}:{suffix or "local"}:job-{job id}``, and for a checkpoint that name plus
``:ckpt-step-{step}``. Base models are named by the provider's base id.
"""

from __future__ import annotations

import re

from finetune_portal.jobs.models import Checkpoint, FineTuningJob
from finetune_portal.providers.base import FineTuningProvider
from finetune_portal.providers.chat import ServedModel
from finetune_portal.providers.registry import all_providers, provider_or_none
from finetune_portal.registry.models import FineTunedModel, ModelStatus

FINE_TUNED = "fine_tuned"
CHECKPOINT = "checkpoint"
BASE = "base"

_PORTAL_NAME = re.compile(r":job-(?P<job>\d+)(?::ckpt-step-(?P<step>\d+))?$")


def _answering(key: str) -> FineTuningProvider | None:
    provider = provider_or_none(key)
    return provider if provider is not None and provider.capabilities.inference else None


def portal_model_name(job: FineTuningJob) -> str:
    """The name of a job's model that has no provider id (a local adapter)."""
    return f"ft:{job.base_model}:{job.project.slug}:{job.suffix or 'local'}:job-{job.pk}"


def served_model_of(fine_tuned_model: FineTunedModel) -> ServedModel:
    job = fine_tuned_model.job
    base = fine_tuned_model.base_model or job.base_model
    return ServedModel(
        name=fine_tuned_model.provider_model_id or portal_model_name(job),
        label=f"{job.display_name} · fine-tuned",
        provider=job.provider,
        kind=FINE_TUNED,
        provider_model=fine_tuned_model.provider_model_id or base,
        base_model=base,
        adapter_uri="" if fine_tuned_model.provider_model_id else fine_tuned_model.adapter_uri,
        fine_tuned_model_id=fine_tuned_model.pk,
        job_id=job.pk,
    )


def served_model_of_checkpoint(checkpoint: Checkpoint) -> ServedModel | None:
    """The checkpoint as a chat model, or None when it was kept nowhere a provider can load it from."""
    if not checkpoint.provider_checkpoint_id and not checkpoint.storage_uri:
        return None
    job = checkpoint.job
    base = job.base_model
    model = getattr(job, "fine_tuned_model", None)
    if model is not None and model.base_model:
        base = model.base_model
    # Weights the portal stored are served from there under the portal's name (a provider's own id for
    # them, such as a local run's "checkpoint-15", is neither unique in the project nor loadable);
    # a checkpoint only its provider holds goes by the provider's id.
    held_by_provider = _held_by_provider(checkpoint)
    return ServedModel(
        name=checkpoint.provider_checkpoint_id
        if held_by_provider
        else f"{portal_model_name(job)}:ckpt-step-{checkpoint.step}",
        label=f"{job.display_name} · step {checkpoint.step}",
        provider=job.provider,
        kind=CHECKPOINT,
        provider_model=checkpoint.provider_checkpoint_id if held_by_provider else base,
        base_model=base,
        adapter_uri="" if held_by_provider else checkpoint.storage_uri,
        fine_tuned_model_id=model.pk if model is not None else None,
        checkpoint_id=checkpoint.pk,
        job_id=job.pk,
    )


def _held_by_provider(checkpoint: Checkpoint) -> bool:
    return bool(checkpoint.provider_checkpoint_id) and not checkpoint.storage_uri


def _project_models(project):
    return (
        FineTunedModel.objects.filter(job__project=project, status=ModelStatus.AVAILABLE)
        .select_related("job__project")
        .order_by("-created_at", "-pk")
    )


def served_models(project) -> list[ServedModel]:
    """Everything the project can chat with: its available fine-tuned models, each followed by its
    checkpoints (newest step first), then each answering provider's base models. Names are unique: a
    checkpoint that is the final model itself (OpenAI names them alike) is listed once."""
    models = [m for m in _project_models(project) if _answering(m.job.provider)]
    checkpoints: dict[int, list[Checkpoint]] = {}
    for checkpoint in (
        Checkpoint.objects.filter(job__in=[m.job for m in models])
        .select_related("job__project", "job__fine_tuned_model")
        .order_by("-step")
    ):
        checkpoints.setdefault(checkpoint.job_id, []).append(checkpoint)
    served: dict[str, ServedModel] = {}
    for model in models:
        entry = served_model_of(model)
        served.setdefault(entry.name, entry)
        for checkpoint in checkpoints.get(model.job_id, []):
            point = served_model_of_checkpoint(checkpoint)
            if point is not None:
                served.setdefault(point.name, point)
    for provider in all_providers():
        if provider.capabilities.inference:
            for base in provider.chat_base_models(project):
                served.setdefault(base.name, base)
    return list(served.values())


def served_model_get(project, name: str) -> ServedModel | None:
    """The project's model of that name, or None (another project's model is None too). Looks the name
    up directly rather than listing everything, since /v1 asks this on every request."""
    name = name.strip()
    if not name:
        return None
    portal = _PORTAL_NAME.search(name)
    if portal is not None:
        found = _portal_named(project, name, int(portal["job"]), portal["step"])
        if found is not None:
            return found
    model = _project_models(project).filter(provider_model_id=name).first()
    if model is not None and _answering(model.job.provider):
        return served_model_of(model)
    checkpoint = (
        Checkpoint.objects.filter(
            job__project=project,
            provider_checkpoint_id=name,
            storage_uri="",
            job__fine_tuned_model__status=ModelStatus.AVAILABLE,
        )
        .select_related("job__project", "job__fine_tuned_model")
        .first()
    )
    if checkpoint is not None and _answering(checkpoint.job.provider):
        return served_model_of_checkpoint(checkpoint)
    for provider in all_providers():
        if provider.capabilities.inference:
            for base in provider.chat_base_models(project):
                if base.name == name:
                    return base
    return None


def _portal_named(project, name: str, job_id: int, step: str | None) -> ServedModel | None:
    model = _project_models(project).filter(job_id=job_id, provider_model_id="").first()
    if model is None or not _answering(model.job.provider):
        return None
    if step is None:
        found: ServedModel | None = served_model_of(model)
    else:
        checkpoint = (
            Checkpoint.objects.filter(job_id=job_id, step=int(step))
            .exclude(storage_uri="", provider_checkpoint_id__gt="")
            .select_related("job__project", "job__fine_tuned_model")
            .first()
        )
        found = served_model_of_checkpoint(checkpoint) if checkpoint is not None else None
    # The name must match in full: the base, project and suffix parts are not decoration.
    return found if found is not None and found.name == name else None
