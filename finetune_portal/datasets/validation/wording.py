"""How checks name what they found: JSON type names and "did you mean" hints for misspelt keys."""

from __future__ import annotations

import difflib


def did_you_mean(unknown, known, present=()) -> str:
    """ " Did you mean 'x'?" for unknown keys close to a known key the object lacks, else ""."""
    suggestions = []
    for key in sorted(unknown):
        match = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
        if match and match[0] not in present and match[0] not in suggestions:
            suggestions.append(match[0])
    return f" Did you mean {' or '.join(map(repr, suggestions))}?" if suggestions else ""


def json_type(value) -> str:
    """The JSON name of a parsed value's type, for messages (never a Python type name)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"
