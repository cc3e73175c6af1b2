"""Tell a file's dataset kind from a sample of its lines (``--kind auto``).

The sample is the first ``SAMPLE_LINES`` lines, or fewer when they pass ``SAMPLE_BYTES`` (the line that
passes it is read whole, so one long vision line still counts). Every JSON object in the sample votes
for the family its keys belong to (messages, prompt/completion, Alpaca, DPO) and the family with most
votes wins: a stray line of another kind is then reported on its own line instead of deciding the kind.
Within the messages family:

- **vision** when any sampled line has an image part (a vision file may have text-only lines);
- **RFT** when more sampled lines look like RFT prompts than like chat: keys besides ``messages`` and
  the tool keys (the grader's reference fields), with a conversation that does not end with an
  assistant reply or that uses the developer role;
- **chat** otherwise, so a chat file with an extra key on every line is still chat (and the chat check
  names the key).

When no line votes, ``Detected.problem`` says why, naming a line: unknown or misspelt keys (with a
suggestion), a file that is one JSON array, CR-only line ends, pretty-printed JSON.
"""

from __future__ import annotations

import difflib
import os
from collections import Counter
from dataclasses import dataclass

import orjson

from finetune_portal.datasets.validation.chat_kinds import CHAT_TOP_KEYS
from finetune_portal.datasets.validation.kinds import shape_of
from finetune_portal.datasets.validation.lines import BOM, MAX_LINE_BYTES, TOO_LONG, iter_lines
from finetune_portal.datasets.validation.parsing import json_problem
from finetune_portal.datasets.validation.wording import json_type

SAMPLE_LINES = 200
SAMPLE_BYTES = 1024 * 1024
_HEAD_BYTES = 64 * 1024
_CR_ONLY = (
    "lines end in CR only (old Mac line ends), so the file reads as one line; save it with LF or CRLF "
    "line ends"
)
# The top-level keys of every kind, to suggest the intended one for a misspelt key.
KNOWN_TOP_KEYS = (
    "messages",
    "tools",
    "parallel_tool_calls",
    "functions",
    "prompt",
    "completion",
    "instruction",
    "input",
    "output",
    "system",
    "preferred_output",
    "non_preferred_output",
    "text",
)
_MAX_KEYS_SHOWN = 6


@dataclass(frozen=True)
class Detected:
    kind: str | None
    line: int | None = None
    problem: str | None = None


def detect_file_kind(path: str) -> Detected:
    """The kind of the file at ``path``, or why it cannot be told (see the module docstring)."""
    with open(path, "rb") as handle:
        head = handle.read(_HEAD_BYTES)
    if b"\r" in head and b"\n" not in head:
        return _cannot_tell(1, _CR_ONLY)  # before reading a whole file that is all one line
    votes: Counter = Counter()
    chat_votes = rft_votes = 0
    has_image = False
    first_content: tuple[int, bytes] | None = None
    first_unparsed: tuple[int, bytes, orjson.JSONDecodeError] | None = None
    first_other: tuple[int, object] | None = None
    first_too_long: int | None = None
    sampled_bytes = 0
    line_no = 0
    for raw in iter_lines(path, 0, os.path.getsize(path)):
        line_no += 1
        if line_no > SAMPLE_LINES or sampled_bytes > SAMPLE_BYTES:
            break
        if raw is TOO_LONG:
            first_too_long = first_too_long or line_no
            sampled_bytes += MAX_LINE_BYTES
            continue
        sampled_bytes += len(raw) + 1
        line = raw.removeprefix(BOM).strip()
        if not line:
            continue
        if first_content is None:
            first_content = (line_no, line)
        try:
            example = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            first_unparsed = first_unparsed or (line_no, line, exc)
            continue
        family = shape_of(example)
        if family is None:
            first_other = first_other or (line_no, example)
            continue
        votes[family] += 1
        if family == "messages":
            has_image = has_image or _has_image_part(example)
            if _looks_like_rft(example):
                rft_votes += 1
            else:
                chat_votes += 1
    if votes:
        family = votes.most_common(1)[0][0]
        if family != "messages":
            return Detected(family)
        return Detected("vision" if has_image else "rft" if rft_votes > chat_votes else "chat")
    if first_content is None and first_too_long is not None:
        return _cannot_tell(first_too_long, f"line {first_too_long} is longer than {MAX_LINE_BYTES >> 20} MB")
    return _undetected(first_content, first_unparsed, first_other)


def _has_image_part(example: dict) -> bool:
    messages = example.get("messages")
    if not isinstance(messages, list):
        return False
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list) and any(
            isinstance(part, dict) and part.get("type") == "image_url" for part in content
        ):
            return True
    return False


def _looks_like_rft(example: dict) -> bool:
    if not example.keys() - CHAT_TOP_KEYS:
        return False
    messages = example.get("messages")
    if not isinstance(messages, list) or not messages:
        return True
    roles = [message.get("role") if isinstance(message, dict) else None for message in messages]
    return roles[-1] != "assistant" or "developer" in roles


def _undetected(first_content, first_unparsed, first_other) -> Detected:
    if first_content is None:
        return Detected(None, None, "Could not tell the dataset kind: the file holds only blank lines.")
    line_no, line = first_content
    if b"\r" in line:
        reason = _CR_ONLY
    elif line.startswith(b"["):
        reason = (
            "the file is one JSON array, not one object per line; write each example as one JSON object "
            "on its own line (JSONL)"
        )
    elif line == b"{":
        reason = (
            "the file is pretty-printed JSON, with one example spread over several lines; write each "
            "example on one line (JSONL)"
        )
    elif first_other is not None:
        line_no, example = first_other
        reason = _unknown_keys(line_no, example)
    else:
        line_no, line, exc = first_unparsed
        reason = f"no line parses as JSON (line {line_no}: {json_problem(line, exc).rstrip('.')})"
    return _cannot_tell(line_no, reason)


def _cannot_tell(line_no: int, reason: str) -> Detected:
    end = "" if reason.endswith("?") else "."
    return Detected(
        None, line_no, f"Could not tell the dataset kind: {reason}{end} Choose the kind explicitly."
    )


def _unknown_keys(line_no: int, example) -> str:
    if not isinstance(example, dict):
        return f"line {line_no} is {json_type(example)}, not a JSON object"
    if not example:
        return f"line {line_no} is an empty object"
    keys = list(example)
    shown = ", ".join(repr(key) for key in keys[:_MAX_KEYS_SHOWN]) + (
        ", ..." if len(keys) > _MAX_KEYS_SHOWN else ""
    )
    suggestions = []
    for key in keys:
        match = difflib.get_close_matches(key, KNOWN_TOP_KEYS, n=1, cutoff=0.75)
        if match and match[0] not in example and match[0] not in suggestions:
            suggestions.append(match[0])
    if suggestions:
        return f"line {line_no} has keys {shown}: did you mean {' or '.join(map(repr, suggestions))}?"
    return (
        f"line {line_no} has keys {shown}, none of a known kind (messages; prompt and completion; "
        "instruction and output; input with preferred_output and non_preferred_output)"
    )
