"""A/B on the same items: the mean paired difference with its 95% interval, a paired test, and the
verdict in plain words."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

# Below this many paired items no test says anything a team should act on.
MIN_ITEMS = 10
MCNEMAR = "McNemar's exact test"
T_TEST = "paired t-test"


@dataclass(frozen=True)
class Verdict:
    difference: float | None  # mean of A - B, in points
    ci95: tuple[float, float] | None
    p_value: float | None
    test: str
    n: int
    words: str

    def as_json(self) -> dict:
        data = asdict(self)
        data["ci95"] = list(self.ci95) if self.ci95 is not None else None
        return data


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pairs (A right and B wrong, and the other
    way round): a binomial test of a_only successes in a_only + b_only trials at 1/2."""
    from scipy.stats import binomtest

    trials = a_only + b_only
    if trials == 0:
        return 1.0
    return float(binomtest(a_only, trials, 0.5).pvalue)


def paired_t(a: list[float], b: list[float]) -> tuple[float, tuple[float, float], float]:
    """Mean difference a - b, its 95% t interval, and the paired t-test's two-sided p-value."""
    from scipy.stats import t, ttest_rel

    n = len(a)
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    mean = sum(diffs) / n
    var = sum((d - mean) ** 2 for d in diffs) / (n - 1)
    if var == 0:
        return mean, (mean, mean), 1.0 if mean == 0 else 0.0
    half = float(t.ppf(0.975, n - 1)) * math.sqrt(var / n)
    return mean, (mean - half, mean + half), float(ttest_rel(a, b).pvalue)


def paired_binary(a: list[float], b: list[float]) -> tuple[float, tuple[float, float], float]:
    """Difference of proportions right on the same items, its 95% interval (Wald, for paired
    proportions) and McNemar's exact p-value."""
    n = len(a)
    a_only = sum(1 for x, y in zip(a, b, strict=True) if x >= 0.5 > y)
    b_only = sum(1 for x, y in zip(a, b, strict=True) if y >= 0.5 > x)
    diff = (a_only - b_only) / n
    se = math.sqrt(max(0.0, (a_only + b_only) - (a_only - b_only) ** 2 / n)) / n
    return diff, (diff - 1.96 * se, diff + 1.96 * se), mcnemar_exact(a_only, b_only)


def _interval(low: float, high: float) -> str:
    joiner = "\u2013" if low >= 0 else " to "
    return f"(95% CI {low:.1f}{joiner}{high:.1f})"


def _p_words(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def verdict(
    *, a_name: str, b_name: str, a: list[float], b: list[float], binary: bool, points: float
) -> Verdict:
    """Compare model A with model B on the items both answered. ``points`` scales a difference of item
    scores to points (100 for right/wrong and 0-1 scores)."""
    n = len(a)
    test = MCNEMAR if binary else T_TEST
    if n < MIN_ITEMS:
        return Verdict(
            None,
            None,
            None,
            test,
            n,
            f"Too few items for a verdict: {n} scored by both models, at least {MIN_ITEMS} are needed.",
        )
    diff, (low, high), p = paired_binary(a, b) if binary else paired_t(a, b)
    diff, low, high = diff * points, low * points, high * points
    tail = f"{_p_words(p)}, n = {n} ({test})"
    if p < 0.05 and diff != 0:
        # Said from the better model's side, so the interval reads as a gain.
        better, worse = (a_name, b_name) if diff > 0 else (b_name, a_name)
        gain_low, gain_high = (low, high) if diff > 0 else (-high, -low)
        words = (
            f"{better} is better than {worse} by {abs(diff):.1f} points "
            f"{_interval(gain_low, gain_high)}, {tail}."
        )
    else:
        words = (
            f"No significant difference: {a_name} minus {b_name} is {diff:+.1f} points "
            f"{_interval(low, high)}, {tail}."
        )
    return Verdict(diff, (low, high), p, test, n, words)
