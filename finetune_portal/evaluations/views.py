"""Evaluation pages: thin views over the services and selectors."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from finetune_portal.evaluations.forms import EvaluateOnSuccessForm, EvaluationForm, FixForm
from finetune_portal.evaluations.items import EvaluationInputError
from finetune_portal.evaluations.job_panel import job_panel_context, live_token
from finetune_portal.evaluations.models import Evaluation, EvaluationItem
from finetune_portal.evaluations.on_success import evaluation_on_success_add
from finetune_portal.evaluations.selectors import evaluation_result_json, project_evaluations, worst_items
from finetune_portal.evaluations.services import evaluation_cancel, evaluation_item_fix, evaluation_start
from finetune_portal.evaluations.services import evaluation_progress as progress_of
from finetune_portal.inference.catalog import served_models
from finetune_portal.jobs.selectors.lists import job_for_project
from finetune_portal.projects.access import ProjectAccess, get_project_access


def _access(request, slug: str) -> ProjectAccess:
    access = get_project_access(request.user, slug)
    # Evaluations ask models (and may cost money): the same people who may use the playground.
    access.require(access.can_use_playground)
    return access


def _evaluation(access: ProjectAccess, evaluation_id: int) -> Evaluation:
    return get_object_or_404(
        Evaluation.objects.select_related("version__dataset"), pk=evaluation_id, project=access.project
    )


@require_GET
def evaluation_list(request, slug: str):
    access = _access(request, slug)
    evaluations = project_evaluations(access.project)[:100]
    return render(request, "evaluations/list.html", {"project": access.project, "access": access,
                                                      "evaluations": evaluations})  # fmt: skip


@require_http_methods(["GET", "POST"])
def evaluation_new(request, slug: str):
    access = _access(request, slug)
    project = access.project
    served = served_models(project)
    initial = {"models": request.GET.getlist("model")}
    form = EvaluationForm(request.POST or None, project=project, served=served, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            evaluation = evaluation_start(
                project=project,
                user=request.user,
                version=data["version"],
                model_names=data["models"],
                metric=data["metric"],
                judge_model=data["judge_model"] or "",
                rubric=data["rubric"],
                json_schema=data["json_schema"],
                max_tokens=data["max_tokens"],
                cost_cap_usd=data["cost_cap_usd"],
            )
        except EvaluationInputError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            return redirect("evaluations:detail", slug=slug, evaluation_id=evaluation.pk)
    return render(request, "evaluations/new.html", {"project": project, "access": access, "form": form})


def _detail_context(access: ProjectAccess, evaluation: Evaluation) -> dict:
    done, total = progress_of(evaluation.pk)
    results = evaluation.results or {}
    per_model = results.get("models", {})
    labels = dict(
        zip(evaluation.model_names, evaluation.model_labels or evaluation.model_names, strict=False)
    )
    summaries = [
        {
            "name": n,
            "label": labels.get(n, n),
            "details": per_model.get(n),
            "matrix": _matrix(per_model.get(n)),
        }
        for n in evaluation.model_names
    ]
    return {
        "project": access.project,
        "access": access,
        "evaluation": evaluation,
        "done": done,
        "total": total,
        "percent": int(100 * done / total) if total else 100,
        "summaries": summaries,
        "verdict": results.get("verdict"),
        "labels": [labels.get(n, n) for n in evaluation.model_names],
    }


def _matrix(details: dict | None) -> dict | None:
    """The confusion matrix with each cell's share of its row, for the heat-map's colour."""
    report = (details or {}).get("classification")
    if not report:
        return None
    rows = []
    for label, counts in zip(report["labels"], report["confusion"], strict=True):
        total = sum(counts) or 1
        rows.append(
            {
                "label": label,
                "cells": [
                    {"count": c, "heat": round(100 * c / total), "right": report["columns"][i] == label}
                    for i, c in enumerate(counts)
                ],
            }
        )
    return {"columns": report["columns"], "rows": rows, "per_label": report["per_label"]}


@require_GET
def evaluation_detail(request, slug: str, evaluation_id: int):
    access = _access(request, slug)
    evaluation = _evaluation(access, evaluation_id)
    context = _detail_context(access, evaluation)
    context["items"] = worst_items(evaluation, limit=20)
    context["fix_form"] = FixForm()
    return render(request, "evaluations/detail.html", context)


@require_GET
def evaluation_progress_part(request, slug: str, evaluation_id: int):
    access = _access(request, slug)
    evaluation = _evaluation(access, evaluation_id)
    response = render(request, "evaluations/detail.html#progress", _detail_context(access, evaluation))
    if evaluation.is_settled:
        # The run ended: reload the page once for its results and items.
        response["HX-Refresh"] = "true"
    return response


@require_GET
def evaluation_download(request, slug: str, evaluation_id: int):
    access = _access(request, slug)
    evaluation = _evaluation(access, evaluation_id)
    response = JsonResponse(evaluation_result_json(evaluation), json_dumps_params={"ensure_ascii": False})
    response["Content-Disposition"] = f'attachment; filename="evaluation-{evaluation.pk}.json"'
    return response


@require_POST
def evaluation_cancel_view(request, slug: str, evaluation_id: int):
    access = _access(request, slug)
    evaluation = _evaluation(access, evaluation_id)
    if evaluation_cancel(evaluation=evaluation, user=request.user):
        messages.success(request, "Evaluation cancelled; what was scored is kept.")
    else:
        messages.info(request, "That evaluation had already ended.")
    return redirect("evaluations:detail", slug=slug, evaluation_id=evaluation.pk)


@require_POST
def evaluation_fix_view(request, slug: str, evaluation_id: int, index: int):
    access = _access(request, slug)
    access.require(access.can_upload_datasets)
    evaluation = _evaluation(access, evaluation_id)
    item = get_object_or_404(EvaluationItem, evaluation=evaluation, index=index)
    form = FixForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Write the corrected reference.")
        return redirect("evaluations:detail", slug=slug, evaluation_id=evaluation.pk)
    try:
        version, created = evaluation_item_fix(
            evaluation=evaluation, item=item, reference=form.cleaned_data["reference"], user=request.user
        )
    except EvaluationInputError as exc:
        messages.error(request, exc.message)
        return redirect("evaluations:detail", slug=slug, evaluation_id=evaluation.pk)
    messages.success(request, f"{version} {'made' if created else 'already had this fix'}.")
    return redirect("datasets:version", slug=slug, dataset_id=version.dataset_id, number=version.number)


@require_POST
def evaluation_on_success_view(request, slug: str, job_id: int):
    """Attach "when this job succeeds, evaluate it and its base on version X" from the job's page. HTMX
    gets the page's evaluations section back; a plain form post goes back to the job's page."""
    access = _access(request, slug)
    job = job_for_project(access.project, job_id)
    form = EvaluateOnSuccessForm(request.POST, project=access.project)
    notice = error = ""
    if form.is_valid():
        try:
            attached, created = evaluation_on_success_add(
                job=job,
                version=form.cleaned_data["version"],
                metric=form.cleaned_data["metric"],
                user=request.user,
            )
        except EvaluationInputError as exc:
            if exc.field in form.fields:
                form.add_error(exc.field, exc.message)
            else:
                error = exc.message
        else:
            what = f"{attached.get_metric_display()} on {attached.version}"
            notice = f"{what}: {'attached' if created else 'already attached'}."
            form = None
    if not request.htmx:
        if notice:
            messages.success(request, notice)
        else:
            messages.error(request, error or " ".join(e for errors in form.errors.values() for e in errors))
        return redirect("jobs:detail", slug=slug, job_id=job.pk)
    context = job_panel_context(access, job, form=form, notice=notice, error=error)
    # 200 even with errors: htmx swaps only successful answers, and the form must show what is wrong.
    return render(request, "evaluations/parts/job_panel.html", context)


@require_GET
def evaluation_job_panel(request, slug: str, job_id: int):
    """The job page's evaluations part alone, for its live refresh (anyone who may see the job). Asked
    with the token the page holds (``?t=``), an unchanged part is answered 204 and nothing is swapped, so
    a form being filled in there is left alone."""
    access = get_project_access(request.user, slug)
    job = job_for_project(access.project, job_id)
    if "t" in request.GET and request.GET["t"] == live_token(job):
        return HttpResponse(status=204)
    return render(request, "evaluations/parts/job_panel.html", job_panel_context(access, job))
