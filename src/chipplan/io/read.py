"""Reading the predict/validate table: the file, its typed columns, and the per-row model and hardware.

The column schema is ``chipplan.io.schema``; the training and inference rows are ``chipplan.io.training`` and
``chipplan.io.inference``, the output ``chipplan.io.write``. Every function here is vectorised over rows and
records the first error of each row in a ``Rows`` (the other rows are still predicted).
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

from chipplan import catalog
from chipplan.errors import FieldError, InputFileError, UnknownIdError
from chipplan.io.schema import (
    COLUMNS_BY_NAME,
    MAX_VALUE,
    MODEL_COLUMNS,
    NUMERIC_COLUMNS,
    POSITIVE_COLUMNS,
    REQUIRED_COLUMNS,
    TEXT_COLUMNS,
)
from chipplan.perf.columns import Columns
from chipplan.perf.hardware_cols import HW_FIELDS, hardware_row

MODEL_FIELDS = ("n_layers", "d_model", "n_heads", "n_kv_heads", "head_dim", "d_ff", "vocab_size", "n_experts",
                "top_k", "n_shared_experts", "first_dense_layers", "dense_d_ff", "q_lora_rank", "kv_lora_rank",
                "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim", "gated_mlp", "tied_embeddings",
                "learned_pos_emb", "max_seq_len")


def check_columns(columns: Any, *, source: str, allow_extra: bool = False) -> None:
    """An InputFileError listing every column the schema does not know, each with its close matches (a
    misspelt ``seq_length`` would otherwise be ignored and the row predicted without it), unless
    ``allow_extra`` keeps such columns as passengers."""
    import difflib

    from chipplan.io.schema import COLUMNS_BY_NAME

    if allow_extra:
        return
    unknown = [str(c) for c in columns if str(c) not in COLUMNS_BY_NAME]
    if not unknown:
        return
    parts = []
    for c in unknown:
        near = difflib.get_close_matches(c, list(COLUMNS_BY_NAME), n=2, cutoff=0.6)
        parts.append(f"{c!r}" + (f" (did you mean {' or '.join(near)}?)" if near else ""))
    raise InputFileError(f"{source}: unknown column{'s' * (len(unknown) > 1)} {', '.join(parts)}; see "
                         "docs/columns.md, or pass --allow-extra-columns to carry them along unread")


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
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise InputFileError(f"{p}: missing required column(s) {', '.join(missing)}; see the column schema "
                             "in docs/columns.md")
    return df


def distinct(values: Any) -> tuple[np.ndarray, np.ndarray]:
    """(distinct values, index of each element's value), hashing instead of sorting (fast on strings)."""
    inv, uniq = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=False)
    return np.asarray(uniq, dtype=object), inv


def _clean_name(name: str) -> str:
    return re.sub(r"\s*\(.*\)\s*$", "", str(name)).strip()


class Rows:
    """Per-row error bookkeeping: the first error of a row wins."""

    def __init__(self, n: int):
        self.error: list[str | None] = [None] * n

    def fail(self, mask: np.ndarray, msg: Any) -> None:
        for i in np.nonzero(mask)[0]:
            if self.error[i] is None:
                self.error[i] = msg(i) if callable(msg) else msg


def numeric_columns(df: pd.DataFrame, rows: Rows) -> dict[str, np.ndarray]:
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


def text_column(df: pd.DataFrame, col: str) -> np.ndarray:
    if col not in df.columns:
        return np.full(len(df), None, dtype=object)
    arr = df[col].to_numpy(dtype=object).copy()
    arr[df[col].isna().to_numpy()] = None
    return arr


def coded_column(df: pd.DataFrame, col: str, rows: Rows, codes: dict[str, Any], default: Any) -> np.ndarray:
    """Map a text column through ``codes`` (case and spaces ignored), once per distinct value.

    Empty cells get ``default``; a value not in ``codes`` is an error on its row naming ``col`` and what the
    schema allows.
    """
    allowed = COLUMNS_BY_NAME[col].allowed_text
    vals = text_column(df, col)
    keys = np.array(["" if v is None else str(v) for v in vals], dtype=object)
    uniq, inv = distinct(keys)
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


def bool_column(df: pd.DataFrame, col: str, rows: Rows) -> np.ndarray:
    return coded_column(df, col, rows, BOOL_CODES, np.nan).astype(float)


def model_columns(df: pd.DataFrame, num: dict[str, np.ndarray], rows: Rows) -> Columns:
    """Model shape per row: the CSV's shape columns, completed from the catalog entry named by model_name."""
    n = len(df)
    cols = {f: np.full(n, np.nan) for f in MODEL_FIELDS}
    for c, f in MODEL_COLUMNS.items():
        cols[f] = num[c].copy()
    cols["gated_mlp"] = bool_column(df, "mlp_gated", rows)
    names = text_column(df, "model_name")
    # Catalog shapes fill what the CSV leaves empty; looked up once per distinct name.
    raw_uniq, raw_inv = distinct(["" if x is None else str(x) for x in names])
    uniq, inv_u = distinct([_clean_name(x) for x in raw_uniq])
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
    attn = text_column(df, "attention")
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


def hardware_columns(df: pd.DataFrame, precision: np.ndarray, rows: Rows) -> tuple[Columns, np.ndarray]:
    """Hardware columns per row, looked up once per distinct (hardware_id, precision)."""
    hw_ids = text_column(df, "hardware_id")
    n = len(df)
    out = {k: np.full(n, np.nan) for k in HW_FIELDS}
    fam = np.full(n, "custom", dtype=object)
    keys = np.array([f"{h}\x00{p}" if h is not None else "" for h, p in zip(hw_ids, precision, strict=True)],
                    dtype=object)
    uniq, inv = distinct(keys)
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


def precision_column(df: pd.DataFrame, rows: Rows) -> np.ndarray:
    return coded_column(df, "precision", rows, {p: p for p in COLUMNS_BY_NAME["precision"].allowed}, "bf16")


