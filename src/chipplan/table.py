"""The table I/O contract: ``chipplan predict FILE.csv`` and ``chipplan validate FILE.csv``.

Rows follow the column schema of ``shared/validation/README.md``. Target and measured columns may be
absent and extra columns are ignored. Output (stable; extend, don't break)::

    {"chipplan_version": str, "catalog_version": str,
     "rows": [{"row_id": str, "kind": "training"|"inference", "status": "ok"|"unsupported"|"error",
               "reason": str|null, "prediction": {...}}]}

A row is inference when ``inf_input_len`` is present. One bad row gets ``status: error`` with a reason
naming the field; the others are still predicted. Missing layout fields are filled by the layout search
among layouts that fit memory, and listed in ``prediction.filled``.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from chipplan import __version__, catalog
from chipplan.errors import ChipplanError, FieldError, InputFileError, UnknownIdError
from chipplan.perf import efficiency
from chipplan.perf.columns import Columns
from chipplan.perf.efficiency import Z80
from chipplan.perf.hardware_cols import HW_FIELDS, hardware_row
from chipplan.perf.layout import LAYOUT_FIELDS, layout_error, search
from chipplan.perf.memory import RECOMPUTE_CODE
from chipplan.units import GB, PRECISIONS

REQUIRED_ANY = ("hardware_id",)
# CSV column → Model field.
MODEL_COLUMNS = {
    "num_layers": "n_layers", "hidden_size": "d_model", "num_heads": "n_heads", "num_kv_heads": "n_kv_heads",
    "head_dim": "head_dim", "ffn_hidden_size": "d_ff", "vocab_size": "vocab_size",
    "moe_num_experts": "n_experts", "moe_top_k": "top_k", "moe_shared_experts": "n_shared_experts",
    "moe_first_dense_layers": "first_dense_layers", "dense_ffn_hidden_size": "dense_d_ff",
    "mla_q_lora_rank": "q_lora_rank", "mla_kv_lora_rank": "kv_lora_rank",
    "mla_qk_nope_head_dim": "qk_nope_head_dim", "mla_qk_rope_head_dim": "qk_rope_head_dim",
    "mla_v_head_dim": "v_head_dim",
}
MODEL_FIELDS = ("n_layers", "d_model", "n_heads", "n_kv_heads", "head_dim", "d_ff", "vocab_size", "n_experts",
                "top_k", "n_shared_experts", "first_dense_layers", "dense_d_ff", "q_lora_rank", "kv_lora_rank",
                "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim", "gated_mlp", "tied_embeddings",
                "learned_pos_emb", "max_seq_len")
LAYOUT_COLUMNS = {"tp": "tp", "pp": "pp", "dp": "dp", "cp": "cp", "ep": "ep", "vpp": "vpp",
                  "micro_batch_size": "micro_batch", "zero_stage": "zero_stage"}
NUMERIC_COLUMNS = (*MODEL_COLUMNS, *LAYOUT_COLUMNS, "num_accelerators", "seq_len", "global_batch_seqs",
                   "global_batch_tokens", "inf_input_len", "inf_output_len", "inf_batch_size",
                   "inf_num_requests", "inf_slo_ttft_p99_ms", "inf_slo_tpot_p99_ms", "accels_per_node")
POSITIVE_COLUMNS = {"num_layers", "hidden_size", "num_heads", "num_kv_heads", "ffn_hidden_size", "vocab_size",
                    "num_accelerators", "seq_len", "global_batch_seqs", "global_batch_tokens", "tp", "pp",
                    "dp", "cp", "ep", "vpp", "micro_batch_size", "inf_input_len", "inf_output_len",
                    "inf_batch_size", "inf_num_requests"}
RECOMPUTE_CODES = {name: float(code) for name, code in RECOMPUTE_CODE.items()}
MAX_VALUE = 1e15  # a count above this is a typo, not a configuration
TEXT_COLUMNS = ("row_id", "hardware_id", "model_name", "precision", "activation_recompute", "attention",
                "source_group", "mlp_gated", "inf_mode")


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a validation-schema CSV (numbers typed, identifiers as text); a missing, unreadable, empty or
    malformed file, or one without ``hardware_id``, is an InputFileError naming the file."""
    p = Path(path)
    if not p.exists():
        raise InputFileError(f"{p}: file not found")
    if p.is_dir():
        raise InputFileError(f"{p}: is a directory, expected a CSV file")
    try:
        header = pd.read_csv(p, nrows=0, engine="c").columns
        # pyarrow parses and types numeric columns in C++ (integers with gaps become floats); identifiers
        # and free text stay strings.
        opts = pacsv.ConvertOptions(column_types={c: pa.string() for c in header if c in TEXT_COLUMNS},
                                    strings_can_be_null=True)
        df = pacsv.read_csv(p, convert_options=opts).to_pandas()
    except pd.errors.EmptyDataError:
        raise InputFileError(f"{p}: empty file; expected a CSV header with at least 'hardware_id'") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, csv.Error, ValueError) as e:
        raise InputFileError(f"{p}: cannot parse as CSV ({str(e).splitlines()[0]})") from None
    except Exception as e:  # pyarrow's own parse errors (ArrowInvalid) carry the line that failed
        raise InputFileError(f"{p}: cannot parse as CSV ({str(e).splitlines()[0]})") from None
    missing = [c for c in REQUIRED_ANY if c not in df.columns]
    if missing:
        raise InputFileError(f"{p}: missing required column(s) {', '.join(missing)}; see the column schema "
                             "in shared/validation/README.md")
    return df


