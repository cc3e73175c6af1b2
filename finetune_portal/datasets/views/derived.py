"""Actions that make new versions from an existing one: a train/validation split, a conversion to chat."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from finetune_portal.datasets.derived import dataset_version_convert_to_chat, dataset_version_split
from finetune_portal.datasets.errors import DatasetInputError
from finetune_portal.datasets.forms import SplitForm
from finetune_portal.datasets.selectors import dataset_for_project, version_for_dataset
from finetune_portal.projects.access import get_project_access


@require_POST
def version_split(request, slug: str, dataset_id: int, number: int):
    access = get_project_access(request.user, slug)
    access.require(access.can_upload_datasets)
    version = version_for_dataset(dataset_for_project(access.project, dataset_id), number)
    form = SplitForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect("datasets:version", slug, dataset_id, number)
    try:
        train, validation = dataset_version_split(
            version=version,
            validation_fraction=form.cleaned_data["validation_percent"] / 100,
            seed=form.cleaned_data["seed"],
            user=request.user,
        )
    except DatasetInputError as exc:
        messages.error(request, str(exc))
        return redirect("datasets:version", slug, dataset_id, number)
    messages.success(request, f"Split into v{train.number} (training) and v{validation.number} (validation).")
    return redirect("datasets:detail", slug, dataset_id)


@require_POST
def version_convert(request, slug: str, dataset_id: int, number: int):
    access = get_project_access(request.user, slug)
    access.require(access.can_upload_datasets)
    version = version_for_dataset(dataset_for_project(access.project, dataset_id), number)
    try:
        converted = dataset_version_convert_to_chat(version=version, user=request.user)
    except DatasetInputError as exc:
        messages.error(request, str(exc))
        return redirect("datasets:version", slug, dataset_id, number)
    messages.success(request, f"Converted to chat as {converted.dataset.name} v{converted.number}.")
    return redirect("datasets:version", slug, converted.dataset_id, converted.number)
