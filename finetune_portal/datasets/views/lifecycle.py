"""Archiving and deleting datasets and versions, and who may."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from finetune_portal.datasets.errors import DatasetInputError
from finetune_portal.datasets.lifecycle import (
    dataset_archive,
    dataset_delete,
    dataset_version_archive,
    dataset_version_delete,
)
from finetune_portal.datasets.selectors import dataset_for_project, version_for_dataset
from finetune_portal.projects.access import get_project_access
from finetune_portal.projects.models import Role


def may_remove(access, owner_id: int | None) -> bool:
    """Archive or delete: ML leads, and whoever created the dataset or uploaded the version."""
    return access.can_upload_datasets and (
        access.has_role(Role.ML_LEAD) or owner_id == getattr(access.user, "pk", None)
    )


@require_POST
def dataset_archive_view(request, slug: str, dataset_id: int):
    access = get_project_access(request.user, slug)
    dataset = dataset_for_project(access.project, dataset_id)
    access.require(may_remove(access, dataset.created_by_id))
    archived = request.POST.get("archived") != "0"
    dataset_archive(dataset=dataset, user=request.user, archived=archived)
    if archived:
        messages.success(request, f"Archived {dataset.name}: it is hidden from lists and launch forms.")
        return redirect("datasets:list", slug)
    messages.success(request, f"{dataset.name} is back in use.")
    return redirect("datasets:detail", slug, dataset.pk)


@require_POST
def dataset_delete_view(request, slug: str, dataset_id: int):
    access = get_project_access(request.user, slug)
    dataset = dataset_for_project(access.project, dataset_id)
    access.require(may_remove(access, dataset.created_by_id))
    try:
        dataset_delete(dataset=dataset, user=request.user)
    except DatasetInputError as exc:
        messages.error(request, str(exc))
        return redirect("datasets:detail", slug, dataset.pk)
    messages.success(request, f"Deleted {dataset.name} and its files.")
    return redirect("datasets:list", slug)


@require_POST
def version_archive_view(request, slug: str, dataset_id: int, number: int):
    access = get_project_access(request.user, slug)
    version = version_for_dataset(dataset_for_project(access.project, dataset_id), number)
    access.require(may_remove(access, version.uploaded_by_id))
    archived = request.POST.get("archived") != "0"
    dataset_version_archive(version=version, user=request.user, archived=archived)
    if archived:
        messages.success(request, f"Archived v{number}: it is hidden from the list and launch forms.")
    else:
        messages.success(request, f"v{number} is back in use.")
    return redirect("datasets:version", slug, dataset_id, number)


@require_POST
def version_delete_view(request, slug: str, dataset_id: int, number: int):
    access = get_project_access(request.user, slug)
    version = version_for_dataset(dataset_for_project(access.project, dataset_id), number)
    access.require(may_remove(access, version.uploaded_by_id))
    try:
        dataset_version_delete(version=version, user=request.user)
    except DatasetInputError as exc:
        messages.error(request, str(exc))
        return redirect("datasets:version", slug, dataset_id, number)
    messages.success(request, f"Deleted v{number} and its file.")
    return redirect("datasets:detail", slug, dataset_id)
