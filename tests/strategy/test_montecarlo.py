"""Monte Carlo of deliveries: seeded reproducibility, invariants, and agreement with the LP recourse."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chipplan.errors import FieldError
from chipplan.strategy.montecarlo import DemandModel, outcome, simulate, summarise
from chipplan.strategy.portfolio import build_problem, shares
from chipplan.strategy.routes import Bottleneck, Event, LogNormal90, Route, Spot, Triangular
from chipplan.strategy.stochastic import evaluate

T = 8
ROUTES = (
    Route(id="buy", kind="buy", unit_price_usd=30_000, usd_per_hour=0.45, max_units=50_000,
          lead_time_q=Triangular(low=1, mode=2, high=3), ramp_q=1, allocation=Triangular(low=0.5, mode=0.8, high=1),
          exposure={"cowos": 1.0, "export": 1.0}),
    Route(id="asic", kind="custom_asic", unit_price_usd=10_000, fixed_cost_usd=3e8, perf_per_unit=1.3,
          max_units=50_000, lead_time_q=Triangular(low=3, mode=4, high=6), ramp_q=2, success_probability=0.7,
          respin_probability=0.3, respin_delay_q=1, max_respins=1, exposure={"cowos": 1.0}),
    Route(id="startup", kind="startup", unit_price_usd=20_000, fixed_cost_usd=5e7, perf_per_unit=2.0,
          perf_uncertainty=LogNormal90(p5=0.3, p95=1.2), success_probability=0.3, exit_multiple=2.0,
          max_units=5_000, lead_time_q=Triangular(low=1, mode=2, high=4), exposure={"divest": 1.0}),
    Route(id="reserved", kind="cloud_reserved", usd_per_hour=2.4, max_units=30_000,
          allocation=Triangular(low=0.7, mode=0.9, high=1)),
)
BOTTLENECKS = (Bottleneck(id="cowos", probability=0.4, start_q=Triangular(low=0, mode=2, high=6),
                          duration_q=Triangular(low=1, mode=2, high=3), severity=Triangular(low=0.2, mode=0.5, high=1),
                          spot_price_uplift=0.5, spot_exposure=0.3),)
EVENTS = (Event(id="export", kind="export_control", probability=0.2, time_q=Triangular(low=0, mode=3, high=8)),
          Event(id="divest", kind="divestment", probability=0.3, time_q=Triangular(low=1, mode=3, high=7),
                discount=0.4))
DEMAND = DemandModel(training_h100e=np.r_[0, 0, 30_000, 30_000, 0, 0, 0, 0.0],
                     inference_h100e=10_000 * 1.5 ** (np.arange(T) / 4),
                     training_multiplier=LogNormal90(p5=0.7, p95=1.5),
                     inference_growth_multiplier=LogNormal90(p5=0.8, p95=1.3))
SPOT = Spot(usd_per_h100e_hour=3.0, price_shock=LogNormal90(p5=0.6, p95=1.6), available_h100e=10_000)


def sim(n: int = 2000, seed: int = 7, **kw):
    args = {"bottlenecks": BOTTLENECKS, "events": EVENTS, "bottleneck_correlation": 0.5} | kw
    return simulate(ROUTES, DEMAND, SPOT, n=n, seed=seed, **args)


def test_same_seed_bit_identical_and_other_seed_differs():
    a, b, c = sim(seed=3), sim(seed=3), sim(seed=4)
    for f in ("online", "unit_cost_usd", "fixed_cost_usd", "demand_h100e", "spot_usd_per_h100e_hour"):
        assert np.array_equal(getattr(a, f), getattr(b, f))
    assert not np.array_equal(a.online, c.online)


def test_online_bounded_and_monotone_without_divestment():
    d = sim(events=EVENTS[:1])
    perf_cap = np.array([1.0, 1.3, 2.0 * 1.2 * 3, 1.0])  # start-up perf can exceed its claim by its p95 tail
    assert (d.online >= 0).all()
    assert (d.online[:, [0, 1, 3]] <= perf_cap[[0, 1, 3], None] + 1e-12).all()
    # without forced divestment, delivered capacity never falls over time
    assert (np.diff(d.online, axis=2) >= -1e-12).all()


def test_success_probability_and_respins_match_sampling():
    d = sim(n=20_000, bottlenecks=(), events=())
    delivered = d.online[:, 1, -1] > 0  # asic: success 0.7 × (no respin, or one respin allowed) = 0.7 × (1 − 0.3²)
    assert delivered.mean() == pytest.approx(0.7 * (1 - 0.09), abs=0.015)


def test_closed_form_recourse_equals_lp_recourse():
    d = sim(n=40)
    units = np.array([20_000.0, 10_000.0, 1_000.0, 5_000.0])

    class Inp:  # the few fields build_problem needs
        routes = ROUTES
        penalty_usd_per_h100e_hour = 9.0

    pb = build_problem(Inp, d)
    x = np.concatenate([units, [1.0, 1.0]])
    lp = evaluate(pb, x)
    o = outcome(d, units, np.array([True, True, True, True]), penalty_usd_per_h100e_hour=9.0)
    assert lp.scenario_costs * 1e6 == pytest.approx(o.cost_usd, rel=1e-9)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(0, 40_000), min_size=4, max_size=4), st.integers(0, 3), st.floats(0, 20_000))
def test_more_capacity_never_raises_shortfall(units, route, extra):
    d = sim(n=300)
    u = np.array(units)
    more = u.copy()
    more[route] += extra
    a = outcome(d, u, penalty_usd_per_h100e_hour=9.0)
    b = outcome(d, more, penalty_usd_per_h100e_hour=9.0)
    assert (b.gap_h100e <= a.gap_h100e + 1e-9).all()
    assert (b.unmet_h100e <= a.unmet_h100e + 1e-9).all()
    sa, sb = summarise(a, d.demand_h100e), summarise(b, d.demand_h100e)
    assert sb["shortfall_probability"] <= sa["shortfall_probability"]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(0, 40_000), min_size=4, max_size=4))
def test_shares_sum_to_one(units):
    d = sim(n=200)
    o = outcome(d, np.array(units), penalty_usd_per_h100e_hour=9.0)
    s = shares(d, np.array(units), o.spot_h100e)
    assert sum(s.values()) == pytest.approx(1.0)
    assert all(v >= 0 for v in s.values())


def test_summary_hand_case():
    d = sim(n=500)
    o = outcome(d, np.zeros(4), penalty_usd_per_h100e_hour=9.0)
    s = summarise(o, d.demand_h100e)
    assert s["shortfall_probability"] == 1.0  # nothing committed: always short
    assert s["quarters_until_demand_met"]["never_probability"] == 1.0
    assert np.all(s["fan_chart_h100e"]["p95"] == 0)


@pytest.mark.parametrize(("make", "msg"), [
    (lambda: Route(id="r", kind="buy", lead_time_q=Triangular(low=-1, mode=0, high=1)), "routes.r.lead_time_q.low"),
    (lambda: Route(id="r", kind="custom_asic", success_probability=1.2),
     r"routes.r.success_probability: must be in \[0, 1\]"),
    (lambda: Route(id="r", kind="teleport"), "routes.r.kind: must be one of"),
    (lambda: Event(id="e", kind="divestment", probability=-0.1, time_q=Triangular(low=0, mode=1, high=2)),
     r"events.e.probability: must be in \[0, 1\]"),
])
def test_bad_inputs_name_the_field(make, msg):
    with pytest.raises(FieldError, match=msg):
        make()
