"""The sourcing decision: a stochastic program over Monte Carlo scenarios of deliveries, with its sampling error.

First stage (here and now, quarter 0): ``units_r`` ordered or reserved on each route (each route's lead time
counts from this order), a go/no-go binary ``go_r`` for routes with a programme (NRE, equity ticket) with
``units_r <= max_units_r · go_r``, and for every training run with an on-time target a binary choice of the one
accelerator kind (route) that hosts it. Second stage per scenario and quarter: spot rental ``spot_t`` (up to what
the market offers) and unmet demand ``unmet_t`` (delay, at a penalty), with

    Σ_r online[s, r, t] · units_r + installed_t + spot_t + unmet_t >= demand[s, t].

Money is present value at the scenario's cost of capital (prices paid on delivery, hosting as it accrues, NRE at
stage gates, resale at the horizon). The objective (1-λ)·E + λ·CVaR_α is solved by HiGHS (highspy, on sparse
arrays; costs in $M inside the LP for conditioning). Side constraints:

- capex budget per year: Σ_r E[payments of route r in year y] · units_r + Σ E[programme payments in y] · go_r
  <= budget_y (expected payments: deliveries, and so payments, are uncertain);
- a chance constraint per training run: done by its deadline on one accelerator kind with probability >= p.
  For each candidate route k the smallest u_jk with P[min over the run's quarters of (installed_k +
  u · online_k) >= need · training multiplier] >= p is read from its own sample of scenarios (a quantile), and
  units_k >= Σ_{runs j on k active in t} u_jk · z_jk for every quarter t, Σ_k z_jk = 1.

Sampling: the optimisation scenarios (stream 1), the evaluation Monte Carlo (stream 0), the replication batches
(streams 100+i), the wait-and-see sample (stream 2) and the chance-constraint sample (stream 3) are independent
streams of the seed, so ``--scenarios`` (the evaluation size) never changes the decision. The optimality gap of
the decision is estimated by Mak, Morton & Wood (1999): on M independent batches of n scenarios,
G_i = f_i(x̂) − min_x f_i(x) >= 0 in expectation, and mean(G) ± t_{M−1} · s/√M is a 95 % interval on the gap.
EVPI and VSS are measured out of sample with their standard errors (paired batch means).

A three-stage variant (``multistage``) adds recourse orders at a decision quarter k, taken per branch of a
scenario tree whose branches share the information revealed by then (demand multipliers, programme outcomes);
see :func:`multistage`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import stats

from chipplan.errors import InfeasibleError
from chipplan.strategy import elasticity
from chipplan.strategy.montecarlo import Deliveries, outcome, serve_split, simulate, summarise
from chipplan.strategy.scenario import StrategyInputs
from chipplan.strategy.stochastic import (
    Risk,
    TwoStageProblem,
    cvar,
    solve_recourse_problem,
    wait_and_see,
)
from chipplan.units import DAYS_PER_QUARTER, HOURS_PER_QUARTER

MUSD = 1e6
EVAL, OPT, WS_STREAM, CHANCE, BATCH0 = 0, 1, 2, 3, 100
CHANCE_SCENARIOS = 20_000  # sample for the chance-constraint quantiles: binomial SE 0.2 points at p = 0.9
WS_SCENARIOS = 200  # out-of-sample wait-and-see sample for EVPI
DECISION_CHANGE = 0.05  # a tornado row changes the decision when some route's units move by more than 5 %

Progress = Callable[[str, float], None]


def _noop(_step: str, _done: float) -> None:
    return None


def run_monte_carlo(inp: StrategyInputs, n: int | None = None, stream: int = EVAL) -> Deliveries:
    return simulate(inp.routes, inp.demand, inp.spot, bottlenecks=inp.bottlenecks, events=inp.events,
                    bottleneck_correlation=inp.bottleneck_correlation,
                    n=inp.monte_carlo_scenarios if n is None else n, seed=inp.seed, stream=stream,
                    discount_rate=inp.discount_rate,
                    installed_h100e=np.asarray(inp.installed_h100e) if inp.installed_h100e else None,
                    installed_cost_usd=inp.installed_cost_usd, qmc=True)


# ---------------------------------------------------------------------------------------------- chance constraints
def _installed_by_route(inp: StrategyInputs, T: int) -> np.ndarray:
    """(R, T) installed workload H100e of each route's accelerator kind (a run may use installed chips of its kind):
    each installed group counts towards the first buy or cloud route of the same accelerator."""
    out = np.zeros((len(inp.routes), T))
    for g in inp.installed:
        rq = g["retires_quarter"]
        alive = np.ones(T) if rq is None else (np.arange(T) < rq).astype(float)
        for i, r in enumerate(inp.routes):
            if r.accelerator == g["accelerator"] and r.kind in ("buy", "cloud_reserved"):
                out[i] += g["units"] * g["workload_h100e_per_unit"] * alive
                break
    return out


def chance_requirements(inp: StrategyInputs) -> dict[str, Any]:
    """u[j, k]: units of route k that run j needs to finish on time with its target probability (inf: cannot)."""
    jobs = [j for j in inp.runs if j["on_time_probability"]]
    R = len(inp.routes)
    if not jobs:
        return {"jobs": [], "u": np.zeros((0, R))}
    d = run_monte_carlo(inp, CHANCE_SCENARIOS, CHANCE)
    T = d.online.shape[2]
    inst = _installed_by_route(inp, T)
    u = np.full((len(jobs), R), np.inf)
    for j, job in enumerate(jobs):
        win = slice(job["start_q"], job["deadline_q"])
        need = job["need_h100e"] * d.training_multiplier[:, None]  # (S, 1)
        for k, r in enumerate(inp.routes):
            if r.kind == "startup":
                continue
            x = d.online[:, k, win]
            short = np.maximum(need - inst[k, win][None, :], 0.0)
            with np.errstate(divide="ignore", invalid="ignore"):
                per = np.where(short > 0, np.where(x > 0, short / x, np.inf), 0.0)
            u_s = per.max(axis=1)
            q = float(np.quantile(u_s, job["on_time_probability"], method="higher"))
            if np.isfinite(q) and q <= r.max_units:
                u[j, k] = q
    return {"jobs": jobs, "u": u}


# ---------------------------------------------------------------------------------------------- the problem
def _programmes(inp: StrategyInputs) -> list[int]:
    return [i for i, r in enumerate(inp.routes) if r.has_programme]


def _split_routes(d: Deliveries) -> list[int]:
    """Routes whose serving capacity per unit differs from their training capacity (their split is a variable)."""
    return [r for r, f in enumerate(d.serving_factor) if abs(float(f) - 1.0) > 1e-9]


def unit_rows(d: Deliveries, online: np.ndarray) -> np.ndarray:
    """(S, m2, R): the recourse rows' coefficients on the units of each route, for deliveries ``online``
    (the layout of :func:`recourse`; a later order in the multi-stage tree uses its shifted deliveries)."""
    S, R, T = online.shape
    K = _split_routes(d)
    J = len(d.jobs)
    blocks = [np.transpose(online, (0, 2, 1))]  # capacity row per quarter
    if K:
        neutral = online.copy()
        neutral[:, K, :] = 0.0
        blocks += [np.zeros((S, T, R)), np.transpose(neutral, (0, 2, 1))]
        a = np.zeros((S, len(K) * T, R))
        for i, k in enumerate(K):
            a[:, i * T:(i + 1) * T, k] = -online[:, k, :]
        blocks.append(a)
    blocks.append(np.zeros((S, 2 * J, R)))
    return np.concatenate(blocks, axis=1)


def recourse(inp: StrategyInputs, d: Deliveries) -> dict[str, Any]:
    """The second stage of every scenario as arrays: W (m2, n2), q (S, n2), h (S, m2), y_upper (S, n2), senses.

    Variables per scenario: spot_t and unmet_t (fixed demand delayed, at the penalty); for every route whose
    serving capacity differs from its training capacity, a_kt (its capacity given to serving, in training units)
    and n_t (the serving done by the rest: installed fleet, other routes, spot); for every backlog job j, its work
    x_jt in each quarter from its start (at most its cluster after the deadline), its backlog at the deadline L_j
    and its work left at the horizon U_j. Rows per quarter: training capacity (capacity − a − n + spot + unmet −
    Σ_j x_jt >= fixed training − installed); with split routes also serving (Σ_k f_k·a_kt + n_t >= serving),
    the rest covers n (capacity of unsplit routes + installed + spot + unmet >= n_t) and a_kt <= capacity_k;
    per job: Σ_{t<D} x + L >= work and Σ_t x + U >= work. Unmet is capped at the fixed demand, so a job's work
    needs real capacity. Costs: spot and unmet per H100e-hour; L at the delay cost per day × days late (L ÷ the
    cluster, in days); U at the penalty per H100e-hour."""
    S, _, T = d.online.shape
    H = HOURS_PER_QUARTER / MUSD
    df = d.discount_factor
    K = _split_routes(d)
    jobs = d.jobs
    inst = d.installed_h100e
    serving = d.inference_h100e
    fixed_training = np.maximum(d.demand_h100e - serving - d.job_profiles(), 0.0)
    # column layout
    cols: list[str] = [f"spot:{t}" for t in range(T)] + [f"unmet:{t}" for t in range(T)]
    a0 = len(cols)
    if K:
        cols += [f"serve:{d.route_ids[k]}:{t}" for k in K for t in range(T)] + [f"serve_rest:{t}" for t in range(T)]
    n0 = a0 + len(K) * T
    xcol: list[dict[int, int]] = []
    for job in jobs:
        xcol.append({t: len(cols) + i for i, t in enumerate(range(job.start_q, T))})
        cols += [f"work:{job.name}:{t}" for t in range(job.start_q, T)] + [f"late:{job.name}", f"left:{job.name}"]
    n2 = len(cols)
    m2 = T + (2 * T + len(K) * T if K else 0) + 2 * len(jobs)
    W = np.zeros((m2, n2))
    h = np.zeros((S, m2))
    q = np.zeros((S, n2))
    y_up = np.full((S, n2), np.inf)
    sense: list[str] = []
    q[:, :T] = d.spot_usd_per_h100e_hour * df * H
    q[:, T:2 * T] = inp.penalty_usd_per_h100e_hour * df * H
    y_up[:, :T] = d.spot_available_h100e
    y_up[:, T:2 * T] = (fixed_training + serving) * (1 + 1e-9)
    for t in range(T):  # capacity row
        W[t, t] = W[t, T + t] = 1.0
        if K:
            W[t, n0 + t] = -1.0
            for i in range(len(K)):
                W[t, a0 + i * T + t] = -1.0
        for j in range(len(jobs)):
            if t in xcol[j]:
                W[t, xcol[j][t]] = -1.0
    h[:, :T] = (fixed_training if K else fixed_training + serving) - inst[None, :]
    sense += [">="] * T
    r0 = T
    if K:
        f = d.serving_factor
        for t in range(T):
            for i, k in enumerate(K):
                W[r0 + t, a0 + i * T + t] = float(f[k])  # serving row
            W[r0 + t, n0 + t] = 1.0
            W[r0 + T + t, t] = W[r0 + T + t, T + t] = 1.0  # the rest covers n
            W[r0 + T + t, n0 + t] = -1.0
        h[:, r0:r0 + T] = serving
        h[:, r0 + T:r0 + 2 * T] = -inst[None, :]
        for i in range(len(K)):
            for t in range(T):
                W[r0 + 2 * T + i * T + t, a0 + i * T + t] = 1.0  # a <= capacity
        sense += [">="] * (2 * T) + ["<="] * (len(K) * T)
        r0 += 2 * T + len(K) * T
    for j, job in enumerate(jobs):
        n = d.job_need(j)
        work = n * (job.deadline_q - job.start_q)
        late, left = xcol[j][T - 1] + 1, xcol[j][T - 1] + 2
        for t, c in xcol[j].items():
            if t < job.deadline_q:
                W[r0, c] = 1.0
            else:
                y_up[:, c] = n
            W[r0 + 1, c] = 1.0
        W[r0, late] = W[r0 + 1, left] = 1.0
        h[:, r0] = h[:, r0 + 1] = work
        q[:, late] = (job.delay_usd_per_day * DAYS_PER_QUARTER / n
                      * (1.0 + d.discount_rate) ** (-job.deadline_q / 4.0) / MUSD)
        q[:, left] = inp.penalty_usd_per_h100e_hour * H * (1.0 + d.discount_rate) ** (-T / 4.0)
        sense += [">=", ">="]
        r0 += 2
    return {"W": W, "q": q, "h": h, "y_upper": y_up, "sense": tuple(sense), "names": tuple(cols)}


def build_problem(inp: StrategyInputs, d: Deliveries, chance: dict[str, Any] | None = None,
                  budget_d: Deliveries | None = None) -> TwoStageProblem:
    """The extensive-form arrays for scenarios ``d`` (equally likely)."""
    S, R, T = d.online.shape
    prog = _programmes(inp)
    jobs = [] if chance is None else chance["jobs"]
    u = np.zeros((0, R)) if chance is None else chance["u"]
    pairs = [(j, k) for j in range(len(jobs)) for k in range(R) if np.isfinite(u[j, k])]
    n1 = R + len(prog) + len(pairs)
    c_s = np.zeros((S, n1))
    c_s[:, :R] = d.unit_cost_usd / MUSD
    c_s[:, R:R + len(prog)] = d.fixed_cost_usd[:, prog] / MUSD
    rc = recourse(inp, d)
    m2 = rc["W"].shape[0]
    Tm = np.zeros((S, m2, n1))
    Tm[:, :, :R] = unit_rows(d, d.online)
    upper = np.array([r.max_units for r in inp.routes] + [1.0] * (len(prog) + len(pairs)))
    integer = np.array([False] * R + [True] * (len(prog) + len(pairs)))
    rows, b, sense = [], [], []
    for k_, i in enumerate(prog):
        a = np.zeros(n1)
        a[i], a[R + k_] = 1.0, -inp.routes[i].max_units
        rows.append(a), b.append(0.0), sense.append("<=")
    bd = budget_d if budget_d is not None else d
    if getattr(inp, "budget_usd", ()) and bd.capex_by_year_usd is not None:
        capex = bd.capex_by_year_usd.mean(axis=0)  # (R, Y)
        nre = bd.nre_by_year_usd.mean(axis=0)
        for y, cap in enumerate(inp.budget_usd):
            a = np.zeros(n1)
            a[:R] = capex[:, y] / MUSD
            a[R:R + len(prog)] = nre[prog, y] / MUSD
            rows.append(a), b.append(cap / MUSD), sense.append("<=")
    for j in range(len(jobs)):
        ks = [p for p, (jj, _) in enumerate(pairs) if jj == j]
        if not ks:
            continue
        a = np.zeros(n1)
        a[[R + len(prog) + p for p in ks]] = 1.0
        rows.append(a), b.append(1.0), sense.append("=")
    for k in range(R):
        for t in range(T):
            on = [(p, jj) for p, (jj, kk) in enumerate(pairs) if kk == k
                  and jobs[jj]["start_q"] <= t < jobs[jj]["deadline_q"]]
            if not on:
                continue
            a = np.zeros(n1)
            a[k] = 1.0
            for p, jj in on:
                a[R + len(prog) + p] = -u[jj, k]
            rows.append(a), b.append(0.0), sense.append(">=")
    names = (tuple(f"units:{r.id}" for r in inp.routes) + tuple(f"go:{inp.routes[i].id}" for i in prog)
             + tuple(f"run:{jobs[j]['name']}@{inp.routes[k].id}" for j, k in pairs))
    return TwoStageProblem(
        c=np.zeros(n1), c_s=c_s, prob=np.full(S, 1.0 / S), T=Tm, W=rc["W"], h=rc["h"], q=rc["q"],
        sense=rc["sense"], x_lower=np.zeros(n1), x_upper=upper, x_integer=integer,
        A=np.array(rows) if rows else None, b=np.array(b) if rows else None, A_sense=tuple(sense),
        y_upper=rc["y_upper"], x_names=names, y_names=rc["names"])


def _split(inp: StrategyInputs, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    R = len(inp.routes)
    units = np.maximum(np.asarray(x[:R], dtype=float), 0.0)
    units = np.where(units < 1e-6, 0.0, units)
    go = units > 0
    for k, i in enumerate(_programmes(inp)):
        go[i] = x[R + k] > 0.5
    return units, go


def shares(d: Deliveries, units: np.ndarray, spot: np.ndarray) -> dict[str, float]:
    """Share of expected workload-H100e-quarters supplied by each route, the installed fleet and spot (sums to 1)."""
    per = np.einsum("srt,r->r", d.online, units) / d.n
    inst = float(np.sum(d.installed_h100e)) if d.installed_h100e is not None else 0.0
    tot = per.sum() + spot.sum() / d.n + inst
    if tot <= 0:
        return {**{r: 0.0 for r in d.route_ids}, "spot": 0.0, "installed": 0.0}
    out = {r: float(v / tot) for r, v in zip(d.route_ids, per, strict=True)}
    out["spot"] = float(spot.sum() / d.n / tot)
    out["installed"] = inst / tot
    return out


def _objective(inp: StrategyInputs, costs: np.ndarray) -> float:
    return float(inp.risk.objective(costs, np.full(costs.shape[0], 1.0 / costs.shape[0])))


def evaluate_units(inp: StrategyInputs, d: Deliveries, units: np.ndarray, go: np.ndarray | None = None
                   ) -> dict[str, Any]:
    o = outcome(d, units, go, penalty_usd_per_h100e_hour=inp.penalty_usd_per_h100e_hour)
    s = summarise(o, d.demand_h100e)
    s["cvar_cost_usd"] = float(cvar(o.cost_usd, None, inp.risk.alpha))
    s["objective_usd"] = _objective(inp, o.cost_usd)
    s["shares"] = shares(d, units, o.spot_h100e)
    s["_costs"] = o.cost_usd
    s["_outcome"] = o
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


def optimise(inp: StrategyInputs, d_lp: Deliveries, *, chance: dict[str, Any] | None = None,
             budget_d: Deliveries | None = None, with_ev: bool = False) -> dict[str, Any]:
    """Solve the recourse problem on ``d_lp``; with ``with_ev`` also the expected-value (mean-scenario) decision."""
    pb = build_problem(inp, d_lp, chance, budget_d)
    sol = solve_recourse_problem(pb, inp.risk)
    units, go = _split(inp, sol.x)
    ev_units, ev_go = np.zeros_like(units), np.zeros_like(go)
    if with_ev:
        try:
            ev = solve_recourse_problem(pb.mean_scenario(), Risk())
            ev_units, ev_go = _split(inp, ev.x)
        except InfeasibleError:
            pass
    const = d_lp.installed_cost_usd  # the installed fleet's cost is a constant outside the LP
    return {"units": units, "go": go, "x": sol.x, "in_sample_objective_usd": sol.objective * MUSD + const,
            "in_sample_expected_cost_usd": sol.expected_cost * MUSD + const, "problem": pb, "ev_units": ev_units,
            "ev_go": ev_go}


# ---------------------------------------------------------------------------------------------- stability
def _t95(m: int) -> float:
    return float(stats.t.ppf(0.975, m - 1)) if m > 1 else math.inf


def _batch_se(diff_by_batch: np.ndarray) -> tuple[float, float]:
    m = diff_by_batch.shape[0]
    return float(diff_by_batch.mean()), float(diff_by_batch.std(ddof=1) / math.sqrt(m)) if m > 1 else math.inf


def stability(inp: StrategyInputs, opt: dict[str, Any], d_eval: Deliveries, chance: dict[str, Any],
              progress: Progress = _noop) -> dict[str, Any]:
    """Replications (Mak–Morton–Wood gap, spread of the units) and out-of-sample EVPI and VSS with errors."""
    M, n = inp.replications, inp.optimisation_scenarios
    units, go = opt["units"], opt["go"]
    gaps, unit_reps = [], []
    for i in range(M):
        progress(f"replication {i + 1}/{M}", i / M)
        d_i = run_monte_carlo(inp, n, BATCH0 + i)
        r_i = optimise(inp, d_i, chance=chance, budget_d=d_i)
        f_hat = _objective(inp, outcome(d_i, units, go, penalty_usd_per_h100e_hour=inp.penalty_usd_per_h100e_hour
                                        ).cost_usd)
        gaps.append(f_hat - r_i["in_sample_objective_usd"])
        unit_reps.append(r_i["units"])
    g = np.maximum(np.array(gaps), 0.0) if M else np.zeros(0)
    ur = np.array(unit_reps)
    perf = np.array([r.perf_per_unit for r in inp.routes])
    committed = ur @ perf if M else np.zeros(0)
    base_committed = float(units @ perf)
    gm, gse = (float(g.mean()), float(g.std(ddof=1) / math.sqrt(M))) if M > 1 else (float(g.mean()) if M else 0.0,
                                                                                     math.inf)
    # out of sample: paired batch means over the evaluation sample (20 batches)
    nb = 20 if d_eval.n >= 200 else max(2, d_eval.n // 10)
    idx = np.array_split(np.arange(d_eval.n), nb)
    c_hat = outcome(d_eval, units, go, penalty_usd_per_h100e_hour=inp.penalty_usd_per_h100e_hour).cost_usd
    c_ev = outcome(d_eval, opt["ev_units"], opt["ev_go"], penalty_usd_per_h100e_hour=inp.penalty_usd_per_h100e_hour
                   ).cost_usd
    vss_b = np.array([_objective(inp, c_ev[ix]) - _objective(inp, c_hat[ix]) for ix in idx])
    vss, vss_se = _batch_se(vss_b)
    progress("wait-and-see sample", 0.95)
    d_ws = run_monte_carlo(inp, min(WS_SCENARIOS, inp.monte_carlo_scenarios), WS_STREAM)
    ws = wait_and_see(build_problem(inp, d_ws, chance, d_ws), Risk())
    ws_costs = ws.scenario_costs * MUSD + d_ws.installed_cost_usd
    hat_ws = outcome(d_ws, units, go, penalty_usd_per_h100e_hour=inp.penalty_usd_per_h100e_hour).cost_usd
    ib = np.array_split(np.arange(d_ws.n), 10)
    evpi_b = np.array([_objective(inp, hat_ws[ix]) - _objective(inp, ws_costs[ix]) for ix in ib])
    evpi, evpi_se = _batch_se(evpi_b)
    spread = (float((committed.max() - committed.min()) / max(base_committed, 1e-9)) if M else 0.0)
    ci = [max(gm - _t95(M) * gse, 0.0), gm + _t95(M) * gse] if M > 1 else None
    return {
        "replications": M, "scenarios_per_replication": n,
        "optimality_gap_usd": {"mean": gm, "ci95": ci,
                               "method": "Mak, Morton & Wood (1999) multiple-replication procedure: the "
                                         "recommended decision against each batch's own optimum"},
        "committed_workload_h100e": {"recommended": base_committed, "by_replication": committed.tolist(),
                                     "relative_spread": spread,
                                     "cv": float(committed.std(ddof=1) / max(committed.mean(), 1e-9)) if M > 1
                                     else 0.0},
        "units_by_replication": [{r.id: float(v) for r, v in zip(inp.routes, row, strict=True) if v > 0}
                                 for row in ur],
        "evpi_usd": evpi, "evpi_usd_se": evpi_se,
        "evpi_note": f"out of sample: the decision vs perfect foresight on {d_ws.n} scenarios of their own stream",
        "vss_usd": vss, "vss_usd_se": vss_se,
        "vss_note": f"out of sample: the mean-scenario decision vs the decision on {d_eval.n:,} evaluation "
                    "scenarios (paired batch means)",
    }


# ---------------------------------------------------------------------------------------------- price and demand
def _marginal_cost_fn(inp: StrategyInputs, d: Deliveries, units: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Expected marginal cost of a served workload-H100e-hour by quarter when serving demand is scaled by m (T,).

    Committed capacity is sunk: its marginal cost is the hosting cost per workload-H100e-hour of the routes
    online (averaged by capacity). Beyond it, spot rental at the scenario's spot price; beyond spot, demand is
    rationed and the price stays at the spot level (it cannot be served at any price this quarter)."""
    on = np.einsum("srt,r->srt", d.online, units)
    cap = on.sum(axis=1) + d.installed_h100e[None, :]
    hourly = np.array([r.usd_per_hour / r.perf_per_unit for r in inp.routes])
    with np.errstate(invalid="ignore", divide="ignore"):
        c_own = np.where(cap > 0, np.einsum("srt,r->st", on, hourly) / np.maximum(cap, 1e-12), 0.0)
    spot_p = d.spot_usd_per_h100e_hour

    def fn(m: np.ndarray) -> np.ndarray:
        dem = d.demand_h100e + d.inference_h100e * (m[None, :] - 1.0)
        mc = np.where(dem <= cap, c_own, spot_p)
        return mc.mean(axis=0)

    return fn


