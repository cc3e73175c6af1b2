"""Datasets and their versions: create a dataset, store a version, read it back, validate it.

A version is content-addressed: its file is stored under its sha256, identical bytes reuse the
existing version, and a stored file never outlives a failed save (no orphans). Validation runs in the
worker after the version is committed.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from finetune_portal.core.audit import audit_log
from finetune_portal.datasets.errors import DatasetInputError
from finetune_portal.datasets.models import Dataset, DatasetVersion, SplitRole, VersionStatus
from finetune_portal.datasets.validation import validate_file
from finetune_portal.datasets.validation.crash import internal_error_message
from finetune_portal.datasets.validation.lines import iter_lines
from finetune_portal.providers.registry import default_provider_key

logger = logging.getLogger(__name__)

_COPY_CHUNK = 1024 * 1024
PROGRESS_EVERY_SECONDS = 1.0


# --- datasets -------------------------------------------------------------------------------------


def dataset_create(*, project, name: str, kind: str, description: str = "", user) -> Dataset:
    dataset = Dataset(project=project, name=name.strip(), kind=kind, description=description, created_by=user)
    if Dataset.objects.filter(project=project, name__iexact=dataset.name).exists():
        raise DatasetInputError(f"This project already has a dataset named {dataset.name!r}.")
    try:
        dataset.full_clean()
    except ValidationError as exc:
        raise DatasetInputError(" ".join(exc.messages)) from exc
    try:
        with transaction.atomic():
            dataset.save()
    except IntegrityError as exc:
        raise DatasetInputError(f"This project already has a dataset named {name!r}.") from exc
    audit_log(actor=user, action="dataset.create", target=dataset, project=project, data={"kind": kind})
    return dataset


# --- storing versions -----------------------------------------------------------------------------


def _version_file_name(dataset: Dataset, sha256: str) -> str:
    return f"datasets/{dataset.project_id}/{dataset.pk}/{sha256}.jsonl"


def _sha256_of_file(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def dataset_version_store(
    *,
    dataset: Dataset,
    local_path: str,
    user,
    sha256: str | None = None,
    original_filename: str = "",
    note: str = "",
    parent: DatasetVersion | None = None,
    split_role: str = SplitRole.TRAIN,
    target: str | None = None,
    base_model: str = "",
) -> tuple[DatasetVersion, bool]:
    """Store a local JSONL file as the dataset's next version; reuse the version with the same bytes.

    Returns (version, created). Validation is enqueued once the new version is committed. ``target`` is
    the provider the version is checked for; none means the default one.
    """
    target = target or default_provider_key()
    sha256 = sha256 or _sha256_of_file(local_path)
    byte_size = os.path.getsize(local_path)
    if byte_size == 0:
        raise DatasetInputError("The file is empty.")
    existing = DatasetVersion.objects.filter(dataset=dataset, sha256=sha256).first()
    if existing is not None:
        return existing, False
    with open(local_path, "rb") as handle:
        stored_name = default_storage.save(_version_file_name(dataset, sha256), File(handle))
    try:
        with transaction.atomic():
            Dataset.objects.select_for_update().filter(pk=dataset.pk).first()
            existing = DatasetVersion.objects.filter(dataset=dataset, sha256=sha256).first()
            if existing is not None:  # the same bytes arrived concurrently
                default_storage.delete(stored_name)
                return existing, False
            latest = dataset.versions.aggregate(number=Max("number"))["number"] or 0
            if parent is None and latest:
                parent = dataset.versions.get(number=latest)
            version = DatasetVersion(
                dataset=dataset,
                number=latest + 1,
                sha256=sha256,
                byte_size=byte_size,
                original_filename=original_filename[:255],
                parent=parent,
                note=note[:255],
                split_role=split_role,
                uploaded_by=user,
                validation_target=target,
                validation_base_model=base_model,
            )
            version.file.name = stored_name
            version.save()
            Dataset.objects.filter(pk=dataset.pk).update(updated_at=timezone.now())
            audit_log(
                actor=user,
                action="dataset.version.create",
                target=version,
                project=dataset.project,
                data={"sha256": sha256, "bytes": byte_size, "note": version.note},
            )
            transaction.on_commit(lambda: _enqueue_validation(version.pk))
    except BaseException:
        default_storage.delete(stored_name)
        raise
    return version, True


def _enqueue_validation(version_id: int) -> None:
    """A broker that is down leaves the version "uploaded"; dataset_versions_resume_stale sends it later."""
    from finetune_portal.celery import broker_send
    from finetune_portal.datasets.tasks import dataset_version_validate_task

    broker_send(
        lambda: dataset_version_validate_task.delay(version_id), what=f"validation of version {version_id}"
    )


# --- reading a stored version ---------------------------------------------------------------------


@contextlib.contextmanager
def local_copy(version: DatasetVersion) -> Iterator[str]:
    """A local path to the version's bytes: the stored file itself, or a streamed temporary copy."""
    try:
        yield default_storage.path(version.file.name)
        return
    except NotImplementedError:
        pass
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as copy, default_storage.open(version.file.name) as src:
        for chunk in src.chunks(_COPY_CHUNK):
            copy.write(chunk)
        copy.flush()
        yield copy.name


