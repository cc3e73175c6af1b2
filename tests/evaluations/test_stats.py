"""The paired tests on known tables and examples, and the verdict's words."""

from __future__ import annotations

import pytest

from finetune_portal.evaluations import stats


def test_mcnemar_exact_on_a_known_table():
    # 10 pairs only A got right, 2 only B: two-sided binomial, 2 * P(X <= 2 | n = 12, 1/2)
    # = 2 * (1 + 12 + 66) / 4096.
    assert stats.mcnemar_exact(10, 2) == pytest.approx(158 / 4096)
    assert stats.mcnemar_exact(0, 0) == 1.0


def test_paired_t_test_on_a_known_example():
    # Differences -1, 0, 1, 2, 3: mean 1, sd sqrt(2.5), t = sqrt(2) with 4 degrees of freedom.
    mean, (low, high), p = stats.paired_t([1, 2, 3, 4, 5], [2, 2, 2, 2, 2])
    assert mean == 1.0
    half = 2.7764451051977987 * (2.5**0.5) / 5**0.5  # t(0.975, 4) * sd / sqrt(n)
    assert (low, high) == (pytest.approx(1 - half), pytest.approx(1 + half))
    assert p == pytest.approx(0.2302, abs=1e-4)


def test_a_clear_win_is_said_in_plain_words():
    a = [1.0] * 40 + [0.0] * 10
    b = [1.0] * 20 + [0.0] * 30  # the first 20 both right; A alone right on 20, B alone on none
    verdict = stats.verdict(a_name="fine-tuned", b_name="base", a=a, b=b, binary=True, points=100)
    assert verdict.test == stats.MCNEMAR
    assert verdict.n == 50
    assert verdict.difference == pytest.approx(40.0)
    assert verdict.words.startswith("fine-tuned is better than base by 40.0 points (95% CI ")
    assert "p < 0.001, n = 50" in verdict.words


def test_the_better_model_is_named_when_it_is_the_second():
    a = [5.0, 6.0, 5.5, 6.2, 5.1, 5.9, 6.1, 5.4, 5.8, 6.0]
    b = [x + 2 + 0.1 * i for i, x in enumerate(a)]
    verdict = stats.verdict(a_name="base", b_name="tuned", a=a, b=b, binary=False, points=10)
    assert verdict.test == stats.T_TEST
    assert verdict.words.startswith("tuned is better than base by 24.5 points (95% CI ")
    _low, high = verdict.ci95
    assert high < 0, "the interval is A minus B"


def test_no_significant_difference_says_so():
    a = [1.0, 0.0] * 10
    b = [0.0, 1.0] * 10
    verdict = stats.verdict(a_name="A", b_name="B", a=a, b=b, binary=True, points=100)
    assert verdict.words.startswith("No significant difference: A minus B is +0.0 points")
    assert verdict.p_value == 1.0


def test_too_few_items_for_a_verdict():
    verdict = stats.verdict(a_name="A", b_name="B", a=[1.0] * 4, b=[0.0] * 4, binary=True, points=100)
    assert verdict.p_value is None
    assert verdict.difference is None
    assert verdict.words == "Too few items for a verdict: 4 scored by both models, at least 10 are needed."