def _distinct(values: Any) -> tuple[np.ndarray, np.ndarray]:
    """(distinct values, index of each element's value), hashing instead of sorting (fast on strings)."""
    inv, uniq = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=False)
    return np.asarray(uniq, dtype=object), inv


def _clean_name(name: str) -> str:
    return re.sub(r"\s*\(.*\)\s*$", "", str(name)).strip()


class _Rows:
    """Per-row error bookkeeping: the first error of a row wins."""

    def __init__(self, n: int):
        self.error: list[str | None] = [None] * n

    def fail(self, mask: np.ndarray, msg: Any) -> None:
        for i in np.nonzero(mask)[0]:
            if self.error[i] is None:
                self.error[i] = msg(i) if callable(msg) else msg


def _numeric(df: pd.DataFrame, rows: _Rows) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    n = len(df)
    for c in NUMERIC_COLUMNS:
        if c not in df.columns:
            out[c] = np.full(n, np.nan)
            continue
        raw = df[c]
        v = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
        bad = raw.notna().to_numpy() & ~np.isfinite(v)
        rows.fail(bad, lambda i, c=c, raw=raw: f"{c}: must be a number, got {_shown(raw.iloc[i])}")
        huge = np.isfinite(v) & (np.abs(v) > MAX_VALUE)
        rows.fail(huge, lambda i, c=c, v=v: f"{c}: must be at most {MAX_VALUE:.0e}, got {v[i]:g}")
        if c in POSITIVE_COLUMNS:
            nonpos = np.isfinite(v) & (v <= 0)
            rows.fail(nonpos, lambda i, c=c, v=v: f"{c}: must be > 0, got {v[i]:g}")
        else:
            neg = np.isfinite(v) & (v < 0)
            rows.fail(neg, lambda i, c=c, v=v: f"{c}: must be >= 0, got {v[i]:g}")
        out[c] = np.where(bad | huge, np.nan, v)
    return out


def _shown(x: Any) -> str:
    """A cell as a message shows it: numbers plainly (``inf``, not ``np.float64(inf)``), text quoted."""
    if isinstance(x, float | np.floating | int | np.integer):
        return f"{float(x):g}"
    return repr(str(x))


def _text(df: pd.DataFrame, col: str) -> np.ndarray:
    if col not in df.columns:
        return np.full(len(df), None, dtype=object)
    arr = df[col].to_numpy(dtype=object).copy()
    arr[df[col].isna().to_numpy()] = None
    return arr


def _coded(df: pd.DataFrame, col: str, rows: _Rows, codes: dict[str, Any], allowed: str, default: Any) -> np.ndarray:
    """Map a text column through ``codes`` (case and spaces ignored), once per distinct value.

    Empty cells get ``default``; a value not in ``codes`` is an error on its row naming ``col`` and ``allowed``.
    """
    vals = _text(df, col)
    keys = np.array(["" if v is None else str(v) for v in vals], dtype=object)
    uniq, inv = _distinct(keys)
    mapped = []
    for j, u in enumerate(uniq):
        k = u.strip().lower()
        if not u:
            mapped.append(default)
        elif k in codes:
            mapped.append(codes[k])
        else:
            rows.fail(inv == j, f"{col}: must be {allowed}, got {u!r}")
            mapped.append(default)
    out = np.empty(len(uniq), dtype=object)
    out[:] = mapped
    return out[inv]


