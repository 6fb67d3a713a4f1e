"""Training rows of the predict/validate table: parse, fill the open layout fields by the layout search, predict.

Each prediction carries ``tokens_per_s_per_gpu`` (with an 80 % interval ``_low``/``_high``), ``step_time_s``,
``mfu``, ``hfu``, ``memory_per_gpu_bytes``, ``fits_in_memory``, ``precision``, ``layout`` and ``filled`` (the
layout fields the search chose); ``detail`` adds ``breakdown_s``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from chipplan import catalog
from chipplan.io.read import (
    Rows,
    coded_column,
    hardware_columns,
    model_columns,
    numeric_columns,
    precision_column,
    text_column,
)
from chipplan.io.schema import COLUMNS_BY_NAME, LAYOUT_COLUMNS
from chipplan.perf import efficiency, stacks
from chipplan.perf.candidates import LAYOUT_FIELDS, layout_error
from chipplan.perf.columns import Columns
from chipplan.perf.layout import search
from chipplan.safeio import shown
from chipplan.specs.layout import TRAINING
from chipplan.units import GB


def predict_training(df: pd.DataFrame, rows: Rows, idx: np.ndarray, *, detail: bool = False,
                     framework: str | None = None) -> list[dict[str, Any] | None]:
    """Predictions for the training rows ``idx`` of ``df`` (None where the row already has an error).

    ``framework`` (a stack profile name or framework text) overrides every row's ``framework`` column.
    """
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
    stated = num["global_batch_tokens"]
    clash = np.isfinite(num["global_batch_seqs"]) & np.isfinite(stated) & np.isfinite(seq) & \
        (np.abs(stated - num["global_batch_seqs"] * seq) > 1e-9 * np.abs(stated))
    local.fail(clash, lambda i: f"global_batch_tokens: must equal global_batch_seqs × seq_len = "
                                f"{num['global_batch_seqs'][i] * seq[i]:g}, got {stated[i]:g}")
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
    # The software stack: what it could run decides how empty layout fields may be filled.
    fw = text_column(sub, "framework")
    if framework is not None:
        fw = np.full(n, framework, dtype=object)
    profile, known = stacks.resolve(fw, text_column(sub, "source_year"))
    caps = stacks.columns(profile, fam)
    filled_with: list[dict[str, str]] = [{} for _ in range(n)]
    # A stated field is kept whatever the stack: its capability is then taken as given.
    caps["allows_selective"] = np.where(missing["recompute"], caps["allows_selective"], 1.0)
    caps["allows_interleave"] = np.where(missing["vpp"], caps["allows_interleave"], 1.0)
    caps["allows_zero"] = np.where(missing["zero_stage"], caps["allows_zero"], 1.0)
    fills = (
        ("vpp", missing["vpp"] & (caps["allows_interleave"] == 0), 1.0, "1 (the stack has no interleaved schedule)"),
        ("zero_stage", missing["zero_stage"] & (caps["prefers_fsdp"] > 0), 3.0, "3 (the stack shards with FSDP)"),
        ("zero_stage", missing["zero_stage"] & (caps["allows_zero"] == 0), 0.0,
         "0 (the stack has no distributed optimizer)"),
    )
    for f, where, value, note in fills:
        lay_given[f] = np.where(where, value, lay_given[f])
        for i in np.nonzero(where)[0].tolist():
            filled_with[i][f] = note
        missing[f] = missing[f] & ~where
    # A matrix peak the family has no training share of (0 in efficiency.yaml: no stack trains in that format on
    # it, e.g. INT8 on A100) would divide by zero; the row is an error naming the precision instead.
    eff_all = efficiency.for_families(fam, engine="training")
    no_path = np.isfinite(hw.peak_mm_flops_per_s) & (efficiency.matmul_fraction(eff_all, hw) <= 0)
    if no_path.any():
        hw_ids = text_column(sub, "hardware_id")
        local.fail(no_path, lambda i: "precision: " + efficiency.no_training_path(
            catalog.hardware(str(hw_ids[i]))[0], str(prec[i])))
    ok_rows = np.array([e is None for e in local.error])
    results: list[dict[str, Any] | None] = [None] * n
    if ok_rows.any():
        sel = np.nonzero(ok_rows)[0]
        base = {k: np.asarray(v, dtype=float)[sel] for k, v in {**model, **hw}.items()}
        base.update({f: np.nan_to_num(lay_given[f][sel], nan=1.0) for f in LAYOUT_FIELDS})
        base.update({k: v[sel] for k, v in caps.items()})
        base["n_gpu"] = n_gpu[sel]
        base["dp_stated"] = np.nan_to_num(lay_given["dp"][sel], nan=0.0)
        base["global_batch_seqs"] = gbs[sel]
        base["seq_len"] = seq[sel]
        miss = {f: missing[f][sel] for f in LAYOUT_FIELDS}
        eff = eff_all.take(sel)
        chosen, lay, best = search(base, miss, eff)
        n_filled = np.zeros(len(sel))
        for f in LAYOUT_FIELDS:
            n_filled += miss[f]
        n_filled += ~np.isfinite(lay_given["dp"][sel])
        stack_sd = np.where(known[sel], 0.0, stacks.table().unknown_log_sd)
        log_lo, log_hi, regime = efficiency.training_interval(
            calibrated=eff.calibrated > 0, moe=base["n_experts"] > 0, n_filled=n_filled, n_gpu=base["n_gpu"],
            precision=prec[sel], extra_log_sd=stack_sd)
        miss_lists = {f: miss[f].tolist() for f in LAYOUT_FIELDS}
        dp_missing = (~np.isfinite(lay_given["dp"][sel])).tolist()
        filled = [[f for f in LAYOUT_FIELDS if miss_lists[f][j] or f in filled_with[i]]
                  + (["dp"] if dp_missing[j] else []) for j, i in enumerate(sel.tolist())]
        preds, bad = _training_predictions(chosen, lay, (log_lo, log_hi), filled, prec[sel].tolist(),
                                           detail=detail)
        for j, i in enumerate(sel.tolist()):
            preds[j]["interval_regime"] = regime[j]
            preds[j]["stack"] = profile[i] if known[i] else f"{profile[i]} (era default: stack not recognised)"
            if filled_with[i]:
                preds[j]["filled_with"] = filled_with[i]
        for j, i in enumerate(sel.tolist()):
            if best[j] < 0:
                stated = all(not miss[f][j] for f in LAYOUT_FIELDS)
                local.error[i] = layout_error(base, j, stated)
                continue
            if bad[j] is not None:  # never ``ok`` with a number that is not one
                local.error[i] = (f"prediction: {bad[j][0]} came out {shown(bad[j][1])}; an input of this row is "
                                  "far outside its plausible range")
                continue
            results[i] = preds[j]
    for k, i in enumerate(idx):
        rows.error[i] = local.error[k]
    return results


BREAKDOWN = ("compute_s", "recompute_s", "tp_exposed_s", "cp_exposed_s", "ep_exposed_s", "pp_p2p_s", "bubble_s",
             "dp_exposed_s", "optimizer_s")


def _training_predictions(chosen: dict[str, np.ndarray], lay: Columns, log_bounds: tuple[np.ndarray, np.ndarray],
                          filled: list[list[str]], precision: list[str], *, detail: bool = False
                          ) -> tuple[list[dict[str, Any]], list[tuple[str, float] | None]]:
    """Prediction dicts for every chosen configuration, built column-wise (lists, not per-row numpy access), and
    for each the first number it carries that is not finite (key, value), else None.

    ``log_bounds`` are the log low/high of each row's 80 % interval: ``prediction · exp(low)`` to
    ``prediction · exp(high)`` (``chipplan.perf.efficiency.training_interval``).
    """
    tps = chosen["tokens_per_s_per_gpu"]
    col = {k: np.asarray(chosen[k], dtype=float).tolist() for k in
           ("tokens_per_s_per_gpu", "step_time_s", "mfu", "hfu", "memory_per_gpu_bytes", *BREAKDOWN)}
    col["low"] = (tps * np.exp(log_bounds[0])).tolist()
    col["high"] = (tps * np.exp(log_bounds[1])).tolist()
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
    # The numbers each dict carries, in its key order; the first that is not finite is the row's reason.
    shown_keys = [("tokens_per_s_per_gpu", col["tokens_per_s_per_gpu"]), ("tokens_per_s_per_gpu_low", col["low"]),
                  ("tokens_per_s_per_gpu_high", col["high"]),
                  *((k, col[k]) for k in ("step_time_s", "mfu", "hfu", "memory_per_gpu_bytes")),
                  *((f"breakdown_s.{k[:-2]}", col[k]) for k in (BREAKDOWN if detail else ())),
                  ("memory_shortfall_gb", [s if not f else 0.0 for s, f in zip(short, fits, strict=True)])]
    bad: list[tuple[str, float] | None] = [None] * len(out)
    for key, values in reversed(shown_keys):
        arr = np.asarray(values, dtype=float)
        for j in np.nonzero(~np.isfinite(arr))[0].tolist():
            bad[j] = (key, float(arr[j]))
    return out, bad


