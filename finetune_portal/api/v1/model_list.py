"""GET /v1/models and GET /v1/models/{id}: the models the token's project can chat with."""

from __future__ import annotations

from django.http import HttpResponseBase, JsonResponse

from finetune_portal.api.auth import ApiCaller
from finetune_portal.api.errors import ApiError, model_not_found
from finetune_portal.inference.catalog import BASE, FINE_TUNED, served_model_get, served_models
from finetune_portal.jobs.models import Checkpoint
from finetune_portal.projects.access import project_access_for
from finetune_portal.providers.chat import ServedModel
from finetune_portal.registry.models import FineTunedModel
from finetune_portal.registry.services import fine_tuned_model_delete


def _created(models: list[ServedModel]) -> dict[str, int]:
    """When each model came to be, as Unix seconds; base models have no date in the portal (0)."""
    model_ids = {m.fine_tuned_model_id for m in models if m.kind != BASE and m.checkpoint_id is None}
    checkpoint_ids = {m.checkpoint_id for m in models if m.checkpoint_id is not None}
    model_times = dict(FineTunedModel.objects.filter(pk__in=model_ids).values_list("pk", "created_at"))
    checkpoint_times = dict(Checkpoint.objects.filter(pk__in=checkpoint_ids).values_list("pk", "created_at"))
    created = {}
    for model in models:
        if model.checkpoint_id is not None:
            when = checkpoint_times.get(model.checkpoint_id)
        elif model.fine_tuned_model_id is not None:
            when = model_times.get(model.fine_tuned_model_id)
        else:
            when = None
        created[model.name] = int(when.timestamp()) if when is not None else 0
    return created


def _model_object(model: ServedModel, created: int, project) -> dict:
    return {
        "id": model.name,
        "object": "model",
        "created": created,
        # A fine-tune belongs to the project that trained it; a base model to its provider.
        "owned_by": model.provider if model.kind == BASE else project.slug,
    }


def models_list(request, caller: ApiCaller) -> HttpResponseBase:
    models = served_models(caller.project)
    created = _created(models)
    return JsonResponse(
        {"object": "list", "data": [_model_object(m, created[m.name], caller.project) for m in models]}
    )


def model_retrieve(request, caller: ApiCaller, model: str) -> HttpResponseBase:
    found = served_model_get(caller.project, model)
    if found is None:
        raise model_not_found(model)
    return JsonResponse(_model_object(found, _created([found])[found.name], caller.project))


def model_delete(request, caller: ApiCaller, model: str) -> HttpResponseBase:
    """Delete one of the project's fine-tuned models: it stops being served (OpenAI's answer shape)."""
    found = served_model_get(caller.project, model)
    if found is None:
        raise model_not_found(model)
    if found.kind != FINE_TUNED or found.checkpoint_id is not None or found.fine_tuned_model_id is None:
        raise ApiError(
            403,
            f"{model} is not a fine-tuned model of this project; only those can be deleted "
            "(a checkpoint goes with its model).",
            param="model",
            code="model_not_deletable",
        )
    record = FineTunedModel.objects.select_related("job__project").get(pk=found.fine_tuned_model_id)
    access = project_access_for(caller.user, caller.project)
    if access is None or not access.can_control_job(record.job):
        raise ApiError(403, "Only whoever trained this model, or an ML lead of the project, may delete it.")
    fine_tuned_model_delete(model=record, actor=caller.user)
    return JsonResponse({"id": found.name, "object": "model", "deleted": True})
