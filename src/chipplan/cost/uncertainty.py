"""Uncertain quantities → seeded, vectorised Monte Carlo → percentile bands: the project's one sampler.

A parameter may be a plain number, a ``Triple`` (p5, p50, p95) or a named ``Dist`` (see
``chipplan.catalog.cost``). A triple is sampled from a two-piece lognormal whose 5th, 50th and 95th
percentiles are exactly the triple (each half has its own σ = ln(p50/p5)/z₉₅ or ln(p95/p50)/z₉₅), so
skewed analyst ranges keep their skew; a triple with p5 = 0 uses a two-piece normal clipped at 0.
Draws are independent between parameters. Because every cost formula broadcasts, one call of the
formula with arrays of 10⁵ draws replaces 10⁵ calls.

The cost catalog's ranges and the plan scenario's uncertain inputs (``plan.utilisation``,
``plan.price_usd_per_accelerator_hour``; :class:`chipplan.scenario.model.Uncertain` reads them into these
types) are drawn here, so a ``{p5, p50, p95}`` means the same distribution wherever it is written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from chipplan.catalog.cost import Dist, Triple
from chipplan.errors import FieldError
from chipplan.units import Z90  # standard-normal 95th percentile: p5 and p95 sit at ±Z90 sd

PERCENTILES = (5, 50, 95)
# physical ranges of parameters the cost engines share (clipping guards the far tails of the draws)
BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "pue": (1.0, None), "integrator_margin": (0.0, 0.95), "gross_margin": (0.0, 0.95),
    "bond_yield_per_die": (1e-6, 1.0), "busy_power_fraction": (1e-6, 1.0), "idle_power_fraction": (1e-6, 1.0),
    "utilisation": (1e-6, 1.0), "maintenance_fraction_per_year": (0.0, None),
}


def is_uncertain(x: Any) -> bool:
    return isinstance(x, Triple | Dist)


def as_uncertain(x: Any, field: str = "value") -> Any:
    """Accept a number, a Triple/Dist, a (p5, p50, p95) sequence or a mapping, for API and CLI callers."""
    if isinstance(x, Triple | Dist | int | float | np.ndarray):
        return x
    try:
        if isinstance(x, Mapping):
            return Dist(**x) if "dist" in x else Triple(**x)
        if isinstance(x, list | tuple) and len(x) == 3:
            return Triple(p5=x[0], p50=x[1], p95=x[2])
    except ValueError as e:
        raise FieldError(field, "must be a number, a p5/p50/p95 triple or a named distribution", str(e)) from None
    raise FieldError(field, "must be a number, a p5/p50/p95 triple or a named distribution", x)


def sample(x: Any, n: int, rng: np.random.Generator) -> Any:
    """``n`` draws of one parameter (a plain number is returned unchanged)."""
    if isinstance(x, Triple):
        if x.p5 == x.p95:
            return np.full(n, x.p50)
        z = rng.standard_normal(n)
        if x.p5 > 0:
            s_lo = np.log(x.p50 / x.p5) / Z90
            s_hi = np.log(x.p95 / x.p50) / Z90
            return x.p50 * np.exp(z * np.where(z < 0, s_lo, s_hi))
        v = x.p50 + z * np.where(z < 0, x.p50 - x.p5, x.p95 - x.p50) / Z90
        return np.maximum(v, 0.0)
    if isinstance(x, Dist):
        if x.dist == "uniform":
            return rng.uniform(x.low, x.high, n)
        if x.dist == "triangular":
            return rng.triangular(x.low, x.mode, x.high, n)
        if x.dist == "lognormal":
            return x.median * np.exp(x.sigma * rng.standard_normal(n))  # type: ignore[operator]
        return x.mean + x.sd * rng.standard_normal(n)  # type: ignore[operator]
    return x


def draws(x: Any, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` draws of one parameter as a float array (a plain number repeated)."""
    return np.broadcast_to(np.asarray(sample(x, n, rng), dtype=float), (n,)).copy()


def median(x: Any) -> float:
    """The median of a parameter: its value, a triple's p50, a lognormal's median, a normal's mean, the
    midpoint of a uniform, and a triangular's (closed form: the median sits on the longer side of the mode)."""
    if isinstance(x, Triple):
        return float(x.p50)
    if isinstance(x, Dist):
        if x.dist == "lognormal":
            return float(x.median)  # type: ignore[arg-type]
        if x.dist == "normal":
            return float(x.mean)  # type: ignore[arg-type]
        a, b = float(x.low), float(x.high)  # type: ignore[arg-type]
        if x.dist == "uniform":
            return 0.5 * (a + b)
        c = float(x.mode)  # type: ignore[arg-type]
        if c >= 0.5 * (a + b):
            return a + float(np.sqrt((b - a) * (c - a) / 2.0))
        return b - float(np.sqrt((b - a) * (b - c) / 2.0))
    return float(x)


def sample_params(params: Mapping[str, Any], n: int, seed: int,
                  bounds: Mapping[str, tuple[float | None, float | None]] | None = None) -> dict[str, Any]:
    """Draw every uncertain entry of ``params`` (in sorted-name order, so a seed fixes all draws).

    ``bounds`` clips draws of named parameters to their physical range (PUE >= 1, margins < 1); the
    clipped tails are far outside the p5-p95 band, so the band is unchanged.
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise FieldError("samples", "must be a positive integer", n)
    rng = np.random.default_rng(seed)
    out = {k: sample(params[k], n, rng) for k in sorted(params)}
    for k, (lo, hi) in (bounds or {}).items():
        if k in out and isinstance(out[k], np.ndarray):
            out[k] = np.clip(out[k], lo, hi)
    return out


def band(x: Any) -> dict[str, float]:
    """p5 / p50 / p95 and mean of an array of draws."""
    a = np.asarray(x, dtype=float)
    p = np.percentile(a, PERCENTILES)
    return {"p5": float(p[0]), "p50": float(p[1]), "p95": float(p[2]), "mean": float(a.mean())}


def monte_carlo(fn: Callable[..., Mapping[str, Any]], params: Mapping[str, Any], *, n: int = 100_000,
                seed: int = 0, outputs: tuple[str, ...] | None = None,
                bounds: Mapping[str, tuple[float | None, float | None]] | None = None) -> dict[str, dict[str, float]]:
    """Run a vectorised cost function once on ``n`` draws of its uncertain ``params``.

    Returns ``{output: {p5, p50, p95, mean}}`` for each numeric output (or those named in ``outputs``).
    The same ``seed`` gives identical numbers.
    """
    res = fn(**sample_params(params, n, seed, BOUNDS if bounds is None else bounds))
    keys = outputs or tuple(k for k, v in res.items() if isinstance(v, float | int | np.ndarray)
                            and not isinstance(v, bool))
    return {k: band(np.broadcast_to(np.asarray(res[k], dtype=float), (n,))) for k in keys}


def central_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Every uncertain entry replaced by its central value (p50, median, mode or mean)."""
    from chipplan.catalog.cost import central

    return {k: central(v) if is_uncertain(v) else v for k, v in params.items()}
