"""Training runs as jobs with a backlog and a delay cost per day; serving capacity per route from the serving
engine inside the optimiser; start-up claims checked by the co-design physics. Hand-computed small cases."""

from __future__ import annotations

import json
import types

import numpy as np
import pytest
from small_scenario import build, small

from chipplan.strategy import portfolio as pf
from chipplan.strategy.demand import DAYS_PER_QUARTER, BacklogJob
from chipplan.strategy.montecarlo import DemandModel, outcome, simulate
from chipplan.strategy.routes import ONE, Route, Spot
from chipplan.strategy.stochastic import Risk, solve_recourse_problem
from chipplan.units import HOURS_PER_QUARTER

PENALTY = 8.0  # USD per H100e-hour
DELAY = 1000.0  # USD per day late


def two_quarters(installed: float, spot_available: float, spot_price: float = 1.0):
    """2 quarters, 1 run of 100 H100e-quarters in quarter 0 (deadline: end of quarter 0), no routes bought."""
    job = BacklogJob(name="run", start_q=0, deadline_q=1, need_h100e=100.0, delay_usd_per_day=DELAY)
    demand = DemandModel(training_h100e=np.array([100.0, 0.0]), inference_h100e=np.zeros(2),
                         training_multiplier=ONE, inference_growth_multiplier=ONE, jobs=(job,))
    route = Route(id="buy", kind="buy", unit_price_usd=1e9, max_units=10.0)
    d = simulate((route,), demand, Spot(usd_per_h100e_hour=spot_price, available_h100e=spot_available), n=4,
                 seed=0, installed_h100e=np.full(2, installed))
    inp = types.SimpleNamespace(routes=(route,), penalty_usd_per_h100e_hour=PENALTY, budget_usd=())
    evaluated = outcome(d, np.zeros(1), penalty_usd_per_h100e_hour=PENALTY).cost_usd
    lp = solve_recourse_problem(pf.build_problem(inp, d), Risk())
    return evaluated, lp


def test_backlog_carries_over_and_costs_delay_per_day():
    # 60 H100e installed, no spot: quarter 0 does 60, the backlog of 40 at the deadline is 40/100 of a quarter
    # on the run's cluster (36.525 days late); quarter 1 works it off on the free 60
    ev, lp = two_quarters(installed=60.0, spot_available=0.0)
    late_days = 40 / 100 * DAYS_PER_QUARTER
    assert late_days == pytest.approx(36.525)
    assert ev == pytest.approx(np.full(4, late_days * DELAY))
    assert lp.objective * 1e6 == pytest.approx(late_days * DELAY, rel=1e-9)
    assert np.allclose(lp.x, 0.0)


def test_backlog_left_at_the_horizon_pays_the_penalty():
    # 30 installed: 70 late at the deadline (63.9 days); quarter 1 works off 30, and 40 are left at the horizon
    ev, lp = two_quarters(installed=30.0, spot_available=0.0)
    want = 70 / 100 * DAYS_PER_QUARTER * DELAY + 40 * HOURS_PER_QUARTER * PENALTY
    assert want == pytest.approx(63_918.75 + 701_280.0)
    assert ev == pytest.approx(np.full(4, want))
    assert lp.objective * 1e6 == pytest.approx(want, rel=1e-9)


def test_spot_in_the_window_only_where_it_beats_being_late():
    # 30 installed, spot at $1/H100e-hour ($2,191.5 per H100e-quarter). A late H100e-quarter costs the delay,
    # 91.3 days/100 x $1,000 = $913.1, plus doing it later: free (the 30 of quarter 1) or spot then ($2,191.5).
    # So 40 are rented in quarter 0 (2,191.5 < 913.1 + 2,191.5) and 30 are left late for quarter 1's free 30.
    ev, lp = two_quarters(installed=30.0, spot_available=1000.0)
    want = 40 * HOURS_PER_QUARTER * 1.0 + 30 / 100 * DAYS_PER_QUARTER * DELAY
    assert want == pytest.approx(87_660.0 + 27_393.75)
    assert lp.objective * 1e6 == pytest.approx(want, rel=1e-9)
    assert ev == pytest.approx(np.full(4, want))


SMALL = small(run={"delay_cost_usd_per_day": 2.0e6})


