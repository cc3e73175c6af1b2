"""Writes for datasets: create, upload, convert, split and validate versions.

A version is content-addressed: its file is stored under its sha256, identical bytes reuse the
existing version, and a stored file never outlives a failed save (no orphans). Validation runs in the
worker after the version is committed.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import logging
import os
import random
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import orjson
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from finetune_portal.core.audit import audit_log
from finetune_portal.datasets.models import Dataset, DatasetKind, DatasetVersion, SplitRole, VersionStatus
from finetune_portal.datasets.validation import validate_file
from finetune_portal.datasets.validation.engine import iter_lines
from finetune_portal.datasets.validation.kinds import CHECKERS

logger = logging.getLogger(__name__)

ACCEPTED_EXTENSIONS = (".jsonl", ".csv")
_COPY_CHUNK = 1024 * 1024
STAGING_MAX_AGE = timedelta(days=1)
PROGRESS_EVERY_SECONDS = 1.0


class DatasetInputError(Exception):
    """Bad input from the user, with a message that says what to do about it."""


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
    target: str = "openai",
    base_model: str = "",
) -> tuple[DatasetVersion, bool]:
    """Store a local JSONL file as the dataset's next version; reuse the version with the same bytes.

    Returns (version, created). Validation is enqueued once the new version is committed.
    """
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


def _extension(filename: str) -> str:
    return Path(filename).suffix.lower()


def dataset_upload(*, dataset: Dataset, uploaded_file, user, target: str = "openai", base_model: str = ""):
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
        raise DatasetInputError(_too_large_message())
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


def _too_large_message() -> str:
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


# --- CSV with a column mapping --------------------------------------------------------------------


def _staging_name(dataset: Dataset, token: str) -> str:
    return f"datasets/staging/{dataset.project_id}/{dataset.pk}/{token}.csv"


def csv_stage(*, dataset: Dataset, uploaded_file) -> str:
    _remove_stale_staging(dataset)
    token = uuid.uuid4().hex
    name = default_storage.save(_staging_name(dataset, token), uploaded_file)
    try:
        csv_header(dataset=dataset, token=token)
    except BaseException:
        default_storage.delete(name)
        raise
    return token


def _remove_stale_staging(dataset: Dataset) -> None:
    folder = f"datasets/staging/{dataset.project_id}/{dataset.pk}"
    try:
        _, files = default_storage.listdir(folder)
    except FileNotFoundError:
        return
    cutoff = timezone.now() - STAGING_MAX_AGE
    for filename in files:
        with contextlib.suppress(OSError, NotImplementedError):
            if default_storage.get_modified_time(f"{folder}/{filename}") < cutoff:
                default_storage.delete(f"{folder}/{filename}")


@contextlib.contextmanager
def _csv_rows(dataset: Dataset, token: str) -> Iterator[Iterator[list[str]]]:
    name = _staging_name(dataset, token)
    if len(token) != 32 or not token.isalnum() or not default_storage.exists(name):
        raise DatasetInputError("That CSV upload is gone; upload the file again.")
    with default_storage.open(name, "rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        yield csv.reader(text)


def _csv_problem(exc: Exception, line: int) -> DatasetInputError:
    if isinstance(exc, UnicodeDecodeError):
        return DatasetInputError(f"The CSV is not UTF-8 text (near line {line}); save it as UTF-8 CSV.")
    return DatasetInputError(f"The CSV is malformed at line {line}: {exc}.")


def csv_header(*, dataset: Dataset, token: str, sample_rows: int = 3) -> tuple[list[str], list[list[str]]]:
    """The CSV's column names and a few rows to help choose the mapping."""
    with _csv_rows(dataset, token) as rows:
        try:
            header = next(rows, None)
            if not header or not any(cell.strip() for cell in header):
                raise DatasetInputError("The CSV has no header row naming its columns.")
            if len(set(header)) != len(header):
                raise DatasetInputError("The CSV header names a column twice; column names must be unique.")
            sample = [row for _, row in zip(range(sample_rows), rows, strict=False)]
        except (csv.Error, UnicodeDecodeError) as exc:
            raise _csv_problem(exc, 1) from exc
    return header, sample


