"""How a search space becomes runs: the whole grid, or a seeded sample of it, within the run cap."""

from __future__ import annotations

import pytest

from finetune_portal.sweeps.space import SpaceError, expand, grid_size

SPACE = {"learning_rate": [1e-4, 2e-4, 4e-4], "lora_rank": [8, 16], "epochs": [1, 3]}


def test_a_grid_holds_every_combination_once():
    runs = expand(SPACE, strategy="grid", max_runs=12)

    assert len(runs) == grid_size(SPACE) == 12
    assert len({tuple(sorted(run.items())) for run in runs}) == 12
    assert runs[0] == {"learning_rate": 1e-4, "lora_rank": 8, "epochs": 1}
    assert runs[-1] == {"learning_rate": 4e-4, "lora_rank": 16, "epochs": 3}


def test_a_grid_larger_than_the_cap_is_refused_not_cut():
    with pytest.raises(SpaceError, match="The grid has 12 combinations, more than the cap of 8 runs"):
        expand(SPACE, strategy="grid", max_runs=8)


def test_a_random_sample_draws_distinct_runs_from_the_grid_and_repeats_with_its_seed():
    first = expand(SPACE, strategy="random", max_runs=5, seed=3)
    again = expand(SPACE, strategy="random", max_runs=5, seed=3)
    other = expand(SPACE, strategy="random", max_runs=5, seed=4)

    assert first == again
    assert first != other
    assert len(first) == 5
    assert len({tuple(sorted(run.items())) for run in first}) == 5
    for run in first:
        assert all(run[name] in values for name, values in SPACE.items())


def test_a_random_sample_larger_than_the_grid_is_the_whole_grid():
    runs = expand({"lora_rank": [8, 16]}, strategy="random", max_runs=10, seed=1)

    assert sorted(run["lora_rank"] for run in runs) == [8, 16]


@pytest.mark.parametrize("space", [{}, {"lora_rank": []}])
def test_an_empty_space_is_refused(space):
    with pytest.raises(SpaceError, match="at least one value"):
        expand(space, strategy="grid", max_runs=4)