def test_backlog_job_from_the_scenario_and_greedy_bounds_the_lp(tmp_path):
    inp = build(tmp_path, SMALL)
    (job,) = inp.demand.jobs
    assert job.need_h100e == pytest.approx(2.0e7 / (2 * HOURS_PER_QUARTER))
    assert job.delay_usd_per_day == 2.0e6
    d = pf.run_monte_carlo(inp, 64, pf.OPT)
    opt = pf.optimise(inp, d)
    from chipplan.strategy.stochastic import _solve

    per = _solve(opt["problem"], Risk(), fixed_x=opt["x"]).scenario_costs * 1e6 + d.installed_cost_usd
    greedy = outcome(d, opt["units"], opt["go"], penalty_usd_per_h100e_hour=8.0).cost_usd
    # the closed-form recourse is feasible for the LP, so never cheaper than its optimum; here within 1 %
    assert (greedy >= per - 1e-6 * np.abs(per)).all()
    assert greedy.mean() == pytest.approx(per.mean(), rel=0.01)
    doc = json.loads(json.dumps(SMALL))
    doc["demand"]["training"][0]["delay_cost_usd_per_day"] = -1
    with pytest.raises(Exception, match=r"delay_cost_usd_per_day: must be in \[0.01, 1e\+11\] USD per day"):
        build(tmp_path, doc)


def split_case(factor: float):
    """One quarter, serving 100 reference accelerators, training 60: a route whose unit serves ``factor`` H100s
    but trains like one, beside H100s installed."""
    demand = DemandModel(training_h100e=np.array([60.0]), inference_h100e=np.array([100.0]),
                         training_multiplier=ONE, inference_growth_multiplier=ONE)
    route = Route(id="b", kind="buy", perf_per_unit=1.0, serving_perf_per_unit=factor, unit_price_usd=0.0,
                  max_units=1000.0)
    d = simulate((route,), demand, Spot(usd_per_h100e_hour=2.0, available_h100e=0.0), n=2, seed=0,
                 installed_h100e=np.array([60.0]))
    inp = types.SimpleNamespace(routes=(route,), penalty_usd_per_h100e_hour=PENALTY, budget_usd=())
    return d, inp


def test_serving_capacity_per_route_inside_the_optimiser():
    # 50 units serving 2 H100s each cover the 100 of serving; the 60 installed H100s train. A unit rated only by
    # its training ratio would need 100 units (100 + 60 = 160 H100e in all).
    d, inp = split_case(2.0)
    o = outcome(d, np.array([50.0]), penalty_usd_per_h100e_hour=PENALTY)
    assert o.cost_usd == pytest.approx(0.0, abs=1e-6)
    o = outcome(d, np.array([40.0]), penalty_usd_per_h100e_hour=PENALTY)  # 20 H100e short of training
    assert o.unmet_h100e[:, 0] == pytest.approx([20.0, 20.0])
    pb = pf.build_problem(inp, d)
    # fix the units at 40: the LP's recourse equals the closed form (the split is exact for two workloads)
    from chipplan.strategy.stochastic import _solve

    sol = _solve(pb, Risk(), fixed_x=np.array([40.0]))
    assert sol.scenario_costs * 1e6 == pytest.approx(o.cost_usd, rel=1e-9)
    assert sol.scenario_costs[0] * 1e6 == pytest.approx(20 * HOURS_PER_QUARTER * PENALTY)
    # a unit that serves worse than it trains (0.5 H100) trains first: 60 of the 100 units train, the other 40
    # serve 20, the installed 60 H100s serve 60, and 20 of serving is left (serving first would leave 40)
    d, inp = split_case(0.5)
    o = outcome(d, np.array([100.0]), penalty_usd_per_h100e_hour=PENALTY)
    assert o.unmet_h100e[0, 0] == pytest.approx(20.0)
    sol = _solve(pf.build_problem(inp, d), Risk(), fixed_x=np.array([100.0]))
    assert sol.scenario_costs * 1e6 == pytest.approx(o.cost_usd, rel=1e-9)
    # short of both: 20 units of factor 2 serve 40; the 60 installed train 60; 60 of serving is left
    d, inp = split_case(2.0)
    o = outcome(d, np.array([20.0]), penalty_usd_per_h100e_hour=PENALTY)
    assert o.unmet_h100e[0, 0] == pytest.approx(60.0)
    sol = _solve(pf.build_problem(inp, d), Risk(), fixed_x=np.array([20.0]))
    assert sol.scenario_costs * 1e6 == pytest.approx(o.cost_usd, rel=1e-9)


