from __future__ import annotations

from django.contrib import messages
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from finetune_portal.datasets import uploads
from finetune_portal.datasets.csv_import import csv_convert, csv_header
from finetune_portal.datasets.derived import (
    convertible_to_chat,
    dataset_version_convert_to_chat,
    dataset_version_split,
)
from finetune_portal.datasets.diff import SECTIONS, default_pair, diff_index, diff_page
from finetune_portal.datasets.errors import DatasetInputError
from finetune_portal.datasets.forms import CsvMappingForm, DatasetForm, SplitForm, UploadForm
from finetune_portal.datasets.lifecycle import (
    dataset_archive,
    dataset_delete,
    dataset_deletion_blocker,
    dataset_version_archive,
    dataset_version_delete,
    version_deletion_blocker,
)
from finetune_portal.datasets.selectors import (
    dataset_for_project,
    datasets_for_project,
    histogram_bars,
    version_for_dataset,
    version_preview,
    versions_listed,
)
from finetune_portal.datasets.versions import dataset_create
from finetune_portal.jobs.selectors.lists import jobs_using_version
from finetune_portal.projects.access import get_project_access
from finetune_portal.projects.models import Role


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
        "may_remove": _may_remove(access, dataset.created_by_id),
        "deletion_blocker": dataset_deletion_blocker(dataset),
    }
    return render(request, "datasets/detail.html", context)


@csrf_exempt  # CSRF is checked by the inner view, after the upload handlers are in place
@require_http_methods(["GET", "POST"])
def dataset_upload(request, slug: str, dataset_id: int):
    # Nothing here touches request.POST or FILES before the checks: the body (up to the upload limit) is
    # read only for someone who may upload to this dataset, and only when its declared size fits.
    access = get_project_access(request.user, slug)
    access.require(access.can_upload_datasets)
    dataset = dataset_for_project(access.project, dataset_id)
    if request.method == "POST" and uploads.declared_too_large(request.META.get("CONTENT_LENGTH")):
        return _upload_refused(request, access, dataset, uploads.upload_too_large_message(), status=413)
    # The handler must be installed before anything reads the body, which CSRF's own check would do.
    request.upload_handlers = [uploads.HashingTemporaryFileUploadHandler(request)]
    return _dataset_upload(request, access, dataset)


def _upload_refused(request, access, dataset, error: str, *, status: int):
    if _wants_json(request):
        return JsonResponse({"error": error}, status=status)
    context = {
        "access": access,
        "project": access.project,
        "dataset": dataset,
        "form": UploadForm(),
        "error": error,
    }
    return render(request, "datasets/upload.html", context, status=status)


@csrf_protect
def _dataset_upload(request, access, dataset):
    slug = access.project.slug
    form = UploadForm()
    error = None
    if request.method == "POST":
        form = UploadForm(request.POST, request.FILES)
        handler = request.upload_handlers[0]
        if getattr(handler, "too_large", False):
            error = uploads.upload_too_large_message()
        elif form.is_valid():
            try:
                outcome, value, created = uploads.dataset_upload(
                    dataset=dataset,
                    uploaded_file=form.cleaned_data["file"],
                    user=request.user,
                    target=form.cleaned_data["target"],
                    base_model=form.cleaned_data["base_model"].strip(),
                )
            except DatasetInputError as exc:
                error = str(exc)
            else:
                if outcome == "csv":
                    url = reverse("datasets:csv_mapping", args=[slug, dataset.pk, value])
                    url += "?" + _query(name=form.cleaned_data["file"].name, **_estimate_of(form))
                else:
                    if not created:
                        messages.info(request, f"These exact bytes are already version v{value.number}.")
                    url = reverse("datasets:version", args=[slug, dataset.pk, value.number])
                return _upload_done(request, url)
        else:
            error = " ".join(e for errors in form.errors.values() for e in errors)
        if _wants_json(request):
            return JsonResponse({"error": error}, status=400)
    context = {"access": access, "project": access.project, "dataset": dataset, "form": form, "error": error}
    return render(request, "datasets/upload.html", context, status=400 if error else 200)


def _estimate_of(form) -> dict:
    return {"target": form.cleaned_data["target"], "base_model": form.cleaned_data["base_model"].strip()}


def _query(**params) -> str:
    from urllib.parse import urlencode

    return urlencode({k: v for k, v in params.items() if v})


def _wants_json(request) -> bool:
    return request.headers.get("X-Requested-With") == "XMLHttpRequest"


