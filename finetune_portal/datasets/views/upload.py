"""Uploading a file as a new version, and mapping a CSV upload's columns before it becomes one."""

from __future__ import annotations

from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods

from finetune_portal.datasets import uploads
from finetune_portal.datasets.csv_import import csv_convert, csv_header
from finetune_portal.datasets.errors import DatasetInputError
from finetune_portal.datasets.forms import CsvMappingForm, UploadForm
from finetune_portal.datasets.selectors import dataset_for_project
from finetune_portal.projects.access import get_project_access


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