BOOL_CODES = {"true": 1.0, "1": 1.0, "yes": 1.0, "false": 0.0, "0": 0.0, "no": 0.0}


def _bool_col(df: pd.DataFrame, col: str, rows: _Rows) -> np.ndarray:
    return _coded(df, col, rows, BOOL_CODES, "true or false", np.nan).astype(float)


def _model_columns(df: pd.DataFrame, num: dict[str, np.ndarray], rows: _Rows) -> Columns:
    """Model shape per row: the CSV's shape columns, completed from the catalog entry named by model_name."""
    n = len(df)
    cols = {f: np.full(n, np.nan) for f in MODEL_FIELDS}
    for c, f in MODEL_COLUMNS.items():
        cols[f] = num[c].copy()
    cols["gated_mlp"] = _bool_col(df, "mlp_gated", rows)
    names = _text(df, "model_name")
    # Catalog shapes fill what the CSV leaves empty; looked up once per distinct name.
    raw_uniq, raw_inv = _distinct(["" if x is None else str(x) for x in names])
    uniq, inv_u = _distinct([_clean_name(x) for x in raw_uniq])
    inv = inv_u[raw_inv]
    table = np.full((len(uniq), len(MODEL_FIELDS)), np.nan)
    for j, key in enumerate(uniq):
        if not key:
            continue
        try:
            mc = catalog.model(key).to_columns()
        except UnknownIdError:
            continue
        table[j] = [mc[f] for f in MODEL_FIELDS]
    for k, f in enumerate(MODEL_FIELDS):
        from_catalog = table[inv, k]
        cols[f] = np.where(np.isfinite(cols[f]), cols[f], from_catalog)
    cols["n_kv_heads"] = np.where(np.isfinite(cols["n_kv_heads"]) & (cols["n_kv_heads"] > 0),
                                  cols["n_kv_heads"], cols["n_heads"])
    cols["head_dim"] = np.where(np.isfinite(cols["head_dim"]) & (cols["head_dim"] > 0), cols["head_dim"],
                                np.floor(cols["d_model"] / cols["n_heads"]))
    for f in ("n_experts", "top_k", "n_shared_experts", "first_dense_layers", "dense_d_ff", "q_lora_rank",
              "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim", "gated_mlp",
              "tied_embeddings", "learned_pos_emb"):
        cols[f] = np.nan_to_num(cols[f], nan=0.0)
    cols["d_ff"] = np.where(np.isfinite(cols["d_ff"]), cols["d_ff"], 4 * cols["d_model"])
    cols["dense_d_ff"] = np.where((cols["n_experts"] > 0) & (cols["dense_d_ff"] == 0), cols["d_ff"],
                                  cols["dense_d_ff"])
    cols["max_seq_len"] = np.where(np.isfinite(cols["max_seq_len"]), cols["max_seq_len"], num["seq_len"])
    attn = _text(df, "attention")
    cols["is_mla"] = np.array([a == "mla" for a in attn], dtype=float) + 0.0
    cols["is_mla"] = np.where(cols["kv_lora_rank"] > 0, 1.0, cols["is_mla"])
    for f, c in (("n_layers", "num_layers"), ("d_model", "hidden_size"), ("n_heads", "num_heads"),
                 ("vocab_size", "vocab_size")):
        rows.fail(~np.isfinite(cols[f]),
                  lambda i, c=c: f"{c}: required (or a model_name the catalog knows), got nothing")
    bad_kv = np.isfinite(cols["n_heads"]) & (np.mod(cols["n_heads"], np.maximum(cols["n_kv_heads"], 1)) != 0)
    rows.fail(bad_kv, lambda i: f"num_kv_heads: must divide num_heads={cols['n_heads'][i]:g}, "
                                f"got {cols['n_kv_heads'][i]:g}")
    moe = cols["n_experts"] > 0
    rows.fail(moe & ((cols["top_k"] < 1) | (cols["top_k"] > cols["n_experts"])),
              lambda i: f"moe_top_k: must be in [1, moe_num_experts={cols['n_experts'][i]:g}], "
                        f"got {cols['top_k'][i]:g}")
    return Columns(cols)