def test_inconsistent_claim_is_flagged_and_capped_by_physics(tmp_path):
    doc = json.loads(json.dumps(SMALL))
    doc["routes"]["chips"] = {"uses": "startup-wafer-scale", "claimed_perf_x": 100.0, "claimed_energy_x": 10000.0,
                              "evidence": "paper", "claim_discount": None}
    inp = build(tmp_path, doc)
    checks = {c["kind"]: c for c in inp.claims["chips"]}
    e = checks["energy_efficiency"]
    # 10,000x an H100's 0.71 pJ/FLOP is far below the digital BF16 floor at N5 (0.182 pJ/FLOP): at most 3.89x
    assert e["verdict"] == "inconsistent"
    assert e["physical_bound_x"] == pytest.approx(0.7075 / 0.182, rel=1e-3)
    assert e["kept_x"] == e["physical_bound_x"]
    r = {x.id: x for x in inp.routes}["chips"]
    assert r.usd_per_hour == pytest.approx(12.0 / (1 + (e["kept_x"] - 1) * 0.25))
    # 100x compute fits a wafer of MACs (power is not stated): flagged, not capped
    c = checks["compute_multiple"]
    assert c["verdict"].startswith("consistent only if") and c["kept_x"] == 100.0
    assert r.perf_per_unit == pytest.approx(100.0 * 0.25)
    # with a stated power budget of 5 kW the multiple is inconsistent: capped at what 5 kW allows
    doc["routes"]["chips"]["claim_power_w"] = 1000.0
    inp = build(tmp_path, doc)
    c = {x["kind"]: x for x in inp.claims["chips"]}["compute_multiple"]
    assert c["verdict"] == "inconsistent" and c["kept_x"] < 100.0
    assert {x.id: x for x in inp.routes}["chips"].perf_per_unit == pytest.approx(c["kept_x"] * 0.25)
    assert "capped at the physical bound" in inp.provenance["performance"]["routes.chips.perf_per_unit"]


def test_one_uncertainty_vocabulary(tmp_path):
    # the strategy's {p5, p95} multipliers and (low, mode, high) triangles also take the shared vocabulary's
    # named forms (docs/scenario.md, "Uncertain inputs"), with the same meaning
    doc = json.loads(json.dumps(SMALL))
    doc["demand"]["training_uncertainty"] = {"dist": "lognormal", "p5": 0.8, "p95": 1.3}
    doc["routes"]["buy"]["lead_time_quarters"] = {"dist": "triangular", "low": 1, "mode": 2, "high": 3}
    a = build(tmp_path, doc)
    b = build(tmp_path, {**SMALL, "routes": {**SMALL["routes"], "buy": {**SMALL["routes"]["buy"],
                                                                         "lead_time_quarters": [1, 2, 3]}}})
    assert a.demand.training_multiplier == b.demand.training_multiplier
    ra, rb = ({r.id: r for r in x.routes}["buy"] for x in (a, b))
    assert ra.lead_time_q == rb.lead_time_q
    doc["demand"]["training_uncertainty"] = {"dist": "normal", "mean": 1, "sd": 0.1}
    with pytest.raises(Exception, match=r"demand\.training_uncertainty"):
        build(tmp_path, doc)


def test_engine_ratings_are_cached_on_disk(tmp_path, monkeypatch):
    from chipplan.strategy import demand as dm

    monkeypatch.setenv(dm.CACHE_ENV, str(tmp_path))
    calls = []

    def compute() -> dict:
        calls.append(1)
        return {"tps": 123.0}

    key = {"model": "m", "accelerator": "a"}
    assert dm.disk_cached("serving", key, compute) == {"tps": 123.0}
    assert dm.disk_cached("serving", key, compute) == {"tps": 123.0}
    assert len(calls) == 1 and len(list((tmp_path / "strategy").glob("serving-*.json"))) == 1
    assert dm.disk_cached("serving", {**key, "accelerator": "b"}, compute) == {"tps": 123.0}
    assert len(calls) == 2  # other inputs: computed again
    monkeypatch.setenv(dm.CACHE_ENV, "off")
    dm.disk_cached("serving", key, compute)
    assert len(calls) == 3
