"""Vectorised, seeded Monte Carlo of deliveries: scenarios × routes × quarters in numpy, no per-scenario loop.

For every scenario s, route r and quarter t the simulation gives the workload H100-equivalents online per
committed unit, ``online[s, r, t]``, and the scenario's cost per committed unit, so that any portfolio of
commitments ``units[r]`` is evaluated by one tensor contraction: capacity[s, t] = Σ_r online[s, r, t]·units[r].
The same arrays feed the stochastic program (:mod:`chipplan.strategy.portfolio`), where capacity is linear in
the first-stage decision.

Delivery model per route (time in quarters, evaluated at quarter mid-points c = t + ½):

- pipeline clock: progress = c − start − Σ_b exposure_rb · severity_b · |[τ_b, τ_b + d_b] ∩ [0, c]|, so a
  shortage of a shared bottleneck b (wafers, CoWoS, HBM, a fab) slows every exposed route at once
  (correlated shortages); occurrences of the bottlenecks are correlated through a Gaussian copula with
  one equicorrelation ρ;
- start = lead time + respins × respin delay; a programme that needs more than ``max_respins`` respins, or
  fails its success draw, delivers nothing;
- delivered fraction = clip(progress / ramp, 0, 1) × allocation (fraction of the order filled);
- export control at time τ: exposed deliveries stop growing after τ; divestment at τ: exposed supply lost.

Demand: base paths (H100e per quarter, from :mod:`chipplan.strategy.demand`) times a lognormal training
multiplier and an inference growth multiplier compounding per year, g^((t+½)/4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from chipplan.errors import FieldError
from chipplan.strategy.routes import Bottleneck, Event, LogNormal90, Route, Spot
from chipplan.units import HOURS_PER_QUARTER

CHUNK = 16384  # scenarios per block of (S, R, T) work: keeps temporaries in cache; fixed, so results are too
PERCENTILES = (5, 25, 50, 75, 95)


@dataclass(frozen=True, kw_only=True)
class DemandModel:
    """Demand in workload H100-equivalents per quarter: two base paths and their uncertainty."""

    training_h100e: np.ndarray  # (T,)
    inference_h100e: np.ndarray  # (T,)
    training_multiplier: LogNormal90
    inference_growth_multiplier: LogNormal90  # per year, compounding

    def __post_init__(self) -> None:
        tr = np.asarray(self.training_h100e, dtype=float)
        inf = np.asarray(self.inference_h100e, dtype=float)
        if tr.shape != inf.shape or tr.ndim != 1:
            raise FieldError("demand", "training and inference paths need the same number of quarters")
        if (tr < 0).any() or (inf < 0).any() or not (np.isfinite(tr).all() and np.isfinite(inf).all()):
            raise FieldError("demand", "H100e per quarter must be finite and >= 0")
        object.__setattr__(self, "training_h100e", tr)
        object.__setattr__(self, "inference_h100e", inf)

    @property
    def quarters(self) -> int:
        return int(self.training_h100e.shape[0])


@dataclass(frozen=True, kw_only=True)
class Deliveries:
    """Sampled scenarios (S of them), equally likely."""

    route_ids: tuple[str, ...]
    online: np.ndarray  # (S, R, T) workload H100e online per committed unit
    unit_cost_usd: np.ndarray  # (S, R) cost per committed unit
    fixed_cost_usd: np.ndarray  # (S, R) cost of switching the route's programme on (NRE, equity net of exit)
    demand_h100e: np.ndarray  # (S, T)
    inference_h100e: np.ndarray  # (S, T) the serving part of demand_h100e
    spot_usd_per_h100e_hour: np.ndarray  # (S, T)
    spot_available_h100e: np.ndarray  # (S, T)
    seed: int

    @property
    def n(self) -> int:
        return int(self.online.shape[0])

    def take(self, idx: slice | np.ndarray) -> Deliveries:
        return Deliveries(route_ids=self.route_ids, online=self.online[idx], unit_cost_usd=self.unit_cost_usd[idx],
                          fixed_cost_usd=self.fixed_cost_usd[idx], demand_h100e=self.demand_h100e[idx],
                          inference_h100e=self.inference_h100e[idx],
                          spot_usd_per_h100e_hour=self.spot_usd_per_h100e_hour[idx],
                          spot_available_h100e=self.spot_available_h100e[idx], seed=self.seed)


def _window(c: np.ndarray, start: np.ndarray, dur: np.ndarray) -> np.ndarray:
    """Length of [start, start + dur] ∩ [0, c] (time a shortage has been running by c)."""
    return np.clip(c - start, 0.0, dur)


def simulate(routes: tuple[Route, ...], demand: DemandModel, spot: Spot, *,
             bottlenecks: tuple[Bottleneck, ...] = (), events: tuple[Event, ...] = (),
             bottleneck_correlation: float = 0.0, n: int = 100_000, seed: int = 0) -> Deliveries:
    """Sample ``n`` scenarios of deliveries, costs, spot market and demand (bit-identical for a given seed)."""
    if not (isinstance(n, int) and n >= 1):
        raise FieldError("scenarios", "must be a positive integer", n)
    if not 0 <= bottleneck_correlation <= 1:
        raise FieldError("bottleneck_correlation", "must be in [0, 1]", bottleneck_correlation)
    if not routes:
        raise FieldError("routes", "needs at least one route")
    ids = tuple(r.id for r in routes)
    # exposures to bottlenecks/events not in this run are ignored (a what-if without them); the scenario
    # loader rejects unknown names in user files
    R, T, B, E = len(routes), demand.quarters, len(bottlenecks), len(events)
    rng = np.random.default_rng(seed)
    # every draw is made here, in a fixed order, with shapes that depend only on (n, R, B, E, T)
    lead = np.stack([r.lead_time_q.sample(rng, (n,)) for r in routes], axis=1)
    alloc = np.stack([r.allocation.sample(rng, (n,)) for r in routes], axis=1)
    u_success = rng.random((n, R))
    u_respin = rng.random((n, R, max([r.max_respins for r in routes] + [0]) + 1))
    z_perf = rng.standard_normal((n, R))
    z_price = rng.standard_normal((n, R))
    g = rng.standard_normal((n, 1))
    e_b = rng.standard_normal((n, B))
    b_start = np.stack([b.start_q.sample(rng, (n,)) for b in bottlenecks], axis=1) if B else np.zeros((n, 0))
    b_dur = np.stack([b.duration_q.sample(rng, (n,)) for b in bottlenecks], axis=1) if B else np.zeros((n, 0))
    b_sev = np.stack([b.severity.sample(rng, (n,)) for b in bottlenecks], axis=1) if B else np.zeros((n, 0))
    u_event = rng.random((n, E))
    ev_time = np.stack([e.time_q.sample(rng, (n,)) for e in events], axis=1) if E else np.zeros((n, 0))
    z_spot = rng.standard_normal((n, 1))
    z_train = rng.standard_normal(n)
    z_inf = rng.standard_normal(n)

    # correlated shortage occurrence (Gaussian copula, equicorrelation ρ)
    rho = bottleneck_correlation
    zb = math.sqrt(rho) * g + math.sqrt(1 - rho) * e_b
    b_prob = np.array([b.probability for b in bottlenecks])
    b_occ = ndtr(zb) < b_prob  # (n, B)
    b_rate = np.where(b_occ, b_sev, 0.0)  # pipeline slowdown while active
    expo_b = np.array([[r.exposure.get(b.id, 0.0) for b in bottlenecks] for r in routes]).reshape(R, B)
    ev_occ = u_event < np.array([e.probability for e in events])  # (n, E)
    expo_e = np.array([[r.exposure.get(e.id, 0.0) for e in events] for r in routes]).reshape(R, E)
    is_export = np.array([e.kind == "export_control" for e in events], dtype=bool)
    is_divest = ~is_export

    # programme success: first-pass success draw and a respin count (fail after max_respins)
    p_resp = np.array([r.respin_probability for r in routes])
    max_resp = np.array([r.max_respins for r in routes])
    spins = np.cumprod(u_respin < p_resp[None, :, None], axis=2).sum(axis=2)  # consecutive failed spins
    success = (u_success < np.array([r.success_probability for r in routes])) & (spins <= max_resp)
    start = lead + np.minimum(spins, max_resp) * np.array([r.respin_delay_q for r in routes])
    perf = np.array([r.perf_per_unit for r in routes]) * np.exp(
        np.array([r.perf_uncertainty.sigma for r in routes]) * z_perf) * np.array(
        [r.perf_uncertainty.median for r in routes])
    price_mult = np.array([r.price_shock.median for r in routes]) * np.exp(
        np.array([r.price_shock.sigma for r in routes]) * z_price)
    ramp = np.array([r.ramp_q for r in routes])
    inv_ramp = np.where(ramp > 0, 1.0 / np.where(ramp > 0, ramp, 1.0), np.inf)

    c = np.arange(T) + 0.5  # quarter mid-points
    online = np.empty((n, R, T))
    paid_frac = np.empty((n, R))
    online_hours = np.empty((n, R))
    divested = np.zeros((n, R), dtype=bool)

    def frac_at(cc: np.ndarray, sl: slice) -> np.ndarray:
        """Delivered fraction (before allocation/success) at times cc, shape (k, R, *cc.shape[1:])."""
        prog = cc - start[sl][..., None]
        for b in range(B):
            w = _window(cc, b_start[sl, b][:, None, None], b_dur[sl, b][:, None, None])
            prog = prog - expo_b[None, :, b, None] * b_rate[sl, b][:, None, None] * w
        x = prog * inv_ramp[None, :, None]
        x = np.where(np.isinf(inv_ramp)[None, :, None], np.where(prog >= 0, 1.0, 0.0), x)
        return np.clip(x, 0.0, 1.0)

    for lo in range(0, n, CHUNK):
        sl = slice(lo, min(n, lo + CHUNK))
        k = sl.stop - sl.start
        frac = frac_at(np.broadcast_to(c, (k, 1, T)), sl)
        for e in np.flatnonzero(is_export):
            tau = ev_time[sl, e]
            f_tau = frac_at(np.broadcast_to(tau[:, None, None], (k, 1, 1)), sl)
            after = (ev_occ[sl, e][:, None, None]) & (c[None, None, :] >= tau[:, None, None])
            frozen = np.minimum(frac, f_tau)
            frac = np.where(after, frac - expo_e[None, :, e, None] * (frac - frozen), frac)
        delivered = frac * (alloc[sl] * success[sl])[..., None]
        paid_frac[sl] = delivered[..., -1]
        live = delivered
        for e in np.flatnonzero(is_divest):
            after = (ev_occ[sl, e][:, None, None]) & (c[None, None, :] >= ev_time[sl, e][:, None, None])
            live = live * (1.0 - expo_e[None, :, e, None] * after)
            divested[sl] |= (ev_occ[sl, e] & (ev_time[sl, e] < T))[:, None] & (expo_e[None, :, e] > 0)
        online_hours[sl] = live.sum(axis=2) * HOURS_PER_QUARTER
        online[sl] = live * perf[sl][..., None]

    price = np.array([r.unit_price_usd for r in routes])
    resid = np.array([r.residual_value_fraction for r in routes])
    unit_cost = (price * price_mult * paid_frac * (1.0 - resid)
                 + np.array([r.usd_per_hour for r in routes]) * online_hours)
    # programme cost: NRE / equity ticket, less what the stake returns (exit value, or forced-sale proceeds)
    fixed = np.array([r.fixed_cost_usd for r in routes])
    exit_mult = np.array([r.exit_multiple for r in routes])
    discount = np.zeros((n, R))
    for e in np.flatnonzero(is_divest):
        discount = np.maximum(discount, np.where(ev_occ[:, e, None] & (ev_time[:, e, None] < T),
                                                 expo_e[None, :, e] * 0 + events[e].discount, 0.0))
    is_startup = np.array([r.kind == "startup" for r in routes])
    equity_back = np.where(divested, fixed * (1.0 - discount), fixed * exit_mult * success)
    fixed_cost = fixed - np.where(is_startup, equity_back, 0.0)

    # spot market: price shock × uplift of active shortages; supply shrinks with exposed shortages
    active = np.zeros((n, T))
    uplift = np.zeros((n, T))
    for b, bn in enumerate(bottlenecks):
        on = b_occ[:, b, None] & (c >= b_start[:, b, None]) & (c < (b_start[:, b] + b_dur[:, b])[:, None])
        uplift += bn.spot_price_uplift * on
        active += bn.spot_exposure * b_sev[:, b, None] * on
    spot_price = spot.usd_per_h100e_hour * spot.price_shock.from_normal(z_spot) * (1.0 + uplift)
    growth = (1.0 + spot.growth_per_year) ** (c / 4.0)
    spot_avail = spot.available_h100e * growth * np.clip(1.0 - active, 0.0, 1.0)

    yrs = (c / 4.0)[None, :]
    tr = demand.training_h100e[None, :] * demand.training_multiplier.from_normal(z_train)[:, None]
    inf = demand.inference_h100e[None, :] * demand.inference_growth_multiplier.from_normal(z_inf)[:, None] ** yrs
    return Deliveries(route_ids=ids, online=online, unit_cost_usd=unit_cost, fixed_cost_usd=fixed_cost,
                      demand_h100e=tr + inf, inference_h100e=inf, spot_usd_per_h100e_hour=spot_price,
                      spot_available_h100e=np.broadcast_to(spot_avail, (n, T)).copy(), seed=seed)


@dataclass(frozen=True)
class Outcome:
    """A portfolio's results in every scenario."""

    capacity_h100e: np.ndarray  # (S, T) committed capacity online
    gap_h100e: np.ndarray  # (S, T) demand not covered by commitments (before spot)
    spot_h100e: np.ndarray  # (S, T) rented on the spot market
    unmet_h100e: np.ndarray  # (S, T) demand left unserved (delayed)
    cost_usd: np.ndarray  # (S,)
    commitment_cost_usd: np.ndarray  # (S,)


