"""Uploaded dataset files: received, measured and hashed as they stream in, then taken as a version.

Every upload goes to a temporary file on disk (never memory), its sha256 is computed chunk by chunk
as it streams in, and an upload over the configured limit is stopped as soon as it passes the limit.
A JSONL upload becomes a version; a CSV is staged until the user maps its columns to chat.
"""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler

from finetune_portal.datasets.csv_import import csv_stage
from finetune_portal.datasets.errors import DatasetInputError
from finetune_portal.datasets.models import Dataset, DatasetKind
from finetune_portal.datasets.versions import dataset_version_store

ACCEPTED_EXTENSIONS = (".jsonl", ".csv")


class UploadTooLarge(Exception):
    pass


# The request body holds the file plus a little form data.
FORM_OVERHEAD_BYTES = 1024 * 1024


def declared_too_large(content_length: int | str | None) -> bool:
    """Whether a request body's declared size is plainly over the upload limit (refused unread)."""
    try:
        declared = int(content_length or 0)
    except (TypeError, ValueError):
        return False
    return declared > settings.DATASET_MAX_UPLOAD_BYTES + FORM_OVERHEAD_BYTES


class HashingTemporaryFileUploadHandler(TemporaryFileUploadHandler):
    def __init__(self, request=None):
        super().__init__(request)
        self.limit = settings.DATASET_MAX_UPLOAD_BYTES
        self.too_large = False

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if declared_too_large(content_length):
            self.too_large = True
        return None

    def new_file(self, *args, **kwargs):
        if self.too_large:
            raise StopUpload(connection_reset=False)
        super().new_file(*args, **kwargs)
        self.digest = hashlib.sha256()
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit:
            self.too_large = True
            self.file.close()  # the temporary file is deleted on close
            raise StopUpload(connection_reset=False)
        self.digest.update(raw_data)
        return super().receive_data_chunk(raw_data, start)

    def file_complete(self, file_size):
        uploaded = super().file_complete(file_size)
        if uploaded is not None:
            # The digest travels on the file, so the view stores the upload without reading it again.
            uploaded.sha256 = self.digest.hexdigest()  # type: ignore[attr-defined]
        return uploaded


def _extension(filename: str) -> str:
    return Path(filename).suffix.lower()


def dataset_upload(*, dataset: Dataset, uploaded_file, user, target: str | None = None, base_model: str = ""):
    """Take an uploaded file: a JSONL becomes a version, a CSV is staged for its column mapping.

    Returns ("version", version, created) or ("csv", staging_token, None).
    """
    filename = uploaded_file.name or ""
    extension = _extension(filename)
    if extension not in ACCEPTED_EXTENSIONS:
        raise DatasetInputError(
            f"{filename or 'This file'} is not a .jsonl or .csv file; upload JSON Lines "
            "(one example per line) or a CSV to map to chat."
        )
    if uploaded_file.size == 0:
        raise DatasetInputError(f"{filename} is empty.")
    if uploaded_file.size > settings.DATASET_MAX_UPLOAD_BYTES:
        raise DatasetInputError(upload_too_large_message())
    if extension == ".csv":
        if dataset.kind != DatasetKind.CHAT:
            raise DatasetInputError("A CSV converts to chat examples; upload it to a chat dataset.")
        return "csv", csv_stage(dataset=dataset, uploaded_file=uploaded_file), None
    local_path = _local_path_of_upload(uploaded_file)
    with local_path as path:
        version, created = dataset_version_store(
            dataset=dataset,
            local_path=path,
            user=user,
            sha256=getattr(uploaded_file, "sha256", None),
            original_filename=filename,
            note=f"Uploaded {filename}",
            target=target,
            base_model=base_model,
        )
    return "version", version, created


def upload_too_large_message() -> str:
    limit_mb = settings.DATASET_MAX_UPLOAD_BYTES / (1024 * 1024)
    return f"The file is larger than the upload limit of {limit_mb:,.0f} MB."


@contextlib.contextmanager
def _local_path_of_upload(uploaded_file) -> Iterator[str]:
    if hasattr(uploaded_file, "temporary_file_path"):
        yield uploaded_file.temporary_file_path()
        return
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as copy:
        for chunk in uploaded_file.chunks():
            copy.write(chunk)
        copy.flush()
        yield copy.name
