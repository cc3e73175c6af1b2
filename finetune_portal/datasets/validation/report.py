"""Validate a dataset file and explain it: the report the worker stores and the CLI prints.

The report is one JSON object: ``{"valid", "kind", "examples", "errors": [{"line", "message"}],
"error_count", "warnings": [{"line", "message"}], "stats": {...}}``. ``stats`` always holds
``examples`` and ``total_tokens`` (other parts of the portal rely on those two).
"""

from __future__ import annotations

import os
from collections import Counter

from finetune_portal.datasets.validation.detect import detect_file_kind
from finetune_portal.datasets.validation.duplicates import MAX_TRACKED_DIGESTS, DuplicateFinder
from finetune_portal.datasets.validation.engine import (
    DEFAULT_CHUNK_BYTES,
    MAX_ERRORS_IN_FULL,
    MAX_LABELS,
    MAX_LINES_LISTED,
    Progress,
    run_ranges,
)
from finetune_portal.datasets.validation.kinds import KIND_LABELS, KINDS
from finetune_portal.datasets.validation.lines import sniff_binary
from finetune_portal.datasets.validation.notes import Notes
from finetune_portal.datasets.validation.target_provider import choose_tokenizer, untrained_kind_error
from finetune_portal.datasets.validation.token_stats import percentile, token_histogram
from finetune_portal.providers.registry import dataset_profile, default_provider_key, provider_keys

UNBALANCED_RATIO = 10
_KINDS_WITH_SYSTEM = frozenset({"chat", "vision", "dpo"})


def _report(kind, notes: Notes, *, examples: int, error_count: int, stats: dict) -> dict:
    stats.setdefault("examples", examples)
    stats.setdefault("total_tokens", 0)
    return {
        "valid": error_count == 0,
        "kind": kind,
        "examples": examples,
        "errors": notes.errors[:MAX_ERRORS_IN_FULL],
        "error_count": error_count,
        "warnings": notes.warnings,
        "stats": stats,
    }


