"""Why a line does not parse, and whether it writes a key twice (orjson keeps the last value quietly)."""

from __future__ import annotations

import json

import orjson


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


def may_repeat_a_key(line: bytes, example) -> bool:
    """A cheap screen for a key written twice in one object (orjson silently keeps the last one).

    Each written key is followed by a colon, so a line with no more colons than the parsed objects have
    keys dropped none (one C-speed count; the keys of the top two levels are counted first, which
    settles the usual example). Colons in texts: the example written again by orjson holds one colon
    per kept key and the same texts, so when the line spells no colon as an escape, a line with as many
    colons as that dropped nothing either. Otherwise colons in texts are told from keys by counting
    ``"key":``; only a line that fails these is parsed again, slowly, to name the key.
    """
    if type(example) is not dict and type(example) is not list:
        return False
    colons = line.count(b":")
    if type(example) is dict and colons == _keys_two_levels(example):
        return False
    if b"\\u003" not in line:  # \u003a is a colon in a text that the line does not show as one
        try:
            return colons != orjson.dumps(example).count(b":")
        except orjson.JSONEncodeError:  # nested deeper than orjson writes: the walk below decides
            pass
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
