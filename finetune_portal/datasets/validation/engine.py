"""Streaming validation of a JSONL dataset file in constant memory.

The file is cut into byte ranges that start at line starts. Each range is scanned on its own (in worker
processes when ``workers > 1``): lines are parsed with orjson, checked against the rules of the
dataset kind, and their texts are tokenized in batches. The per-range results are merged in file order,
so line numbers, the first errors and the progress reports are the same however many workers ran.
"""

from __future__ import annotations

import gc
import hashlib
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
from finetune_portal.datasets.validation.lines import BOM, MAX_LINE_BYTES, TOO_LONG, iter_lines, split_ranges
from finetune_portal.datasets.validation.parsing import json_problem, may_repeat_a_key, repeated_key

logger = logging.getLogger(__name__)

MAX_ERRORS_IN_FULL = 100
DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024
MAX_LABELS = 50
# The lines over the token limit a report names (the count covers all of them).
MAX_LINES_LISTED = 20
_TOKEN_BATCH = 4096
_RANGES_PER_WORKER = 6
_MIN_PARALLEL_CHUNK_BYTES = 1024 * 1024
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
            if may_repeat_a_key(line, example):
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
    if workers > 1:
        # Several ranges a worker, so no worker is left with the last big one while the others idle.
        chunk_bytes = min(chunk_bytes, max(_MIN_PARALLEL_CHUNK_BYTES, size // (workers * _RANGES_PER_WORKER)))
    jobs = [
        RangeJob(path, start, end, kind, tokenizer, token_limit, start == 0)
        for start, end in split_ranges(path, size, chunk_bytes)
    ]
    if workers > 1 and len(jobs) > 1:
        # fork: workers inherit the loaded modules and tokenizer instead of loading them again. Frozen,
        # the inherited objects are left out of the workers' garbage collections, which would otherwise
        # write to every one of them and so copy the pages they share with this process.
        gc.freeze()
        try:
            with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=get_context("fork")) as pool:
                try:
                    results = pool.map(scan_range, jobs)  # submits every range, starting the processes
                except (AssertionError, OSError) as exc:  # e.g. inside a daemonic worker process
                    logger.warning("Validating in one process; cannot start worker processes here (%s).", exc)
                else:
                    yield from results
                    return
        finally:
            gc.unfreeze()
    for job in jobs:
        yield scan_range(job)
