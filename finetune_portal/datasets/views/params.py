"""Reading the query string's numbers."""

from __future__ import annotations


def int_param(value, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
