"""A scatter of one swept setting against best validation loss, drawn as SVG geometry on the server.

No script runs on the page (its CSP allows none inline); the template draws circles at these positions.
Learning rates and similar settings spread over orders of magnitude get a log-scaled axis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

WIDTH, HEIGHT = 640, 300
LEFT, RIGHT, TOP, BOTTOM = 84, 28, 20, 56


@dataclass(frozen=True)
class Dot:
    x: float
    y: float
    label: str
    job_id: int
    best: bool


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass
class Scatter:
    setting: str
    log_x: bool
    dots: list[Dot] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _short(value: float) -> str:
    return f"{value:g}"


def build_scatter(setting: str, points: list[tuple[object, float, int, bool]]) -> Scatter | None:
    """``points``: (setting value, best validation loss, job id, best run?). None when nothing to draw."""
    usable: list[tuple[float, float, int, bool]] = []
    for raw, y, job_id, best in points:
        x = _number(raw)
        if x is not None:
            usable.append((x, y, job_id, best))
    if not usable:
        return None
    xs = [x for x, *_ in usable]
    ys = [y for _, y, _, _ in usable]
    log_x = min(xs) > 0 and max(xs) / min(xs) >= 10
    tx = [math.log10(x) for x in xs] if log_x else xs
    x_low, x_high = min(tx), max(tx)
    y_low, y_high = min(ys), max(ys)
    if x_high == x_low:
        x_low, x_high = x_low - 1, x_high + 1
    if y_high == y_low:
        y_low, y_high = y_low - 0.5, y_high + 0.5
    pad_y = (y_high - y_low) * 0.1
    y_low, y_high = y_low - pad_y, y_high + pad_y
    chart = Scatter(setting=setting, log_x=log_x)
    inner_left, inner_right = chart.left + 16, chart.right - 16

    def px(value: float) -> float:
        t = math.log10(value) if log_x else value
        return round(inner_left + (t - x_low) / (x_high - x_low) * (inner_right - inner_left), 1)

    def py(value: float) -> float:
        return round(chart.bottom - (value - y_low) / (y_high - y_low) * (chart.bottom - chart.top), 1)

    for x, y, job_id, best in usable:
        chart.dots.append(
            Dot(px(x), py(y), f"{setting} {_short(x)}: best validation loss {y:.4f}", job_id, best)
        )
    chart.x_ticks = [Tick(px(x), _short(x)) for x in sorted(set(xs))]
    chart.y_ticks = [
        Tick(py(y_low + (y_high - y_low) * i / 3), f"{y_low + (y_high - y_low) * i / 3:.3f}")
        for i in range(4)
    ]
    return chart
