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
from chipplan.errors import FieldError
from chipplan.io import published
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
from chipplan.perf import efficiency, stacks, tuned
from chipplan.perf.arithmetic import param_counts
from chipplan.perf.candidates import LAYOUT_FIELDS, layout_error
from chipplan.perf.columns import Columns
from chipplan.perf.layout import search
from chipplan.safeio import shown
from chipplan.specs.layout import TRAINING
from chipplan.units import GB


def predict_training(df: pd.DataFrame, rows: Rows, idx: np.ndarray, *, detail: bool = False,
                     framework: str | None = None, _fp8_bound: bool = True) -> list[dict[str, Any] | None]:
    """Predictions for the training rows ``idx`` of ``df`` (None where the row already has an error).

    ``framework`` (a stack profile name or framework text) overrides every row's ``framework`` column.
    Inputs as published (batch ramps, suffixed amounts, missing batch, accelerator count or precision) are read
    by ``chipplan.io.published``; each default is listed in ``filled`` and said in ``filled_with``. A row with
    ``throughput_basis = run`` is predicted as a run average (``chipplan.perf.run``). Where a row states no
    precision and its chip also has a faster fp8 peak, the interval's high end reaches the fp8 prediction
    (``_fp8_bound``: computed by a second pass over those rows).
    """
    sub = df.iloc[idx].reset_index(drop=True)
    local = Rows(len(sub))
    local.error = [rows.error[i] for i in idx]
    sub, pub = published.normalise(sub, local)
    notes = pub.notes
    num = numeric_columns(sub, local)
    hw_ids = text_column(sub, "hardware_id")
    hwd = published.hardware_defaults(hw_ids)
    prec_given = np.array([p is not None and bool(str(p).strip()) for p in text_column(sub, "precision")], dtype=bool)
    prec = precision_column(sub, local)
    prec = np.where(prec_given, prec, hwd["usual_precision"]).astype(object)
    fp8_range = ~prec_given & hwd["fp8_plausible"]
    for i in np.nonzero(~prec_given)[0].tolist():
        notes[i]["precision"] = (f"{prec[i]} (not stated: the hardware's usual training precision"
                                 + ("; fp8 is as plausible on this chip, so the interval reaches the fp8 prediction)"
                                    if fp8_range[i] else ")"))
    model = model_columns(sub, num, local)
    hw, fam = hardware_columns(sub, prec, local)
    n = len(sub)
    seq = num["seq_len"]
    local.fail(~np.isfinite(seq), "seq_len: required for a training row, got nothing")
    basis = coded_column(sub, "throughput_basis", local, {"step": 0.0, "run": 1.0}, 0.0).astype(float)
    lay_given = {}
    for col, field in LAYOUT_COLUMNS.items():
        choices = COLUMNS_BY_NAME[col].allowed if COLUMNS_BY_NAME[col].type == "choice" else ()
        lay_given[field] = (coded_column(sub, col, local, {c: float(i) for i, c in enumerate(choices)}, np.nan)
                            .astype(float) if choices else num[col])
    tp, pp, dp, cp = (lay_given[k] for k in ("tp", "pp", "dp", "cp"))
    cp_f = np.where(np.isfinite(cp), cp, 1.0)
    product = tp * pp * dp * cp_f
    n_gpu = published.accelerator_count(num["num_accelerators"], product, pub.lenient["num_nodes"] *
                                        num["accels_per_node"], hwd["node_size"], tp, pp, cp, notes,
                                        ep=np.where(model.n_experts > 0, lay_given["ep"], 1.0),
                                        total_params=np.asarray(param_counts(model)["total"], dtype=float),
                                        hbm_bytes=hwd["hbm_bytes"])
    local.fail(~np.isfinite(n_gpu), "num_accelerators: required (or all of tp, pp, dp), got nothing")
    clash = np.isfinite(product) & np.isfinite(num["num_accelerators"]) & (product != num["num_accelerators"])
    local.fail(clash, lambda i: f"dp: tp*pp*dp*cp={product[i]:g} must equal num_accelerators="
                                f"{num['num_accelerators'][i]:g}")
    dp_known = np.where(np.isfinite(dp), dp, n_gpu / (tp * pp * cp_f))
    gbs, batch_error = published.global_batch(
        seqs=num["global_batch_seqs"], tokens=num["global_batch_tokens"], binary=pub.binary_tokens, seq_len=seq,
        dp=dp_known, micro_batch=lay_given["micro_batch"], grad_accum=pub.lenient["grad_accum_steps"],
        total_params=np.asarray(param_counts(model)["total"], dtype=float), notes=notes)
    local.fail_each(batch_error)
    local.fail(~np.isfinite(gbs), "global_batch_seqs: required (or global_batch_tokens), got nothing")
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
    # The low-precision recipe: which GEMMs run at the matmul precision and what quantising adds (stacks.yaml
    # low_precision), from the row's precision text and its stack.
    rec_cols = stacks.recipe_columns(profile, prec, text_column(sub, "precision_description"))
    recipe_name = rec_cols.pop("recipe")
    caps.update(rec_cols)
    filled_with: list[dict[str, str]] = [{} for _ in range(n)]
    remat_text = _remat_columns(sub, caps, lay_given, missing, local)
    _moe_columns(sub, num, caps, local)
    # A stated field is kept whatever the stack: its capability is then taken as given.
    stacks.release_stated(caps, {f: ~missing[f] for f in stacks.STATED_RELEASES})
    # Long-context rules (tp·cp within the scale-up domain) bound what the search fills; a stated tp and cp
    # beyond it are costed over the scale-out network instead of refused.
    caps["tp_cp_stated"] = (~missing["tp"] & ~missing["cp"]).astype(float)
    fills = stacks.layout_fills(caps, missing)
    for f, where, value, note in fills:
        lay_given[f] = np.where(where, value, lay_given[f])
        for i in np.nonzero(where)[0].tolist():
            filled_with[i][f] = note
        missing[f] = missing[f] & ~where
    # An MoE row that leaves ep empty ran with its stack's default expert parallelism, where the stack has one
    # (MaxText's mesh has an expert axis only when the configuration sizes it).
    ep_default = missing["ep"] & (caps["default_ep"] > 0)
    lay_given["ep"] = np.where(ep_default, caps["default_ep"], lay_given["ep"])
    for i in np.nonzero(ep_default)[0].tolist():
        filled_with[i]["ep"] = f"{caps['default_ep'][i]:g} (the stack's default expert parallelism)"
    missing["ep"] = missing["ep"] & ~ep_default
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
        # Open fields hold a placeholder while the sizes are enumerated and first checked: 1, or 0 (none) for the
        # ZeRO stage and recompute, so that a stack without ZeRO or selective recompute (rule 10) keeps them.
        base.update({f: np.nan_to_num(lay_given[f][sel], nan=OPEN_PLACEHOLDER.get(f, 1.0)) for f in LAYOUT_FIELDS})
        base.update({k: v[sel] for k, v in caps.items()})
        base["n_gpu"] = n_gpu[sel]
        base["dp_stated"] = np.nan_to_num(lay_given["dp"][sel], nan=0.0)
        base["global_batch_seqs"] = gbs[sel]
        base["seq_len"] = seq[sel]
        miss = {f: missing[f][sel] for f in LAYOUT_FIELDS}
        eff = eff_all.take(sel)
        # A layout the memory model finds at most this share of HBM short still fits (a published run did fit).
        slack = tuned.value("training", "memory_model_slack_fraction") * base["hbm_bytes"]
        chosen, lay, best = search(base, miss, eff, memory_slack_bytes=slack)
        defaulted = [[f for f in ("num_accelerators", "global_batch_seqs", "precision") if f in notes[i]
                      and "not stated" in notes[i][f]] for i in sel.tolist()]
        n_filled = np.zeros(len(sel))
        for f in LAYOUT_FIELDS:
            n_filled += miss[f]
        n_filled += ~np.isfinite(lay_given["dp"][sel])
        n_filled += np.array([len(d) for d in defaulted], dtype=float)
        stack_sd = np.where(known[sel], 0.0, stacks.table().unknown_log_sd)
        log_lo, log_hi, regime = efficiency.training_interval(
            calibrated=eff.calibrated > 0, moe=base["n_experts"] > 0, n_filled=n_filled, n_gpu=base["n_gpu"],
            precision=prec[sel], extra_log_sd=stack_sd)
        # The spread over the layouts the stack could have run: one-sided, a run may be slower than the fastest.
        log_lo = -np.sqrt(log_lo ** 2 + chosen["layout_spread_log"] ** 2)
        run = basis[sel] > 0
        factor, run_detail = _run_factor(run, base, lay, chosen, eff, pub, sel)
        for k in ("tokens_per_s_per_gpu", "mfu", "hfu"):
            chosen[k] = chosen[k] * factor
        miss_lists = {f: miss[f].tolist() for f in LAYOUT_FIELDS}
        dp_missing = (~np.isfinite(lay_given["dp"][sel])).tolist()
        filled = [[f for f in LAYOUT_FIELDS if miss_lists[f][j] or f in filled_with[i]]
                  + (["dp"] if dp_missing[j] else []) + defaulted[j] for j, i in enumerate(sel.tolist())]
        preds, bad = _training_predictions(chosen, lay, (log_lo, log_hi), filled, prec[sel].tolist(),
                                           detail=detail)
        spread = chosen["layout_spread_log"].tolist()
        for j, i in enumerate(sel.tolist()):
            preds[j]["interval_regime"] = regime[j]
            preds[j]["stack"] = profile[i] if known[i] else f"{profile[i]} (era default: stack not recognised)"
            if spread[j] > 0:
                preds[j]["layout_spread"] = spread[j]
            preds[j]["throughput_basis"] = "run" if run[j] else "step"
            if prec[i] in ("fp8", "int8", "fp4", "int4"):
                preds[j]["precision_recipe"] = recipe_name[i]
            if remat_text[i] is not None:
                preds[j]["remat_policy"] = remat_text[i]
            if run[j]:
                preds[j].update({k: v[j] for k, v in run_detail.items()})
            given_notes = {**notes[i], **filled_with[i]}
            if given_notes:
                preds[j]["filled_with"] = given_notes
            if not preds[j]["fits_in_memory"] and preds[j]["memory_shortfall_gb"] <= slack[j] / GB:
                preds[j].setdefault("warnings", []).append(
                    f"memory: the memory model finds this layout {preds[j]['memory_shortfall_gb']:.1f} GB short "
                    "per accelerator, within its own error; kept (a published run that fit is not swapped for a "
                    "slower layout)")
        wide = (caps["tp_cp_stated"][sel] > 0) & (lay_given["tp"][sel] * cp_f[sel] > 2 * base["scale_up_domain"])
        for j in np.nonzero(wide)[0].tolist():
            preds[j].setdefault("warnings", []).append(
                f"layout: tp·cp = {lay_given['tp'][sel][j] * cp_f[sel][j]:g} is more than twice the scale-up domain "
                f"({base['scale_up_domain'][j]:g}); its traffic is costed over the scale-out network")
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
        if _fp8_bound:
            _fp8_high(df, idx, sel, fp8_range, results, local, detail=detail, framework=framework)
    for k, i in enumerate(idx):
        rows.error[i] = local.error[k]
    return results


