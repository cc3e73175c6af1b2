"""Exact-repeat detection over a whole file in bounded memory.

Each example is remembered as a 64-bit hash of its line (two different lines share one with odds of
about n²/2⁶⁵, about one in ten million for a million examples), in sorted numpy arrays: 8 bytes an
example, against about 70 for a Python set of ints. The arrays are split by the hash's top bits, so
merging a range's hashes in copies one small bucket at a time, never the whole table.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# At most this many examples are remembered (8 bytes each); later ones are only compared.
MAX_TRACKED_DIGESTS = 2_000_000
_BUCKET_BITS = 6


class DuplicateFinder:
    """Feed the hashes of the examples in file order; counts each example equal to an earlier one."""

    def __init__(self, capacity: int = MAX_TRACKED_DIGESTS):
        self.capacity = capacity
        self.tracked = 0
        self.duplicates = 0
        self.first_duplicate: int | None = None
        self.capped = False
        self._buckets = [np.empty(0, dtype=np.uint64) for _ in range(1 << _BUCKET_BITS)]

    def add(self, digests: bytes, lines: Sequence[int], line_offset: int = 0) -> None:
        """``digests``: the 8-byte hashes of the next examples, in file order; ``lines``: their line
        numbers, counted after ``line_offset`` lines."""
        hashes = np.frombuffer(digests, dtype=np.uint64)
        if not len(hashes):
            return
        seen_before = self._contains(hashes)
        _, first_index, inverse = np.unique(hashes, return_index=True, return_inverse=True)
        first_of = first_index[inverse]  # each example's first occurrence within this batch
        is_first = first_of == np.arange(len(hashes))
        new = is_first & ~seen_before
        room = self.capacity - self.tracked
        added = new & (np.cumsum(new) <= room)
        if added.sum() < new.sum():
            self.capped = True
        # As if examples were taken one by one: a repeat counts when an earlier copy was remembered.
        repeats = seen_before | (~is_first & added[first_of])
        count = int(repeats.sum())
        if count:
            if self.first_duplicate is None:
                self.first_duplicate = line_offset + lines[int(np.argmax(repeats))]
            self.duplicates += count
        self._insert(hashes[added])

    def _bucket_of(self, hashes: np.ndarray) -> np.ndarray:
        return (hashes >> np.uint64(64 - _BUCKET_BITS)).astype(np.intp)

    def _contains(self, hashes: np.ndarray) -> np.ndarray:
        found = np.zeros(len(hashes), dtype=bool)
        if not self.tracked:
            return found
        buckets = self._bucket_of(hashes)
        for bucket in np.unique(buckets):
            table = self._buckets[bucket]
            if not len(table):
                continue
            where = np.flatnonzero(buckets == bucket)
            wanted = hashes[where]
            slots = np.minimum(np.searchsorted(table, wanted), len(table) - 1)
            found[where] = table[slots] == wanted
        return found

    def _insert(self, hashes: np.ndarray) -> None:
        if not len(hashes):
            return
        buckets = self._bucket_of(hashes)
        for bucket in np.unique(buckets):
            merged = np.concatenate((self._buckets[bucket], hashes[buckets == bucket]))
            merged.sort(kind="stable")  # the table is one sorted run already: timsort merges it in
            self._buckets[bucket] = merged
        self.tracked += len(hashes)