def example_lines(path: str) -> Iterator[bytes]:
    """The non-blank lines of a local JSONL file, one example each, without line ends or a BOM."""
    for raw in iter_lines(path, 0, os.path.getsize(path)):
        line = raw.rstrip(b"\r") if isinstance(raw, bytes) else b""
        if line.strip():
            yield line.removeprefix(b"\xef\xbb\xbf")


# --- validation -----------------------------------------------------------------------------------


def dataset_version_validate(*, version_id: int) -> DatasetVersion | None:
    """Validate a version and store the verdict. Safe to run again: a settled version is left alone,
    and a version left in ``validating`` by a crashed worker is validated from the start."""
    claimed = DatasetVersion.objects.filter(
        pk=version_id, status__in=[VersionStatus.UPLOADED, VersionStatus.VALIDATING]
    ).update(
        status=VersionStatus.VALIDATING,
        validation_lines_read=0,
        validation_bytes_read=0,
        validation_errors_so_far=0,
        validation_progress_at=timezone.now(),
    )
    if not claimed:
        return None
    version = DatasetVersion.objects.select_related("dataset").get(pk=version_id)
    last_saved = 0.0

    def save_progress(lines: int, errors: int, bytes_read: int) -> None:
        nonlocal last_saved
        if time.monotonic() - last_saved < PROGRESS_EVERY_SECONDS:
            return
        last_saved = time.monotonic()
        DatasetVersion.objects.filter(pk=version_id, status=VersionStatus.VALIDATING).update(
            validation_lines_read=lines,
            validation_errors_so_far=errors,
            validation_bytes_read=bytes_read,
            validation_progress_at=timezone.now(),
        )

    if not default_storage.exists(version.file.name):
        report = _failed_report(version, "The stored file is missing; upload it again.")
    else:
        with local_copy(version) as path:
            try:
                report = validate_file(
                    path,
                    kind=version.dataset.kind,
                    target=version.validation_target or default_provider_key(),
                    base_model=version.validation_base_model or None,
                    workers=settings.DATASET_VALIDATION_WORKERS,
                    progress=save_progress,
                )
            except DatabaseError:
                raise  # the task retries these
            except Exception as exc:
                # A fault of the validator: settle the version rather than leave it to be retried forever.
                logger.exception("Internal error while validating dataset version %s", version_id)
                line, message = internal_error_message(exc)
                report = _failed_report(version, message, line)
    DatasetVersion.objects.filter(pk=version_id, status=VersionStatus.VALIDATING).update(
        status=VersionStatus.VALID if report["valid"] else VersionStatus.INVALID,
        validation_report=report,
        example_count=report["examples"],
        validation_lines_read=report["stats"].get("lines", 0),
        validation_bytes_read=version.byte_size,
        validation_errors_so_far=report["error_count"],
        validation_progress_at=timezone.now(),
        validated_at=timezone.now(),
    )
    version.refresh_from_db()
    return version


def _failed_report(version: DatasetVersion, message: str, line: int | None = None) -> dict:
    """The report of a version that could not be validated at all."""
    return {
        "valid": False,
        "kind": version.dataset.kind,
        "examples": 0,
        "errors": [{"line": line, "message": message}],
        "error_count": 1,
        "warnings": [],
        "stats": {"examples": 0, "total_tokens": 0},
    }


def dataset_versions_resume_stale(*, older_than: timedelta = timedelta(minutes=10)) -> list[int]:
    """Re-enqueue versions whose validation was lost (never picked up, or its worker died)."""
    cutoff = timezone.now() - older_than
    stale = list(
        DatasetVersion.objects.filter(status=VersionStatus.UPLOADED, created_at__lt=cutoff).values_list(
            "pk", flat=True
        )
    ) + list(
        DatasetVersion.objects.filter(
            status=VersionStatus.VALIDATING, validation_progress_at__lt=cutoff
        ).values_list("pk", flat=True)
    )
    for version_id in stale:
        _enqueue_validation(version_id)
    return stale
