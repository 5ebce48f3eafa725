"""Acquisition functions against closed-form values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hf_quicktune.search.acquisition import (
    acquisition_scores,
    argmax,
    cooled_cost_exponent,
    expected_improvement,
    incumbent_at,
    incumbents_by_budget,
    upper_confidence_bound,
)

PHI0 = 1 / math.sqrt(2 * math.pi)  # standard normal density at 0


def test_expected_improvement_closed_form():
    # d = 0: EI = sigma * phi(0)
    assert expected_improvement(np.array([0.5]), np.array([0.2]), 0.5)[0] == pytest.approx(0.2 * PHI0)
    # d = 1, sigma = 1: Phi(1) + phi(1)
    expected = 0.8413447460685429 + math.exp(-0.5) / math.sqrt(2 * math.pi)
    assert expected_improvement(np.array([1.0]), np.array([1.0]), 0.0)[0] == pytest.approx(expected, rel=1e-9)
    # d = -1, sigma = 1: -Phi(-1) + phi(1)
    expected = -0.15865525393145707 + math.exp(-0.5) / math.sqrt(2 * math.pi)
    assert expected_improvement(np.array([0.0]), np.array([1.0]), 1.0)[0] == pytest.approx(expected, rel=1e-9)


def test_expected_improvement_zero_std_is_the_positive_part():
    ei = expected_improvement(np.array([0.7, 0.3]), np.array([0.0, 0.0]), 0.5)
    np.testing.assert_allclose(ei, [0.2, 0.0])


def test_ceiling_counts_improvement_up_to_the_largest_score_possible():
    """EI of min(Y, 1) against a Monte Carlo estimate, never above 1 - best, 0 once best reaches the ceiling."""
    rng = np.random.default_rng(0)
    mean, std, best = np.array([1.33, 0.9, 0.97, 0.5]), np.array([0.1, 0.05, 0.3, 0.0]), np.array([0.9, 0.85, 0.6, 0.4])
    draws = mean[:, None] + std[:, None] * rng.standard_normal((4, 400_000))
    monte_carlo = np.maximum(np.minimum(draws, 1.0) - best[:, None], 0.0).mean(1)
    bounded = expected_improvement(mean, std, best, ceiling=1.0)
    np.testing.assert_allclose(bounded, monte_carlo, atol=2e-3)
    assert bounded[0] <= 0.1 + 1e-12 < expected_improvement(mean[:1], std[:1], best[:1])[0]  # 0.43 unbounded
    assert bounded[3] == pytest.approx(0.1)  # std 0: min(mean, 1) - best
    assert expected_improvement(np.array([1.2]), np.array([0.2]), 1.0, ceiling=1.0)[0] == 0.0
    np.testing.assert_allclose(acquisition_scores("ei", mean, std, best, ceiling=1.0), bounded)
    np.testing.assert_allclose(acquisition_scores("ucb", mean, std, best, exploration=1.0, ceiling=1.0), mean + std)


def test_exploration_shifts_both_terms_consistently():
    mean, std = np.array([0.55, 0.6, 0.4]), np.array([0.1, 0.05, 0.2])
    xi = 0.03
    np.testing.assert_allclose(expected_improvement(mean, std, 0.5, xi), expected_improvement(mean - xi, std, 0.5))
    assert np.all(expected_improvement(mean, std, 0.5, xi) < expected_improvement(mean, std, 0.5))


def test_ucb_and_modes():
    mean, std, best, cost = np.array([0.5, 0.4]), np.array([0.1, 0.3]), np.array([0.5, 0.5]), np.array([2.0, 1.0])
    np.testing.assert_allclose(upper_confidence_bound(mean, std, 2.0), [0.7, 1.0])
    np.testing.assert_allclose(acquisition_scores("ucb", mean, std, best, exploration=2.0), [0.7, 1.0])
    ei = expected_improvement(mean, std, best)
    np.testing.assert_allclose(acquisition_scores("ei", mean, std, best), ei)
    np.testing.assert_allclose(acquisition_scores("ei_per_cost", mean, std, best, cost), ei / cost)
    with pytest.raises(ValueError, match="positive"):
        acquisition_scores("ei_per_cost", mean, std, best, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="acquisition"):
        acquisition_scores("pi", mean, std, best)


def test_cost_changes_the_choice():
    mean, std, best = np.array([0.6, 0.58]), np.array([0.05, 0.05]), np.array([0.5, 0.5])
    assert argmax(acquisition_scores("ei", mean, std, best)) == 0
    assert argmax(acquisition_scores("ei_per_cost", mean, std, best, np.array([10.0, 1.0]))) == 1


def test_cost_exponent_interpolates_between_ei_per_cost_and_ei():
    mean, std, best = np.array([0.6, 0.58]), np.array([0.05, 0.05]), np.array([0.5, 0.5])
    cost = np.array([10.0, 1.0])
    ei = acquisition_scores("ei", mean, std, best)
    assert acquisition_scores("ei_per_cost", mean, std, best, cost, cost_exponent=0.0) == pytest.approx(ei)
    assert acquisition_scores("ei_per_cost", mean, std, best, cost, cost_exponent=0.5) == pytest.approx(
        ei / np.sqrt(cost))
    with pytest.raises(ValueError, match="cost_exponent"):
        acquisition_scores("ei_per_cost", mean, std, best, cost, cost_exponent=1.5)


def test_cooled_cost_exponent_is_the_fraction_of_the_budget_left():
    """CArBO's cost cooling: 1 at the start, 0 at the end, linear in the budget spent; 1 when unknown."""
    assert cooled_cost_exponent(100.0, 100.0) == 1.0
    assert cooled_cost_exponent(25.0, 100.0) == pytest.approx(0.25)
    assert cooled_cost_exponent(0.0, 100.0) == 0.0
    assert cooled_cost_exponent(-5.0, 100.0) == 0.0  # a step that overran the budget
    assert cooled_cost_exponent(None, 100.0) == 1.0
    assert cooled_cost_exponent(50.0, None) == 1.0


def test_incumbent_at_budget_else_lower_budgets():
    best = incumbents_by_budget({0: [0.2, 0.5, 0.6], 1: [0.4, 0.45], 2: [0.1]})
    assert best == {1: 0.4, 2: 0.5, 3: 0.6}
    assert incumbent_at(best, 2) == 0.5
    assert incumbent_at(best, 7) == 0.6  # nothing at 7: best below it
    assert incumbent_at({3: 0.5}, 1) == -math.inf


def test_no_incumbent_means_improvement_over_zero():
    s = acquisition_scores("ei", np.array([0.3]), np.array([0.0]), np.array([-math.inf]))
    assert s[0] == pytest.approx(0.3)


def test_argmax_first_on_ties_and_ignores_nan():
    assert argmax(np.array([0.1, 0.3, 0.3])) == 1
    assert argmax(np.array([np.nan, 0.2])) == 1