def validate_file(
    path: str | os.PathLike,
    *,
    kind: str = "auto",
    target: str | None = None,
    base_model: str | None = None,
    workers: int = 1,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    progress: Progress | None = None,
) -> dict:
    path = os.fspath(path)
    if kind != "auto" and kind not in KINDS:
        raise ValueError(f"Unknown kind {kind!r}; choose auto or one of {', '.join(KINDS)}.")
    target = target or default_provider_key()
    if target not in provider_keys():
        raise ValueError(f"Unknown target {target!r}; choose one of {', '.join(provider_keys())}.")
    profile = dataset_profile(target)
    notes = Notes([], [])
    size = os.path.getsize(path)
    reported_kind = None if kind == "auto" else kind
    if size == 0:
        notes.error("The file is empty.")
        return _report(reported_kind, notes, examples=0, error_count=1, stats={"bytes": 0, "lines": 0})
    binary = sniff_binary(path)
    if binary:
        notes.error(binary)
        return _report(reported_kind, notes, examples=0, error_count=1, stats={"bytes": size})
    if kind == "auto":
        detected = detect_file_kind(path)
        kind = detected.kind
        if kind is None:
            notes.error(detected.problem, detected.line)
            return _report(None, notes, examples=0, error_count=1, stats={"bytes": size})
    spec, token_limit, priced_model = choose_tokenizer(
        kind=kind, profile=profile, base_model=base_model, notes=notes
    )

    line_errors: list[dict] = []
    error_count = 0
    bytes_read = 0
    lines = examples = answer_tokens = over_limit = missing_system = images = 0
    over_limit_lines: list[int] = []
    first_missing_system = None
    token_hist: Counter = Counter()
    messages_hist: Counter = Counter()
    labels: Counter = Counter()
    labels_possible = True
    flags: Counter = Counter()
    first_flag_line: dict[str, int] = {}
    repeats = DuplicateFinder()
    pending_blanks: list[int] = []
    pending_blank_count = 0
    trailing_blank_count = 0

    def add_error(line_no: int, message: str) -> None:
        if len(line_errors) < MAX_ERRORS_IN_FULL:
            line_errors.append({"line": line_no, "message": message})

    for part in run_ranges(
        path,
        kind=kind,
        tokenizer=spec,
        token_limit=token_limit,
        workers=workers,
        chunk_bytes=chunk_bytes,
        progress=progress,
    ):
        offset = lines
        if part.has_content and pending_blank_count:
            # Blank lines that ended the previous range sit in the middle of the file after all.
            for blank in pending_blanks:
                add_error(blank, "Blank line; only the end of the file may have blank lines.")
            error_count += pending_blank_count
            pending_blanks, pending_blank_count = [], 0
        for line_no, message in part.errors:
            add_error(offset + line_no, message)
        error_count += part.error_count
        if part.has_content:
            pending_blanks = [offset + n for n in part.trailing_blank_lines]
            pending_blank_count = part.trailing_blanks
        else:
            room = MAX_ERRORS_IN_FULL - len(pending_blanks)
            pending_blanks += [offset + n for n in part.trailing_blank_lines[: max(room, 0)]]
            pending_blank_count += part.trailing_blanks
        lines += part.lines
        examples += part.examples
        token_hist.update(part.token_hist)
        messages_hist.update(part.messages_hist)
        answer_tokens += part.answer_tokens
        images += part.images
        over_limit += part.over_limit
        room = MAX_LINES_LISTED - len(over_limit_lines)
        over_limit_lines += [offset + n for n in part.over_limit_lines[:room]]
        missing_system += part.missing_system
        if first_missing_system is None and part.first_missing_system is not None:
            first_missing_system = offset + part.first_missing_system
        if labels_possible:
            if part.labels_possible:
                labels.update(part.labels)
                if len(labels) > MAX_LABELS:
                    labels_possible = False
            else:
                labels_possible = False
        flags.update(part.flags)
        for flag, flag_line in part.first_flag_line.items():
            first_flag_line.setdefault(flag, offset + flag_line)
        repeats.add(part.digests, part.digest_lines, offset)
        bytes_read += part.byte_size
        if progress is not None:
            progress(lines, error_count, bytes_read)
    trailing_blank_count = pending_blank_count
    duplicates, first_duplicate = repeats.duplicates, repeats.first_duplicate
    digests_capped = repeats.capped
    del repeats

    measured = sum(token_hist.values())
    total_tokens = sum(tokens * count for tokens, count in token_hist.items())
    file_errors = Notes([], [])
    if examples == 0:
        file_errors.error("The file holds no examples (only blank lines).")
    elif too_few := profile.too_few_examples(examples):
        file_errors.error(too_few)
    untrained = untrained_kind_error(kind, target, profile)
    if untrained:
        file_errors.error(untrained)
    error_count += len(file_errors.errors)
    notes.errors = file_errors.errors + line_errors

    if duplicates:
        notes.warn(f"{duplicates} example(s) repeat an earlier example exactly.", lines=[first_duplicate])
    if digests_capped:
        notes.warn(f"Duplicates were looked for among the first {MAX_TRACKED_DIGESTS:,} examples only.")
    if kind in _KINDS_WITH_SYSTEM and missing_system:
        notes.warn(f"{missing_system} example(s) have no system message.", lines=[first_missing_system])
    if over_limit:
        notes.warn(
            f"{over_limit} example(s) are longer than the {token_limit:,}-token limit per example of "
            f"{priced_model or spec.name} and would be truncated.",
            lines=over_limit_lines,
        )
    if flags["rft_last_not_user"]:
        notes.warn(
            f"{flags['rft_last_not_user']} RFT example(s) do not end with a user message.",
            lines=[first_flag_line["rft_last_not_user"]],
        )
    if flags["rft_system_role"]:
        notes.warn(
            f"{flags['rft_system_role']} RFT example(s) use the system role; "
            "reasoning models expect developer.",
            lines=[first_flag_line["rft_system_role"]],
        )
    if trailing_blank_count:
        notes.warn(f"{trailing_blank_count} blank line(s) at the end of the file are ignored.")

    label_distribution = None
    if labels_possible and labels and len(labels) * 2 <= measured:
        label_distribution = dict(labels.most_common())
        if len(labels) >= 2:
            (top, top_count), (rare, rare_count) = labels.most_common()[0], labels.most_common()[-1]
            if top_count >= UNBALANCED_RATIO * rare_count:
                notes.warn(
                    f"Labels are very unbalanced: {top!r} has {top_count} example(s), "
                    f"{rare!r} only {rare_count}."
                )

    billed_per_epoch = sum(
        min(tokens, token_limit) * count if token_limit else tokens * count
        for tokens, count in token_hist.items()
    )
    epochs = profile.default_epochs(examples)
    billed = billed_per_epoch * epochs
    cost = profile.training_cost(priced_model, billed) if priced_model else None
    price = profile.price_per_million(priced_model) if priced_model else None
    stats = {
        "examples": examples,
        "total_tokens": total_tokens,
        "lines": lines,
        "bytes": size,
        "measured_examples": measured,
        "tokens_per_example": {
            "min": min(token_hist) if token_hist else 0,
            "mean": round(total_tokens / measured, 1) if measured else 0,
            "p95": percentile(token_hist, 0.95) if token_hist else 0,
            "max": max(token_hist) if token_hist else 0,
        },
        "messages_per_example": {
            "min": min(messages_hist),
            "mean": round(sum(k * v for k, v in messages_hist.items()) / sum(messages_hist.values()), 2),
            "max": max(messages_hist),
        }
        if messages_hist
        else None,
        "assistant_tokens": answer_tokens,
        "images": images,
        "duplicates": duplicates,
        "missing_system": missing_system if kind in _KINDS_WITH_SYSTEM else 0,
        "over_limit_examples": over_limit,
        "over_limit_lines": over_limit_lines,
        "token_histogram": token_histogram(token_hist, token_limit),
        "kind_trained": not untrained,
        "label_distribution": label_distribution,
        "target": target,
        "base_model": priced_model or base_model,
        "tokenizer": spec.label,
        "max_tokens_per_example": token_limit,
        "default_epochs": epochs,
        "billed_tokens_per_epoch": billed_per_epoch,
        "estimated_billed_tokens": billed,
        "price_per_million_tokens_usd": str(price) if price is not None else None,
        "estimated_cost_usd": str(cost) if cost is not None else None,
        "prices_taken_on": profile.prices_taken_on.isoformat() if profile.prices_taken_on else None,
        "kind_label": KIND_LABELS[kind],
    }
    return _report(kind, notes, examples=examples, error_count=error_count, stats=stats)
