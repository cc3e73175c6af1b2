"""Summaries of the examples' token counts: the histogram the report draws and percentiles."""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter

HISTOGRAM_BINS = 16


def token_histogram(hist: Counter, token_limit: int | None) -> list[dict]:
    """Examples per token-length bin from the shortest example to the longest. When the per-example
    limit falls inside that span it is a bin edge, so a bin is either within the limit or past it
    (``over_limit``)."""
    if not hist:
        return []
    low, stop = min(hist), max(hist) + 1
    if token_limit is not None and low <= token_limit < stop - 1:
        share = (token_limit + 1 - low) / (stop - low)
        under = min(HISTOGRAM_BINS - 1, max(1, round(HISTOGRAM_BINS * share)))
        starts = _bin_starts(low, token_limit + 1, under) + _bin_starts(
            token_limit + 1, stop, HISTOGRAM_BINS - under
        )
    else:
        starts = _bin_starts(low, stop, HISTOGRAM_BINS)
    counts = [0] * len(starts)
    for tokens, count in hist.items():
        counts[bisect_right(starts, tokens) - 1] += count
    ends = [*starts[1:], stop]
    return [
        {
            "from": first,
            "to": end - 1,
            "count": count,
            "over_limit": token_limit is not None and first > token_limit,
        }
        for first, end, count in zip(starts, ends, counts, strict=True)
    ]


def _bin_starts(start: int, stop: int, bins: int) -> list[int]:
    """The first values of ``bins`` near-equal bins covering start..stop-1 (fewer when the span is short)."""
    bins = max(1, min(bins, stop - start))
    return [start + (stop - start) * i // bins for i in range(bins)]


def percentile(hist: Counter, fraction: float) -> int:
    total = sum(hist.values())
    rank = max(1, round(fraction * total + 0.4999))
    seen = 0
    for value in sorted(hist):
        seen += hist[value]
        if seen >= rank:
            return value
    return 0
