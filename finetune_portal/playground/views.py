"""The playground's pages and endpoints. Views check access and input, then hand over to the services;
the conversation itself is kept by the page and sent with every request."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.contrib import messages
from django.core.exceptions import RequestDataTooBig
from django.core.handlers.asgi import ASGIRequest
from django.http import JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from finetune_portal.datasets.models import Dataset
from finetune_portal.inference.catalog import served_model_get
from finetune_portal.inference.limits import inference_allowed, inference_rate
from finetune_portal.inference.models import ChatAnswer
from finetune_portal.playground.inputs import (
    MAX_COLUMNS,
    MAX_STOP_SEQUENCES,
    PlaygroundInputError,
    chat_settings_from,
    conversation_from,
)
from finetune_portal.playground.models import Probe
from finetune_portal.playground.selectors import (
    chat_datasets,
    model_groups,
    month_spend,
    picker_models,
    probe_grid,
)
from finetune_portal.playground.services import (
    answer_add_to_dataset,
    probe_delete,
    probe_run_start,
    probe_save,
)
from finetune_portal.playground.streaming import answer_events, in_thread
from finetune_portal.projects.access import ProjectAccess, get_project_access


def _access(request, slug: str) -> ProjectAccess:
    access = get_project_access(request.user, slug)
    access.require(access.can_use_playground)
    return access


def _rate_limited_words() -> str:
    return (
        f"Rate limited: this project may start {inference_rate()} answers (per second, minute, hour or day); "
        "wait a moment and send again."
    )


def _problem(message: str, status: int = 400, **extra: Any) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status=status)


def _json_body(request) -> dict:
    try:
        data = json.loads(request.body or b"{}")
    except RequestDataTooBig:
        raise PlaygroundInputError("The request is too large.") from None
    except (ValueError, UnicodeDecodeError):
        raise PlaygroundInputError("The request is not valid JSON.") from None
    if not isinstance(data, dict):
        raise PlaygroundInputError("The request must be a JSON object.")
    return data


@require_GET
def playground(request, slug: str):
    access = _access(request, slug)
    project = access.project
    models = picker_models(project)
    names = {m.name for m in models}
    wanted = [n for n in request.GET.getlist("model") if n][:MAX_COLUMNS]
    for name in wanted:
        if name not in names:
            messages.warning(request, f"{name} is not available to chat with in this project.")
    selected = [n for n in wanted if n in names] or [m.name for m in models[:1]]
    return render(
        request,
        "playground/page.html",
        {
            "access": access,
            "project": project,
            "groups": model_groups(models),
            "selected": selected,
            "max_columns": MAX_COLUMNS,
            "stop_slots": range(MAX_STOP_SEQUENCES),
            "datasets": chat_datasets(project),
            "spend": month_spend(project),
            "rate": inference_rate(),
            "api_base": request.build_absolute_uri("/v1"),
            "probe_count": Probe.objects.filter(project=project).count(),
        },
    )


@require_POST
def answer_stream(request, slug: str):
    """One model's answer to the conversation, as Server-Sent Events."""
    access = _access(request, slug)
    project = access.project
    try:
        data = _json_body(request)
        conversation = conversation_from(data.get("messages"))
        settings = chat_settings_from(data.get("settings"))
    except PlaygroundInputError as exc:
        return _problem(exc.message, field=exc.field)
    model = served_model_get(project, str(data.get("model") or ""))
    if model is None:
        return _problem("Pick a model this project can chat with.", field="model")
    if not inference_allowed(request, project):
        return _problem(_rate_limited_words(), status=429, code="rate_limited")
    user = request.user

    def frames():
        return answer_events(
            project=project, user=user, model=model, messages=conversation, settings=settings
        )

    # Under ASGI a plain generator would be read whole before the first byte went out.
    content = in_thread(frames) if isinstance(request, ASGIRequest) else frames()
    response = StreamingHttpResponse(content, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


@require_POST
def add_to_dataset(request, slug: str):
    access = _access(request, slug)
    project = access.project
    access.require(access.can_upload_datasets)
    try:
        data = _json_body(request)
        try:
            key = uuid.UUID(str(data.get("key") or ""))
            answer_id, dataset_id = int(data.get("answer_id")), int(data.get("dataset_id"))
        except (TypeError, ValueError):
            raise PlaygroundInputError(
                "Pick a dataset (and send the answer again if this persists)."
            ) from None
        answer = ChatAnswer.objects.filter(pk=answer_id, project=project).first()
        dataset = Dataset.objects.filter(pk=dataset_id, project=project).first()
        if answer is None:
            raise PlaygroundInputError("That answer is not one of this project's.")
        if dataset is None:
            raise PlaygroundInputError("Pick one of this project's datasets.", field="dataset")
        content = data.get("content")
        version, created = answer_add_to_dataset(
            project=project,
            user=request.user,
            answer=answer,
            dataset=dataset,
            content=content if isinstance(content, str) else answer.output,
            key=key,
        )
    except PlaygroundInputError as exc:
        return _problem(exc.message, field=exc.field)
    url = reverse("datasets:version", args=[project.slug, dataset.pk, version.number])
    verb = "Added as" if created else "Already added as"
    return JsonResponse(
        {
            "message": f"{verb} {dataset.name} v{version.number}; it is being validated.",
            "url": url,
            "created": created,
        },
        status=201 if created else 200,
    )


@require_POST
def probe_save_view(request, slug: str):
    access = _access(request, slug)
    try:
        data = _json_body(request)
        probe = probe_save(
            project=access.project,
            user=request.user,
            name=str(data.get("name") or ""),
            messages=data.get("messages"),
            settings=data.get("settings"),
        )
    except PlaygroundInputError as exc:
        return _problem(exc.message, field=exc.field)
    return JsonResponse(
        {
            "message": f"Saved the probe {probe.name!r}.",
            "id": probe.pk,
            "url": reverse("playground:probes", args=[slug]),
        },
        status=201,
    )


def _grid_context(request, access: ProjectAccess) -> dict:
    filtered = [n for n in request.GET.getlist("model") if n]
    return {
        "access": access,
        "project": access.project,
        "grid": probe_grid(access.project, model_names=filtered or None),
        "filtered": filtered,
    }


@require_GET
def probe_list(request, slug: str):
    access = _access(request, slug)
    context = _grid_context(request, access)
    context["groups"] = model_groups(picker_models(access.project))
    return render(request, "playground/probes.html", context)


@require_GET
def probe_grid_part(request, slug: str):
    access = _access(request, slug)
    return render(request, "playground/probes.html#grid", _grid_context(request, access))


@require_POST
def probe_run(request, slug: str):
    access = _access(request, slug)
    project = access.project
    model = served_model_get(project, request.POST.get("model", ""))
    if model is None:
        messages.error(request, "Pick a model this project can chat with.")
        return redirect("playground:probes", slug=slug)
    try:
        run = probe_run_start(
            project=project,
            user=request.user,
            model=model,
            allowed=lambda: inference_allowed(request, project),
        )
    except PlaygroundInputError as exc:
        messages.error(request, exc.message)
        return redirect("playground:probes", slug=slug)
    limited = run.answers.filter(status="limited").count()
    if limited:
        messages.warning(request, f"{limited} probe(s) were not sent: {_rate_limited_words()}")
    else:
        messages.success(request, f"Asking {model.label} every probe; answers appear below as they arrive.")
    return redirect("playground:probes", slug=slug)


@require_POST
def probe_delete_view(request, slug: str, probe_id: int):
    access = _access(request, slug)
    probe = get_object_or_404(Probe, pk=probe_id, project=access.project)
    probe_delete(probe=probe)
    messages.success(request, f"Deleted the probe {probe.name!r} and its answers.")
    return redirect("playground:probes", slug=slug)
