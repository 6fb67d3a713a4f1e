"""Prediction intervals from grouped out-of-sample residuals, independent of what is being predicted.

The residual of a prediction is ``r = log(measured / predicted)``. Residuals are only honest when the
prediction did not see the row: they come from leave-one-source-group-out (``leave_one_group_out``), where
every parameter that was fitted is refitted without the group whose rows are then predicted.

An 80 % interval is ``[predicted · exp(q₁₀), predicted · exp(q₉₀)]`` with ``q`` the weighted quantiles of the
residuals of the prediction's *regime* (for training: family calibrated or not, mixture of experts, how many
fields were filled). The quantiles are taken separately on each side, so a regime whose errors are one-sided
(for example predictions that are systematically fast) gets an asymmetric interval. Each source group carries
the same total weight, so a source with two hundred rows cannot narrow the interval for everyone else.

A regime with too few residuals (``min_rows`` or fewer than ``min_groups`` source groups) borrows from the
next coarser regime (its key with the last factor dropped), down to all residuals pooled, widened to cover the
same regime under the other levels of the first factor, where the table holds it.

Used by the training and the serving tables alike: the regime factors are plain labels chosen by the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

COVERAGE = 0.80
MIN_ROWS = 8
MIN_GROUPS = 2
ALL = "*"


def weighted_quantile(values: Any, q: Any, weights: Any = None) -> np.ndarray:
    """Quantiles ``q`` (in [0, 1]) of ``values`` with ``weights``: the inverse of the weighted empirical
    distribution, linearly interpolated between the midpoints of each value's weight (Hyndman & Fan type 5
    generalised to weights)."""
    v = np.asarray(values, dtype=float).ravel()
    w = np.ones_like(v) if weights is None else np.asarray(weights, dtype=float).ravel()
    keep = np.isfinite(v) & (w > 0)
    v, w = v[keep], w[keep]
    if v.size == 0:
        return np.full(np.shape(q), np.nan)
    order = np.argsort(v)
    v, w = v[order], w[order]
    cum = (np.cumsum(w) - 0.5 * w) / w.sum()
    return np.interp(np.asarray(q, dtype=float), cum, v)


def group_weights(groups: Sequence[Any]) -> np.ndarray:
    """Weight ``1 / rows in its group`` for each row, so every group sums to one."""
    g = np.asarray([str(x) for x in groups], dtype=object)
    _, inv, counts = np.unique(g, return_inverse=True, return_counts=True)
    return 1.0 / counts[inv]


def _keys(factors: Mapping[str, Sequence[Any]], depth: int, n: int) -> np.ndarray:
    """``"a=x|b=y"`` for the first ``depth`` factors of each of ``n`` rows (vectorised over object arrays)."""
    names = list(factors)[:depth]
    if not names:
        return np.full(n, ALL, dtype=object)
    key = np.full(n, "", dtype=object)
    for j, k in enumerate(names):
        col = np.asarray([str(x) for x in factors[k]], dtype=object) if not isinstance(factors[k], np.ndarray) \
            or factors[k].dtype != object else factors[k].astype(str).astype(object)
        key = key + (f"|{k}=" if j else f"{k}=") + col
    return key


def fit_table(log_resid: Any, groups: Sequence[Any], factors: Mapping[str, Sequence[Any]], *,
              coverage: float = COVERAGE, min_rows: int = MIN_ROWS, min_groups: int = MIN_GROUPS
              ) -> dict[str, dict[str, float]]:
    """Interval table ``{regime key: {"low": q_lo, "high": q_hi, "rows": n, "groups": g}}`` from residuals.

    ``factors`` maps factor names (in order from coarsest to finest) to one label per residual. Keys are
    ``"a=x|b=y"`` for every prefix of the factors that has enough data, plus ``"*"`` (all pooled). ``q_lo``
    and ``q_hi`` are the ``(1 − coverage)/2`` and ``(1 + coverage)/2`` group-weighted quantiles of
    ``log(measured/predicted)``.
    """
    r = np.asarray(log_resid, dtype=float)
    g = np.asarray([str(x) for x in groups], dtype=object)
    ok = np.isfinite(r)
    lo_q, hi_q = (1 - coverage) / 2, (1 + coverage) / 2
    table: dict[str, dict[str, float]] = {}
    for depth in range(len(factors) + 1):
        keys = _keys(factors, depth, len(r))
        for key in dict.fromkeys(keys[ok]):
            sel = ok & (keys == key)
            n_groups = len(set(g[sel]))
            if depth and (sel.sum() < min_rows or n_groups < min_groups):
                continue
            w = group_weights(g[sel])
            lo, hi = weighted_quantile(r[sel], [lo_q, hi_q], w)
            table[str(key)] = {"low": float(min(lo, 0.0)), "high": float(max(hi, 0.0)), "rows": int(sel.sum()),
                               "groups": n_groups}
    return table


def lookup(table: Mapping[str, Mapping[str, float]], factors: Mapping[str, Sequence[Any]]
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(low, high, regime key used) per row: the finest regime of the row that the table holds."""
    n = len(next(iter(factors.values()))) if factors else 1
    return _lookup(table, factors, n)


