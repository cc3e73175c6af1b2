"""Capture pages: thin views over the services and selectors."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from finetune_portal.captures.forms import CaptureForm
from finetune_portal.captures.models import Capture
from finetune_portal.captures.selectors import capture_items
from finetune_portal.captures.services import (
    CaptureInputError,
    capture_cancel,
    capture_plan,
    capture_progress,
    capture_start,
)
from finetune_portal.jobs.launch_once import launch_token_new
from finetune_portal.projects.access import ProjectAccess, get_project_access


def _access(request, slug: str) -> ProjectAccess:
    access = get_project_access(request.user, slug)
    # A capture asks a model (it costs money) and makes a dataset version.
    access.require(access.can_use_playground and access.can_upload_datasets)
    return access


def _capture(access: ProjectAccess, capture_id: int) -> Capture:
    return get_object_or_404(
        Capture.objects.select_related("source_version__dataset", "result_version__dataset"),
        pk=capture_id,
        project=access.project,
    )


@require_http_methods(["GET", "POST"])
def capture_new(request, slug: str):
    """The form; "Estimate" shows what the capture would ask and cost, "Start" starts it."""
    access = _access(request, slug)
    project = access.project
    initial = {"model": request.GET.get("model"), "token": launch_token_new()}
    form = CaptureForm(request.POST or None, project=project, initial=initial)
    plan = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if request.POST.get("action") == "start":
                capture, created = capture_start(
                    project=project,
                    user=request.user,
                    fine_tuned_model=data["model"],
                    version=data["source"],
                    mode=data["mode"],
                    max_tokens=data["max_tokens"],
                    token=data["token"],
                )
                if not created:
                    messages.info(request, "This form had already started a capture: here it is.")
                return redirect("captures:detail", slug=slug, capture_id=capture.pk)
            plan = capture_plan(
                project=project,
                fine_tuned_model=data["model"],
                version=data["source"],
                mode=data["mode"],
                max_tokens=data["max_tokens"],
            )
        except CaptureInputError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
    context = {"project": project, "access": access, "form": form, "plan": plan}
    return render(request, "captures/new.html", context)


def _detail_context(access: ProjectAccess, capture: Capture) -> dict:
    counts = capture_progress(capture.pk)
    total = counts["total"] or 1
    return {
        "project": access.project,
        "access": access,
        "capture": capture,
        "counts": counts,
        "percent": int(100 * counts["settled"] / total),
    }


@require_GET
def capture_detail(request, slug: str, capture_id: int):
    access = _access(request, slug)
    capture = _capture(access, capture_id)
    context = _detail_context(access, capture)
    context["items"] = capture_items(capture)
    return render(request, "captures/detail.html", context)


@require_GET
def capture_progress_part(request, slug: str, capture_id: int):
    access = _access(request, slug)
    capture = _capture(access, capture_id)
    context = _detail_context(access, capture)
    context["items"] = capture_items(capture)
    response = render(request, "captures/detail.html#progress", context)
    if capture.is_settled:
        response["HX-Refresh"] = "true"  # once, for the result's link and the final items
    return response


@require_POST
def capture_cancel_view(request, slug: str, capture_id: int):
    access = _access(request, slug)
    capture = _capture(access, capture_id)
    if capture_cancel(capture=capture, user=request.user):
        messages.success(request, "Capture cancelled; no dataset version is made from it.")
    else:
        messages.info(request, "That capture had already ended.")
    return redirect("captures:detail", slug=slug, capture_id=capture.pk)
