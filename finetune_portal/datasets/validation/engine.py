"""Streaming validation of a JSONL dataset file in constant memory.

The file is cut into byte ranges that start at line starts. Each range is scanned on its own (in worker
processes when ``workers > 1``): lines are parsed with orjson, checked against the rules of the
dataset kind, and their texts are tokenized in batches. The per-range results are merged in file order,
so line numbers, the first errors and the progress reports are the same however many workers ran.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from array import array
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context

import orjson

from finetune_portal.datasets.tokenizers import TokenCounter, TokenizerSpec
from finetune_portal.datasets.validation.crash import ValidationCrash
from finetune_portal.datasets.validation.kinds import CHECKERS, kind_mismatch

logger = logging.getLogger(__name__)

MAX_ERRORS_IN_FULL = 100
MAX_LINE_BYTES = 64 * 1024 * 1024
DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024
MAX_LABELS = 50
# The lines over the token limit a report names (the count covers all of them).
MAX_LINES_LISTED = 20
_READ_BLOCK = 1024 * 1024
_TOKEN_BATCH = 4096
BOM = b"\xef\xbb\xbf"
_BINARY_SIGNATURES = {
    b"\x1f\x8b": "a gzip archive",
    b"PK\x03\x04": "a zip archive",
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"\xff\xfe": "UTF-16 text",
    b"\xfe\xff": "UTF-16 text",
    b"PAR1": "a Parquet file",
}
# What iter_lines yields in place of a line over MAX_LINE_BYTES.
TOO_LONG = object()
# Bytes a text file is made of: tab, line ends and everything from space up, but DEL.
_TEXT_BYTES = bytes([9, 10, 13, *range(32, 127), *range(128, 256)])

# Called after each range with (lines read, errors so far, bytes read).
Progress = Callable[[int, int, int], None]


@dataclass
class RangeResult:
    """What one byte range of the file contributed; line numbers are relative to the range."""

    byte_size: int = 0
    lines: int = 0
    examples: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    error_count: int = 0
    has_content: bool = False
    trailing_blanks: int = 0
    trailing_blank_lines: list[int] = field(default_factory=list)
    token_hist: Counter = field(default_factory=Counter)
    answer_tokens: int = 0
    messages_hist: Counter = field(default_factory=Counter)
    over_limit: int = 0
    over_limit_lines: list[int] = field(default_factory=list)
    missing_system: int = 0
    first_missing_system: int | None = None
    labels: Counter = field(default_factory=Counter)
    labels_possible: bool = True
    images: int = 0
    flags: Counter = field(default_factory=Counter)
    first_flag_line: dict[str, int] = field(default_factory=dict)
    # The 8-byte hash of each valid example's line, and its line number.
    digests: bytearray = field(default_factory=bytearray)
    digest_lines: array = field(default_factory=lambda: array("I"))


@dataclass(frozen=True)
class RangeJob:
    path: str
    start: int
    end: int
    kind: str
    tokenizer: TokenizerSpec
    token_limit: int | None
    bom_allowed_check: bool  # True for the range that starts the file


_counters: dict[TokenizerSpec, TokenCounter] = {}


def _counter_for(spec: TokenizerSpec) -> TokenCounter:
    counter = _counters.get(spec)
    if counter is None:
        counter = _counters[spec] = TokenCounter(spec)
    return counter


def iter_lines(path: str, start: int, end: int) -> Iterator[bytes | object]:
    """The lines of a byte range without their newline; a line over MAX_LINE_BYTES yields TOO_LONG."""
    with open(path, "rb") as handle:
        handle.seek(start)
        remaining = end - start
        partial: list[bytes] = []
        partial_size = 0
        too_long = False
        while remaining > 0:
            block = handle.read(min(_READ_BLOCK, remaining))
            if not block:
                break
            remaining -= len(block)
            pieces = block.split(b"\n")
            if len(pieces) == 1:
                if not too_long:
                    partial.append(block)
                    partial_size += len(block)
                    if partial_size > MAX_LINE_BYTES:
                        too_long, partial, partial_size = True, [], 0
                continue
            if too_long:
                yield TOO_LONG
                too_long = False
            elif partial:
                partial.append(pieces[0])
                yield b"".join(partial)
            else:
                yield pieces[0]
            partial, partial_size = [], 0
            last = pieces.pop()
            yield from pieces[1:]
            if last:
                partial, partial_size = [last], len(last)
        if too_long:
            yield TOO_LONG
        elif partial:
            yield b"".join(partial)


def json_problem(line: bytes, exc: orjson.JSONDecodeError) -> str:
    """Why a line does not parse, in the words of someone fixing the file (only lines that fail)."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as bad:
        return f"Invalid UTF-8 at byte {bad.start + 1} of this line; save the file as UTF-8."
    reason = exc.msg.lower()
    if "\x00" in text:
        return f"A NUL byte at column {text.index(chr(0)) + 1}; a JSONL line holds text only."
    if "trailing comma" in reason:
        return f"A trailing comma at column {exc.colno}; JSON allows no comma before a closing }} or ]."
    if "after document" in reason or "trailing" in reason:
        if text[exc.pos :].strip() == ",":
            return "A comma after the example; a JSONL line holds one object and nothing after it."
        return "More than one JSON value on this line; each line must hold exactly one example."
    return f"Not valid JSON ({exc.msg} at column {exc.colno})."