def _served(inp: StrategyInputs, d: Deliveries, units: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Expected served serving demand (workload H100e per quarter) at multiplier m: serving comes after training
    in the queue, and only what committed capacity and spot can carry is served."""
    inf = d.inference_h100e * m[None, :]
    train = d.demand_h100e - d.inference_h100e
    _, gap = serve_split(dataclasses.replace(d, inference_h100e=inf), units, train)  # serving capacity per route
    return np.maximum(inf - np.maximum(gap - d.spot_available_h100e, 0.0), 0.0).mean(axis=0)


def price_demand(inp: StrategyInputs, d_lp: Deliveries, d_eval: Deliveries, units: np.ndarray,
                 chance: dict[str, Any] | None = None, max_passes: int = 5) -> dict[str, Any] | None:
    """The price–demand equilibrium coupled to the plan.

    Market model (stated in the output): the lab prices tokens at marginal cost × (1 + margin); with market
    power its price moves the market price in proportion to its market share s (s = 0: a price taker, whose
    demand does not respond to its own cost), and its token demand follows the market price with elasticity ε:
    p_mkt = s·p_lab + (1 − s)·p_ref, m_t = (p_mkt / p_ref)^(−ε). The reference price p_ref is the price at the
    spot cost of compute, unless the scenario states one. Each pass solves the fixed point for the portfolio,
    then re-optimises the portfolio with serving demand scaled by m, until units change < 1 % (converged) or
    ``max_passes`` is reached (the portfolio is then held fixed at the last pass). Revenue counts served
    tokens only."""
    if inp.serving_tokens_per_h100e_hour <= 0:
        return None
    T = d_eval.demand_h100e.shape[1]
    k = inp.serving_tokens_per_h100e_hour
    s = 0.0 if inp.market == "price_taker" else inp.market_share
    p_ref = inp.reference_price_usd_per_mtok or float(
        elasticity.price(np.median(d_eval.spot_usd_per_h100e_hour), k, inp.margin))
    d_small = d_eval.take(slice(0, min(d_eval.n, 4096)))
    cur = np.asarray(units, dtype=float)
    m = np.ones(T)
    converged, passes, note, change = False, 0, "", 0.0
    base_lp = d_lp
    while passes < max_passes:
        passes += 1
        fp = elasticity.solve(_marginal_cost_fn(inp, d_small, cur), T, tokens_per_h100e_hour=k, margin=inp.margin,
                              elasticity=inp.elasticity, reference_price_usd_per_mtok=p_ref, market_share=s)
        m = fp.multiplier
        scaled = _with_serving_multiplier(base_lp, m)
        new = optimise(inp, scaled, chance=chance)["units"]
        change = float(np.abs(new - cur).sum() / max(np.abs(cur).sum(), 1e-9))
        cur = new
        if change < 0.01:
            converged = True
            break
    if not converged:
        note = f"portfolio held fixed after {passes} passes (units still moved by {change:.1%})"
    fp = elasticity.solve(_marginal_cost_fn(inp, d_small, cur), T, tokens_per_h100e_hour=k, margin=inp.margin,
                          elasticity=inp.elasticity, reference_price_usd_per_mtok=p_ref, market_share=s)
    served = _served(inp, d_small, cur, fp.multiplier)
    tokens = served * HOURS_PER_QUARTER * k
    revenue = tokens / 1e6 * fp.price_usd_per_mtok
    return {
        "market": inp.market, "market_share": s, "elasticity": inp.elasticity,
        "elasticity_range": list(elasticity.ELASTICITY_RANGE), "margin": inp.margin,
        "model": "lab price = marginal cost x (1 + margin); market price = s x lab price + (1 - s) x reference; "
                 "demand multiplier = (market price / reference)^-elasticity; revenue on served tokens only",
        "reference_price_usd_per_mtok": p_ref, "converged": converged, "passes": passes, "note": note,
        "demand_multipliers": fp.multiplier.tolist(), "prices_usd_per_mtok": fp.price_usd_per_mtok.tolist(),
        "marginal_cost_usd_per_h100e_hour": fp.unit_cost_usd_per_h100e_hour.tolist(),
        "served_tokens": float(tokens.sum()), "revenue_usd": float(revenue.sum()),
        "units": {r.id: float(u) for r, u in zip(inp.routes, cur, strict=True) if u > 0},
        "iterations": fp.iterations,
    }


def _with_serving_multiplier(d: Deliveries, m: np.ndarray) -> Deliveries:
    inf = d.inference_h100e * m[None, :]
    return dataclasses.replace(d, demand_h100e=d.demand_h100e - d.inference_h100e + inf, inference_h100e=inf)


# ---------------------------------------------------------------------------------------------- sensitivity
def _scale_routes(inp: StrategyInputs, pick: Callable[[Any], bool], **f: float) -> StrategyInputs:
    rs = []
    for r in inp.routes:
        if pick(r):
            kw: dict[str, Any] = {}
            for k, v in f.items():
                cur = getattr(r, k)
                if k.endswith("probability"):
                    kw[k] = min(1.0, cur * v)
                elif k == "lead_time_q":
                    kw[k] = dataclasses.replace(cur, low=cur.low * v, mode=cur.mode * v, high=cur.high * v)
                elif k == "allocation":
                    kw[k] = dataclasses.replace(cur, low=min(1.0, cur.low * v), mode=min(1.0, cur.mode * v),
                                                high=min(1.0, cur.high * v))
                else:
                    kw[k] = cur * v
            r = dataclasses.replace(r, **kw)
        rs.append(r)
    return dataclasses.replace(inp, routes=tuple(rs))


def _tornado_variants(inp: StrategyInputs) -> list[tuple[str, str, str, StrategyInputs, StrategyInputs]]:
    dmd = inp.demand
    spot_p = inp.spot.usd_per_h100e_hour

    def scaled_demand(f: float) -> StrategyInputs:
        jobs = tuple(dataclasses.replace(j, need_h100e=j.need_h100e * f) for j in dmd.jobs)
        return dataclasses.replace(inp, demand=dataclasses.replace(dmd, training_h100e=dmd.training_h100e * f,
                                                                   inference_h100e=dmd.inference_h100e * f,
                                                                   jobs=jobs))

    def engine_rated(r: Any) -> bool:
        return bool(r.accelerator) and r.kind in ("buy", "cloud_reserved") and r.perf_per_unit != 1.0

    out = [
        ("demand level", "x0.7", "x1.4", scaled_demand(0.7), scaled_demand(1.4)),
        ("spot price", "x0.6", "x1.6",
         dataclasses.replace(inp, spot=dataclasses.replace(inp.spot, usd_per_h100e_hour=spot_p * 0.6)),
         dataclasses.replace(inp, spot=dataclasses.replace(inp.spot, usd_per_h100e_hour=spot_p * 1.6))),
        ("delay penalty", "x0.5", "x2",
         dataclasses.replace(inp, penalty_usd_per_h100e_hour=inp.penalty_usd_per_h100e_hour * 0.5),
         dataclasses.replace(inp, penalty_usd_per_h100e_hour=inp.penalty_usd_per_h100e_hour * 2)),
        ("merchant price", "x0.8", "x1.25", _scale_routes(inp, lambda r: r.kind == "buy", unit_price_usd=0.8),
         _scale_routes(inp, lambda r: r.kind == "buy", unit_price_usd=1.25)),
        ("engine performance ratios", "x0.8", "x1.2", _scale_routes(inp, engine_rated, perf_per_unit=0.8),
         _scale_routes(inp, engine_rated, perf_per_unit=1.2)),
        ("lead times", "x0.5", "x1.5", _scale_routes(inp, lambda r: True, lead_time_q=0.5),
         _scale_routes(inp, lambda r: True, lead_time_q=1.5)),
        ("allocation", "x0.8", "x1.2", _scale_routes(inp, lambda r: True, allocation=0.8),
         _scale_routes(inp, lambda r: True, allocation=1.2)),
        ("chip programme success", "x0.6", "x1.2",
         _scale_routes(inp, lambda r: r.kind in ("custom_asic", "in_house"), success_probability=0.6),
         _scale_routes(inp, lambda r: r.kind in ("custom_asic", "in_house"), success_probability=1.2)),
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


def _moved(base: dict[str, float], other: dict[str, float], total: float) -> bool:
    """Units move by more than 5 % on some route (a route's own units, ignoring moves under 0.5 % of the total)."""
    for k in set(base) | set(other):
        a, b = base.get(k, 0.0), other.get(k, 0.0)
        if abs(a - b) > DECISION_CHANGE * max(a, 1e-9) and abs(a - b) > 0.005 * total:
            return True
    return False


def tornado(inp: StrategyInputs, n: int, base: dict[str, Any] | None = None, chance: dict[str, Any] | None = None,
            progress: Progress = _noop) -> list[dict[str, Any]]:
    """One-at-a-time sensitivity, re-optimised on the same scenarios as the base decision: the first ``n`` of the
    optimisation stream (common random numbers: each variant re-simulates the same draws). Rows sorted by the
    swing in the optimal objective; a row changes the decision when some route's units move by more than 5 %."""
    def solve(v: StrategyInputs) -> tuple[float, dict[str, float]]:
        r = optimise(v, run_monte_carlo(v, n, OPT), chance=chance)
        return r["in_sample_objective_usd"], {k: float(u) for k, u in zip((x.id for x in v.routes), r["units"],
                                                                            strict=True) if u > 0}

    if base is not None and n == inp.optimisation_scenarios:
        b_obj = base["in_sample_objective_usd"]
        b_units = {r.id: float(u) for r, u in zip(inp.routes, base["units"], strict=True) if u > 0}
    else:
        b_obj, b_units = solve(inp)
    total = sum(b_units.values())
    rows = []
    variants = _tornado_variants(inp)
    for i, (name, lo_l, hi_l, lo, hi) in enumerate(variants):
        progress(f"tornado: {name}", i / len(variants))
        (clo, ulo), (chi, uhi) = solve(lo), solve(hi)
        rows.append({"parameter": name, "low": lo_l, "high": hi_l, "objective_low_usd": clo,
                     "objective_high_usd": chi, "swing_usd": abs(chi - clo), "units_low": ulo, "units_high": uhi,
                     "decision_changes": _moved(b_units, ulo, total) or _moved(b_units, uhi, total)})
    rows.sort(key=lambda r: (-r["swing_usd"], r["parameter"]))
    return [{"base_objective_usd": b_obj, "units": b_units, "scenarios": n,
             "note": f"every row re-optimised on the same {n} optimisation scenarios as the base decision "
                     "(common random numbers)"}, *rows]


# ---------------------------------------------------------------------------------------------- reporting
def _route_economics(inp: StrategyInputs, d: Deliveries) -> dict[str, dict[str, Any]]:
    """Expected present cost per delivered workload-H100e-hour of one committed unit, beside the cost engine's."""
    df = d.discount_factor
    out = {}
    for i, r in enumerate(inp.routes):
        h = float((d.online[:, i, :] * df).sum(axis=1).mean() * HOURS_PER_QUARTER)
        c = float(d.unit_cost_usd[:, i].mean())
        row: dict[str, Any] = {"usd_per_delivered_h100e_hour": c / h if h > 0 else None,
                               "unit_price_usd": r.unit_price_usd, "usd_per_hour": r.usd_per_hour,
                               "residual_value_fraction": r.residual_value_fraction}
        tco = inp.route_costs.get(r.id)
        if tco:
            row["cost_engine_source"] = (f"system_tco {tco['system']}, {tco['years']:g} years" if "system" in tco
                                         else "cloud table " + ", ".join(tco["cloud_rows"]))
            row["cost_engine_usd_per_h100e_hour"] = tco["owned_usd_per_accelerator_hour"] / r.perf_per_unit
        out[r.id] = row
    return out


def _chance_report(inp: StrategyInputs, chance: dict[str, Any], units: np.ndarray, x: np.ndarray,
                   d: Deliveries) -> list[dict[str, Any]]:
    jobs, u = chance["jobs"], chance["u"]
    if not jobs:
        return []
    R, P = len(inp.routes), len(_programmes(inp))
    pairs = [(j, k) for j in range(len(jobs)) for k in range(R) if np.isfinite(u[j, k])]
    pick = {j: k for p, (j, k) in enumerate(pairs) if x[R + P + p] > 0.5}
    T = d.online.shape[2]
    inst = _installed_by_route(inp, T)
    rows = []
    for j, job in enumerate(jobs):
        k = pick.get(j)
        row = {"run": job["name"], "target_probability": job["on_time_probability"],
               "route": None if k is None else inp.routes[k].id, "start_quarter": job["start_q"],
               "deadline_quarter": job["deadline_q"], "need_workload_h100e": job["need_h100e"]}
        if k is None:
            row["note"] = "no single route can host the run on time with this probability"
        else:
            win = range(job["start_q"], job["deadline_q"])
            need = np.zeros((d.n, T))
            for jj, other in enumerate(jobs):
                if pick.get(jj) == k:
                    need[:, other["start_q"]:other["deadline_q"]] += other["need_h100e"] * d.training_multiplier[
                        :, None]
            cap = inst[k][None, :] + units[k] * d.online[:, k, :]
            ok = (cap[:, list(win)] >= need[:, list(win)] - 1e-9).all(axis=1)
            row["units_required"] = float(u[j, k])
            row["on_time_probability_out_of_sample"] = float(ok.mean())
        rows.append(row)
    return rows


def _backlog_report(d: Deliveries, o: Any) -> list[dict[str, Any]]:
    """Per backlog job: how late it finishes (out of sample, on the evaluation scenarios) and what that costs."""
    rows = []
    for j, job in enumerate(d.jobs):
        late = o.days_late[:, j]
        rows.append({"run": job.name, "start_quarter": job.start_q, "deadline_quarter": job.deadline_q,
                     "cluster_workload_h100e": job.need_h100e, "delay_cost_usd_per_day": job.delay_usd_per_day,
                     "p_late": float((late > 1e-6).mean()), "days_late_mean": float(late.mean()),
                     "days_late_p95": float(np.percentile(late, 95)),
                     "delay_cost_usd_mean": float(late.mean() * job.delay_usd_per_day),
                     "left_at_horizon_probability": float((o.left_at_horizon_h100e_q[:, j] > 1e-6).mean()),
                     "note": "days late = backlog at the deadline / the run's cluster; the backlog carries over"})
    return rows


def _quarters(ev: dict[str, Any], d: Deliveries) -> list[dict[str, Any]]:
    T = d.demand_h100e.shape[1]
    fan = ev["fan_chart_h100e"]
    return [{"quarter": t, "p_short": float(ev["shortfall_probability_by_quarter"][t]),
             "p_unmet": float(ev["unmet_probability_by_quarter"][t]),
             "capacity_h100e_p50": float(fan["p50"][t]), "demand_h100e_p50": float(ev["demand_h100e"]["p50"][t]),
             "installed_h100e": float(d.installed_h100e[t])} for t in range(T)]


def plan(inp: StrategyInputs, *, tornado_scenarios: int | None = None, progress: Progress | None = None,
         with_stability: bool = True) -> dict[str, Any]:
    """Monte Carlo, optimisation, stability (replications, gap, out-of-sample EVPI/VSS), policies, price–demand
    equilibrium and sensitivity. ``progress(step, fraction)`` is called as work advances."""
    prog = progress or _noop
    prog("evaluation Monte Carlo", 0.0)
    d = run_monte_carlo(inp)
    peak = float(np.median((d.demand_h100e - d.installed_h100e[None, :]).max(axis=1)))
    most = sum(r.max_units * r.perf_per_unit for r in inp.routes) + float(np.median(d.spot_available_h100e.max(axis=1)))
    if most < peak:
        raise InfeasibleError(f"demand: median peak of {peak:,.0f} workload H100e exceeds what every route at its "
                              f"max_units plus spot could supply ({most:,.0f}); raise max_units or add routes")
    prog("chance constraints", 0.05)
    chance = chance_requirements(inp)
    prog("optimisation", 0.1)
    d_lp = run_monte_carlo(inp, inp.optimisation_scenarios, OPT)
    opt = optimise(inp, d_lp, chance=chance, with_ev=True)
    units, go = opt["units"], opt["go"]
    ev = evaluate_units(inp, d, units, go)
    stab = None
    if with_stability:
        stab = stability(inp, opt, d, chance, lambda s, f: prog(s, 0.15 + 0.4 * f))
    prog("policies", 0.55)
    policies = {}
    for name, mix in default_policies(inp).items():
        pu = policy_units(inp, d, mix)
        pe = evaluate_units(inp, d, pu)
        policies[name] = {"units": {r: float(u) for r, u in zip(d.route_ids, pu, strict=True) if u > 0},
                          "expected_cost_usd": pe["expected_cost_usd"], "cvar_cost_usd": pe["cvar_cost_usd"],
                          "objective_usd": pe["objective_usd"], "shortfall_probability": pe["shortfall_probability"],
                          "unmet_probability": pe["unmet_probability"]}
    ev_eval = evaluate_units(inp, d, opt["ev_units"], opt["ev_go"])
    econ = _route_economics(inp, d)
    portfolio = {}
    for i, r in enumerate(inp.routes):
        wl = inp.workloads.get(r.id, {})
        portfolio[r.id] = {"units": float(units[i]), "programme": bool(go[i]), "kind": r.kind,
                           "share": ev["shares"][r.id], "workload_h100e_per_unit": r.perf_per_unit,
                           "epoch_h100e_per_unit": r.h100e_per_unit,
                           "serving_h100e_per_unit": wl.get("serving_h100e_per_unit"),
                           "training_goodput": wl.get("training_goodput"), **econ[r.id]}
        if r.kind in ("custom_asic", "in_house") and r.fixed_cost_usd > 0:
            L = r.lead_time_q.mode  # stage gates at the modal lead time (flat keys: tables stay rectangular)
            portfolio[r.id].update(gate_spec_quarter=0.0, gate_tape_out_quarter=r.gate_fractions[1] * L,
                                   gate_bring_up_quarter=r.gate_fractions[2] * L, gate_volume_quarter=L,
                                   kill_probability=float(d.killed[:, i].mean()) if d.killed is not None else 0.0)
        portfolio[r.id]["serving_perf_per_unit"] = r.serving_perf_per_unit or r.perf_per_unit
        if r.claimed_perf_x or r.claimed_energy_x:
            portfolio[r.id].update(claimed_perf_x=r.claimed_perf_x, claimed_energy_x=r.claimed_energy_x,
                                   evidence=r.evidence or "none")
            for c in inp.claims.get(r.id, []):
                k = "perf" if c["kind"] == "compute_multiple" else "energy"
                portfolio[r.id][f"claim_{k}_verdict"] = c["verdict"]
                portfolio[r.id][f"claim_{k}_kept_x"] = c["kept_x"]
    orders = [{"route": r.id, "quarter": 0, "units": float(units[i]),
               "lead_time_quarters": [r.lead_time_q.low, r.lead_time_q.mode, r.lead_time_q.high],
               "first_delivery_quarter_mode": r.lead_time_q.mode} for i, r in enumerate(inp.routes) if units[i] > 0]
    budget = None
    if inp.budget_usd:
        spend = (np.einsum("sry,r->sy", d.capex_by_year_usd, units)
                 + np.einsum("sry,r->sy", d.nre_by_year_usd, go.astype(float)))
        budget = {"budget_usd": list(inp.budget_usd), "expected_spend_usd": spend.mean(axis=0).tolist(),
                  "p95_spend_usd": np.percentile(spend, 95, axis=0).tolist(),
                  "note": "expected payments per year are kept within the budget (deliveries, and so payments, "
                          "are uncertain)"}
    prog("price-demand equilibrium", 0.6)
    pdl = price_demand(inp, d_lp, d, units, chance)
    n_t = inp.optimisation_scenarios if tornado_scenarios is None else tornado_scenarios
    torn = tornado(inp, n_t, opt, chance, lambda s, f: prog(s, 0.7 + 0.3 * f)) if n_t else []
    ms = multistage(inp, d_lp, chance) if inp.multistage else None
    prog("done", 1.0)
    summ = {k: v for k, v in ev.items() if not k.startswith("_")}
    return {
        "scenario": inp.name, "seed": inp.seed, "monte_carlo_scenarios": d.n,
        "optimisation_scenarios": inp.optimisation_scenarios,
        "sampling": {"evaluation_stream": EVAL, "optimisation_stream": OPT,
                     "note": "the optimisation scenarios come from their own random stream, so the number of "
                             "evaluation scenarios never changes the decision"},
        "cost_of_capital": inp.discount_rate,
        "risk": {"weight": inp.risk.weight, "alpha": inp.risk.alpha},
        "portfolio": portfolio, "orders": orders, "spot_share": ev["shares"]["spot"],
        "installed_share": ev["shares"]["installed"], "installed": list(inp.installed),
        "expected_cost_usd": summ["expected_cost_usd"], "npv_cost_usd": summ["expected_cost_usd"],
        "cvar_cost_usd": summ["cvar_cost_usd"], "objective_usd": summ["objective_usd"],
        "cost_percentiles_usd": summ["cost_usd"],
        "shortfall_probability": summ["shortfall_probability"], "unmet_probability": summ["unmet_probability"],
        "shortfall_probability_by_quarter": summ["shortfall_probability_by_quarter"],
        "shortfall_mean_h100e_by_quarter": summ["shortfall_mean_h100e_by_quarter"],
        "unmet_probability_by_quarter": summ["unmet_probability_by_quarter"],
        "quarters": _quarters(ev, d),
        "fan_chart_h100e": summ["fan_chart_h100e"], "demand_h100e": summ["demand_h100e"],
        "quarters_until_demand_met": summ["quarters_until_demand_met"],
        "training_runs": _chance_report(inp, chance, units, opt["x"], d),
        "backlog_jobs": _backlog_report(d, ev["_outcome"]),
        "claim_checks": [{"route": rid, **c} for rid, cs in inp.claims.items() for c in cs],
        "budget": budget,
        "evpi_usd": stab["evpi_usd"] if stab else None, "vss_usd": stab["vss_usd"] if stab else None,
        "stability": stab,
        "value_of_information": {"ev_solution_units": {r: float(u) for r, u in zip(d.route_ids, opt["ev_units"],
                                                                                     strict=True) if u > 0},
                                 "ev_solution_expected_cost_usd": ev_eval["expected_cost_usd"],
                                 "rp_in_sample_usd": opt["in_sample_objective_usd"]},
        "policies": policies,
        "price_demand": pdl,
        "tornado": torn,
        "multistage": ms,
        "provenance": inp.provenance,
    }


# ---------------------------------------------------------------------------------------------- multi-stage
def multistage(inp: StrategyInputs, d: Deliveries, chance: dict[str, Any] | None = None) -> dict[str, Any]:
    """A three-stage scenario tree: orders at quarter 0, recourse orders at the decision quarter k per branch,
    then spot and delay. Branches group the optimisation scenarios by what is known at k (the training and
    serving demand multipliers and which programmes failed), into ``branches`` groups of equal size sorted on
    those observations; scenarios in a branch share their recourse orders (non-anticipativity). A recourse order
    delivers like a quarter-0 order of the same route, k quarters later (its lead time counts from the order).

    EVPI of both models is measured against the same wait-and-see bound (perfect foresight with both order
    dates available), so EVPI(multi-stage) <= EVPI(two-stage) holds by construction: the recourse can only
    lower the optimum."""
    from chipplan.strategy.stochastic import _solve  # the shared extensive-form builder

    k, nb = inp.multistage["decision_quarter"], inp.multistage["branches"]
    S, R, T = d.online.shape
    shifted = np.zeros_like(d.online)
    shifted[:, :, k:] = d.online[:, :, :T - k]
    # observation at k: demand so far and programme failure
    obs = np.column_stack([d.demand_h100e[:, :k].sum(axis=1), d.inference_h100e[:, k - 1],
                           (d.killed.sum(axis=1) if d.killed is not None else np.zeros(S))])
    order = np.lexsort(obs.T[::-1])
    branch = np.empty(S, dtype=int)
    for b, ix in enumerate(np.array_split(order, nb)):
        branch[ix] = b
    base = build_problem(inp, d, chance)
    later_rows = unit_rows(d, shifted)  # (S, m2, R): a later order delivers like a quarter-0 order, k later
    n1 = base.c.shape[0]
    # extended first stage: base decision + per-branch recourse units (R each)
    n_ext = n1 + nb * R
    Tm = np.zeros((S, base.T.shape[1], n_ext))
    Tm[:, :, :n1] = base.T
    c_s = np.zeros((S, n_ext))
    c_s[:, :n1] = base.c_s
    df_k = (1.0 + inp.discount_rate) ** (-k / 4.0)
    for s in range(S):
        cols = slice(n1 + branch[s] * R, n1 + (branch[s] + 1) * R)
        Tm[s, :, cols] = later_rows[s]
        # a later order is priced like a quarter-0 order paid k quarters later (its hosting over the same
        # number of online quarters is charged in full: a conservative approximation)
        c_s[s, cols] = base.c_s[s, :R] * df_k
    upper = np.concatenate([base.x_upper, np.tile([r.max_units for r in inp.routes], nb)])
    integer = np.concatenate([base.x_integer, np.zeros(nb * R, dtype=bool)])
    A = None if base.A is None else np.hstack([base.A, np.zeros((base.A.shape[0], nb * R))])
    # programme routes can only be ordered later when their programme is on: units_b <= max · go
    prog = _programmes(inp)
    extra = []
    for b in range(nb):
        for p_, i in enumerate(prog):
            a = np.zeros(n_ext)
            a[n1 + b * R + i] = 1.0
            a[R + p_] = -inp.routes[i].max_units
            extra.append(a)
    if extra:
        A = np.vstack([A, np.array(extra)]) if A is not None else np.array(extra)
        b_vec = np.concatenate([base.b if base.b is not None else np.zeros(0), np.zeros(len(extra))])
        sense = tuple(base.A_sense) + ("<=",) * len(extra)
    else:
        b_vec, sense = base.b, base.A_sense
    names = base.x_names + tuple(f"later:{b}:{r.id}" for b in range(nb) for r in inp.routes)
    pb = TwoStageProblem(c=np.zeros(n_ext), c_s=c_s, prob=base.prob, T=Tm, W=base.W, h=base.h, q=base.q,
                         sense=base.sense, x_lower=np.zeros(n_ext), x_upper=upper, x_integer=integer, A=A, b=b_vec,
                         A_sense=sense, y_upper=base.y_upper, x_names=names, y_names=base.y_names)
    rp_multi = _solve(pb, inp.risk)
    rp_two = solve_recourse_problem(base, inp.risk)
    ws = wait_and_see(pb, inp.risk)  # perfect foresight with both order dates: the bound for both EVPIs
    later = rp_multi.x[n1:].reshape(nb, R)
    return {
        "method": "three-stage scenario tree (orders at quarter 0, recourse orders per branch at the decision "
                  "quarter, then spot and delay)",
        "decision_quarter": k, "branches": nb, "scenarios": S,
        "rp_usd": rp_multi.objective * MUSD, "two_stage_rp_usd": rp_two.objective * MUSD,
        "ws_usd": ws.objective * MUSD,
        "evpi_usd": (rp_multi.objective - ws.objective) * MUSD,
        "two_stage_evpi_usd": (rp_two.objective - ws.objective) * MUSD,
        "first_stage_units": {r.id: float(v) for r, v in zip(inp.routes, rp_multi.x[:R], strict=True) if v > 1e-6},
        "recourse_units_by_branch": [{r.id: float(v) for r, v in zip(inp.routes, row, strict=True) if v > 1e-6}
                                     for row in later],
    }
