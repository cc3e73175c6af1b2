from __future__ import annotations

from django.shortcuts import render

from finetune_portal.datasets.selectors import dataset_for_project, datasets_for_project
from finetune_portal.projects.access import get_project_access


def dataset_list(request, slug: str):
    access = get_project_access(request.user, slug)
    return render(
        request,
        "datasets/list.html",
        {"access": access, "project": access.project, "datasets": datasets_for_project(access.project)},
    )


def dataset_detail(request, slug: str, dataset_id: int):
    access = get_project_access(request.user, slug)
    dataset = dataset_for_project(access.project, dataset_id)
    versions = dataset.versions.select_related("uploaded_by", "parent")
    return render(
        request,
        "datasets/detail.html",
        {"access": access, "project": access.project, "dataset": dataset, "versions": versions},
    )
