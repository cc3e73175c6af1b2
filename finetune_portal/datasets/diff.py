"""What changed between two versions of a dataset: the examples added, removed and changed, paged.

Two examples are the same example when their prompts match (everything before the final assistant reply)
and changed when the rest differs. Matching streams both files: each example becomes a fixed-size
record (prompt digest, content digest, line) written to one of several partition files by its prompt
digest, and each partition pair is matched in memory on its own. Memory is bounded by one partition
(sized from the files) plus a bit per line for "added"/"removed" and 8 bytes per changed example (more
while they are put in order once); the result is cached by the two files' hashes, so paging does not
match again.
"""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice

import orjson
from django.core.cache import cache

from finetune_portal.datasets.models import DatasetVersion
from finetune_portal.datasets.selectors import PreviewExample, errors_by_line

DIFF_PAGE_SIZE = 10
SECTIONS = ("changed", "added", "removed")
# Source bytes per partition: a partition's records and its dictionary stay a few megabytes.
_PARTITION_SOURCE_BYTES = 16 * 1024 * 1024
_MAX_PARTITIONS = 128
_RECORD = struct.Struct("<12s12sI")
_CACHE_SECONDS = 3600


def _digests(example) -> tuple[bytes, bytes]:
    """What makes two examples "the same example" (the prompt) and what makes them equal (everything)."""
    content = orjson.dumps(example, option=orjson.OPT_SORT_KEYS)
    key = content
    if isinstance(example, dict):
        if isinstance(example.get("messages"), list) and example["messages"]:
            messages = example["messages"]
            last = len(messages) - 1
            while last > 0 and isinstance(messages[last], dict) and messages[last].get("role") == "assistant":
                last -= 1
            key = orjson.dumps(messages[: last + 1], option=orjson.OPT_SORT_KEYS)
        elif "prompt" in example:
            key = orjson.dumps(example.get("prompt"), option=orjson.OPT_SORT_KEYS)
        elif "instruction" in example:
            key = orjson.dumps(
                [example.get("instruction"), example.get("input")], option=orjson.OPT_SORT_KEYS
            )
        elif "input" in example:
            key = orjson.dumps(example.get("input"), option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(key, digest_size=12).digest(), hashlib.blake2b(content, digest_size=12).digest()


def _numbered_examples(path: str):
    """(line number, line) of each non-blank line, without line ends or a BOM."""
    from finetune_portal.datasets.validation.lines import iter_lines

    line_no = 0
    for raw in iter_lines(path, 0, os.path.getsize(path)):
        line_no += 1
        if not isinstance(raw, bytes):
            continue
        line = raw.rstrip(b"\r").removeprefix(b"\xef\xbb\xbf")
        if line.strip():
            yield line_no, line


def _partition(path: str, folder: str, side: str, partitions: int) -> int:
    """Write each example's record to its partition file; returns the file's line count."""
    handles = [open(os.path.join(folder, f"{side}-{n}"), "wb") for n in range(partitions)]  # noqa: SIM115
    lines = 0
    try:
        for line_no, line in _numbered_examples(path):
            lines = line_no
            try:
                example = orjson.loads(line)
            except orjson.JSONDecodeError:
                example = line.decode("utf-8", errors="replace")
            key, content = _digests(example)
            handles[key[0] % partitions].write(_RECORD.pack(key, content, line_no))
    finally:
        for handle in handles:
            handle.close()
    return lines


def _records(path: str):
    with open(path, "rb") as handle:
        data = handle.read()
    return _RECORD.iter_unpack(data)


@dataclass
class DiffIndex:
    """Which lines differ; bitmaps are indexed by line number in the old or new file."""

    added: int
    removed: int
    changed: int
    unchanged: int
    added_lines: bytearray
    removed_lines: bytearray
    changed_pairs: array  # new line << 32 | old line, in new-file order

    def lines_of(self, section: str) -> Iterator[int]:
        """The lines of "added" (new file) or "removed" (old file), in file order."""
        bitmap = self.added_lines if section == "added" else self.removed_lines
        for i, byte in enumerate(bitmap):
            if byte:
                yield from (i * 8 + bit for bit in range(8) if byte >> bit & 1)


def _set(bitmap: bytearray, line: int) -> None:
    bitmap[line >> 3] |= 1 << (line & 7)


def diff_index(old: DatasetVersion, new: DatasetVersion) -> DiffIndex:
    """The matching of two versions' examples, computed once per pair of files and cached."""
    cache_key = f"datasets:diff:{old.sha256}:{new.sha256}"
    cached = cache.get(cache_key)
    if isinstance(cached, DiffIndex):
        return cached
    index = _match(old, new)
    cache.set(cache_key, index, _CACHE_SECONDS)
    return index


def _match(old: DatasetVersion, new: DatasetVersion) -> DiffIndex:
    from finetune_portal.datasets.versions import local_copy

    biggest = max(old.byte_size, new.byte_size)
    partitions = max(1, min(_MAX_PARTITIONS, -(-biggest // _PARTITION_SOURCE_BYTES)))
    with tempfile.TemporaryDirectory() as folder:
        with local_copy(old) as old_path:
            old_lines = _partition(old_path, folder, "old", partitions)
        with local_copy(new) as new_path:
            new_lines = _partition(new_path, folder, "new", partitions)
        added_lines = bytearray(new_lines // 8 + 1)
        removed_lines = bytearray(old_lines // 8 + 1)
        changed = array("Q")
        added = removed = unchanged = 0
        for n in range(partitions):
            before: dict[bytes, list[tuple[bytes, int]]] = {}
            for key, content, line in _records(os.path.join(folder, f"old-{n}")):
                before.setdefault(key, []).append((content, line))
            for key, content, line in _records(os.path.join(folder, f"new-{n}")):
                candidates = before.get(key)
                if not candidates:
                    added += 1
                    _set(added_lines, line)
                    continue
                same = next((i for i, (c, _) in enumerate(candidates) if c == content), None)
                if same is not None:
                    candidates.pop(same)
                    unchanged += 1
                else:
                    _, old_line = candidates.pop(0)
                    changed.append(line << 32 | old_line)
            for leftovers in before.values():
                for _, line in leftovers:
                    removed += 1
                    _set(removed_lines, line)
    return DiffIndex(
        added=added,
        removed=removed,
        changed=len(changed),
        unchanged=unchanged,
        added_lines=added_lines,
        removed_lines=removed_lines,
        changed_pairs=array("Q", sorted(changed)),
    )


def _examples_at(version: DatasetVersion, lines: set[int]) -> dict[int, PreviewExample]:
    """The examples on the given lines of a version, read as a stream."""
    from finetune_portal.datasets.versions import local_copy

    found: dict[int, PreviewExample] = {}
    if not lines:
        return found
    last = max(lines)
    bad = errors_by_line(version.validation_report or {})
    with local_copy(version) as path:
        for line_no, line in _numbered_examples(path):
            if line_no > last:
                break
            if line_no in lines:
                text = line.decode("utf-8", errors="replace")
                try:
                    data = orjson.loads(line)
                except orjson.JSONDecodeError:
                    data = None
                found[line_no] = PreviewExample(line_no, data, text[:2000], bad.get(line_no, []))
    return found


@dataclass
class DiffPage:
    section: str
    page: int
    pages: int
    # (old example, new example): None on the side an added or removed example lacks.
    rows: list[tuple[PreviewExample | None, PreviewExample | None]]

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def diff_page(
    old: DatasetVersion, new: DatasetVersion, index: DiffIndex, *, section: str, page: int
) -> DiffPage:
    """One page of the changed (side by side), added or removed examples."""
    total = {"changed": index.changed, "added": index.added, "removed": index.removed}[section]
    pages = max(1, -(-total // DIFF_PAGE_SIZE))
    page = min(max(1, page), pages)
    start = (page - 1) * DIFF_PAGE_SIZE
    rows: list[tuple[PreviewExample | None, PreviewExample | None]] = []
    if section == "changed":
        pairs = index.changed_pairs[start : start + DIFF_PAGE_SIZE]
        new_lines, old_lines = [p >> 32 for p in pairs], [p & 0xFFFFFFFF for p in pairs]
        before, after = _examples_at(old, set(old_lines)), _examples_at(new, set(new_lines))
        rows = [(before.get(o), after.get(n)) for n, o in zip(new_lines, old_lines, strict=True)]
    else:
        lines = list(islice(index.lines_of(section), start, start + DIFF_PAGE_SIZE))
        version = new if section == "added" else old
        examples = _examples_at(version, set(lines))
        if section == "added":
            rows = [(None, examples.get(n)) for n in lines]
        else:
            rows = [(examples.get(n), None) for n in lines]
    return DiffPage(section=section, page=page, pages=pages, rows=rows)


def default_pair(version: DatasetVersion) -> DatasetVersion | None:
    """What a version is compared with by default: its parent in the same dataset, else the version
    numbered just before it; None for a first version."""
    parent = version.parent
    if parent is not None and parent.dataset_id == version.dataset_id:
        return parent
    return (
        DatasetVersion.objects.filter(dataset_id=version.dataset_id, number__lt=version.number)
        .order_by("-number")
        .first()
    )