def outcome(d: Deliveries, units: np.ndarray, programme: np.ndarray | None = None, *,
            penalty_usd_per_h100e_hour: float) -> Outcome:
    """Evaluate commitments ``units`` (R,) on every scenario. Recourse in closed form per quarter: rent spot
    up to its availability when it is cheaper than the delay penalty, leave the rest unmet. This is the exact
    optimum of the recourse LP, which separates by quarter."""
    units = np.asarray(units, dtype=float)
    R = len(d.route_ids)
    if units.shape != (R,) or (units < 0).any():
        raise FieldError("units", f"must be {R} non-negative numbers", units.tolist())
    prog = (units > 0) if programme is None else np.asarray(programme, dtype=bool)
    cap = np.einsum("srt,r->st", d.online, units)
    gap = np.maximum(d.demand_h100e - cap, 0.0)
    cheaper = d.spot_usd_per_h100e_hour < penalty_usd_per_h100e_hour
    spot = np.where(cheaper, np.minimum(gap, d.spot_available_h100e), 0.0)
    unmet = gap - spot
    commit = d.unit_cost_usd @ units + d.fixed_cost_usd @ prog.astype(float)
    recourse = (spot * d.spot_usd_per_h100e_hour + unmet * penalty_usd_per_h100e_hour).sum(axis=1)
    return Outcome(capacity_h100e=cap, gap_h100e=gap, spot_h100e=spot, unmet_h100e=unmet,
                   cost_usd=commit + recourse * HOURS_PER_QUARTER, commitment_cost_usd=commit)