def _remat_columns(sub: pd.DataFrame, caps: dict[str, np.ndarray], lay_given: dict[str, np.ndarray],
                   missing: dict[str, np.ndarray], local: Any) -> np.ndarray:
    """Read ``remat_policy`` into the engine's per-tensor codes (added to ``caps`` when any row states one).

    A row with a policy recomputes from its layer input: its recompute is full (a stated other value is an error
    naming both columns). Returns the policy text per row (None where empty)."""
    text = text_column(sub, "remat_policy")
    stated = np.array([t is not None and str(t).strip() != "" for t in text.tolist()], dtype=bool)
    if not stated.any():
        return np.full(len(sub), None, dtype=object)
    codes = {c: np.zeros(len(sub)) for c in stacks.REMAT_COLUMNS}
    seen: dict[str, dict[str, float] | str] = {}
    for i in np.nonzero(stated)[0].tolist():
        key = str(text[i]).strip()
        if key not in seen:
            try:
                seen[key] = stacks.remat_policy(key)
            except FieldError as e:
                seen[key] = str(e)
        got = seen[key]
        if isinstance(got, str):
            local.fail(np.arange(len(sub)) == i, got)
            continue
        for c, v in got.items():
            codes[c][i] = v
    rc = lay_given["recompute"]
    clash = stated & np.isfinite(rc) & (rc != 2)
    local.fail(clash, "activation_recompute: a row with remat_policy recomputes from the layer input (full); "
                      "leave activation_recompute empty or write full")
    lay_given["recompute"] = np.where(stated, 2.0, rc)
    missing["recompute"] = missing["recompute"] & ~stated
    caps.update(codes)
    return np.where(stated, text, None)