def csv_convert(
    *,
    dataset: Dataset,
    token: str,
    prompt_column: str,
    answer_column: str,
    system_prompt: str = "",
    user,
    original_filename: str = "",
    target: str = "openai",
    base_model: str = "",
) -> tuple[DatasetVersion, bool]:
    """Stream the staged CSV into chat JSONL (one example per row) and store it as a version."""
    header, _ = csv_header(dataset=dataset, token=token)
    for column in (prompt_column, answer_column):
        if column not in header:
            raise DatasetInputError(f"The CSV has no column {column!r}; its columns are {', '.join(header)}.")
    if prompt_column == answer_column:
        raise DatasetInputError("The prompt and the answer must come from two different columns.")
    prompt_at, answer_at = header.index(prompt_column), header.index(answer_column)
    system = [{"role": "system", "content": system_prompt.strip()}] if system_prompt.strip() else []
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as out, _csv_rows(dataset, token) as rows:
        digest = hashlib.sha256()
        next(rows)
        line = 1
        try:
            for row in rows:
                line = rows.line_num
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) != len(header):
                    raise DatasetInputError(
                        f"The CSV is malformed at line {line}: {len(row)} field(s) where the header has "
                        f"{len(header)}."
                    )
                messages = [
                    *system,
                    {"role": "user", "content": row[prompt_at]},
                    {"role": "assistant", "content": row[answer_at]},
                ]
                encoded = orjson.dumps({"messages": messages}) + b"\n"
                digest.update(encoded)
                out.write(encoded)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise _csv_problem(exc, line + 1) from exc
        out.flush()
        if out.tell() == 0:
            raise DatasetInputError("The CSV has a header but no rows.")
        result = dataset_version_store(
            dataset=dataset,
            local_path=out.name,
            user=user,
            sha256=digest.hexdigest(),
            original_filename=original_filename,
            note=f"From CSV {original_filename}: user={prompt_column}, assistant={answer_column}"[:255],
            target=target,
            base_model=base_model,
        )
    default_storage.delete(_staging_name(dataset, token))
    return result


# --- derived versions -----------------------------------------------------------------------------


def _require_valid(version: DatasetVersion, action: str) -> None:
    if version.status != VersionStatus.VALID:
        raise DatasetInputError(
            f"Only a valid version can be {action}; v{version.number} is {version.status}."
        )


def _example_lines(path: str) -> Iterator[bytes]:
    for raw in iter_lines(path, 0, os.path.getsize(path)):
        line = raw.rstrip(b"\r") if isinstance(raw, bytes) else b""
        if line.strip():
            yield line.removeprefix(b"\xef\xbb\xbf")