def _hardware(df: pd.DataFrame, precision: np.ndarray, rows: _Rows) -> tuple[Columns, np.ndarray]:
    """Hardware columns per row, looked up once per distinct (hardware_id, precision)."""
    hw_ids = _text(df, "hardware_id")
    n = len(df)
    out = {k: np.full(n, np.nan) for k in HW_FIELDS}
    fam = np.full(n, "custom", dtype=object)
    keys = np.array([f"{h}\x00{p}" if h is not None else "" for h, p in zip(hw_ids, precision, strict=True)],
                    dtype=object)
    uniq, inv = _distinct(keys)
    for j, key in enumerate(uniq):
        sel = inv == j
        if not key:
            rows.fail(sel, "hardware_id: required, got nothing")
            continue
        hid, prec = key.split("\x00")
        try:
            acc, sys_ = catalog.hardware(hid)
            r = hardware_row(acc, prec, sys_)
        except UnknownIdError as e:
            rows.fail(sel, f"hardware_id: {str(e).split(': ', 1)[1]}")
            continue
        except FieldError as e:
            rows.fail(sel, f"precision: {e.rule}")
            continue
        for k in HW_FIELDS:
            out[k][sel] = r[k]
        fam[sel] = r["family"]
    return Columns(out), fam


def _precision(df: pd.DataFrame, rows: _Rows) -> np.ndarray:
    return _coded(df, "precision", rows, {p: p for p in PRECISIONS}, f"one of {', '.join(PRECISIONS)}", "bf16")


def predict_training(df: pd.DataFrame, rows: _Rows, idx: np.ndarray, *, detail: bool = False
                     ) -> list[dict[str, Any] | None]:
    """Predictions for the training rows ``idx`` of ``df`` (None where the row already has an error)."""
    sub = df.iloc[idx].reset_index(drop=True)
    local = _Rows(len(sub))
    local.error = [rows.error[i] for i in idx]
    num = _numeric(sub, local)
    prec = _precision(sub, local)
    model = _model_columns(sub, num, local)
    hw, fam = _hardware(sub, prec, local)
    n = len(sub)
    seq = num["seq_len"]
    local.fail(~np.isfinite(seq), "seq_len: required for a training row, got nothing")
    gbs = np.where(np.isfinite(num["global_batch_seqs"]), num["global_batch_seqs"],
                   num["global_batch_tokens"] / seq)
    local.fail(~np.isfinite(gbs), "global_batch_seqs: required (or global_batch_tokens), got nothing")
    local.fail(np.isfinite(gbs) & (np.abs(gbs - np.round(gbs)) > 1e-6),
               "global_batch_tokens: must be a whole number of sequences of seq_len")
    lay_given = {v: num[k] for k, v in LAYOUT_COLUMNS.items()}
    lay_given["recompute"] = _coded(sub, "activation_recompute", local, RECOMPUTE_CODES,
                                    "one of none, selective, full", np.nan).astype(float)
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
    rec_names = np.array(list(RECOMPUTE_CODE))[lay["recompute"].astype(int)].tolist()
    tps = chosen["tokens_per_s_per_gpu"]
    col = {k: np.asarray(chosen[k], dtype=float).tolist() for k in
           ("tokens_per_s_per_gpu", "step_time_s", "mfu", "hfu", "memory_per_gpu_bytes", *BREAKDOWN)}
    col["low"] = (tps * np.exp(-Z80 * sd)).tolist()
    col["high"] = (tps * np.exp(Z80 * sd)).tolist()
    fits = np.asarray(chosen["fits_in_memory"], dtype=bool).tolist()
    short = (np.asarray(chosen["memory_shortfall_bytes"]) / GB).tolist()
    keys = ("tp", "pp", "dp", "cp", "ep", "vpp", "micro_batch", "zero_stage", "recompute")
    layouts = [dict(zip(keys, v, strict=True)) for v in zip(*[lay[f].astype(int).tolist() for f in keys[:-1]],
                                                             rec_names, strict=True)]
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


