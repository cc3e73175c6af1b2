"""Files uploaded through /v1/files: each becomes a version of a dataset in the token's project.

One dataset per file name (not one "API uploads" dataset): a team knows its data by file name, so uploading
a corrected ``train.jsonl`` becomes v2 of the same dataset, and the browser's version diff and lineage show
what changed. One catch-all dataset would chain unrelated data into one history, and could not hold chat
and preference files at once (a dataset has one kind). The kind is read from the file's first example.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from finetune_portal.api.models import FILE_ID_PREFIX, ApiFile
from finetune_portal.datasets.errors import DatasetInputError
from finetune_portal.datasets.lifecycle import dataset_version_archive
from finetune_portal.datasets.models import Dataset, DatasetKind, DatasetVersion
from finetune_portal.datasets.uploads import dataset_upload
from finetune_portal.datasets.versions import dataset_create, dataset_version_validate

FINE_TUNE = "fine-tune"
_SNIFF_BYTES = 1024 * 1024


def training_provider_key() -> str:
    """The provider that trains what /v1 is asked to fine-tune: the team's own GPUs."""
    return settings.API_FINE_TUNING_PROVIDER


def public_id(prefix: str) -> str:
    return f"{prefix}{secrets.token_urlsafe(18).replace('-', 'a').replace('_', 'b')}"


def _kind_of_first_example(uploaded_file) -> str:
    """Chat unless the first example is plainly a preference pair or a prompt/completion; a line that is
    not JSON is left to validation to report, as chat."""
    uploaded_file.seek(0)
    head = uploaded_file.read(_SNIFF_BYTES)
    uploaded_file.seek(0)
    for line in head.splitlines():
        if not line.strip():
            continue
        try:
            example = json.loads(line)
        except ValueError:
            return DatasetKind.CHAT
        if isinstance(example, dict) and "preferred_output" in example:
            return DatasetKind.DPO
        if isinstance(example, dict) and "prompt" in example and "completion" in example:
            return DatasetKind.COMPLETION
        return DatasetKind.CHAT
    return DatasetKind.CHAT


def _dataset_for(*, project, filename: str, kind: str, user) -> Dataset:
    name = filename[:120]
    existing = Dataset.objects.filter(project=project, name__iexact=name).first()
    if existing is not None and existing.kind != kind:
        name = f"{filename[:100]} ({kind})"
        existing = Dataset.objects.filter(project=project, name__iexact=name).first()
    if existing is not None:
        return existing
    try:
        return dataset_create(
            project=project,
            name=name,
            kind=kind,
            description="Uploaded through the API (/v1/files).",
            user=user,
        )
    except DatasetInputError:
        # The same name was created by a concurrent upload a moment ago.
        return Dataset.objects.get(project=project, name__iexact=name)


def api_file_upload(*, project, user, uploaded_file) -> ApiFile:
    """Store the upload as a dataset version (validated for the training provider) and name it a file."""
    filename = Path(uploaded_file.name or "").name
    if not filename.lower().endswith(".jsonl"):
        raise DatasetInputError(
            f"{filename or 'The file'} is not a .jsonl file; "
            "fine-tuning files are JSON Lines, one example a line."
        )
    kind = _kind_of_first_example(uploaded_file)
    dataset = _dataset_for(project=project, filename=filename, kind=kind, user=user)
    _, version, _ = dataset_upload(
        dataset=dataset, uploaded_file=uploaded_file, user=user, target=training_provider_key()
    )
    limit = settings.API_FILE_INLINE_VALIDATION_BYTES
    if not version.is_settled and version.byte_size <= limit:
        # The same service the worker runs; the worker's copy of the task then finds it settled.
        dataset_version_validate(version_id=version.pk)
        version.refresh_from_db()
    if version.archived_at is not None:
        # The same bytes again, after their file was deleted: they are in use once more.
        dataset_version_archive(version=version, user=user, archived=False)
    return ApiFile.objects.create(
        public_id=public_id(FILE_ID_PREFIX),
        project=project,
        version=version,
        filename=filename,
        purpose=FINE_TUNE,
        byte_size=version.byte_size,
        created_by=user,
    )


def api_file_delete(*, api_file: ApiFile, user) -> None:
    """Gone from /v1. The version stays in the project's history (jobs may have trained on it) but is
    archived, out of lists and launch forms, once no other live file names it."""
    ApiFile.objects.filter(pk=api_file.pk, deleted_at__isnull=True).update(deleted_at=timezone.now())
    version: DatasetVersion = api_file.version
    others = ApiFile.objects.filter(version=version, deleted_at__isnull=True).exclude(pk=api_file.pk)
    if not others.exists() and version.archived_at is None:
        dataset_version_archive(version=version, user=user)


def api_files_of(project):
    return ApiFile.objects.filter(project=project, deleted_at__isnull=True).select_related("version")


def api_file_get(project, file_id: str) -> ApiFile | None:
    return api_files_of(project).filter(public_id=file_id).first()