def _written_keys(text: bytes) -> int:
    """Keys in JSON text, written ``"key":`` or ``"key" :``: inside a string a quote is escaped, so a
    ``\\":`` there is no key."""
    return text.count(b'":') + text.count(b'" :') - text.count(b'\\":')


def _parsed_keys(value) -> int:
    """How many keys the parsed objects hold, nested ones included."""
    if type(value) is dict:
        keys = len(value)
        for item in value.values():
            if type(item) is dict or type(item) is list:
                keys += _parsed_keys(item)
        return keys
    keys = 0
    for item in value:
        if type(item) is dict or type(item) is list:
            keys += _parsed_keys(item)
    return keys


def _keys_two_levels(example: dict) -> int:
    """The keys of an object and of the objects its values hold (or list), fewer than or as many as all
    of its keys: enough to clear the usual example (messages, or content parts) without a full walk."""
    keys = len(example)
    for value in example.values():
        if type(value) is list:
            for item in value:
                if type(item) is dict:
                    keys += len(item)
        elif type(value) is dict:
            keys += len(value)
    return keys


def _may_repeat_a_key(line: bytes, example) -> bool:
    """A cheap screen for a key written twice in one object (orjson silently keeps the last one).

    Each written key is followed by a colon, so a line with no more colons than the parsed objects have
    keys dropped none (one C-speed count). Otherwise colons in texts are told from keys by counting
    ``"key":``; only a line that fails both is parsed again, slowly, to name the key.
    """
    if type(example) is not dict and type(example) is not list:
        return False
    colons = line.count(b":")
    if type(example) is dict and colons == _keys_two_levels(example):
        return False
    try:
        keys = _parsed_keys(example)
    except RecursionError:  # nested deeper than this stack allows: leave it to the exact check
        return True
    return colons != keys and _written_keys(line) != keys


def repeated_key(line: bytes) -> str | None:
    """The error for a line whose object repeats a key, or None (the exact check, with the stdlib parser)."""
    repeated: list[str] = []

    def pairs(items: list[tuple[str, object]]) -> dict:
        seen = set()
        for key, _ in items:
            if key in seen and not repeated:
                repeated.append(key)
            seen.add(key)
        return dict(items)

    try:
        json.loads(line, object_pairs_hook=pairs)
    except (ValueError, RecursionError):  # orjson took it: a corner of the stdlib parser; no verdict
        return None
    if not repeated:
        return None
    return (
        f"The key {repeated[0]!r} appears twice in one object; JSON keeps only the last value, "
        "so the first would be lost silently."
    )


