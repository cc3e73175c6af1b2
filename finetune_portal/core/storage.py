"""Folders in the default storage (adapters, checkpoints) handed to a browser as one zip file."""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import IO

from django.core.files.storage import default_storage

# An adapter is a few MB and stays in memory; a full fine-tune's checkpoint spills to a temporary file.
_IN_MEMORY_BYTES = 64 * 1024 * 1024
_COPY_CHUNK = 1024 * 1024


def storage_folder_files(prefix: str) -> list[str]:
    """Every file under ``prefix`` in the default storage, as paths relative to it, sorted."""
    found: list[str] = []
    pending = [""]
    while pending:
        relative = pending.pop()
        folder = f"{prefix}/{relative}".rstrip("/")
        try:
            folders, files = default_storage.listdir(folder)
        except FileNotFoundError:
            continue
        found += [f"{relative}{name}" for name in files]
        pending += [f"{relative}{name}/" for name in folders]
    return sorted(found)


def storage_folder_zip(prefix: str, *, root: str) -> IO[bytes] | None:
    """A zip of the folder, its entries under ``root/``, rewound; None when the folder holds nothing."""
    files = storage_folder_files(prefix)
    if not files:
        return None
    # Handed to the response, which closes it once sent.
    archive = tempfile.SpooledTemporaryFile(max_size=_IN_MEMORY_BYTES)  # noqa: SIM115
    # Weights barely compress; storing them keeps a multi-GB download from costing minutes of CPU.
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as bundle:
        for relative in files:
            with (
                default_storage.open(f"{prefix}/{relative}", "rb") as source,
                bundle.open(f"{root}/{relative}", "w", force_zip64=True) as target,
            ):
                shutil.copyfileobj(source, target, _COPY_CHUNK)
    archive.seek(0)
    return archive


def storage_folder_download(prefix: str, target: Path) -> int:
    """Copy every file under ``prefix`` into the local folder ``target``; returns how many were copied."""
    files = storage_folder_files(prefix)
    for relative in files:
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        with default_storage.open(f"{prefix}/{relative}", "rb") as source, destination.open("wb") as copy:
            shutil.copyfileobj(source, copy, _COPY_CHUNK)
    return len(files)
