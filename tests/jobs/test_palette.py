"""The comparison's run colours stay apart for viewers with and without colour-vision deficiencies."""

from __future__ import annotations

import itertools
import math

import pytest

from finetune_portal.jobs.compare_runs import RUN_COLOURS

# Machado, Oliveira & Fernandes (2009), severity 1.0, applied to linear RGB.
DEFICIENCIES = {
    "normal": None,
    "protanopia": (
        (0.152286, 1.052583, -0.204868),
        (0.114503, 0.786281, 0.099216),
        (-0.003882, -0.048116, 1.051998),
    ),
    "deuteranopia": (
        (0.367322, 0.860646, -0.227968),
        (0.280085, 0.672501, 0.047413),
        (-0.011820, 0.042940, 0.968881),
    ),
    "tritanopia": (
        (1.255528, -0.076749, -0.178779),
        (-0.078411, 0.930809, 0.147602),
        (0.004733, 0.691367, 0.303900),
    ),
}
# CIELAB distances: about 2 is barely visible side by side; thin chart lines need far more.
LEAST_DISTANCE = {"normal": 28, "protanopia": 12, "deuteranopia": 12, "tritanopia": 12}


def _linear(hex_colour: str) -> list[float]:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    return [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]


def _lab(linear: list[float]) -> tuple[float, float, float]:
    r, g, b = (min(1.0, max(0.0, c)) for c in linear)
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116

    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def _seen(hex_colour: str, deficiency: str) -> tuple[float, float, float]:
    linear = _linear(hex_colour)
    matrix = DEFICIENCIES[deficiency]
    if matrix is not None:
        linear = [sum(row[i] * linear[i] for i in range(3)) for row in matrix]
    return _lab(linear)


def test_there_are_ten_distinct_colours():
    assert len(set(RUN_COLOURS)) == len(RUN_COLOURS) == 10


@pytest.mark.parametrize("deficiency", DEFICIENCIES)
def test_every_pair_of_run_colours_is_told_apart(deficiency):
    too_close = [
        (a, b, round(math.dist(_seen(a, deficiency), _seen(b, deficiency)), 1))
        for a, b in itertools.combinations(RUN_COLOURS, 2)
        if math.dist(_seen(a, deficiency), _seen(b, deficiency)) < LEAST_DISTANCE[deficiency]
    ]
    assert too_close == []
