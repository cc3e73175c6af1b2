"""The datasets list, the form that creates a dataset, and a dataset's page with its versions."""

from __future__ import annotations

from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from finetune_portal.datasets.diff import default_pair
from finetune_portal.datasets.errors import DatasetInputError
from finetune_portal.datasets.forms import DatasetForm
from finetune_portal.datasets.lifecycle import dataset_deletion_blocker
from finetune_portal.datasets.selectors import dataset_for_project, datasets_for_project, versions_listed
from finetune_portal.datasets.versions import dataset_create
from finetune_portal.datasets.views.lifecycle import may_remove
from finetune_portal.projects.access import get_project_access


def dataset_list(request, slug: str):
    access = get_project_access(request.user, slug)
    archived = request.GET.get("archived") == "1"
    context = {
        "access": access,
        "project": access.project,
        "archived": archived,
        "datasets": datasets_for_project(access.project, archived=archived),
        "archived_count": datasets_for_project(access.project, archived=True).count(),
    }
    return render(request, "datasets/list.html", context)


@require_http_methods(["GET", "POST"])
def dataset_new(request, slug: str):
    access = get_project_access(request.user, slug)
    access.require(access.can_upload_datasets)
    form = DatasetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            dataset = dataset_create(project=access.project, user=request.user, **form.cleaned_data)
        except DatasetInputError as exc:
            form.add_error("name", str(exc))
        else:
            return redirect("datasets:upload", slug, dataset.pk)
    status = 400 if form.is_bound else 200
    context = {"access": access, "project": access.project, "form": form}
    return render(request, "datasets/new.html", context, status=status)


def dataset_detail(request, slug: str, dataset_id: int):
    access = get_project_access(request.user, slug)
    dataset = dataset_for_project(access.project, dataset_id)
    archived = request.GET.get("archived") == "1"
    versions = list(versions_listed(dataset, archived=archived))
    latest_pair = default_pair(versions[0]) if versions else None
    context = {
        "access": access,
        "project": access.project,
        "dataset": dataset,
        "versions": versions,
        "archived": archived,
        "archived_count": versions_listed(dataset, archived=True).count(),
        "compare_from": latest_pair.number if latest_pair else None,
        "may_remove": may_remove(access, dataset.created_by_id),
        "deletion_blocker": dataset_deletion_blocker(dataset),
    }
    return render(request, "datasets/detail.html", context)
