"""OpenAI's cursor pages: ``?after=<id>&limit=N``, items after that id in the list's order, and a
``has_more`` that is right (the SDK pages until it is false)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from finetune_portal.api.errors import invalid

T = TypeVar("T")


def limit_param(request, *, default: int, most: int) -> int:
    raw = request.GET.get("limit")
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= most:
        raise invalid(f"limit must be an integer from 1 to {most}.", param="limit")
    return value


def page_after(
    items: Sequence[T], *, id_of: Callable[[T], str], after: str | None, limit: int
) -> tuple[list[T], bool]:
    """The page of an already ordered sequence; an unknown ``after`` is a 400 naming it."""
    start = 0
    if after:
        ids = [id_of(item) for item in items]
        if after not in ids:
            raise invalid(f"No item with id {after!r} in this list (after).", param="after")
        start = ids.index(after) + 1
    page = list(items[start : start + limit])
    return page, start + limit < len(items)