def _lookup(table: Mapping[str, Mapping[str, float]], factors: Mapping[str, Sequence[Any]], n: int
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lo = np.full(n, np.nan)
    hi = np.full(n, np.nan)
    used = np.full(n, ALL, dtype=object)
    depth_used = np.zeros(n, dtype=int)
    for depth in range(len(factors), -1, -1):
        keys = _keys(factors, depth, n)
        for key in dict.fromkeys(keys):
            entry = table.get(str(key))
            if entry is None:
                continue
            sel = (keys == key) & np.isnan(lo)
            lo[sel], hi[sel], used[sel] = entry["low"], entry["high"], key
            depth_used[sel] = depth
    _widen_by_siblings(table, factors, n, lo, hi, depth_used)
    return lo, hi, used


def _widen_by_siblings(table: Mapping[str, Mapping[str, float]], factors: Mapping[str, Sequence[Any]], n: int,
                       lo: np.ndarray, hi: np.ndarray, depth_used: np.ndarray) -> None:
    """A row whose own regime lacks data borrows the coarser regime's interval, which does not condition on the
    next factor. Where the same regime under another level of the first factor holds data (``moe=yes`` among
    calibrated families for an uncalibrated MoE row), the interval also covers it: its low end is the lowest and
    its high end the highest of the borrowed and those regimes'."""
    names = list(factors)
    if len(names) < 2:
        return
    for d in range(1, len(names)):
        need = depth_used == d
        if not need.any():
            continue
        suffix = _keys({k: factors[k] for k in names[1:d + 1]}, d, n)
        for key, entry in table.items():
            parts = key.split("|")
            if key == ALL or len(parts) != d + 1:
                continue
            sel = need & (suffix == "|".join(parts[1:]))
            lo[sel] = np.minimum(lo[sel], entry["low"])
            hi[sel] = np.maximum(hi[sel], entry["high"])


def coverage_out_of_group(log_resid: Any, groups: Sequence[Any], factors: Mapping[str, Sequence[Any]],
                          **kw: Any) -> np.ndarray:
    """Whether each residual falls inside an interval fitted without its own source group (nested: the
    interval table, too, is out of sample). NaN where the residual is missing."""
    r = np.asarray(log_resid, dtype=float)
    g = np.asarray([str(x) for x in groups], dtype=object)
    inside = np.full(r.shape, np.nan)
    for grp in dict.fromkeys(g):
        out = g == grp
        train = ~out
        tab = fit_table(r[train], g[train], {k: np.asarray(v, dtype=object)[train] for k, v in factors.items()},
                        **kw)
        lo, hi, _ = _lookup(tab, {k: np.asarray(v, dtype=object)[out] for k, v in factors.items()}, int(out.sum()))
        inside[out] = np.where(np.isfinite(r[out]), (r[out] >= lo) & (r[out] <= hi), np.nan)
    return inside


def leave_one_group_out(groups: Sequence[Any], fit: Callable[[np.ndarray], Any],
                        predict: Callable[[Any, np.ndarray], np.ndarray],
                        progress: Callable[[str], None] | None = None) -> np.ndarray:
    """Out-of-sample predictions: for each group, ``params = fit(train_mask)`` then
    ``predict(params, test_mask)`` gives the predictions of that group's rows (an array as long as the
    mask's True count). Returns one prediction per row (NaN where ``predict`` gives none)."""
    g = np.asarray([str(x) for x in groups], dtype=object)
    out = np.full(len(g), np.nan)
    for grp in dict.fromkeys(g):
        if progress is not None:
            progress(grp)
        test = g == grp
        params = fit(~test)
        out[test] = np.asarray(predict(params, test), dtype=float)
    return out


def summary(measured: Any, predicted: Any, inside: Any = None) -> dict[str, Any]:
    """Rows, rows predicted, median and p90 absolute percentage error, and interval coverage."""
    t = np.asarray(measured, dtype=float)
    p = np.asarray(predicted, dtype=float)
    ok = np.isfinite(p) & np.isfinite(t) & (t > 0)
    ape = np.abs(p[ok] - t[ok]) / t[ok]
    cov = None
    if inside is not None:
        c = np.asarray(inside, dtype=float)[ok]
        c = c[np.isfinite(c)]
        cov = float(c.mean()) if c.size else None
    return {"n_rows": int(np.isfinite(t).sum()), "n_predicted": int(ok.sum()),
            "median_ape": float(np.median(ape)) if ape.size else None,
            "p90_ape": float(np.percentile(ape, 90)) if ape.size else None,
            "interval_coverage": cov}
