"""Training accuracy out of sample: leave one source group out, and the interval table built from it.

``fit_families`` refits the few free per-family efficiencies (``FREE``) on a table, each source group
weighted once. ``training_logo`` repeats that fit without each source group in turn and predicts the group
it left out, so every residual it returns comes from constants that never saw the row. The residuals, with
their source groups and regime labels (``chipplan.perf.efficiency.training_regimes``), feed the interval
table (``chipplan.perf.intervals.fit_table``) shipped in the catalog, and
``chipplan validate FILE --cross-validate``.

Only families present in the left-out group are refitted: the predictions of that group depend on no other
family's constants. Families without free parameters (not calibrated) are predicted from their priors, so
their residuals are out of sample as they stand.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd

from chipplan import catalog
from chipplan.errors import UnknownIdError
from chipplan.perf import efficiency, intervals

# The free efficiencies of each calibrated family; everything else stays at its prior.
FREE = {
    "ampere": ["matmul_fraction", "attention_fraction", "kernel_overhead_s", "matmul_half_dim"],
    "hopper": ["matmul_fraction", "matmul_fraction_fp8", "attention_fraction", "kernel_overhead_s",
               "matmul_half_dim"],
    "blackwell": ["matmul_fraction", "matmul_fraction_fp8", "tp_overlap", "ep_overlap"],
}
# Physically plausible ranges: a fit that leaves them is absorbing something the physics lacks.
BOUNDS = {"matmul_fraction": (0.5, 0.9), "matmul_fraction_fp8": (0.4, 0.8), "attention_fraction": (0.25, 0.75),
          "kernel_overhead_s": (5e-6, 1.5e-4), "matmul_half_dim": (16.0, 512.0), "tp_overlap": (0.0, 0.95),
          "ep_overlap": (0.0, 0.95)}
TARGET = "target_tokens_per_s_per_gpu"


@contextlib.contextmanager
def efficiencies_restored() -> Iterator[dict[str, Any]]:
    """The live efficiency section of the catalog, put back as it was on exit (fits edit it in place)."""
    eff = catalog.load().efficiency
    saved = copy.deepcopy(eff)
    try:
        yield eff
    finally:
        eff.clear()
        eff.update(saved)


def row_families(df: pd.DataFrame) -> np.ndarray:
    """Hardware family of each row (``custom`` where the hardware is unknown)."""
    out = []
    cache: dict[str, str] = {}
    for hid in df["hardware_id"].astype(str):
        if hid not in cache:
            try:
                cache[hid] = catalog.hardware(hid)[0].family
            except UnknownIdError:
                cache[hid] = "custom"
        out.append(cache[hid])
    return np.asarray(out, dtype=object)


def _predicted(df: pd.DataFrame) -> tuple[np.ndarray, list[dict[str, Any] | None]]:
    from chipplan.io import predict_frame

    rows = predict_frame(df)["rows"]
    pred = np.array([r["prediction"]["tokens_per_s_per_gpu"] if r["status"] == "ok" else np.nan for r in rows])
    return pred, [r["prediction"] if r["status"] == "ok" else None for r in rows]


def _loss(df: pd.DataFrame, groups: np.ndarray, target: np.ndarray) -> float:
    pred, _ = _predicted(df)
    ape = np.abs(pred - target) / target
    ape = np.where(np.isfinite(ape), ape, 1.0)  # a row that cannot be predicted counts as 100 % off
    per_group = [np.median(ape[groups == g]) for g in dict.fromkeys(groups)]
    # Each source group counts once, so the most numerous source cannot pull the constants its way.
    return float(np.mean(per_group)) + 0.5 * float(np.percentile(ape, 90))


def fit_families(df: pd.DataFrame, families: list[str] | None = None, *, max_evals: int = 120,
                 eff: dict[str, Any] | None = None) -> dict[str, dict[str, float]]:
    """Refit ``FREE`` efficiencies of each family in ``families`` (default: all with rows in ``df``) on the
    rows of ``df`` with a target; writes them into ``eff`` (the live catalog section unless given) and
    returns them (as the family's ``training`` values). Nelder–Mead in log space from the current values,
    clipped to ``BOUNDS``. Rows whose ``throughput_basis`` is ``run`` are left out of the fit."""
    from scipy.optimize import minimize

    eff = catalog.load().efficiency if eff is None else eff
    target = pd.to_numeric(df.get(TARGET), errors="coerce").to_numpy(dtype=float)
    # Whole-run averages (``throughput_basis`` run) mix campaign overheads the run model only partly covers
    # (evaluation, data stalls, rounded durations) into their residual: they are predicted and their residuals
    # feed the interval table, but they do not pull the step efficiencies.
    basis = df["throughput_basis"].astype(str).str.strip().str.lower().to_numpy() \
        if "throughput_basis" in df.columns else np.full(len(df), "", dtype=object)
    usable = np.isfinite(target) & (target > 0) & (basis != "run")
    df, target = df[usable].reset_index(drop=True), target[usable]
    fam = row_families(df)
    groups = df["source_group"].fillna("(none)").astype(str).to_numpy(dtype=object) \
        if "source_group" in df.columns else np.full(len(df), "(none)", dtype=object)
    out: dict[str, dict[str, float]] = {}
    for f in families or sorted(set(fam) & set(FREE)):
        sel = fam == f
        if f not in FREE or not sel.any():
            continue
        names = FREE[f]
        sub, g, t = df[sel].reset_index(drop=True), groups[sel], target[sel]
        # The training engine's values (``training:``), falling back to the family's shared ones.
        tr = eff[f].setdefault("training", {})
        x0 = np.log([max(tr.get(n, eff[f][n]), 0.05) for n in names])  # log space: start overlaps off zero

        def loss(x: np.ndarray, names: list[str] = names, sub: pd.DataFrame = sub, g: np.ndarray = g,
                 t: np.ndarray = t, tr: dict[str, float] = tr) -> float:
            for n, v in zip(names, np.exp(x), strict=True):
                tr[n] = float(np.clip(v, *BOUNDS[n]))
            return _loss(sub, g, t)

        res = minimize(loss, x0, method="Nelder-Mead",
                       options={"maxfev": max_evals, "xatol": 0.01, "fatol": 1e-4})
        loss(res.x)
        out[f] = {n: float(tr[n]) for n in names}
    return out


def _n_filled(pred: dict[str, Any] | None) -> float:
    return float(len(pred.get("filled", []))) if pred else np.nan


def _moe(pred: dict[str, Any] | None, df_row: pd.Series) -> bool:
    ne = pd.to_numeric(pd.Series([df_row.get("moe_num_experts")]), errors="coerce").iloc[0]
    if np.isfinite(ne):
        return ne > 0
    return bool(pred and pred.get("layout", {}).get("ep", 1) > 1)


def training_logo(df: pd.DataFrame, *, max_evals: int = 120, refit: bool = True,
                  progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Per-row in-sample and leave-one-source-group-out predictions of a training table with targets.

    Columns: ``row_id, group, family, calibrated, moe, n_filled, measured, predicted_in, predicted_oos,
    log_resid_in, log_resid_oos``. With ``refit=False`` the out-of-sample column repeats the in-sample one
    (for tables none of whose rows were used in a fit).
    """
    df = df.reset_index(drop=True)
    target = pd.to_numeric(df.get(TARGET), errors="coerce").to_numpy(dtype=float)
    keep = np.isfinite(target) & (target > 0)
    df, target = df[keep].reset_index(drop=True), target[keep]
    groups = df["source_group"].fillna("(none)").astype(str).to_numpy(dtype=object)
    fam = row_families(df)
    pred_in, preds = _predicted(df)

    def fit(train: np.ndarray) -> dict[str, dict[str, float]]:
        fams = sorted(set(fam[~train]) & set(FREE))
        if not refit or not fams:
            return {}
        with efficiencies_restored() as eff:
            return fit_families(df[train], fams, max_evals=max_evals, eff=eff)

    def predict(params: dict[str, dict[str, float]], test: np.ndarray) -> np.ndarray:
        with efficiencies_restored() as eff:
            for f, vals in params.items():
                eff[f].setdefault("training", {}).update(vals)
            return _predicted(df[test].reset_index(drop=True))[0]

    pred_oos = intervals.leave_one_group_out(groups, fit, predict, progress=progress)
    table = efficiency.family_table()
    calibrated = np.array([table[f].calibrated if f in table else False for f in fam])
    with np.errstate(divide="ignore", invalid="ignore"):
        out = pd.DataFrame({
            "row_id": df["row_id"].astype(str) if "row_id" in df.columns else np.arange(len(df)).astype(str),
            "group": groups, "family": fam, "calibrated": calibrated,
            "moe": [_moe(p, df.iloc[i]) for i, p in enumerate(preds)],
            "n_filled": [_n_filled(p) for p in preds],
            "measured": target, "predicted_in": pred_in, "predicted_oos": pred_oos,
            "low_in": [p["tokens_per_s_per_gpu_low"] if p else np.nan for p in preds],
            "high_in": [p["tokens_per_s_per_gpu_high"] if p else np.nan for p in preds],
        })
        out["log_resid_in"] = np.log(out["measured"] / out["predicted_in"])
        out["log_resid_oos"] = np.log(out["measured"] / out["predicted_oos"])
    return out


def regime_factors(res: pd.DataFrame) -> dict[str, np.ndarray]:
    return efficiency.training_regimes(calibrated=res["calibrated"].to_numpy(), moe=res["moe"].to_numpy(),
                                       n_filled=res["n_filled"].to_numpy())


def cross_validate(res: pd.DataFrame) -> dict[str, Any]:
    """In-sample and leave-one-group-out summaries of ``training_logo`` output, overall and by group.

    The out-of-sample interval coverage is nested: the interval for a group's rows comes from an interval
    table fitted on the other groups' out-of-sample residuals."""
    factors = regime_factors(res)
    inside_oos = intervals.coverage_out_of_group(res["log_resid_oos"], res["group"], factors)
    inside_in = ((res["measured"] >= res["low_in"]) & (res["measured"] <= res["high_in"])).astype(float)
    inside_in[res["predicted_in"].isna()] = np.nan

    def both(sel: np.ndarray) -> dict[str, Any]:
        return {"in_sample": intervals.summary(res["measured"][sel], res["predicted_in"][sel], inside_in[sel]),
                "out_of_sample": intervals.summary(res["measured"][sel], res["predicted_oos"][sel],
                                                   inside_oos[sel])}

    all_rows = np.ones(len(res), dtype=bool)
    by_group = {g: both((res["group"] == g).to_numpy()) for g in sorted(set(res["group"]))}
    return {"overall": both(all_rows), "by_group": by_group}





def interval_table(res: pd.DataFrame) -> dict[str, Any]:
    """The training interval table (``catalog/data/intervals.yaml``) from ``training_logo`` output."""
    tab = intervals.fit_table(res["log_resid_oos"], res["group"], regime_factors(res))
    return {"coverage": intervals.COVERAGE, "factors": list(regime_factors(res)),
            "rows": int(np.isfinite(res["log_resid_oos"]).sum()), "groups": int(res["group"].nunique()),
            "table": {k: {"low": round(v["low"], 4), "high": round(v["high"], 4), "rows": v["rows"],
                          "groups": v["groups"]} for k, v in tab.items()}}
__all__ = ["BOUNDS", "FREE", "cross_validate", "fit_families", "interval_table", "training_logo"]