def predict_frame(df: pd.DataFrame, *, detail: bool = False) -> dict[str, Any]:
    """Predict every row of a validation-schema table (see module docstring for the output).

    ``detail`` adds each training row's step-time breakdown (``breakdown_s``).
    """
    n = len(df)
    rows = _Rows(n)
    row_ids = _text(df, "row_id")
    inf_len = df["inf_input_len"].notna().to_numpy() if "inf_input_len" in df.columns else np.zeros(n, bool)
    preds: list[dict[str, Any] | None] = [None] * n
    tr = np.nonzero(~inf_len)[0]
    if len(tr):
        for k, p in zip(tr.tolist(), predict_training(df, rows, tr, detail=detail), strict=True):
            preds[k] = p
    inf = np.nonzero(inf_len)[0]
    if len(inf):
        from chipplan import table_inference

        for k, p in zip(inf.tolist(), table_inference.predict_rows(df, rows, inf), strict=True):
            preds[k] = p
    kinds = np.where(inf_len, "inference", "training").tolist()
    ids = [str(r) if r is not None else str(i + 1) for i, r in enumerate(row_ids.tolist())]
    out_rows = []
    for i, (pred, err) in enumerate(zip(preds, rows.error, strict=True)):
        if err is not None:
            out_rows.append({"row_id": ids[i], "kind": kinds[i], "status": "error", "reason": err,
                             "prediction": None})
            continue
        reason = None
        if pred is not None and "memory_shortfall_gb" in pred:
            reason = (f"does not fit in memory: needs {pred['memory_shortfall_gb']:.1f} GB more per accelerator "
                      "than the usable HBM")
        out_rows.append({"row_id": ids[i], "kind": kinds[i], "status": "ok", "reason": reason, "prediction": pred})
    return {"chipplan_version": __version__, "catalog_version": catalog.load().version, "rows": out_rows}


def predict_file(path: str | Path, *, detail: bool = False) -> dict[str, Any]:
    return predict_frame(read_table(path), detail=detail)


TARGETS = {
    "training": [("tokens_per_s_per_gpu", "target_tokens_per_s_per_gpu")],
    "inference": [("output_tokens_per_s_per_gpu", "target_output_tokens_per_s_per_gpu"),
                  ("ttft_ms", "target_ttft_ms"), ("tpot_ms", "target_tpot_ms")],
}


def validate_frame(df: pd.DataFrame) -> dict[str, Any]:
    """Predict, compare with the ``target_*`` columns, and summarise the absolute percentage errors."""
    result = predict_frame(df)
    groups = _text(df, "source_group")
    records = []
    for i, r in enumerate(result["rows"]):
        for name, tcol in TARGETS[r["kind"]]:
            if tcol not in df.columns:
                continue
            t = pd.to_numeric(pd.Series([df[tcol].iloc[i]]), errors="coerce").iloc[0]
            if not np.isfinite(t) or t <= 0:
                continue
            p = (r["prediction"] or {}).get(name) if r["status"] == "ok" else None
            lo = (r["prediction"] or {}).get(f"{name}_low") if p is not None else None
            hi = (r["prediction"] or {}).get(f"{name}_high") if p is not None else None
            records.append({"row_id": r["row_id"], "group": groups[i] or "(none)", "metric": name,
                            "target": float(t), "predicted": p, "status": r["status"],
                            "ape": abs(p - t) / t if p is not None else None,
                            "covered": (lo <= t <= hi) if lo is not None and hi is not None else None})
    summary = _summarise(records)
    by_group = {}
    for g in sorted({r["group"] for r in records}):
        by_group[g] = _summarise([r for r in records if r["group"] == g])
    return {"chipplan_version": __version__, "overall": summary, "by_group": by_group, "rows": records}


def _summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for metric in sorted({r["metric"] for r in records}):
        rs = [r for r in records if r["metric"] == metric]
        apes = np.array([r["ape"] for r in rs if r["ape"] is not None], dtype=float)
        cov = [r["covered"] for r in rs if r["covered"] is not None]
        out[metric] = {
            "n_rows": len(rs),
            "n_predicted": int(apes.size),
            "median_ape": float(np.median(apes)) if apes.size else None,
            "p90_ape": float(np.percentile(apes, 90)) if apes.size else None,
            "interval_coverage": float(np.mean(cov)) if cov else None,
        }
    return out


def validate_file(path: str | Path) -> dict[str, Any]:
    return validate_frame(read_table(path))


__all__ = ["ChipplanError", "predict_file", "predict_frame", "read_table", "validate_file", "validate_frame"]