def scan_range(job: RangeJob) -> RangeResult:
    """Check and measure one byte range; an unexpected exception becomes a ``ValidationCrash``."""
    result = RangeResult()
    counter = _counter_for(job.tokenizer)
    check = CHECKERS[job.kind]
    errors = result.errors
    limit = job.token_limit
    loads = orjson.loads
    blake2b = hashlib.blake2b
    digests, digest_lines = result.digests, result.digest_lines
    pending_blanks: list[int] = []
    pending_blank_count = 0
    texts: list[str] = []
    measured: list[tuple] = []

    def error(line_no: int, message: str) -> None:
        result.error_count += 1
        if len(errors) < MAX_ERRORS_IN_FULL:
            errors.append((line_no, message))

    def flush() -> None:
        try:
            counts = counter.count_many(texts)
        except Exception as exc:
            raise ValidationCrash.of(exc, measured[0][0], measured[-1][0]) from exc
        position = 0
        hist = result.token_hist
        for line_no, n_texts, n_answers, fixed, messages, has_system, label, flags in measured:
            answer_end = position + n_texts + n_answers
            answer_tokens = sum(counts[position + n_texts : answer_end])
            tokens = fixed + sum(counts[position : position + n_texts]) + answer_tokens
            position = answer_end
            hist[tokens] += 1
            result.answer_tokens += answer_tokens
            if messages is not None:
                result.messages_hist[messages] += 1
            if limit is not None and tokens > limit:
                result.over_limit += 1
                if len(result.over_limit_lines) < MAX_LINES_LISTED:
                    result.over_limit_lines.append(line_no)
            if not has_system:
                result.missing_system += 1
                if result.first_missing_system is None:
                    result.first_missing_system = line_no
            if result.labels_possible:
                if label is None or (label not in result.labels and len(result.labels) >= MAX_LABELS):
                    result.labels_possible = False
                    result.labels.clear()
                else:
                    result.labels[label] += 1
            for flag in flags:
                result.flags[flag] += 1
                result.first_flag_line.setdefault(flag, line_no)
        texts.clear()
        measured.clear()

    line_no = 0
    try:
        for raw in iter_lines(job.path, job.start, job.end):
            line_no += 1
            if raw is TOO_LONG:
                result.has_content = True
                result.examples += 1
                error(line_no, f"This line is longer than {MAX_LINE_BYTES // (1024 * 1024)} MB.")
                continue
            line = raw[:-1] if raw.endswith(b"\r") else raw
            if line_no == 1 and job.bom_allowed_check and line.startswith(BOM):
                error(1, "The file starts with a byte order mark (BOM); save it as UTF-8 without BOM.")
                line = line[3:]
            if not line or line.isspace():
                pending_blank_count += 1
                if len(pending_blanks) < MAX_ERRORS_IN_FULL:
                    pending_blanks.append(line_no)
                continue
            if pending_blank_count:
                for blank in pending_blanks:
                    error(blank, "Blank line; only the end of the file may have blank lines.")
                result.error_count += pending_blank_count - len(pending_blanks)
                pending_blanks, pending_blank_count = [], 0
            result.has_content = True
            result.examples += 1
            try:
                example = loads(line)
            except orjson.JSONDecodeError as exc:
                error(line_no, json_problem(line, exc))
                continue
            if _may_repeat_a_key(line, example):
                repeated = repeated_key(line)
                if repeated is not None:
                    error(line_no, repeated)
                    continue
            mismatch = kind_mismatch(example, job.kind)
            if mismatch:
                error(line_no, mismatch)
                continue
            checked = check(example)
            if checked.errors:
                for message in checked.errors:
                    error(line_no, message)
                continue
            result.images += checked.images
            digests += blake2b(line, digest_size=8).digest()
            digest_lines.append(line_no)
            texts.extend(checked.texts)
            texts.extend(checked.answers)
            measured.append(
                (
                    line_no,
                    len(checked.texts),
                    len(checked.answers),
                    checked.fixed,
                    checked.messages,
                    checked.system,
                    checked.label,
                    checked.flags,
                )
            )
            if len(texts) >= _TOKEN_BATCH:
                flush()
    except ValidationCrash:
        raise
    except Exception as exc:  # a bug in a check; no input may end validation without a verdict
        raise ValidationCrash.of(exc, line_no) from exc
    if measured:
        flush()
    result.lines = line_no
    result.byte_size = job.end - job.start
    result.trailing_blanks = pending_blank_count
    result.trailing_blank_lines = pending_blanks
    return result


def split_ranges(path: str, size: int, chunk_bytes: int) -> list[tuple[int, int]]:
    """Byte ranges of about chunk_bytes that each start at the beginning of a line."""
    ranges = []
    start = 0
    with open(path, "rb") as handle:
        while start < size:
            boundary = start + chunk_bytes
            if boundary >= size:
                ranges.append((start, size))
                break
            handle.seek(boundary)
            while True:
                block = handle.read(64 * 1024)
                if not block:
                    boundary = size
                    break
                newline = block.find(b"\n")
                if newline >= 0:
                    boundary += newline + 1
                    break
                boundary += len(block)
            ranges.append((start, boundary))
            start = boundary
    return ranges


def sniff_binary(path: str) -> str | None:
    """A message when the file is plainly not text (an archive, an image, UTF-16...)."""
    with open(path, "rb") as handle:
        head = handle.read(8192)
    for signature, what in _BINARY_SIGNATURES.items():
        if head.startswith(signature):
            return f"This is {what}, not a JSONL text file."
    # A stray NUL in text is reported on its line; NULs among many control bytes are a binary file.
    if b"\x00" in head and len(head.translate(None, _TEXT_BYTES)) * 100 > len(head):
        return "This is a binary file, not a JSONL text file."
    return None


def run_ranges(
    path: str,
    *,
    kind: str,
    tokenizer: TokenizerSpec,
    token_limit: int | None,
    workers: int,
    chunk_bytes: int,
    progress: Progress | None,
) -> Iterator[RangeResult]:
    """Each range's result in file order; a ``ValidationCrash`` names its line from the file's start."""
    lines_before = 0
    try:
        for result in _range_results(path, kind, tokenizer, token_limit, workers, chunk_bytes):
            yield result
            lines_before += result.lines
    except ValidationCrash as crash:
        raise crash.after(lines_before) from crash.__cause__


def _range_results(path, kind, tokenizer, token_limit, workers, chunk_bytes) -> Iterator[RangeResult]:
    size = os.path.getsize(path)
    jobs = [
        RangeJob(path, start, end, kind, tokenizer, token_limit, start == 0)
        for start, end in split_ranges(path, size, chunk_bytes)
    ]
    if workers > 1 and len(jobs) > 1:
        # fork: workers inherit the loaded modules and tokenizer instead of loading them again.
        with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=get_context("fork")) as pool:
            try:
                results = pool.map(scan_range, jobs)  # submits every range, starting the processes
            except (AssertionError, OSError) as exc:  # e.g. inside a daemonic worker process
                logger.warning("Validating in one process; cannot start worker processes here (%s).", exc)
            else:
                yield from results
                return
    for job in jobs:
        yield scan_range(job)
