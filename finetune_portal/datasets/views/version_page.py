"""A version's page (with the parts HTMX polls or pages alone) and its file download."""

from __future__ import annotations

from django.http import FileResponse
from django.shortcuts import render
from django_htmx.http import HttpResponseStopPolling

from finetune_portal.datasets.derived import convertible_to_chat
from finetune_portal.datasets.forms import SplitForm
from finetune_portal.datasets.lifecycle import version_deletion_blocker
from finetune_portal.datasets.selectors import (
    dataset_for_project,
    histogram_bars,
    version_for_dataset,
    version_preview,
)
from finetune_portal.datasets.views.lifecycle import may_remove
from finetune_portal.datasets.views.params import int_param
from finetune_portal.jobs.selectors.lists import jobs_using_version
from finetune_portal.projects.access import get_project_access


def version_detail(request, slug: str, dataset_id: int, number: int):
    access = get_project_access(request.user, slug)
    dataset = dataset_for_project(access.project, dataset_id)
    version = version_for_dataset(dataset, number)
    context = {
        "access": access,
        "project": access.project,
        "dataset": dataset,
        "version": version,
        "report": version.validation_report or {},
        "split_form": SplitForm(),
        "can_convert": convertible_to_chat(version),
        "histogram": histogram_bars(version.validation_report or {}),
    }
    target = request.htmx.target if request.htmx else None
    if target == "version-status":
        response = render(request, "datasets/version.html#status", context)
        if version.is_settled:
            response.status_code = HttpResponseStopPolling.status_code
        return response
    line = int_param(request.GET.get("line"), 0) or None
    context["preview"] = version_preview(
        version, page=int_param(request.GET.get("page"), 1), query=request.GET.get("q", ""), line=line
    )
    context["wanted_line"] = line
    if target == "preview":
        return render(request, "datasets/version.html#preview", context)
    context["jobs_using"] = jobs_using_version(version)
    context["may_remove"] = may_remove(access, version.uploaded_by_id)
    context["deletion_blocker"] = version_deletion_blocker(version)
    return render(request, "datasets/version.html", context)


def version_download(request, slug: str, dataset_id: int, number: int):
    access = get_project_access(request.user, slug)
    version = version_for_dataset(dataset_for_project(access.project, dataset_id), number)
    filename = f"{version.dataset.name}-v{version.number}.jsonl".replace(" ", "_")
    return FileResponse(version.file.open("rb"), as_attachment=True, filename=filename)
