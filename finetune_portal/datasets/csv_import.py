"""A CSV upload turned into chat examples: staged, its header shown, then converted with a column mapping.

The staged file waits in storage under a random token until the user picks the columns; a staged file
older than a day is removed the next time the dataset stages one.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import tempfile
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING

import orjson
from django.core.files.storage import default_storage
from django.utils import timezone

from finetune_portal.datasets.errors import DatasetInputError
from finetune_portal.datasets.models import Dataset, DatasetVersion
from finetune_portal.datasets.versions import dataset_version_store

STAGING_MAX_AGE = timedelta(days=1)

if TYPE_CHECKING:
    from _csv import _reader


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
def _csv_rows(dataset: Dataset, token: str) -> Iterator[_reader]:
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
    target: str | None = None,
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
