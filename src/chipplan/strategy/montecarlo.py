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
- export control at time τ: exposed deliveries stop for the control's duration (for good when it has none),
  then resume that much later; installed units keep running;
- a forced sale of the lab's stake (divestment) returns value × (1 − discount), nothing when the start-up
  failed, and takes delivered chips offline only with ``service_loss``; a third-party investor forced out
  (``investor_exit``) delays the start-up, lowers its success probability and opens a financing gap.

Money is counted as present value at the scenario's cost of capital: a unit's price is paid as it is delivered,
hourly costs as they accrue, the resale value comes back at the horizon, and NRE is paid at the programme's
stage gates.

Demand: base paths (H100e per quarter, from :mod:`chipplan.strategy.demand`) times a lognormal training
multiplier and an inference growth multiplier compounding per year, g^((t+½)/4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

from chipplan.errors import FieldError
from chipplan.strategy.demand import BacklogJob
from chipplan.strategy.routes import Bottleneck, Event, LogNormal90, Route, Spot
from chipplan.units import DAYS_PER_QUARTER, HOURS_PER_QUARTER

CHUNK = 16384  # scenarios per block of (S, R, T) work: keeps temporaries in cache; fixed, so results are too
PERCENTILES = (5, 25, 50, 75, 95)


@dataclass(frozen=True, kw_only=True)
class DemandModel:
    """Demand in workload H100-equivalents per quarter: two base paths and their uncertainty."""

    training_h100e: np.ndarray  # (T,)
    inference_h100e: np.ndarray  # (T,)
    training_multiplier: LogNormal90
    inference_growth_multiplier: LogNormal90  # per year, compounding
    jobs: tuple[BacklogJob, ...] = ()  # training runs with a backlog (their profile is part of training_h100e)

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
    stream: int = 0
    discount_factor: np.ndarray | None = None  # (T,) present value of $1 spent in quarter t (mid-quarter)
    installed_h100e: np.ndarray | None = None  # (T,) workload H100e of the installed fleet (deterministic)
    installed_cost_usd: float = 0.0  # present cost of running the installed fleet, less its resale
    capex_by_year_usd: np.ndarray | None = None  # (S, R, Y) undiscounted payments per committed unit, by year
    nre_by_year_usd: np.ndarray | None = None  # (S, R, Y) undiscounted programme payments, by year
    killed: np.ndarray | None = None  # (S, R) programme stopped at its bring-up gate (failed)
    training_multiplier: np.ndarray | None = None  # (S,) the scenario's multiplier on training demand
    jobs: tuple[BacklogJob, ...] = ()  # training runs with a backlog
    serving_factor: np.ndarray | None = None  # (R,) serving capacity per unit of training capacity, by route
    discount_rate: float = 0.0

    def __post_init__(self) -> None:
        T = self.online.shape[2]
        if self.discount_factor is None:
            object.__setattr__(self, "discount_factor", np.ones(T))
        if self.installed_h100e is None:
            object.__setattr__(self, "installed_h100e", np.zeros(T))
        if self.serving_factor is None:
            object.__setattr__(self, "serving_factor", np.ones(self.online.shape[1]))
        if self.training_multiplier is None:
            object.__setattr__(self, "training_multiplier", np.ones(self.online.shape[0]))

    def job_need(self, j: int) -> np.ndarray:
        """(S,) cluster of backlog job j in each scenario: its on-time need × the training multiplier."""
        return self.jobs[j].need_h100e * self.training_multiplier

    def job_profiles(self) -> np.ndarray:
        """(S, T) the backlog jobs' even profile inside ``demand_h100e`` (the rest is fixed demand)."""
        S, _, T = self.online.shape
        out = np.zeros((S, T))
        for j, job in enumerate(self.jobs):
            out[:, job.start_q:job.deadline_q] += self.job_need(j)[:, None]
        return out

    @property
    def n(self) -> int:
        return int(self.online.shape[0])

    def take(self, idx: slice | np.ndarray) -> Deliveries:
        def sub(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[idx]

        return Deliveries(route_ids=self.route_ids, online=self.online[idx], unit_cost_usd=self.unit_cost_usd[idx],
                          fixed_cost_usd=self.fixed_cost_usd[idx], demand_h100e=self.demand_h100e[idx],
                          inference_h100e=self.inference_h100e[idx],
                          spot_usd_per_h100e_hour=self.spot_usd_per_h100e_hour[idx],
                          spot_available_h100e=self.spot_available_h100e[idx], seed=self.seed, stream=self.stream,
                          discount_factor=self.discount_factor, installed_h100e=self.installed_h100e,
                          installed_cost_usd=self.installed_cost_usd, capex_by_year_usd=sub(self.capex_by_year_usd),
                          nre_by_year_usd=sub(self.nre_by_year_usd), killed=sub(self.killed),
                          training_multiplier=sub(self.training_multiplier), jobs=self.jobs,
                          serving_factor=self.serving_factor, discount_rate=self.discount_rate)


def _window(c: np.ndarray, start: np.ndarray, dur: np.ndarray) -> np.ndarray:
    """Length of [start, start + dur] ∩ [0, c] (time a shortage has been running by c)."""
    return np.clip(c - start, 0.0, dur)


def rng_for(seed: int, stream: int) -> np.random.Generator:
    """The generator of one named random stream of a seed. Streams are independent, so the optimisation
    scenarios (stream 1), the evaluation Monte Carlo (stream 0), the replication batches and the chance-
    constraint sample never share draws, and changing the size of one never changes another."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(stream,)))


class _uniforms:
    """(n, D) uniforms in (0, 1), independent (pseudo-random) or a scrambled Sobol sequence, handed out by column."""

    def __init__(self, n: int, d: int, rng: np.random.Generator, qmc: bool) -> None:
        if qmc and d > 0:
            import warnings

            from scipy.stats import qmc as q

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # balance warnings for n not a power of two
                self.u = q.Sobol(d=d, scramble=True, seed=rng).random(n)
        else:
            self.u = rng.random((n, d))
        self.u = np.clip(self.u, 1e-12, 1 - 1e-12)
        self.k = 0

    def take(self, m: int) -> np.ndarray:
        out = self.u[:, self.k:self.k + m]
        self.k += m
        return out


def discount_factors(quarters: int, rate_per_year: float) -> np.ndarray:
    """Present value of $1 spent in the middle of each quarter at ``rate_per_year``: (1+r)^−((t+½)/4)."""
    return (1.0 + rate_per_year) ** (-(np.arange(quarters) + 0.5) / 4.0)


def simulate(routes: tuple[Route, ...], demand: DemandModel, spot: Spot, *,
             bottlenecks: tuple[Bottleneck, ...] = (), events: tuple[Event, ...] = (),
             bottleneck_correlation: float = 0.0, n: int = 100_000, seed: int = 0, stream: int = 0,
             discount_rate: float = 0.0, installed_h100e: np.ndarray | None = None,
             installed_cost_usd: float = 0.0, qmc: bool = False) -> Deliveries:
    """Sample ``n`` scenarios of deliveries, costs, spot market and demand (bit-identical for a given seed
    and stream). Costs are present values at ``discount_rate`` a year (0: undiscounted). With ``qmc`` the
    uniforms behind every draw are a scrambled Sobol sequence (randomised quasi-Monte Carlo, Owen 1995): still
    unbiased, with much less sampling error than independent draws for the same number of scenarios."""
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
    Y = (T + 3) // 4
    K = max([r.max_respins for r in routes] + [0]) + 1
    u = _uniforms(n, 6 * R + R * K + 4 * B + 2 * E + 4, rng_for(seed, stream), qmc)
    # Every draw is a column of u, handed out in a fixed order. With quasi-random points the leading dimensions
    # are the best spread, jointly as well as one at a time, so the inputs that decide the costly tail come
    # first: the demand multipliers, the shared-shortage factor and the shortage and event occurrences, then
    # each route's allocation, lead time and success; prices and per-route performance last. This order cut
    # the spread of the frontier example's committed H100e between independent batches of 256 scenarios
    # from a CV of 8.5 % (draws in declaration order) to 3.0 % (tests/strategy/test_examples.py).
    z_train = ndtri(u.take(1))[:, 0]
    z_inf = ndtri(u.take(1))[:, 0]
    g = ndtri(u.take(1))
    e_b = ndtri(u.take(B))
    u_event = u.take(E)
    alloc = np.stack([r.allocation.ppf(u.take(1)[:, 0]) for r in routes], axis=1)
    lead = np.stack([r.lead_time_q.ppf(u.take(1)[:, 0]) for r in routes], axis=1)
    u_success = u.take(R)
    b_sev = np.stack([b.severity.ppf(u.take(1)[:, 0]) for b in bottlenecks], axis=1) if B else np.zeros((n, 0))
    b_start = np.stack([b.start_q.ppf(u.take(1)[:, 0]) for b in bottlenecks], axis=1) if B else np.zeros((n, 0))
    b_dur = np.stack([b.duration_q.ppf(u.take(1)[:, 0]) for b in bottlenecks], axis=1) if B else np.zeros((n, 0))
    ev_time = np.stack([e.time_q.ppf(u.take(1)[:, 0]) for e in events], axis=1) if E else np.zeros((n, 0))
    z_spot = ndtri(u.take(1))
    z_perf = ndtri(u.take(R))
    z_price = ndtri(u.take(R))
    u_respin = u.take(R * K).reshape(n, R, K)

    # correlated shortage occurrence (Gaussian copula, equicorrelation ρ)
    rho = bottleneck_correlation
    zb = math.sqrt(rho) * g + math.sqrt(1 - rho) * e_b
    b_prob = np.array([b.probability for b in bottlenecks])
    b_occ = ndtr(zb) < b_prob  # (n, B)
    b_rate = np.where(b_occ, b_sev, 0.0)  # pipeline slowdown while active
    expo_b = np.array([[r.exposure.get(b.id, 0.0) for b in bottlenecks] for r in routes]).reshape(R, B)
    ev_occ = (u_event < np.array([e.probability for e in events])) & (ev_time < T)  # (n, E), within the horizon
    expo_e = np.array([[r.exposure.get(e.id, 0.0) for e in events] for r in routes]).reshape(R, E)
    kinds = np.array([e.kind for e in events], dtype=object)

    # a third-party investor forced out of a start-up: delay, lower success, a financing gap the lab covers
    hit_exit = np.zeros((n, R))
    delay = np.zeros((n, R))
    success_factor = np.ones((n, R))
    gap_usd = np.zeros((n, R))
    for e in np.flatnonzero(kinds == "investor_exit"):
        ev = events[e]
        hit = ev_occ[:, e, None] * expo_e[None, :, e]
        hit_exit = np.maximum(hit_exit, hit)
        delay += hit * ev.delay_quarters
        success_factor *= 1.0 - hit * (1.0 - ev.success_factor)
        gap_usd += hit * ev.financing_gap_usd

    # programme success: first-pass success draw and a respin count (fail after max_respins)
    p_resp = np.array([r.respin_probability for r in routes])
    max_resp = np.array([r.max_respins for r in routes])
    spins = np.cumprod(u_respin < p_resp[None, :, None], axis=2).sum(axis=2)  # consecutive failed spins
    success = (u_success < np.array([r.success_probability for r in routes]) * success_factor) & (spins <= max_resp)
    start = lead + np.minimum(spins, max_resp) * np.array([r.respin_delay_q for r in routes]) + delay
    perf = np.array([r.perf_per_unit for r in routes]) * np.exp(
        np.array([r.perf_uncertainty.sigma for r in routes]) * z_perf) * np.array(
        [r.perf_uncertainty.median for r in routes])
    price_mult = np.array([r.price_shock.median for r in routes]) * np.exp(
        np.array([r.price_shock.sigma for r in routes]) * z_price)
    ramp = np.array([r.ramp_q for r in routes])
    inv_ramp = np.where(ramp > 0, 1.0 / np.where(ramp > 0, ramp, 1.0), np.inf)

    c = np.arange(T) + 0.5  # quarter mid-points
    df = discount_factors(T, discount_rate)
    df_end = (1.0 + discount_rate) ** (-T / 4.0)
    online = np.empty((n, R, T))
    paid_pv = np.empty((n, R))  # Σ_t df_t · Δdelivered_t
    paid_by_year = np.zeros((n, R, Y))
    delivered_end = np.empty((n, R))
    online_hours_pv = np.empty((n, R))
    divested = np.zeros((n, R), dtype=bool)
    export_ids = np.flatnonzero(kinds == "export_control")

    def frac_at(cc: np.ndarray, sl: slice, shift: np.ndarray | float = 0.0) -> np.ndarray:
        """Delivered fraction (before allocation/success) at times cc, shape (k, R, *cc.shape[1:])."""
        prog = cc - shift - start[sl][..., None]
        for b in range(B):
            w = _window(cc, b_start[sl, b][:, None, None], b_dur[sl, b][:, None, None])
            prog = prog - expo_b[None, :, b, None] * b_rate[sl, b][:, None, None] * w
        x = prog * inv_ramp[None, :, None]
        x = np.where(np.isinf(inv_ramp)[None, :, None], np.where(prog >= 0, 1.0, 0.0), x)
        return np.clip(x, 0.0, 1.0)

    for lo in range(0, n, CHUNK):
        sl = slice(lo, min(n, lo + CHUNK))
        k = sl.stop - sl.start
        cc = np.broadcast_to(c, (k, 1, T))
        frac = frac_at(cc, sl)
        for e in export_ids:
            # exposed deliveries stop at τ for the control's duration, then resume that much later
            tau = ev_time[sl, e][:, None, None]
            dur = events[e].duration_quarters
            f_tau = frac_at(np.broadcast_to(tau, (k, 1, 1)), sl)
            occ = ev_occ[sl, e][:, None, None]
            during = occ & (cc >= tau) & (cc < tau + dur)
            after = occ & (cc >= tau + dur)
            late = frac_at(cc, sl, shift=np.minimum(dur, 1e9)) if np.isfinite(dur) else f_tau
            blocked = np.where(during, np.minimum(frac, f_tau), np.where(after, np.maximum(
                np.minimum(frac, f_tau), late), frac))
            frac = frac - expo_e[None, :, e, None] * (frac - blocked)
        delivered = frac * (alloc[sl] * success[sl])[..., None]
        step = np.diff(delivered, axis=2, prepend=0.0)
        paid_pv[sl] = (step * df).sum(axis=2)
        for y in range(Y):
            paid_by_year[sl, :, y] = step[..., 4 * y:4 * y + 4].sum(axis=2)
        delivered_end[sl] = delivered[..., -1]
        live = delivered
        for e in np.flatnonzero(kinds == "divestment"):
            if not events[e].service_loss:
                continue  # a forced sale of the stake does not take delivered chips offline
            after = (ev_occ[sl, e][:, None, None]) & (cc >= ev_time[sl, e][:, None, None])
            live = live * (1.0 - expo_e[None, :, e, None] * after)
        online_hours_pv[sl] = (live * df).sum(axis=2) * HOURS_PER_QUARTER
        online[sl] = live * perf[sl][..., None]

    price = np.array([r.unit_price_usd for r in routes]) * price_mult
    resid = np.array([r.residual_value_fraction for r in routes])
    unit_cost = (price * paid_pv - price * resid * delivered_end * df_end
                 + np.array([r.usd_per_hour for r in routes]) * online_hours_pv)
    capex_by_year = price[..., None] * paid_by_year

    # programme cost. Chip programmes pay their NRE at stage gates (spec at the decision, tape-out, bring-up);
    # one that fails is killed at bring-up and pays nothing more. Start-ups: the equity ticket, less what the
    # stake returns: its exit value when the start-up delivers, or value × (1 − discount) when a regulator
    # forces the lab to sell (zero if the start-up failed), plus any financing gap the lab covers.
    fixed = np.array([r.fixed_cost_usd for r in routes])
    nre_pv = np.zeros((n, R))
    nre_by_year = np.zeros((n, R, Y))
    killed = np.zeros((n, R), dtype=bool)
    for i, r in enumerate(routes):
        if not (r.fixed_cost_usd > 0 and r.kind in ("custom_asic", "in_house")):
            continue
        t_gate = np.stack([np.zeros(n), r.gate_fractions[1] * start[:, i], r.gate_fractions[2] * start[:, i]],
                          axis=1)
        paid = np.array(r.nre_shares)[None, :] * np.stack([np.ones(n), np.ones(n), success[:, i]], axis=1)
        killed[:, i] = ~success[:, i]
        nre_pv[:, i] = r.fixed_cost_usd * (paid * (1.0 + discount_rate) ** (-t_gate / 4.0)).sum(axis=1)
        yr = np.clip((t_gate // 4).astype(int), 0, Y - 1)
        for j in range(3):
            np.add.at(nre_by_year[:, i], (np.arange(n), yr[:, j]), r.fixed_cost_usd * paid[:, j])
    exit_mult = np.array([r.exit_multiple for r in routes])
    is_startup = np.array([r.kind == "startup" for r in routes])
    sale = np.zeros((n, R))  # 1 − discount of a forced sale; 0 when there was none
    for e in np.flatnonzero(kinds == "divestment"):
        forced = ev_occ[:, e, None] & (expo_e[None, :, e] > 0)
        sale = np.where(forced & (sale == 0), 1.0 - events[e].discount, sale)
        divested |= forced
    value = fixed * exit_mult * success
    equity_back = np.where(divested, value * sale, value) * df_end
    startup_cost = fixed - equity_back + gap_usd
    fixed_cost = np.where(is_startup, startup_cost, np.where(nre_pv > 0, nre_pv, fixed))
    nre_by_year[:, :, 0] += np.where(is_startup, fixed + gap_usd, 0.0)
    no_gates = ~is_startup & (nre_pv == 0)
    nre_by_year[:, :, 0] += np.where(no_gates, fixed, 0.0)

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
    m_train = demand.training_multiplier.from_normal(z_train)
    tr = demand.training_h100e[None, :] * m_train[:, None]
    inf = demand.inference_h100e[None, :] * demand.inference_growth_multiplier.from_normal(z_inf)[:, None] ** yrs
    inst = np.zeros(T) if installed_h100e is None else np.asarray(installed_h100e, dtype=float)
    return Deliveries(route_ids=ids, online=online, unit_cost_usd=unit_cost, fixed_cost_usd=fixed_cost,
                      demand_h100e=tr + inf, inference_h100e=inf, spot_usd_per_h100e_hour=spot_price,
                      spot_available_h100e=np.broadcast_to(spot_avail, (n, T)).copy(), seed=seed, stream=stream,
                      discount_factor=df, installed_h100e=inst, installed_cost_usd=float(installed_cost_usd),
                      capex_by_year_usd=capex_by_year, nre_by_year_usd=nre_by_year, killed=killed,
                      training_multiplier=m_train, jobs=tuple(demand.jobs),
                      serving_factor=np.array([r.serving_factor for r in routes]), discount_rate=float(discount_rate))


@dataclass(frozen=True)
class Outcome:
    """A portfolio's results in every scenario."""

    capacity_h100e: np.ndarray  # (S, T) committed capacity online
    gap_h100e: np.ndarray  # (S, T) demand not covered by commitments (before spot)
    spot_h100e: np.ndarray  # (S, T) rented on the spot market
    unmet_h100e: np.ndarray  # (S, T) demand left unserved (delayed)
    cost_usd: np.ndarray  # (S,)
    commitment_cost_usd: np.ndarray  # (S,)
    days_late: np.ndarray | None = None  # (S, J) days each backlog job finishes after its deadline
    left_at_horizon_h100e_q: np.ndarray | None = None  # (S, J) work still undone at the horizon


def serve_split(d: Deliveries, units: np.ndarray, training_h100e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each quarter's capacity split between serving and training, so that the least of either is left unmet.

    A route's capacity ``online · units`` (training H100e) serves ``serving_factor`` reference accelerators per
    unit; the installed fleet serves as it trains (factor 1). A unit is worth its factor to serving and 1 to
    training, so serving first takes the capacity with factor >= 1 (highest first) and training the capacity with
    factor < 1; what either leaves then goes to the other's unmet demand (serving taking the highest factors).
    This is the exact optimum of the split for two workloads with linear rates. Returns the training capacity
    (S, T), of which ``training_h100e`` is the claim used to resolve the split, and the serving demand left (S, T).
    """
    c = d.online * np.asarray(units, dtype=float)[None, :, None]
    chunks = [(float(f), c[:, r, :]) for r, f in enumerate(d.serving_factor) if np.any(c[:, r, :] > 0)]
    chunks.append((1.0, np.broadcast_to(d.installed_h100e[None, :], d.inference_h100e.shape)))
    hi = sorted([k for k in chunks if k[0] >= 1.0], key=lambda k: -k[0])
    lo = sorted([k for k in chunks if k[0] < 1.0], key=lambda k: k[0])
    sv = d.inference_h100e.copy()
    tr = np.maximum(np.asarray(training_h100e, dtype=float), 0.0)
    train_cap = np.zeros_like(sv)
    rest_hi, rest_lo = [], []
    for f, cap in hi:  # serving's preferred capacity
        use = np.minimum(cap, sv / f)
        sv = np.maximum(sv - use * f, 0.0)
        rest_hi.append(cap - use)
    for f, cap in lo:  # training's preferred capacity (lowest factor first)
        use = np.minimum(cap, tr)
        tr = tr - use
        train_cap = train_cap + use
        rest_lo.append((f, cap - use))
    for f, cap in sorted(rest_lo, key=lambda k: -k[0]):  # serving's demand left, on what training left
        use = np.minimum(cap, sv / f) if f > 0 else np.zeros_like(sv)
        sv = np.maximum(sv - use * f, 0.0)
        train_cap = train_cap + cap - use
    for cap in rest_hi:  # everything else trains
        train_cap = train_cap + cap
    return train_cap, sv


def outcome(d: Deliveries, units: np.ndarray, programme: np.ndarray | None = None, *,
            penalty_usd_per_h100e_hour: float) -> Outcome:
    """Evaluate commitments ``units`` (R,) on every scenario.

    Recourse in closed form: capacity split between serving and training (:func:`serve_split`), fixed training
    demand from the training capacity; what commitments cannot carry is rented on spot when spot is cheaper than
    the delay penalty, the rest is unmet. Without backlog jobs this is the exact optimum of the recourse LP,
    which separates by quarter. Backlog jobs (earliest deadline first) then take the free capacity of each
    quarter from their start (at most their cluster per quarter after the deadline); what is left is rented on
    spot in the cheapest quarters, inside the window when spot costs less than being late, after the deadline
    when it costs less than the penalty on work left at the horizon. Days late = the backlog at the deadline ÷
    the cluster, at the job's delay cost per day; work left at the horizon also pays the penalty per H100e-hour.
    With jobs this greedy recourse is feasible for the recourse LP, so it bounds the LP's optimum from above.
    """
    units = np.asarray(units, dtype=float)
    R = len(d.route_ids)
    if units.shape != (R,) or (units < 0).any():
        raise FieldError("units", f"must be {R} non-negative numbers", units.tolist())
    prog = (units > 0) if programme is None else np.asarray(programme, dtype=bool)
    S, _, T = d.online.shape
    df = d.discount_factor
    cap = np.einsum("srt,r->st", d.online, units) + d.installed_h100e[None, :]
    profiles = d.job_profiles()
    fixed_training = np.maximum(d.demand_h100e - d.inference_h100e - profiles, 0.0)
    left, serve_gap = serve_split(d, units, fixed_training + profiles)
    gap = serve_gap + np.maximum(fixed_training - left, 0.0)
    free0 = np.maximum(left - fixed_training, 0.0)
    cheaper = d.spot_usd_per_h100e_hour < penalty_usd_per_h100e_hour
    spot = np.where(cheaper, np.minimum(gap, d.spot_available_h100e), 0.0)
    unmet = gap - spot
    recourse = ((spot * d.spot_usd_per_h100e_hour + unmet * penalty_usd_per_h100e_hour) * df).sum(axis=1)
    recourse = recourse * HOURS_PER_QUARTER
    days_late = np.zeros((S, len(d.jobs)))
    left_h = np.zeros((S, len(d.jobs)))
    if d.jobs:
        avail = d.spot_available_h100e - spot
        free = free0.copy()
        job_spot = np.zeros((S, T))
        late = np.zeros((S, T))
        df_end = (1.0 + d.discount_rate) ** (-T / 4.0)
        p_q = d.spot_usd_per_h100e_hour * HOURS_PER_QUARTER * df[None, :]  # spot per H100e-quarter, present value
        rows = np.arange(S)
        pen_end = penalty_usd_per_h100e_hour * HOURS_PER_QUARTER * df_end  # per H100e-quarter left at the horizon

        def rent(back: np.ndarray, work: np.ndarray, lo: int, hi: int, limit: np.ndarray,
                 cap: np.ndarray | None) -> np.ndarray:
            """Spot for ``back`` in quarters [lo, hi), cheapest first, where it costs less than ``limit``."""
            order = np.argsort(p_q[:, lo:hi], axis=1, kind="stable") + lo
            for i in range(hi - lo):
                t = order[:, i]
                room = avail[rows, t] if cap is None else np.minimum(avail[rows, t], cap - work[rows, t])
                x = np.where(p_q[rows, t] < limit, np.minimum(back, np.maximum(room, 0.0)), 0.0)
                avail[rows, t] -= x
                job_spot[rows, t] += x
                work[rows, t] += x
                back = back - x
            return back

        for j in sorted(range(len(d.jobs)), key=lambda j: (d.jobs[j].deadline_q, d.jobs[j].start_q)):
            job = d.jobs[j]
            n = d.job_need(j)
            s0, dl = job.start_q, min(job.deadline_q, T)
            total = n * (job.deadline_q - s0)
            work = np.zeros((S, T))
            back = total.copy()
            for t in range(s0, dl):  # free capacity inside the window
                w = np.minimum(back, free[:, t])
                free[:, t] -= w
                work[:, t] += w
                back = back - w
            # spot inside the window, cheapest quarters first, when it costs less than being late: the delay, plus
            # for the part that free capacity after the deadline cannot take, the cheaper of spot then or the
            # penalty on work left at the horizon
            delay_q = job.delay_usd_per_day * DAYS_PER_QUARTER / n * (1.0 + d.discount_rate) ** (-job.deadline_q / 4.0)
            after_free = np.minimum(free[:, dl:], n[:, None]).sum(axis=1)
            after_cost = np.minimum(p_q[:, dl:].min(axis=1), pen_end) if dl < T else np.full(S, pen_end)
            beyond = np.maximum(back - after_free, 0.0)
            back = (back - beyond) + rent(beyond, work, s0, dl, delay_q + after_cost, None)
            back = rent(back, work, s0, dl, delay_q, None)
            at_deadline = back.copy()
            for t in range(dl, T):  # after the deadline: on the run's cluster, free capacity first
                w = np.minimum(np.minimum(back, free[:, t]), n)
                free[:, t] -= w
                work[:, t] += w
                back = back - w
            if dl < T:
                back = rent(back, work, dl, T, np.full(S, pen_end), n)
            left_end = np.maximum(back, 0.0)
            done = np.cumsum(work, axis=1)
            late[:, dl - 1:] += np.maximum(total[:, None] - done[:, dl - 1:], 0.0)
            recourse = recourse + at_deadline * DAYS_PER_QUARTER / n * job.delay_usd_per_day * (
                1.0 + d.discount_rate) ** (-job.deadline_q / 4.0)
            recourse = recourse + left_end * pen_end
            days_late[:, j] = at_deadline * DAYS_PER_QUARTER / n
            left_h[:, j] = left_end
        recourse = recourse + (job_spot * d.spot_usd_per_h100e_hour * df).sum(axis=1) * HOURS_PER_QUARTER
        late = np.where(late > 1e-9 * np.maximum(late.max(), 1.0), late, 0.0)
        gap = gap + job_spot + late
        spot = spot + job_spot
        unmet = unmet + late
    commit = d.unit_cost_usd @ units + d.fixed_cost_usd @ prog.astype(float) + d.installed_cost_usd
    return Outcome(capacity_h100e=cap, gap_h100e=gap, spot_h100e=spot, unmet_h100e=unmet,
                   cost_usd=commit + recourse, commitment_cost_usd=commit, days_late=days_late,
                   left_at_horizon_h100e_q=left_h)


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