def _moe_columns(sub: pd.DataFrame, num: dict[str, np.ndarray], caps: dict[str, np.ndarray], local: Any) -> None:
    """Read ``moe_capacity_factor`` and ``moe_dispatch`` into the engine's ``capacity_factor`` (1 where dropless)
    and ``moe_einsum_dispatch`` (1 for ``einsum``) columns, added to ``caps`` when any row states either."""
    cf = num["moe_capacity_factor"]
    dispatch = coded_column(sub, "moe_dispatch", local, {"grouped": 0.0, "einsum": 1.0}, 0.0).astype(float)
    stated = np.isfinite(cf) & (cf > 0)
    if stated.any() or (dispatch > 0).any():
        caps["capacity_factor"] = np.where(stated, cf, 1.0)
        caps["capacity_stated"] = stated.astype(float)
        caps["moe_einsum_dispatch"] = dispatch


#: The value an open layout field holds before the search fills it (``chipplan.perf.candidates.expand``).
OPEN_PLACEHOLDER = {"zero_stage": 0.0, "recompute": 0.0}


def _run_factor(run: np.ndarray, base: dict[str, np.ndarray], lay: Columns, chosen: dict[str, np.ndarray],
                eff: Columns, pub: published.Published, sel: np.ndarray) -> tuple[np.ndarray, dict[str, list]]:
    """Run-average ÷ step throughput per row (1 where the row is a step figure), and the run rows' detail:
    ``step_tokens_per_s_per_gpu``, ``goodput``, ``restart_s``, ``ramp_factor``."""
    from chipplan.perf import run as runmod
    from chipplan.perf.plan import goodput
    from chipplan.perf.training import step_time

    m = len(sel)
    factor = np.ones(m)
    detail: dict[str, list] = {}
    if not run.any():
        return factor, detail
    params = np.asarray(param_counts(Columns({k: base[k] for k in base}))["total"], dtype=float)
    gp = goodput(base["n_gpu"], params)
    ramp = np.ones(m)
    share_default = runmod.reliability("batch_ramp_share")
    for j in np.nonzero(run)[0].tolist():
        r = pub.ramp_seqs[sel[j]]
        if r is None:
            continue
        points = runmod.ramp_points(r)
        rep = np.full(len(points), j)
        cols = {k: np.asarray(v)[rep] for k, v in base.items()}
        cols.update({f: np.asarray(lay[f])[rep] for f in (*LAYOUT_FIELDS, "dp")})
        # A smaller batch runs fewer micro-batches on the same ranks (at least one per data-parallel rank).
        mb = np.minimum(cols["micro_batch"], np.maximum(np.floor(points / cols["dp"]), 1.0))
        cols["micro_batch"] = mb
        b = np.maximum(points, cols["dp"] * mb)
        c = Columns(cols)
        t = step_time(c, c, c, global_batch_seqs=b, seq_len=c.seq_len, eff=eff.take(rep))["step_time_s"]
        total = pub.lenient["training_tokens_total"][sel[j]]
        ramp_tok = pub.ramp_tokens[sel[j]]
        share = ramp_tok / total if np.isfinite(ramp_tok) and np.isfinite(total) and total > 0 else share_default
        ramp[j] = float(runmod.ramp_factor(chosen["step_time_s"][j], t[None, :], base["global_batch_seqs"][j],
                                           b[None, :], share)[0])
    factor = np.where(run, gp["goodput"] * ramp, 1.0)
    detail = {"step_tokens_per_s_per_gpu": chosen["tokens_per_s_per_gpu"].tolist(),
              "goodput": np.asarray(gp["goodput"], dtype=float).tolist(),
              "restart_s": np.asarray(gp["restart_s"], dtype=float).tolist(),
              "ramp_factor": ramp.tolist()}
    return factor, detail


def _fp8_high(df: pd.DataFrame, idx: np.ndarray, sel: np.ndarray, fp8_range: np.ndarray,
              results: list[dict[str, Any] | None], local: Rows, *, detail: bool, framework: str | None) -> None:
    """Raise the interval's high end to the fp8 prediction where a row states no precision and fp8 is plausible."""
    todo = [i for i in sel.tolist() if fp8_range[i] and results[i] is not None]
    if not todo:
        return
    alt = df.iloc[np.asarray(idx)[todo]].copy().reset_index(drop=True)
    alt["precision"] = "fp8"
    alt_rows = Rows(len(alt))
    preds = predict_training(alt, alt_rows, np.arange(len(alt)), detail=False, framework=framework,
                             _fp8_bound=False)
    for i, p in zip(todo, preds, strict=True):
        r = results[i]
        if p is None or r is None or not np.isfinite(p["tokens_per_s_per_gpu"]):
            continue
        r["tokens_per_s_per_gpu_fp8"] = p["tokens_per_s_per_gpu"]
        r["tokens_per_s_per_gpu_high"] = max(r["tokens_per_s_per_gpu_high"], p["tokens_per_s_per_gpu"])


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