def _upload_done(request, url: str):
    if _wants_json(request):
        return JsonResponse({"redirect": url})
    return redirect(url)


@require_http_methods(["GET", "POST"])
def dataset_csv_mapping(request, slug: str, dataset_id: int, token: str):
    access = get_project_access(request.user, slug)
    access.require(access.can_upload_datasets)
    dataset = dataset_for_project(access.project, dataset_id)
    context = {"access": access, "project": access.project, "dataset": dataset}
    try:
        columns, sample = csv_header(dataset=dataset, token=token)
    except DatasetInputError as exc:
        messages.error(request, str(exc))
        return redirect("datasets:upload", slug, dataset.pk)
    form = CsvMappingForm(request.POST or None, columns=columns)
    if request.method == "POST" and form.is_valid():
        try:
            version, _ = csv_convert(
                dataset=dataset,
                token=token,
                user=request.user,
                original_filename=request.GET.get("name", "upload.csv"),
                target=request.GET.get("target"),
                base_model=request.GET.get("base_model", ""),
                **form.cleaned_data,
            )
        except DatasetInputError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("datasets:version", slug, dataset.pk, version.number)
    context |= {"form": form, "columns": columns, "sample": sample, "filename": request.GET.get("name", "")}
    return render(request, "datasets/csv_mapping.html", context, status=400 if form.errors else 200)


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
    line = _int(request.GET.get("line"), 0) or None
    context["preview"] = version_preview(
        version, page=_int(request.GET.get("page"), 1), query=request.GET.get("q", ""), line=line
    )
    context["wanted_line"] = line
    if target == "preview":
        return render(request, "datasets/version.html#preview", context)
    context["jobs_using"] = jobs_using_version(version)
    context["may_remove"] = _may_remove(access, version.uploaded_by_id)
    context["deletion_blocker"] = version_deletion_blocker(version)
    return render(request, "datasets/version.html", context)


def _may_remove(access, owner_id: int | None) -> bool:
    """Archive or delete: ML leads, and whoever created the dataset or uploaded the version."""
    return access.can_upload_datasets and (
        access.has_role(Role.ML_LEAD) or owner_id == getattr(access.user, "pk", None)
    )


@require_POST
def dataset_archive_view(request, slug: str, dataset_id: int):
    access = get_project_access(request.user, slug)
    dataset = dataset_for_project(access.project, dataset_id)
    access.require(_may_remove(access, dataset.created_by_id))
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
    access.require(_may_remove(access, dataset.created_by_id))
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
    access.require(_may_remove(access, version.uploaded_by_id))
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
    access.require(_may_remove(access, version.uploaded_by_id))
    try:
        dataset_version_delete(version=version, user=request.user)
    except DatasetInputError as exc:
        messages.error(request, str(exc))
        return redirect("datasets:version", slug, dataset_id, number)
    messages.success(request, f"Deleted v{number} and its file.")
    return redirect("datasets:detail", slug, dataset_id)


def _int(value, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def version_download(request, slug: str, dataset_id: int, number: int):
    access = get_project_access(request.user, slug)
    version = version_for_dataset(dataset_for_project(access.project, dataset_id), number)
    filename = f"{version.dataset.name}-v{version.number}.jsonl".replace(" ", "_")
    return FileResponse(version.file.open("rb"), as_attachment=True, filename=filename)


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


def dataset_diff(request, slug: str, dataset_id: int):
    access = get_project_access(request.user, slug)
    dataset = dataset_for_project(access.project, dataset_id)
    new_number = _int(request.GET.get("new"), 0)
    new = version_for_dataset(dataset, new_number) if new_number else dataset.versions.first()
    if new is None:
        raise Http404("This dataset has no versions.")
    old_number = _int(request.GET.get("old"), 0)
    old = version_for_dataset(dataset, old_number) if old_number else default_pair(new)
    context = {"access": access, "project": access.project, "dataset": dataset, "old": old, "new": new}
    context["versions"] = dataset.versions.only("number")
    if old is not None:
        section = request.GET.get("show")
        index = diff_index(old, new)
        if section not in SECTIONS:
            section = next((s for s in SECTIONS if getattr(index, s)), "changed")
        context |= {
            "diff": index,
            "section": section,
            "diff_page": diff_page(old, new, index, section=section, page=_int(request.GET.get("page"), 1)),
        }
    if request.htmx and request.htmx.target == "diff-examples":
        return render(request, "datasets/diff.html#examples", context)
    return render(request, "datasets/diff.html", context)