def dataset_version_split(
    *, version: DatasetVersion, validation_fraction: float, seed: int, user
) -> tuple[DatasetVersion, DatasetVersion]:
    """Two new versions, training and validation; stratified by label when the answers are labels."""
    _require_valid(version, "split")
    if not 0 < validation_fraction < 1:
        raise DatasetInputError("The validation share must be between 0 and 100 percent, exclusive.")
    check = CHECKERS[version.dataset.kind]
    with local_copy(version) as path:
        # One byte per example: the index of its label (0 when there are no labels).
        label_ids: dict[str | None, int] = {}
        example_labels = bytearray()
        for line in _example_lines(path):
            label = check(orjson.loads(line)).label
            if label not in label_ids and len(label_ids) < 250:
                label_ids[label] = len(label_ids)
            example_labels.append(label_ids.get(label, 255))
        stratify = (version.validation_report.get("stats") or {}).get("label_distribution") is not None
        if not stratify:
            example_labels = bytearray(len(example_labels))
        groups: dict[int, list[int]] = {}
        for index, label_id in enumerate(example_labels):
            groups.setdefault(label_id, []).append(index)
        rng = random.Random(seed)  # noqa: S311 - a reproducible split, not a secret
        in_validation = bytearray(len(example_labels))
        for members in groups.values():
            rng.shuffle(members)
            for index in members[: round(len(members) * validation_fraction)]:
                in_validation[index] = 1
        if not any(in_validation) or all(in_validation):
            raise DatasetInputError("Too few examples to split with that share; both parts need examples.")
        percent = round(validation_fraction * 100)
        with (
            tempfile.NamedTemporaryFile(suffix=".jsonl") as train,
            tempfile.NamedTemporaryFile(suffix=".jsonl") as validation,
        ):
            for index, line in enumerate(_example_lines(path)):
                (validation if in_validation[index] else train).write(line + b"\n")
            train.flush()
            validation.flush()
            how = f"seed {seed}" + (", stratified by label" if stratify else "")
            common = {
                "dataset": version.dataset,
                "user": user,
                "parent": version,
                "target": version.validation_target,
                "base_model": version.validation_base_model,
            }
            train_version, train_created = dataset_version_store(
                local_path=train.name,
                note=f"Training split ({100 - percent}%) of v{version.number}, {how}",
                split_role=SplitRole.TRAIN,
                **common,
            )
            try:
                validation_version, _ = dataset_version_store(
                    local_path=validation.name,
                    note=f"Validation split ({percent}%) of v{version.number}, {how}",
                    split_role=SplitRole.VALIDATION,
                    **common,
                )
            except BaseException:
                # Half a split is no split: take the training part back out.
                if train_created:
                    default_storage.delete(train_version.file.name)
                    train_version.delete()
                raise
    return train_version, validation_version


def _as_chat(example: dict, kind: str) -> dict:
    if kind == DatasetKind.COMPLETION:
        return {
            "messages": [
                {"role": "user", "content": example["prompt"]},
                {"role": "assistant", "content": example["completion"]},
            ]
        }
    messages = [{"role": "system", "content": example["system"]}] if example.get("system") else []
    prompt = example["instruction"]
    if example.get("input"):
        prompt = f"{prompt}\n\n{example['input']}"
    messages += [{"role": "user", "content": prompt}, {"role": "assistant", "content": example["output"]}]
    return {"messages": messages}


def dataset_version_convert_to_chat(*, version: DatasetVersion, user) -> DatasetVersion:
    """Convert an Alpaca or prompt/completion version into a version of the sibling chat dataset."""
    source = version.dataset
    if source.kind not in (DatasetKind.ALPACA, DatasetKind.COMPLETION):
        raise DatasetInputError("Only Alpaca and prompt/completion versions convert to chat.")
    _require_valid(version, "converted")
    name = f"{source.name} (chat)"[:120]
    target_dataset = Dataset.objects.filter(project=source.project, name=name).first()
    if target_dataset is None:
        target_dataset = dataset_create(
            project=source.project,
            name=name,
            kind=DatasetKind.CHAT,
            description=f"Chat conversion of {source.name}.",
            user=user,
        )
    elif target_dataset.kind != DatasetKind.CHAT:
        raise DatasetInputError(
            f"A dataset named {name!r} exists and is not a chat dataset; rename it first."
        )
    with local_copy(version) as path, tempfile.NamedTemporaryFile(suffix=".jsonl") as out:
        for line in _example_lines(path):
            out.write(orjson.dumps(_as_chat(orjson.loads(line), source.kind)) + b"\n")
        out.flush()
        converted, _ = dataset_version_store(
            dataset=target_dataset,
            local_path=out.name,
            user=user,
            parent=version,
            note=f"Converted to chat from {source.name} v{version.number}",
            split_role=version.split_role,
            target=version.validation_target,
            base_model=version.validation_base_model,
        )
    return converted


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
        report = {
            "valid": False,
            "kind": version.dataset.kind,
            "examples": 0,
            "errors": [{"line": None, "message": "The stored file is missing; upload it again."}],
            "error_count": 1,
            "warnings": [],
            "stats": {"examples": 0, "total_tokens": 0},
        }
    else:
        with local_copy(version) as path:
            report = validate_file(
                path,
                kind=version.dataset.kind,
                target=version.validation_target or "openai",
                base_model=version.validation_base_model or None,
                workers=settings.DATASET_VALIDATION_WORKERS,
                progress=save_progress,
            )
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
