"""Which settings a sweep may vary, and how a search space becomes the list of runs.

Pure Python: the form, the services and the tests share one rule.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping, Sequence
from typing import Any

# Launch-form field names a sweep may vary (whichever the chosen provider's form has), in display order.
SWEEPABLE: tuple[str, ...] = (
    "learning_rate",
    "learning_rate_multiplier",
    "epochs",
    "n_epochs",
    "lora_rank",
    "lora_alpha",
    "batch_size",
    "dpo_beta",
    "beta",
)
# A sweep never launches more runs than this, whatever its own cap says.
HARD_MAX_RUNS = 50


class SpaceError(ValueError):
    """A search space or its caps that cannot be run; the message says what to change."""


def grid_size(space: Mapping[str, Sequence[Any]]) -> int:
    size = 1
    for values in space.values():
        size *= len(values)
    return size if space else 0


def expand_grid(space: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination, the first setting varying slowest (as the form lists them)."""
    names = list(space)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(space[n] for n in names))]


def expand(
    space: Mapping[str, Sequence[Any]], *, strategy: str, max_runs: int, seed: int | None = None
) -> list[dict[str, Any]]:
    """The runs of a sweep: the whole grid, or ``max_runs`` distinct combinations drawn with ``seed``.

    A grid larger than the run cap is refused rather than cut, so no combination is silently dropped.
    """
    if not space or any(not values for values in space.values()):
        raise SpaceError("Give at least one value for each setting to sweep.")
    size = grid_size(space)
    if strategy == "grid":
        if size > max_runs:
            raise SpaceError(
                f"The grid has {size} combinations, more than the cap of {max_runs} runs: give fewer "
                "values, raise the cap, or draw a random sample."
            )
        return expand_grid(space)
    if strategy == "random":
        grid = expand_grid(space)
        count = min(max_runs, size)
        return random.Random(seed).sample(grid, count)  # noqa: S311 (a reproducible draw, not a secret)
    raise SpaceError(f"Unknown strategy {strategy!r}.")
