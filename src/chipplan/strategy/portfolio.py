"""The sourcing decision: a two-stage stochastic program over Monte Carlo scenarios of deliveries.

First stage (here and now): ``units_r`` committed on each route (orders, reservations, chip programmes,
investments) and, for routes with a fixed cost (NRE, equity ticket), a go/no-go binary ``go_r`` with
``units_r <= max_units_r · go_r``. Second stage per scenario and quarter: spot rental ``spot_t`` (up to what
the market offers) and unmet demand ``unmet_t`` (delay, at a penalty), with

    Σ_r online[s, r, t] · units_r + spot_t + unmet_t >= demand[s, t].

Scenario cost = Σ_r (unit_cost[s, r] · units_r + fixed_cost[s, r] · go_r) + Σ_t (spot price · spot_t +
penalty · unmet_t) · hours per quarter. The objective (1-λ)·E + λ·CVaR_α is solved by HiGHS through linopy on
the first ``optimisation_scenarios`` Monte Carlo scenarios (costs in $M inside the LP for conditioning); the
chosen portfolio and deterministic policies are then evaluated on every Monte Carlo scenario.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from chipplan.errors import InfeasibleError
from chipplan.strategy import elasticity
from chipplan.strategy.montecarlo import Deliveries, outcome, simulate, summarise
from chipplan.strategy.scenario import StrategyInputs
from chipplan.strategy.stochastic import (
    Risk,
    TwoStageProblem,
    cvar,
    solve_recourse_problem,
    value_of_information,
)
from chipplan.units import HOURS_PER_QUARTER

MUSD = 1e6


def run_monte_carlo(inp: StrategyInputs, n: int | None = None) -> Deliveries:
    return simulate(inp.routes, inp.demand, inp.spot, bottlenecks=inp.bottlenecks, events=inp.events,
                    bottleneck_correlation=inp.bottleneck_correlation,
                    n=inp.monte_carlo_scenarios if n is None else n, seed=inp.seed)


def build_problem(inp: StrategyInputs, d: Deliveries) -> TwoStageProblem:
    """The extensive-form arrays for scenarios ``d`` (equally likely)."""
    S, R, T = d.online.shape
    prog = [i for i, r in enumerate(inp.routes) if r.has_programme]
    n1 = R + len(prog)
    c_s = np.zeros((S, n1))
    c_s[:, :R] = d.unit_cost_usd / MUSD
    c_s[:, R:] = d.fixed_cost_usd[:, prog] / MUSD
    Tm = np.zeros((S, T, n1))
    Tm[:, :, :R] = np.transpose(d.online, (0, 2, 1))
    W = np.hstack([np.eye(T), np.eye(T)])
    q = np.hstack([d.spot_usd_per_h100e_hour, np.full((S, T), inp.penalty_usd_per_h100e_hour)]) * (
        HOURS_PER_QUARTER / MUSD)
    y_upper = np.hstack([d.spot_available_h100e, np.full((S, T), np.inf)])
    upper = np.array([r.max_units for r in inp.routes] + [1.0] * len(prog))
    integer = np.array([False] * R + [True] * len(prog))
    A = np.zeros((len(prog), n1))
    for k, i in enumerate(prog):
        A[k, i] = 1.0
        A[k, R + k] = -inp.routes[i].max_units
    return TwoStageProblem(
        c=np.zeros(n1), c_s=c_s, prob=np.full(S, 1.0 / S), T=Tm, W=W, h=d.demand_h100e, q=q,
        sense=(">=",) * T, x_lower=np.zeros(n1), x_upper=upper, x_integer=integer,
        A=A if prog else None, b=np.zeros(len(prog)) if prog else None, A_sense=("<=",) * len(prog),
        y_upper=y_upper, x_names=tuple(f"units:{r.id}" for r in inp.routes)
        + tuple(f"go:{inp.routes[i].id}" for i in prog),
        y_names=tuple(f"spot:{t}" for t in range(T)) + tuple(f"unmet:{t}" for t in range(T)))


def _split(inp: StrategyInputs, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    R = len(inp.routes)
    units = np.maximum(np.asarray(x[:R], dtype=float), 0.0)
    units = np.where(units < 1e-6, 0.0, units)
    go = units > 0
    prog = [i for i, r in enumerate(inp.routes) if r.has_programme]
    for k, i in enumerate(prog):
        go[i] = x[R + k] > 0.5
    return units, go


def _x(inp: StrategyInputs, units: np.ndarray) -> np.ndarray:
    prog = [i for i, r in enumerate(inp.routes) if r.has_programme]
    return np.concatenate([units, (units[prog] > 0).astype(float)])


def shares(d: Deliveries, units: np.ndarray, spot: np.ndarray) -> dict[str, float]:
    """Share of expected workload-H100e-quarters supplied by each route and by spot rental (sums to 1)."""
    per = np.einsum("srt,r->r", d.online, units) / d.n
    tot = per.sum() + spot.sum() / d.n
    if tot <= 0:
        return {**{r: 0.0 for r in d.route_ids}, "spot": 0.0}
    out = {r: float(v / tot) for r, v in zip(d.route_ids, per, strict=True)}
    out["spot"] = float(spot.sum() / d.n / tot)
    return out


def evaluate_units(inp: StrategyInputs, d: Deliveries, units: np.ndarray, go: np.ndarray | None = None
                   ) -> dict[str, Any]:
    o = outcome(d, units, go, penalty_usd_per_h100e_hour=inp.penalty_usd_per_h100e_hour)
    s = summarise(o, d.demand_h100e)
    s["cvar_cost_usd"] = float(cvar(o.cost_usd, None, inp.risk.alpha))
    s["objective_usd"] = float(inp.risk.objective(o.cost_usd, np.full(d.n, 1.0 / d.n)))
    s["shares"] = shares(d, units, o.spot_h100e)
    return s


def policy_units(inp: StrategyInputs, d: Deliveries, mix: dict[str, float]) -> np.ndarray:
    """A deterministic policy: cover the median peak demand with the given shares of each route's nominal
    performance (capped at each route's maximum)."""
    target = float(np.median(d.demand_h100e.max(axis=1)))
    return np.array([min(mix.get(r.id, 0.0) * target / r.perf_per_unit, r.max_units) for r in inp.routes])


def default_policies(inp: StrategyInputs) -> dict[str, dict[str, float]]:
    pol: dict[str, dict[str, float]] = {"spot_only": {}}
    buys = [r.id for r in inp.routes if r.kind == "buy"]
    rents = [r.id for r in inp.routes if r.kind == "cloud_reserved"]
    if buys:
        pol["all_buy"] = {buys[0]: 1.0}
    if rents:
        pol["all_rent"] = {rents[0]: 1.0}
    if buys and rents:
        pol["half_buy_half_rent"] = {buys[0]: 0.5, rents[0]: 0.5}
    pol.update(inp.policies)
    return pol


def optimise(inp: StrategyInputs, d_lp: Deliveries, *, with_voi: bool = True) -> dict[str, Any]:
    pb = build_problem(inp, d_lp)
    risk = Risk(weight=inp.risk.weight, alpha=inp.risk.alpha)
    if with_voi:
        voi = value_of_information(pb, risk)
        sol = voi.rp
    else:
        voi, sol = None, solve_recourse_problem(pb, risk)
    units, go = _split(inp, sol.x)
    out: dict[str, Any] = {"units": units, "go": go, "in_sample_objective_usd": sol.objective * MUSD,
                           "in_sample_expected_cost_usd": sol.expected_cost * MUSD, "problem": pb}
    if voi is not None:
        ev_units, _ = _split(inp, voi.ev_x)
        out.update(evpi_usd=voi.evpi * MUSD, vss_usd=voi.vss * MUSD, ws_usd=voi.ws * MUSD, eev_usd=voi.eev * MUSD,
                   ev_units=ev_units)
    return out


def _unit_cost_fn(inp: StrategyInputs, d: Deliveries, units: np.ndarray, go: np.ndarray):
    """Average cost per served workload-H100e-hour by quarter when serving demand is scaled by m (T,)."""
    cap = np.einsum("srt,r->st", d.online, units)
    commit = d.unit_cost_usd @ units + d.fixed_cost_usd @ go.astype(float)
    share_t = cap / np.maximum(cap.sum(axis=1, keepdims=True), 1e-12)
    commit_t = commit[:, None] * share_t  # commitment cost spread over quarters by capacity online

    def fn(m: np.ndarray) -> np.ndarray:
        dem = d.demand_h100e + d.inference_h100e * (m[None, :] - 1.0)
        gap = np.maximum(dem - cap, 0.0)
        cheaper = d.spot_usd_per_h100e_hour < inp.penalty_usd_per_h100e_hour
        spot = np.where(cheaper, np.minimum(gap, d.spot_available_h100e), 0.0)
        served = np.minimum(dem, cap) + spot
        cost = commit_t + spot * d.spot_usd_per_h100e_hour * HOURS_PER_QUARTER
        return cost.sum(axis=0) / np.maximum(served.sum(axis=0) * HOURS_PER_QUARTER, 1e-12)

    return fn


def price_demand(inp: StrategyInputs, d: Deliveries, units: np.ndarray, go: np.ndarray) -> dict[str, Any] | None:
    """Equilibrium serving demand for the portfolio and for spot-only supply, priced at cost × (1 + margin)."""
    if inp.serving_tokens_per_h100e_hour <= 0:
        return None
    T = d.demand_h100e.shape[1]
    k = inp.serving_tokens_per_h100e_hour
    base_fn = _unit_cost_fn(inp, d, np.zeros_like(units), np.zeros_like(go))
    p_ref = inp.reference_price_usd_per_mtok or float(
        np.mean(elasticity.price(base_fn(np.ones(T)), k, inp.margin)))
    res = {}
    for name, fn in (("portfolio", _unit_cost_fn(inp, d, units, go)), ("spot_only", base_fn)):
        fp = elasticity.solve(fn, T, tokens_per_h100e_hour=k, margin=inp.margin, elasticity=inp.elasticity,
                              reference_price_usd_per_mtok=p_ref)
        inf = d.inference_h100e.mean(axis=0) * fp.multiplier
        tokens = inf * HOURS_PER_QUARTER * k
        res[name] = {"demand_multiplier": fp.multiplier, "price_usd_per_mtok": fp.price_usd_per_mtok,
                     "unit_cost_usd_per_h100e_hour": fp.unit_cost_usd_per_h100e_hour,
                     "serving_tokens": float(tokens.sum()),
                     "gross_profit_usd": float((tokens / 1e6 * fp.price_usd_per_mtok
                                                - inf * HOURS_PER_QUARTER * fp.unit_cost_usd_per_h100e_hour).sum()),
                     "iterations": fp.iterations}
    res["elasticity"] = inp.elasticity
    res["elasticity_range"] = list(elasticity.ELASTICITY_RANGE)
    res["reference_price_usd_per_mtok"] = p_ref
    res["growth_pays_for_portfolio"] = res["portfolio"]["gross_profit_usd"] > res["spot_only"]["gross_profit_usd"]
    return res


def _scale_routes(inp: StrategyInputs, kinds: tuple[str, ...], **f: float) -> StrategyInputs:
    rs = []
    for r in inp.routes:
        if r.kind in kinds:
            kw: dict[str, Any] = {}
            for k, v in f.items():
                kw[k] = min(1.0, getattr(r, k) * v) if k.endswith("probability") else getattr(r, k) * v
            r = dataclasses.replace(r, **kw)
        rs.append(r)
    return dataclasses.replace(inp, routes=tuple(rs))


def _tornado_variants(inp: StrategyInputs) -> list[tuple[str, str, str, StrategyInputs, StrategyInputs]]:
    dmd = inp.demand
    spot_p = inp.spot.usd_per_h100e_hour
    out = [
        ("demand level", "x0.7", "x1.4",
         dataclasses.replace(inp, demand=dataclasses.replace(dmd, training_h100e=dmd.training_h100e * 0.7,
                                                             inference_h100e=dmd.inference_h100e * 0.7)),
         dataclasses.replace(inp, demand=dataclasses.replace(dmd, training_h100e=dmd.training_h100e * 1.4,
                                                             inference_h100e=dmd.inference_h100e * 1.4))),
        ("spot price", "x0.6", "x1.6",
         dataclasses.replace(inp, spot=dataclasses.replace(inp.spot, usd_per_h100e_hour=spot_p * 0.6)),
         dataclasses.replace(inp, spot=dataclasses.replace(inp.spot, usd_per_h100e_hour=spot_p * 1.6))),
        ("delay penalty", "x0.5", "x2",
         dataclasses.replace(inp, penalty_usd_per_h100e_hour=inp.penalty_usd_per_h100e_hour * 0.5),
         dataclasses.replace(inp, penalty_usd_per_h100e_hour=inp.penalty_usd_per_h100e_hour * 2)),
        ("merchant price", "x0.8", "x1.25",
         _scale_routes(inp, ("buy",), unit_price_usd=0.8), _scale_routes(inp, ("buy",), unit_price_usd=1.25)),
        ("chip programme success", "x0.6", "x1.2",
         _scale_routes(inp, ("custom_asic", "in_house"), success_probability=0.6),
         _scale_routes(inp, ("custom_asic", "in_house"), success_probability=1.2)),
    ]
    if inp.bottlenecks:
        def bn(p: float) -> StrategyInputs:
            return dataclasses.replace(inp, bottlenecks=tuple(
                dataclasses.replace(b, probability=min(1.0, b.probability * p)) for b in inp.bottlenecks))
        out.append(("shortage probability", "x0", "x2", bn(0.0), bn(2.0)))
    if inp.events:
        def ev(p: float) -> StrategyInputs:
            return dataclasses.replace(inp, events=tuple(
                dataclasses.replace(e, probability=min(1.0, e.probability * p)) for e in inp.events))
        out.append(("regulatory event probability", "x0", "x3", ev(0.0), ev(3.0)))
    return out


def tornado(inp: StrategyInputs, n: int) -> list[dict[str, Any]]:
    """One-at-a-time sensitivity: re-simulate (same seed: common random numbers) and re-optimise at each
    parameter's low and high value; rows sorted by the swing in the optimal objective."""
    def solve(v: StrategyInputs) -> tuple[float, dict[str, float]]:
        d = run_monte_carlo(v, n)
        r = optimise(v, d, with_voi=False)
        units = {k: float(u) for k, u in zip(d.route_ids, r["units"], strict=True) if u > 0}
        return r["in_sample_objective_usd"], units

    base, base_units = solve(inp)
    rows = []
    for name, lo_l, hi_l, lo, hi in _tornado_variants(inp):
        (clo, ulo), (chi, uhi) = solve(lo), solve(hi)
        rows.append({"parameter": name, "low": lo_l, "high": hi_l, "objective_low_usd": clo,
                     "objective_high_usd": chi, "swing_usd": abs(chi - clo), "units_low": ulo, "units_high": uhi,
                     "decision_changes": set(ulo) != set(base_units) or set(uhi) != set(base_units)})
    rows.sort(key=lambda r: (-r["swing_usd"], r["parameter"]))
    return [{"base_objective_usd": base, "units": base_units}, *rows]


def plan(inp: StrategyInputs, *, tornado_scenarios: int = 0) -> dict[str, Any]:
    """Monte Carlo, optimisation with EVPI/VSS, policy comparison, price–demand loop and sensitivity."""
    d = run_monte_carlo(inp)
    peak = float(np.median(d.demand_h100e.max(axis=1)))
    most = sum(r.max_units * r.perf_per_unit for r in inp.routes) + float(np.median(d.spot_available_h100e.max(axis=1)))
    if most < peak:
        raise InfeasibleError(f"demand: median peak of {peak:,.0f} workload H100e exceeds what every route at its "
                              f"max_units plus spot could supply ({most:,.0f}); raise max_units or add routes")
    opt = optimise(inp, d.take(slice(0, inp.optimisation_scenarios)))
    units, go = opt["units"], opt["go"]
    ev = evaluate_units(inp, d, units, go)
    policies = {}
    for name, mix in default_policies(inp).items():
        pu = policy_units(inp, d, mix)
        pe = evaluate_units(inp, d, pu)
        policies[name] = {"units": {r: float(u) for r, u in zip(d.route_ids, pu, strict=True) if u > 0},
                          "expected_cost_usd": pe["expected_cost_usd"], "cvar_cost_usd": pe["cvar_cost_usd"],
                          "objective_usd": pe["objective_usd"], "shortfall_probability": pe["shortfall_probability"],
                          "unmet_probability": pe["unmet_probability"]}
    ev_eval = evaluate_units(inp, d, opt["ev_units"])
    portfolio = {}
    for i, r in enumerate(inp.routes):
        portfolio[r.id] = {"units": float(units[i]), "programme": bool(go[i]), "kind": r.kind,
                           "share": ev["shares"][r.id],
                           "workload_h100e_per_unit": r.perf_per_unit, "epoch_h100e_per_unit": r.h100e_per_unit}
    return {
        "scenario": inp.name, "seed": inp.seed, "monte_carlo_scenarios": d.n,
        "optimisation_scenarios": inp.optimisation_scenarios,
        "risk": {"weight": inp.risk.weight, "alpha": inp.risk.alpha},
        "portfolio": portfolio, "spot_share": ev["shares"]["spot"],
        "expected_cost_usd": ev["expected_cost_usd"], "cvar_cost_usd": ev["cvar_cost_usd"],
        "objective_usd": ev["objective_usd"], "cost_percentiles_usd": ev["cost_usd"],
        "shortfall_probability": ev["shortfall_probability"], "unmet_probability": ev["unmet_probability"],
        "shortfall_probability_by_quarter": ev["shortfall_probability_by_quarter"],
        "shortfall_mean_h100e_by_quarter": ev["shortfall_mean_h100e_by_quarter"],
        "unmet_probability_by_quarter": ev["unmet_probability_by_quarter"],
        "fan_chart_h100e": ev["fan_chart_h100e"], "demand_h100e": ev["demand_h100e"],
        "quarters_until_demand_met": ev["quarters_until_demand_met"],
        "evpi_usd": opt["evpi_usd"], "vss_usd": opt["vss_usd"],
        "value_of_information": {"rp_usd": opt["in_sample_objective_usd"], "ws_usd": opt["ws_usd"],
                                 "eev_usd": opt["eev_usd"], "scenarios": inp.optimisation_scenarios,
                                 "ev_solution_units": {r: float(u) for r, u in zip(d.route_ids, opt["ev_units"],
                                                                                     strict=True) if u > 0},
                                 "ev_solution_expected_cost_usd": ev_eval["expected_cost_usd"]},
        "policies": policies,
        "price_demand": price_demand(inp, d.take(slice(0, min(d.n, 4096))), units, go),
        "tornado": tornado(inp, tornado_scenarios) if tornado_scenarios else [],
        "provenance": inp.provenance,
    }
