"""The duplicate finder counts exactly what remembering every example in a set would, batch by batch."""

from __future__ import annotations

import random

import numpy as np
import pytest

from finetune_portal.datasets.validation.duplicates import DuplicateFinder


def one_by_one(batches, capacity):
    """The plain rule: a repeat of a remembered example counts; memory stops growing at capacity."""
    seen: set[int] = set()
    duplicates, first, capped, offset = 0, None, False, 0
    for hashes, lines in batches:
        for value, line in zip(hashes, lines, strict=True):
            if value in seen:
                duplicates += 1
                first = first if first is not None else offset + line
            elif len(seen) < capacity:
                seen.add(value)
            else:
                capped = True
        offset += 1000
    return duplicates, first, capped


@pytest.mark.parametrize("capacity", [5, 40, 10_000])
@pytest.mark.parametrize("seed", range(6))
def test_batches_count_repeats_like_a_set_of_every_example(capacity, seed):
    rng = random.Random(seed)
    # Few distinct values spread over the full 64 bits, so repeats fall within and across batches.
    pool = [rng.getrandbits(64) for _ in range(rng.randint(1, 60))]
    batches = []
    for _ in range(rng.randint(1, 8)):
        hashes = [rng.choice(pool) for _ in range(rng.randint(0, 50))]
        lines = sorted(rng.sample(range(1, 1000), len(hashes)))
        batches.append((hashes, lines))

    finder = DuplicateFinder(capacity=capacity)
    for batch_index, (hashes, lines) in enumerate(batches):
        finder.add(np.array(hashes, dtype=np.uint64).tobytes(), lines, batch_index * 1000)

    assert (finder.duplicates, finder.first_duplicate, finder.capped) == one_by_one(batches, capacity)
    assert finder.tracked <= capacity


def test_a_file_without_repeats_reports_none():
    finder = DuplicateFinder()
    finder.add(np.arange(1, 5000, dtype=np.uint64).tobytes(), list(range(1, 5000)))
    finder.add(np.arange(5000, 9000, dtype=np.uint64).tobytes(), list(range(1, 4001)), 4999)
    assert (finder.duplicates, finder.first_duplicate, finder.capped) == (0, None, False)
    assert finder.tracked == 8999
