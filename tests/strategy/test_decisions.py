"""Decisions a planner can act on: stable answers with their sampling error, an installed fleet, budgets,
deadline-bound runs, events as they happen, costs from the cost engine, the price-demand equilibrium."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from small_scenario import build, small

from chipplan.errors import FieldError
from chipplan.strategy import portfolio as pf
from chipplan.strategy import scenario as sc
from chipplan.strategy.montecarlo import DemandModel, rng_for, simulate
from chipplan.strategy.routes import Event, LogNormal90, Route, Spot, Triangular

SMALL = small(run={"on_time_probability": 0.9}, routes={"asic": {"uses": "partner-asic"}},
              risk={"weight": 0.3, "alpha": 0.9})


def total_units(r: dict) -> dict[str, float]:
    return {k: v["units"] for k, v in r["portfolio"].items()}


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> tuple[sc.StrategyInputs, dict]:
    inp = build(tmp_path_factory.mktemp("s"), SMALL)
    return inp, pf.plan(inp, tornado_scenarios=None)


def test_evaluation_size_never_changes_the_decision(tmp_path):
    a = pf.plan(build(tmp_path, SMALL, scenarios=20_000), tornado_scenarios=0, with_stability=False)
    b = pf.plan(build(tmp_path, SMALL, scenarios=100_000), tornado_scenarios=0, with_stability=False)
    assert total_units(a) == total_units(b)
    assert a["monte_carlo_scenarios"] == 20_000 and b["monte_carlo_scenarios"] == 100_000


def test_streams_are_independent_and_reproducible():
    u0 = rng_for(3, 0).random(5)
    assert np.array_equal(u0, rng_for(3, 0).random(5))
    assert not np.array_equal(u0, rng_for(3, 1).random(5))
    assert not np.array_equal(u0, rng_for(4, 0).random(5))


def test_stability_object(small):
    _, r = small
    st = r["stability"]
    assert st["replications"] >= 10
    lo, hi = st["optimality_gap_usd"]["ci95"]
    assert 0 <= lo <= st["optimality_gap_usd"]["mean"] <= hi
    assert "Mak, Morton & Wood" in st["optimality_gap_usd"]["method"]
    for k in ("evpi_usd", "evpi_usd_se", "vss_usd", "vss_usd_se"):
        assert np.isfinite(st[k]), k
    assert st["evpi_usd"] >= -3 * st["evpi_usd_se"] - 1.0
    assert st["vss_usd_se"] >= 0 and st["evpi_usd_se"] >= 0
    # with quasi-random scenarios the committed capacity barely moves between batches
    assert st["committed_workload_h100e"]["cv"] < 0.05
    assert r["evpi_usd"] == st["evpi_usd"] and r["vss_usd"] == st["vss_usd"]


def test_tornado_on_the_same_scenarios_with_engine_lead_time_and_allocation_rows(small):
    inp, r = small
    head, *rows = r["tornado"]
    assert head["scenarios"] == inp.optimisation_scenarios
    assert "same" in head["note"]
    assert head["base_objective_usd"] == pytest.approx(r["value_of_information"]["rp_in_sample_usd"])
    names = {t["parameter"] for t in rows}
    assert {"engine performance ratios", "lead times", "allocation", "demand level"} <= names
    for t in rows:
        assert isinstance(t["decision_changes"], bool)
    # the flag follows the 5 % rule
    base = head["units"]
    tot = sum(base.values())
    for t in rows:
        moved = any(abs(base.get(k, 0) - t[s].get(k, 0)) > 0.05 * max(base.get(k, 0), 1e-9)
                    and abs(base.get(k, 0) - t[s].get(k, 0)) > 0.005 * tot
                    for s in ("units_low", "units_high") for k in set(base) | set(t[s]))
        assert t["decision_changes"] == moved


def test_chance_constraint_holds_out_of_sample(small):
    _, r = small
    (run,) = r["training_runs"]
    assert run["route"] is not None
    # the units were sized on their own 20,000-scenario sample; the evaluation sample is independent
    assert run["on_time_probability_out_of_sample"] >= run["target_probability"] - 0.02
    assert r["portfolio"][run["route"]]["units"] >= run["units_required"] - 1e-6


def test_chance_constraint_binding_is_within_two_points(tmp_path):
    doc = json.loads(json.dumps(SMALL))
    doc["demand"]["serving"][0]["users"] = 1.0e5  # tiny serving load: the run alone sizes the fleet
    doc["unmet_penalty_usd_per_h100e_hour"] = 3.0
    doc["routes"] = {"buy": {"uses": "merchant-h100", "max_units": 60000}}
    doc["spot"] = {"available_h100e": 1.0e6}
    inp = build(tmp_path, doc, scenarios=20_000)
    r = pf.plan(inp, tornado_scenarios=0, with_stability=False)
    (run,) = r["training_runs"]
    assert r["portfolio"]["buy"]["units"] == pytest.approx(run["units_required"], rel=1e-6)
    assert run["on_time_probability_out_of_sample"] == pytest.approx(0.9, abs=0.02)


def test_installed_fleet_covers_quarter_zero(tmp_path):
    doc = json.loads(json.dumps(SMALL))
    doc["installed"] = [{"accelerator": "h100-sxm-80gb", "units": 6000, "age_years": 4.0}]
    inp = build(tmp_path, doc)
    r = pf.plan(inp, tornado_scenarios=0, with_stability=False)
    assert r["quarters"][0]["p_short"] == 0.0
    (g,) = r["installed"]
    # bought 4 years ago with a 5-year life: retires when 4 + (t + ½)/4 reaches 5, in quarter 4
    assert g["retires_quarter"] == 4
    assert r["quarters"][3]["installed_h100e"] == 6000 and r["quarters"][4]["installed_h100e"] == 0
    assert g["resale_pv_usd"] > 0 and g["hosting_pv_usd"] > 0


def test_budget_caps_expected_yearly_spend(tmp_path):
    doc = json.loads(json.dumps(SMALL))
    doc["demand"]["training"][0].pop("on_time_probability")
    free = pf.plan(build(tmp_path, doc), tornado_scenarios=0, with_stability=False)
    doc["budget_usd"] = 2.0e8
    capped = pf.plan(build(tmp_path, doc), tornado_scenarios=0, with_stability=False)
    spend = capped["budget"]["expected_spend_usd"]
    assert all(s <= 2.0e8 * (1 + 1e-6) for s in spend)
    assert capped["objective_usd"] >= free["objective_usd"] - 1e-6 * abs(free["objective_usd"])
    doc["budget_usd"] = [1e9]
    with pytest.raises(FieldError, match="budget_usd"):
        build(tmp_path, doc)


def test_price_demand_bounded_for_seeds_0_to_9(tmp_path):
    doc = json.loads(json.dumps(SMALL))
    doc["demand"]["training"][0].pop("on_time_probability")
    doc["optimisation_scenarios"] = 32
    doc["price_demand"] = {"elasticity": 1.5, "margin": 0.6}
    for seed in range(10):
        inp = build(tmp_path, doc, seed=seed, scenarios=2000)
        r = pf.plan(inp, tornado_scenarios=0, with_stability=False)["price_demand"]
        assert set(r) >= {"converged", "passes", "demand_multipliers", "prices_usd_per_mtok"}
        assert all(m > 0 for m in r["demand_multipliers"]), seed
        assert all(p <= 10 * r["reference_price_usd_per_mtok"] for p in r["prices_usd_per_mtok"]), seed
        assert r["converged"] or "held fixed" in r["note"]
        assert r["market"] == "market_power" and r["served_tokens"] > 0


def test_price_taker_demand_does_not_move(tmp_path):
    doc = json.loads(json.dumps(SMALL))
    doc["price_demand"] = {"market": "price_taker"}
    r = pf.plan(build(tmp_path, doc), tornado_scenarios=0, with_stability=False)["price_demand"]
    assert np.allclose(r["demand_multipliers"], 1.0)


def test_multistage_evpi_not_above_two_stage(tmp_path):
    doc = json.loads(json.dumps(SMALL))
    doc["demand"]["training"][0].pop("on_time_probability")
    doc["optimisation_scenarios"] = 32
    doc["multistage"] = {"decision_quarter": 2, "branches": 4}
    r = pf.plan(build(tmp_path, doc), tornado_scenarios=0, with_stability=False)["multistage"]
    assert r["rp_usd"] <= r["two_stage_rp_usd"] * (1 + 1e-9)
    assert 0 <= r["evpi_usd"] <= r["two_stage_evpi_usd"] + 1e-6 * abs(r["two_stage_evpi_usd"])
    assert len(r["recourse_units_by_branch"]) == 4


def test_route_cost_matches_the_cost_engine_within_5_percent(tmp_path):
    doc = json.loads(json.dumps(SMALL))
    doc["horizon_quarters"] = 12
    doc["demand"]["training"] = [{"name": "run", "accelerator_hours": 2.0e7, "start_quarter": 2,
                                  "deadline_quarter": 4}]
    doc["routes"] = {"buy": {"uses": "merchant-h100", "lead_time_quarters": [0, 0, 0], "ramp_quarters": 0,
                             "allocation": [1, 1, 1], "price_shock": {"p5": 1, "p95": 1}, "exposure": {}},
                     "rent": {"uses": "cloud-reserved-h100", "lead_time_quarters": [0, 0, 0],
                              "allocation": [1, 1, 1]}}
    inp = build(tmp_path, doc)
    r = pf.plan(inp, tornado_scenarios=0, with_stability=False)
    for rid in ("buy", "rent"):
        p = r["portfolio"][rid]
        assert p["usd_per_delivered_h100e_hour"] == pytest.approx(p["cost_engine_usd_per_h100e_hour"], rel=0.05), rid
    assert "system_tco for dgx-h100" in inp.provenance["performance"]["routes.buy.unit_price_usd"]
    assert "cloud table" in inp.provenance["performance"]["routes.rent.usd_per_hour"]


# ---------------------------------------------------------------------------------------------- events
T = 8
DEMAND = DemandModel(training_h100e=np.zeros(T), inference_h100e=np.full(T, 1000.0),
                     training_multiplier=LogNormal90(p5=1, p95=1), inference_growth_multiplier=LogNormal90(p5=1, p95=1))
SPOT = Spot(usd_per_h100e_hour=3.0)
START = Route(id="startup", kind="startup", unit_price_usd=20_000, fixed_cost_usd=1e8, perf_per_unit=2.0,
              success_probability=0.5, exit_multiple=2.0, max_units=5_000,
              lead_time_q=Triangular(low=1, mode=1, high=1), exposure={"sale": 1.0, "exit": 1.0})


def _sim(events, routes=(START,), n=4000):
    return simulate(routes, DEMAND, SPOT, events=events, n=n, seed=5)


def test_forced_sale_pays_value_less_discount_and_nothing_if_failed():
    sale = Event(id="sale", kind="divestment", probability=1.0, time_q=Triangular(low=2, mode=2, high=2),
                 discount=0.4)
    d = _sim((sale,))
    delivered = d.online[:, 0, -1] > 0  # the start-up succeeded
    # succeeded: ticket back at 2x value less the 40 % forced-sale discount; failed: nothing comes back
    assert np.allclose(d.fixed_cost_usd[delivered, 0], 1e8 - 1e8 * 2.0 * 0.6)
    assert np.allclose(d.fixed_cost_usd[~delivered, 0], 1e8)
    # selling the stake does not take delivered chips offline
    assert (np.diff(d.online[delivered, 0], axis=1) >= -1e-12).all()
    lost = _sim((dataclasses.replace(sale, service_loss=True),))
    assert (lost.online[:, 0, 3:] == 0).all()


def test_investor_exit_delays_and_lowers_success_but_keeps_chips():
    base = _sim(())
    ex = Event(id="exit", kind="investor_exit", probability=1.0, time_q=Triangular(low=0, mode=0, high=0),
               delay_quarters=2, success_factor=0.5, financing_gap_usd=3e7)
    d = _sim((ex,))
    assert (d.online[:, 0, :3] == 0).all()  # first delivery at 1 + 2 quarters
    assert (d.online[:, 0, -1] > 0).mean() == pytest.approx(0.25, abs=0.03)
    assert (base.online[:, 0, -1] > 0).mean() == pytest.approx(0.5, abs=0.03)
    # the financing gap is paid whether or not the start-up then delivers
    failed = d.online[:, 0, -1] == 0
    assert np.allclose(d.fixed_cost_usd[failed, 0], 1e8 + 3e7)
    assert (np.diff(d.online[:, 0], axis=1) >= -1e-12).all()


def test_export_control_on_named_routes_and_quarters(tmp_path):
    doc = json.loads(json.dumps(SMALL))
    doc["events"] = {"rule": {"kind": "export_control", "probability": 1.0, "quarters": [1, 3], "routes": ["buy"]}}
    doc["bottlenecks"] = {}
    doc["routes"]["buy"].update(lead_time_quarters=[0, 0, 0], ramp_quarters=4, allocation=[1, 1, 1],
                                exposure={})
    doc["routes"]["asic"]["exposure"] = {}
    inp = build(tmp_path, doc)
    d = pf.run_monte_carlo(inp, 200)
    buy = list(d.route_ids).index("buy")
    rent = list(d.route_ids).index("rent")
    on = d.online[:, buy, :] / inp.routes[buy].perf_per_unit
    # a 4-quarter ramp from 0: 1/8 delivered by the middle of quarter 0; frozen at 1/4 (the control starts at
    # quarter 1) through quarter 2, then the pipeline resumes 2 quarters late: (3.5 − 2)/4 and (5.5 − 2)/4
    assert np.allclose(on[:, 1], 0.25) and np.allclose(on[:, 2], 0.25)
    assert np.allclose(on[:, 3], 0.375) and np.allclose(on[:, 5], 0.875)
    assert inp.routes[rent].exposure.get("rule", 0) == 0  # only the named route is hit


def test_claims_as_fields(tmp_path):
    doc = json.loads(json.dumps(SMALL))
    doc["routes"]["chips"] = {"uses": "startup-wafer-scale", "claimed_perf_x": 100.0, "claimed_energy_x": 10000.0,
                              "evidence": "paper", "claim_discount": None}
    inp = build(tmp_path, doc)
    r = {x.id: x for x in inp.routes}["chips"]
    # no discount given: the catalog's default for a paper claim (0.25)
    assert r.perf_per_unit == pytest.approx(100.0 * 0.25)
    assert r.claimed_perf_x == 100.0 and r.evidence == "paper"
    # 10,000x energy efficiency is beyond the digital floor: the co-design check caps it at its physical bound
    kept = {c["kind"]: c for c in inp.claims["chips"]}["energy_efficiency"]["kept_x"]
    assert kept < 10
    assert r.usd_per_hour == pytest.approx(12.0 / (1 + (kept - 1) * 0.25))
    doc["routes"]["chips"]["claim_discount"] = 0.05
    assert {x.id: x for x in build(tmp_path, doc).routes}["chips"].perf_per_unit == pytest.approx(5.0)


def test_stage_gates_and_kill_option():
    asic = Route(id="asic", kind="custom_asic", unit_price_usd=10_000, fixed_cost_usd=1e8, max_units=1000,
                 lead_time_q=Triangular(low=8, mode=8, high=8), success_probability=0.5,
                 gate_fractions=(0.0, 0.5, 0.75), nre_shares=(0.6, 0.3, 0.1))
    d = simulate((asic,), DEMAND, SPOT, n=4000, seed=1, discount_rate=0.0)
    ok = ~d.killed[:, 0]
    assert d.killed[:, 0].mean() == pytest.approx(0.5, abs=0.03)
    # a killed programme pays spec and tape-out, not the bring-up share
    assert np.allclose(d.fixed_cost_usd[ok, 0], 1e8) and np.allclose(d.fixed_cost_usd[~ok, 0], 0.9e8)
    # NRE lands in the years of its gates: spec in year 0, tape-out (quarter 4) and bring-up (6) in year 1
    assert np.allclose(d.nre_by_year_usd[ok, 0, 0], 0.6e8) and np.allclose(d.nre_by_year_usd[ok, 0, 1], 0.4e8)
