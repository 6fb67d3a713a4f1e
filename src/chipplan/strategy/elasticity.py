"""Price–demand loop: cost of compute → API price → token demand → compute demand, as a fixed point.

Per quarter t, with m_t the multiplier on the base serving demand:

    price_t(m) = u_t(m) · 10⁶ / k · (1 + margin)          [$ per million tokens, the lab's price]
    market_t   = s · price_t(m) + (1 − s) · p_ref          [the market price the lab's price moves]
    m_t        = (market_t / p_ref)^(−ε)

where u_t(m) is the expected marginal cost of a served workload-H100e-hour when serving demand is m_t times
the base (committed capacity is sunk: its hosting cost; beyond it, spot rental; beyond spot, demand is rationed
at the spot price), k the tokens a workload-H100e serves per hour, s the lab's market share (s = 0: a price
taker, s = 1: the whole market) and ε the price elasticity of token demand. Pricing on marginal rather than
average cost keeps the price bounded by the spot price × (1 + margin): spreading sunk capacity over fewer
tokens would otherwise spiral the price up and demand down to zero.

Elasticity range: ε ∈ [0.5, 1.5], central 1.1. Source: "The Emerging Market for Intelligence: Pricing,
Supply, and Demand for LLMs" (NBER working paper, 2025/26; within-model price variation across OpenRouter
providers) estimates −1.11, read via a secondary summary (aione.chat, 2026-01-04); a secondary report of
"a 10% price drop followed by 12–18% more usage" (2026) gives 1.2–1.8. Values above 1 mean cheaper
compute raises total spend (the Jevons case).

Solved by damped iteration in log space; where that cycles (marginal cost jumps when capacity runs out), by
bisection on log m, which always brackets a crossing for a bounded price.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from chipplan.errors import FieldError

ELASTICITY_RANGE = (0.5, 1.5)


@dataclass(frozen=True)
class FixedPoint:
    multiplier: np.ndarray  # (T,) serving demand relative to the base path
    price_usd_per_mtok: np.ndarray  # (T,)
    unit_cost_usd_per_h100e_hour: np.ndarray  # (T,)
    iterations: int


def price(unit_cost: np.ndarray, tokens_per_h100e_hour: float, margin: float) -> np.ndarray:
    """API price in $ per million tokens for a compute cost in $ per workload-H100e-hour."""
    return np.asarray(unit_cost) * 1e6 / tokens_per_h100e_hour * (1.0 + margin)


def solve(unit_cost_fn: Callable[[np.ndarray], np.ndarray], quarters: int, *, tokens_per_h100e_hour: float,
          margin: float, elasticity: float, reference_price_usd_per_mtok: float, market_share: float = 1.0,
          damping: float = 0.5, tol: float = 1e-9, max_iter: int = 500) -> FixedPoint:
    """Fixed point m = ((s·price(u(m)) + (1 − s)·p_ref) / p_ref)^(−ε) over the horizon (vectorised over quarters)."""
    if not 0 <= elasticity <= 3:
        raise FieldError("price_demand.elasticity", "must be in [0, 3]", elasticity)
    if not tokens_per_h100e_hour > 0:
        raise FieldError("tokens_per_h100e_hour", "must be > 0", tokens_per_h100e_hour)
    if not 0 <= market_share <= 1:
        raise FieldError("price_demand.market_share", "must be in [0, 1]", market_share)
    if not reference_price_usd_per_mtok > 0:
        raise FieldError("price_demand.reference_price_usd_per_mtok", "must be > 0", reference_price_usd_per_mtok)
    logm = np.zeros(quarters)
    for it in range(1, max_iter + 1):
        u = np.asarray(unit_cost_fn(np.exp(logm)), dtype=float)
        p = price(u, tokens_per_h100e_hour, margin)
        mkt = market_share * p + (1.0 - market_share) * reference_price_usd_per_mtok
        target = -elasticity * np.log(np.maximum(mkt, 1e-300) / reference_price_usd_per_mtok)
        step = target - logm
        logm = logm + damping * step
        if np.max(np.abs(step)) < tol:
            m = np.exp(logm)
            u = np.asarray(unit_cost_fn(m), dtype=float)
            return FixedPoint(multiplier=m, price_usd_per_mtok=price(u, tokens_per_h100e_hour, margin),
                              unit_cost_usd_per_h100e_hour=u, iterations=it)
    # the damped map cycles where marginal cost jumps (capacity runs out): bisect g(log m) = target − log m,
    # which is positive at log m = −20 and negative at +20 for any bounded price, so a crossing is bracketed
    lo, hi = np.full(quarters, -20.0), np.full(quarters, 20.0)
    for _ in range(200):
        mid = (lo + hi) / 2
        u = np.asarray(unit_cost_fn(np.exp(mid)), dtype=float)
        mkt = market_share * price(u, tokens_per_h100e_hour, margin) + (1.0 - market_share) * (
            reference_price_usd_per_mtok)
        g = -elasticity * np.log(np.maximum(mkt, 1e-300) / reference_price_usd_per_mtok) - mid
        lo, hi = np.where(g > 0, mid, lo), np.where(g > 0, hi, mid)
    m = np.exp((lo + hi) / 2)
    u = np.asarray(unit_cost_fn(m), dtype=float)
    return FixedPoint(multiplier=m, price_usd_per_mtok=price(u, tokens_per_h100e_hour, margin),
                      unit_cost_usd_per_h100e_hour=u, iterations=max_iter + 200)
