"""Generic two-stage program: the Birge & Louveaux farmer problem, exact, and CVaR/EVPI/VSS invariants."""

from __future__ import annotations

import numpy as np
import pytest
from farmer import farmer
from hypothesis import given, settings
from hypothesis import strategies as st

from chipplan.errors import FieldError
from chipplan.strategy.stochastic import (
    Risk,
    TwoStageProblem,
    cvar,
    evaluate,
    solve_recourse_problem,
    value_of_information,
)


@pytest.fixture(scope="module")
def voi():
    return value_of_information(farmer())


def test_farmer_recourse_problem_exact(voi):
    # Birge & Louveaux (2011) §1.1: plant 170 wheat, 80 corn, 250 beets; expected profit 108,390
    assert np.allclose(voi.rp.x, [170, 80, 250], atol=1e-6)
    assert round(voi.rp.objective) == -108_390


def test_farmer_wait_and_see_and_evpi_exact(voi):
    assert round(voi.ws) == -115_406
    assert round(voi.evpi) == 7_016


def test_farmer_expected_value_solution_exact(voi):
    assert np.allclose(voi.ev_x, [120, 80, 300], atol=1e-6)
    assert round(voi.ev) == -118_600
    assert round(voi.eev) == -107_240
    assert round(voi.vss) == 1_150


def test_evaluate_fixed_decision_matches_eev(voi):
    assert evaluate(farmer(), np.array([120.0, 80.0, 300.0])).objective == pytest.approx(-107_240, abs=1e-6)


def test_risk_averse_farmer_objective_between_mean_and_cvar():
    sol = solve_recourse_problem(farmer(), Risk(weight=0.5, alpha=0.6))
    # the risk-averse plan gives up expected profit for a better bad year
    assert sol.expected_cost > -108_390 + 1
    assert sol.cvar_cost >= sol.expected_cost
    assert sol.objective == pytest.approx(0.5 * sol.expected_cost + 0.5 * sol.cvar_cost)
    neutral = evaluate(farmer(), np.array([170.0, 80.0, 250.0]), Risk(weight=0.5, alpha=0.6))
    assert sol.objective <= neutral.objective + 1e-6


def test_cvar_hand_computed():
    c = np.array([1.0, 2.0, 3.0, 10.0])
    assert cvar(c, alpha=0.75) == pytest.approx(10.0)  # worst quarter
    assert cvar(c, alpha=0.5) == pytest.approx(6.5)  # mean of the worst half
    assert cvar(c, alpha=0.0) == pytest.approx(4.0)  # the mean
    assert cvar(np.array([0.0, 10.0]), np.array([0.9, 0.1]), alpha=0.8) == pytest.approx(5.0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=40), st.floats(0, 0.99))
def test_cvar_never_below_mean(costs, alpha):
    c = np.array(costs)
    assert cvar(c, alpha=alpha) >= c.mean() - 1e-9 * max(1.0, np.abs(c).max())


@settings(max_examples=8, deadline=None)
@given(st.lists(st.floats(0.5, 1.5), min_size=2, max_size=4))
def test_evpi_and_vss_non_negative(factors):
    v = value_of_information(farmer(tuple(factors)))
    assert v.evpi >= 0
    assert v.vss >= 0


def test_probabilities_outside_unit_interval_rejected():
    pb = farmer()
    with pytest.raises(FieldError, match=r"prob: every probability must be in \[0, 1\]"):
        TwoStageProblem(c=pb.c, prob=np.array([1.5, -0.25, -0.25]), T=pb.T, W=pb.W, h=pb.h, q=pb.q, sense=pb.sense)
    with pytest.raises(FieldError, match="prob: must sum to 1"):
        TwoStageProblem(c=pb.c, prob=np.array([0.5, 0.2, 0.2]), T=pb.T, W=pb.W, h=pb.h, q=pb.q, sense=pb.sense)
    with pytest.raises(FieldError, match=r"risk\.alpha"):
        Risk(alpha=1.0)


def test_fixed_charge_mip_whose_relaxation_is_fractional():
    """Units u at $1 each need a go/no-go g (u <= 10 g) that costs $10; demand 4 or 8 (equally likely), unmet
    demand $3.50 a unit. The relaxation buys u = 4 at g = 0.4 (objective 15, every unit then costs $2 and the
    second four are worth only 0.5 x 3.5 = $1.75). The integer optimum is g = 1, u = 8: 10 + 8 = 18, against
    21 for g = 0 (0.5 x (4 + 8) x 3.5) and 21 for g = 1, u = 4. The solver's relaxation-first path must still
    branch here."""
    pb = TwoStageProblem(
        c=np.array([1.0, 10.0]), prob=np.array([0.5, 0.5]),
        T=np.array([[[1.0, 0.0]], [[1.0, 0.0]]]), W=np.array([[1.0]]), h=np.array([[4.0], [8.0]]),
        q=np.array([3.5]), sense=(">=",), x_upper=np.array([10.0, 1.0]), x_integer=np.array([False, True]),
        A=np.array([[1.0, -10.0]]), b=np.array([0.0]), A_sense=("<=",))
    sol = solve_recourse_problem(pb)
    assert np.allclose(sol.x, [8.0, 1.0], atol=1e-6)
    assert sol.objective == pytest.approx(18.0, abs=1e-6)
    relaxed = solve_recourse_problem(TwoStageProblem(**{**pb.__dict__, "x_integer": np.array([False, False])}))
    assert np.allclose(relaxed.x, [4.0, 0.4], atol=1e-6) and relaxed.objective == pytest.approx(15.0, abs=1e-6)
