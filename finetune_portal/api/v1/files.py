"""/v1/files: uploads for fine-tuning, stored as dataset versions of the token's project."""

from __future__ import annotations

from django.core.files.uploadhandler import StopUpload
from django.http import FileResponse, HttpResponseBase, JsonResponse
from django.http.multipartparser import MultiPartParserError

from finetune_portal.api.auth import ApiCaller
from finetune_portal.api.errors import ApiError, invalid
from finetune_portal.api.files import FINE_TUNE, api_file_delete, api_file_get, api_file_upload, api_files_of
from finetune_portal.api.models import ApiFile
from finetune_portal.api.v1.paging import limit_param, page_after
from finetune_portal.datasets.errors import DatasetInputError
from finetune_portal.datasets.models import VersionStatus
from finetune_portal.datasets.selectors import report_first_errors
from finetune_portal.datasets.uploads import HashingTemporaryFileUploadHandler, upload_too_large_message
from finetune_portal.projects.access import project_access_for

STATUS: dict[str, str] = {VersionStatus.VALID: "processed", VersionStatus.INVALID: "error"}


def file_object(api_file: ApiFile) -> dict:
    version = api_file.version
    status = STATUS.get(version.status, "uploaded")
    answer = {
        "id": api_file.public_id,
        "object": "file",
        "bytes": api_file.byte_size,
        "created_at": int(api_file.created_at.timestamp()),
        "filename": api_file.filename,
        "purpose": api_file.purpose,
        "status": status,
    }
    # Optional and not nullable in OpenAI's description: absent rather than null. Files do not expire.
    if status == "error":
        answer["status_details"] = report_first_errors(version.validation_report)
    return answer


def _file_or_404(caller: ApiCaller, file_id: str) -> ApiFile:
    found = api_file_get(caller.project, file_id)
    if found is None:
        raise ApiError(404, f"No such File object: {file_id}", param="id", code="file_not_found")
    return found


def file_create(request, caller: ApiCaller) -> HttpResponseBase:
    access = project_access_for(caller.user, caller.project)
    if access is None or not access.can_upload_datasets:
        raise ApiError(403, "Your role in this project does not allow uploading files.")
    handler = HashingTemporaryFileUploadHandler(request)
    request.upload_handlers = [handler]
    try:
        post, files = request.POST, request.FILES
    except (MultiPartParserError, StopUpload) as exc:
        raise invalid(f"The upload could not be read as multipart/form-data: {exc}.") from exc
    if handler.too_large:
        raise ApiError(413, upload_too_large_message(), param="file", code="file_too_large")
    purpose = post.get("purpose")
    if not purpose:
        raise invalid("Missing required parameter: 'purpose'.", param="purpose")
    if purpose != FINE_TUNE:
        raise invalid(
            f"Files with purpose {purpose!r} are not accepted here: this portal takes files for fine-tuning "
            "only (purpose 'fine-tune').",
            param="purpose",
            code="unsupported_purpose",
        )
    upload = files.get("file")
    if upload is None:
        raise invalid("Missing required parameter: 'file' (send it as multipart/form-data).", param="file")
    try:
        api_file = api_file_upload(project=caller.project, user=caller.user, uploaded_file=upload)
    except DatasetInputError as exc:
        raise invalid(str(exc), param="file") from exc
    return JsonResponse(file_object(api_file))


def files_list(request, caller: ApiCaller) -> HttpResponseBase:
    order = request.GET.get("order") or "desc"
    if order not in ("asc", "desc"):
        raise invalid("order must be asc or desc.", param="order")
    limit = limit_param(request, default=10_000, most=10_000)
    files = api_files_of(caller.project).select_related("version__dataset")
    purpose = request.GET.get("purpose")
    if purpose:
        files = files.filter(purpose=purpose)
    ordered = list(files.order_by(*(("created_at", "id") if order == "asc" else ("-created_at", "-id"))))
    page, has_more = page_after(
        ordered, id_of=lambda f: f.public_id, after=request.GET.get("after"), limit=limit
    )
    data = [file_object(f) for f in page]
    return JsonResponse(
        {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": has_more,
        }
    )


def file_retrieve(request, caller: ApiCaller, file_id: str) -> HttpResponseBase:
    return JsonResponse(file_object(_file_or_404(caller, file_id)))


def file_delete(request, caller: ApiCaller, file_id: str) -> HttpResponseBase:
    api_file = _file_or_404(caller, file_id)
    access = project_access_for(caller.user, caller.project)
    if access is None or not access.can_upload_datasets:
        raise ApiError(403, "Your role in this project does not allow deleting files.")
    api_file_delete(api_file=api_file, user=caller.user)
    return JsonResponse({"id": api_file.public_id, "object": "file", "deleted": True})


def file_content(request, caller: ApiCaller, file_id: str) -> HttpResponseBase:
    api_file = _file_or_404(caller, file_id)
    handle = api_file.version.file.open("rb")
    return FileResponse(handle, content_type="application/octet-stream", filename=api_file.filename)