def summarise(o: Outcome, demand_h100e: np.ndarray) -> dict[str, object]:
    """Fan chart, shortfall probability and size per quarter, cost percentiles, time until demand is met."""
    T = o.capacity_h100e.shape[1]
    short = o.gap_h100e > 1e-9 * np.maximum(demand_h100e, 1.0)
    unmet = o.unmet_h100e > 1e-9 * np.maximum(demand_h100e, 1.0)
    size = np.where(short, o.gap_h100e, np.nan)
    with np.errstate(invalid="ignore"):
        mean_size = np.where(short.any(axis=0), np.nansum(size, axis=0) / np.maximum(short.sum(axis=0), 1), 0.0)
    # first quarter from which commitments alone cover demand in every later quarter (T = never)
    covered_after = np.flip(np.cumprod(np.flip(~short, axis=1), axis=1), axis=1)
    met_from = np.where(covered_after.any(axis=1), T - covered_after.sum(axis=1), T)
    never = met_from >= T
    pct = np.array(PERCENTILES, dtype=float)
    return {
        "fan_chart_h100e": {f"p{p}": np.percentile(o.capacity_h100e, p, axis=0) for p in PERCENTILES},
        "demand_h100e": {f"p{p}": np.percentile(demand_h100e, p, axis=0) for p in (5, 50, 95)},
        "shortfall_probability_by_quarter": short.mean(axis=0),
        "shortfall_mean_h100e_by_quarter": mean_size,
        "unmet_probability_by_quarter": unmet.mean(axis=0),
        "shortfall_probability": float(short.any(axis=1).mean()),
        "unmet_probability": float(unmet.any(axis=1).mean()),
        "cost_usd": {f"p{int(p)}": v for p, v in zip(pct, np.percentile(o.cost_usd, pct), strict=True)},
        "expected_cost_usd": float(o.cost_usd.mean()),
        "quarters_until_demand_met": {
            "p50": float(np.percentile(met_from, 50)), "p95": float(np.percentile(met_from, 95)),
            "never_probability": float(never.mean())},
    }
