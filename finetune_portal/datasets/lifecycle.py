"""Archiving and deleting datasets and their versions.

Archived ones leave lists and launch forms but stay reachable by their address. A version a job trained
or validated on is never deleted (the job's lineage points at its bytes); deleting removes the stored
file only once the rows are gone for good, after the commit.
"""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from finetune_portal.core.audit import audit_log
from finetune_portal.datasets.errors import DatasetInputError
from finetune_portal.datasets.models import Dataset, DatasetVersion


def dataset_archive(*, dataset: Dataset, user, archived: bool = True) -> Dataset:
    Dataset.objects.filter(pk=dataset.pk).update(archived_at=timezone.now() if archived else None)
    dataset.refresh_from_db(fields=["archived_at"])
    action = "dataset.archive" if archived else "dataset.unarchive"
    audit_log(actor=user, action=action, target=dataset, project=dataset.project)
    return dataset


def dataset_version_archive(*, version: DatasetVersion, user, archived: bool = True) -> DatasetVersion:
    DatasetVersion.objects.filter(pk=version.pk).update(archived_at=timezone.now() if archived else None)
    version.refresh_from_db(fields=["archived_at"])
    action = "dataset.version.archive" if archived else "dataset.version.unarchive"
    audit_log(actor=user, action=action, target=version, project=version.dataset.project)
    return version


def _jobs_of(versions) -> list[str]:
    """The names of the jobs that used any of these versions (the reason they are kept)."""
    names = []
    for version in versions:
        for job in [*version.training_jobs.all(), *version.validation_jobs.all()]:
            label = f"job #{job.pk}" + (f" {job.name!r}" if job.name else "")
            names.append(f"{label} used v{version.number}")
    return names


def version_deletion_blocker(version: DatasetVersion) -> str | None:
    """Why this version cannot be deleted, or None."""
    used = _jobs_of([version])
    if not used:
        return None
    return f"v{version.number} is kept: {'; '.join(used[:3])}{' and more' if len(used) > 3 else ''}."


def dataset_deletion_blocker(dataset: Dataset) -> str | None:
    used = _jobs_of(dataset.versions.prefetch_related("training_jobs", "validation_jobs"))
    if not used:
        return None
    more = " and more" if len(used) > 3 else ""
    return f"{dataset.name} is kept because jobs used it: {'; '.join(used[:3])}{more}. Archive it instead."


def _delete_files_after_commit(names: list[str]) -> None:
    def delete() -> None:
        for name in names:
            default_storage.delete(name)

    transaction.on_commit(delete)


def dataset_version_delete(*, version: DatasetVersion, user) -> None:
    try:
        _version_delete(version, user)
    except (ProtectedError, IntegrityError) as exc:  # a job took it up meanwhile
        raise DatasetInputError(f"v{version.number} is kept: a job now uses it.") from exc


def _version_delete(version: DatasetVersion, user) -> None:
    with transaction.atomic():
        locked = DatasetVersion.objects.select_for_update().filter(pk=version.pk).first()
        if locked is None:
            return  # deleted by a request that came first
        blocker = version_deletion_blocker(locked)
        if blocker:
            raise DatasetInputError(blocker)
        dataset = version.dataset
        audit_log(
            actor=user,
            action="dataset.version.delete",
            target=locked,
            project=dataset.project,
            data={"number": locked.number, "sha256": locked.sha256},
        )
        locked.delete()
        _delete_files_after_commit([locked.file.name])


def dataset_delete(*, dataset: Dataset, user) -> None:
    try:
        _dataset_delete(dataset, user)
    except (ProtectedError, IntegrityError) as exc:
        raise DatasetInputError(f"{dataset.name} is kept: a job now uses one of its versions.") from exc


def _dataset_delete(dataset: Dataset, user) -> None:
    with transaction.atomic():
        locked = Dataset.objects.select_for_update().filter(pk=dataset.pk).first()
        if locked is None:
            return
        blocker = dataset_deletion_blocker(locked)
        if blocker:
            raise DatasetInputError(blocker)
        files = list(locked.versions.values_list("file", flat=True))
        audit_log(
            actor=user,
            action="dataset.delete",
            target=locked,
            project=locked.project,
            data={"name": locked.name, "versions": len(files)},
        )
        locked.delete()
        _delete_files_after_commit(files)
