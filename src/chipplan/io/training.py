"""Training rows of the predict/validate table: parse, fill the open layout fields by the layout search, predict.

Each prediction carries ``tokens_per_s_per_gpu`` (with an 80 % interval ``_low``/``_high``), ``step_time_s``,
``mfu``, ``hfu``, ``memory_per_gpu_bytes``, ``fits_in_memory``, ``precision``, ``layout`` and ``filled`` (the
layout fields the search chose); ``detail`` adds ``breakdown_s``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from chipplan.io.read import (
    Rows,
    coded_column,
    hardware_columns,
    model_columns,
    numeric_columns,
    precision_column,
)
from chipplan.io.schema import COLUMNS_BY_NAME, LAYOUT_COLUMNS
from chipplan.perf import efficiency
from chipplan.perf.candidates import LAYOUT_FIELDS, layout_error
from chipplan.perf.columns import Columns
from chipplan.perf.efficiency import Z80
from chipplan.perf.layout import search
from chipplan.specs.layout import TRAINING
from chipplan.units import GB


def predict_training(df: pd.DataFrame, rows: Rows, idx: np.ndarray, *, detail: bool = False
                     ) -> list[dict[str, Any] | None]:
    """Predictions for the training rows ``idx`` of ``df`` (None where the row already has an error)."""
    sub = df.iloc[idx].reset_index(drop=True)
    local = Rows(len(sub))
    local.error = [rows.error[i] for i in idx]
    num = numeric_columns(sub, local)
    prec = precision_column(sub, local)
    model = model_columns(sub, num, local)
    hw, fam = hardware_columns(sub, prec, local)
    n = len(sub)
    seq = num["seq_len"]
    local.fail(~np.isfinite(seq), "seq_len: required for a training row, got nothing")
    gbs = np.where(np.isfinite(num["global_batch_seqs"]), num["global_batch_seqs"],
                   num["global_batch_tokens"] / seq)
    local.fail(~np.isfinite(gbs), "global_batch_seqs: required (or global_batch_tokens), got nothing")
    local.fail(np.isfinite(gbs) & (np.abs(gbs - np.round(gbs)) > 1e-6),
               "global_batch_tokens: must be a whole number of sequences of seq_len")
    lay_given = {}
    for col, field in LAYOUT_COLUMNS.items():
        choices = COLUMNS_BY_NAME[col].allowed if COLUMNS_BY_NAME[col].type == "choice" else ()
        lay_given[field] = (coded_column(sub, col, local, {c: float(i) for i, c in enumerate(choices)}, np.nan)
                            .astype(float) if choices else num[col])
    tp, pp, dp, cp = (lay_given[k] for k in ("tp", "pp", "dp", "cp"))
    cp_f = np.where(np.isfinite(cp), cp, 1.0)
    n_gpu = num["num_accelerators"]
    product = tp * pp * dp * cp_f
    n_gpu = np.where(np.isfinite(n_gpu), n_gpu, product)
    local.fail(~np.isfinite(n_gpu), "num_accelerators: required (or all of tp, pp, dp), got nothing")
    clash = np.isfinite(product) & np.isfinite(num["num_accelerators"]) & (product != num["num_accelerators"])
    local.fail(clash, lambda i: f"dp: tp*pp*dp*cp={product[i]:g} must equal num_accelerators="
                                f"{num['num_accelerators'][i]:g}")
    zs = lay_given["zero_stage"]
    local.fail(np.isfinite(zs) & ~np.isin(zs, [0, 1, 2, 3]),
               lambda i: f"zero_stage: must be 0, 1, 2 or 3, got {zs[i]:g}")
    # Dense models have no experts to shard: ep = 1 is stated by the shape itself.
    lay_given["ep"] = np.where(model.n_experts > 0, lay_given["ep"], 1.0)
    missing = {f: ~np.isfinite(lay_given[f]) for f in LAYOUT_FIELDS}
    ok_rows = np.array([e is None for e in local.error])
    results: list[dict[str, Any] | None] = [None] * n
    if ok_rows.any():
        sel = np.nonzero(ok_rows)[0]
        base = {k: np.asarray(v, dtype=float)[sel] for k, v in {**model, **hw}.items()}
        base.update({f: np.nan_to_num(lay_given[f][sel], nan=1.0) for f in LAYOUT_FIELDS})
        base["sequence_parallel"] = np.ones(len(sel))
        base["n_gpu"] = n_gpu[sel]
        base["dp_stated"] = np.nan_to_num(lay_given["dp"][sel], nan=0.0)
        base["global_batch_seqs"] = gbs[sel]
        base["seq_len"] = seq[sel]
        miss = {f: missing[f][sel] for f in LAYOUT_FIELDS}
        eff = efficiency.for_families(fam[sel])
        chosen, lay, best = search(base, miss, eff)
        sd = efficiency.interval_log_sd(eff.uncertainty_log_sd, n_experts=base["n_experts"], n_gpu=base["n_gpu"],
                                        precision=prec[sel])
        miss_lists = {f: miss[f].tolist() for f in LAYOUT_FIELDS}
        dp_missing = (~np.isfinite(lay_given["dp"][sel])).tolist()
        filled = [[f for f in LAYOUT_FIELDS if miss_lists[f][j]] + (["dp"] if dp_missing[j] else [])
                  for j in range(len(sel))]
        preds = _training_predictions(chosen, lay, sd, filled, prec[sel].tolist(), detail=detail)
        for j, i in enumerate(sel.tolist()):
            if best[j] < 0:
                stated = all(not miss[f][j] for f in LAYOUT_FIELDS)
                local.error[i] = layout_error(base, j, stated)
                continue
            results[i] = preds[j]
    for k, i in enumerate(idx):
        rows.error[i] = local.error[k]
    return results


BREAKDOWN = ("compute_s", "recompute_s", "tp_exposed_s", "cp_exposed_s", "ep_exposed_s", "pp_p2p_s", "bubble_s",
             "dp_exposed_s", "optimizer_s")


def _training_predictions(chosen: dict[str, np.ndarray], lay: Columns, sd: np.ndarray, filled: list[list[str]],
                          precision: list[str], *, detail: bool = False) -> list[dict[str, Any]]:
    """Prediction dicts for every chosen configuration, built column-wise (lists, not per-row numpy access).

    ``sd`` is the standard deviation of log(measured/predicted) for each row: the 80 % interval is
    ``prediction · exp(±1.2816·sd)``.
    """
    tps = chosen["tokens_per_s_per_gpu"]
    col = {k: np.asarray(chosen[k], dtype=float).tolist() for k in
           ("tokens_per_s_per_gpu", "step_time_s", "mfu", "hfu", "memory_per_gpu_bytes", *BREAKDOWN)}
    col["low"] = (tps * np.exp(-Z80 * sd)).tolist()
    col["high"] = (tps * np.exp(Z80 * sd)).tolist()
    fits = np.asarray(chosen["fits_in_memory"], dtype=bool).tolist()
    short = (np.asarray(chosen["memory_shortfall_bytes"]) / GB).tolist()
    keys = tuple(d.key for d in TRAINING)
    values = [np.array(d.choices)[lay[d.name].astype(int)].tolist() if d.choices else lay[d.name].astype(int).tolist()
              for d in TRAINING]
    layouts = [dict(zip(keys, v, strict=True)) for v in zip(*values, strict=True)]
    out = []
    for j in range(len(tps)):
        pred = {
            "tokens_per_s_per_gpu": col["tokens_per_s_per_gpu"][j],
            "tokens_per_s_per_gpu_low": col["low"][j],
            "tokens_per_s_per_gpu_high": col["high"][j],
            "step_time_s": col["step_time_s"][j],
            "mfu": col["mfu"][j],
            "hfu": col["hfu"][j],
            "memory_per_gpu_bytes": col["memory_per_gpu_bytes"][j],
            "fits_in_memory": fits[j],
            "precision": precision[j],
            "layout": layouts[j],
            "filled": filled[j],
        }
        if detail:
            pred["breakdown_s"] = {k[:-2]: col[k][j] for k in BREAKDOWN}
        if not fits[j]:
            pred["memory_shortfall_gb"] = short[j]
        out.append(pred)
    return out


