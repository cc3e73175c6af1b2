"""Stop sequences over streamed text: where the answer ends, and how much may be sent before it is known
that a stop sequence is not starting (a piece ending in "Us" may be the start of "User:")."""

from __future__ import annotations


def split_at_stop(text: str, stops: tuple[str, ...]) -> tuple[str, bool]:
    """The text before the earliest stop sequence and True, or the whole text and False."""
    found = [index for index in (text.find(stop) for stop in stops if stop) if index >= 0]
    if not found:
        return text, False
    return text[: min(found)], True


def split_safe_prefix(text: str, stops: tuple[str, ...]) -> tuple[str, str]:
    """(what can be sent now, what to hold back): the held back part is the longest ending of ``text``
    that is the beginning of a stop sequence."""
    held = 0
    for stop in stops:
        for length in range(min(len(stop) - 1, len(text)), held, -1):
            if text.endswith(stop[:length]):
                held = length
                break
    if not held:
        return text, ""
    return text[:-held], text[-held:]
