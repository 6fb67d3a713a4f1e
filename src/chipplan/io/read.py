"""Reading the predict/validate table: the file, its typed columns, and the per-row model and hardware.

The column schema is ``chipplan.io.schema``; the training and inference rows are ``chipplan.io.training`` and
``chipplan.io.inference``, the output ``chipplan.io.write``. Every function here is vectorised over rows and
records the first error of each row in a ``Rows`` (the other rows are still predicted).
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
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
    MAX_NEAR_SEARCHES,
    MAX_TABLE_BYTES,
    MAX_VALUE,
    MODEL_COLUMNS,
    NUMERIC_COLUMNS,
    POSITIVE_COLUMNS,
    REQUIRED_COLUMNS,
    TEXT_COLUMNS,
    UNREAD_BY_PREDICT,
)
from chipplan.perf.columns import Columns
from chipplan.perf.hardware_cols import HW_FIELDS, hardware_row
from chipplan.safeio import shown

MODEL_FIELDS = ("n_layers", "d_model", "n_heads", "n_kv_heads", "head_dim", "d_ff", "vocab_size", "n_experts",
                "top_k", "n_shared_experts", "first_dense_layers", "dense_d_ff", "q_lora_rank", "kv_lora_rank",
                "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim", "gated_mlp", "tied_embeddings",
                "learned_pos_emb", "max_seq_len", "moe_max_nodes")


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


def read_table(path: str | Path, *, skip_unread: bool = False) -> pd.DataFrame:
    """Read a validation-schema CSV (numbers typed, identifiers as text); a missing, unreadable, empty or
    malformed file, or one without ``hardware_id``, is an InputFileError naming the file.

    ``skip_unread`` leaves out the schema's columns that no prediction reads (``UNREAD_BY_PREDICT``: the targets,
    the source group, the sources' free text): the file is still parsed whole, but those columns are not
    converted. Columns the schema does not know are kept, so ``check_columns`` still names them.
    """
    p = Path(path)
    if not p.exists():
        raise InputFileError(f"{p}: file not found")
    if p.is_dir():
        raise InputFileError(f"{p}: is a directory, expected a CSV file")
    if p.stat().st_size > MAX_TABLE_BYTES:
        raise InputFileError(f"{p}: larger than {MAX_TABLE_BYTES / 2**30:g} GiB; split the table")
    first = _check_header(p)
    try:
        header = pd.read_csv(p, nrows=0, engine="c").columns
        # pyarrow parses and types numeric columns in C++ (integers with gaps become floats); identifiers
        # and free text stay strings.
        opts = pacsv.ConvertOptions(column_types={c: pa.string() for c in header if c in TEXT_COLUMNS},
                                    strings_can_be_null=True)
        include = _predicted_columns(first) if skip_unread else None
        if include is not None:
            opts.include_columns = include
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
    df.attrs["source"] = str(p)  # messages about the table as a whole name the file
    return df


def _predicted_columns(first: bytes) -> list[str] | None:
    """The header's columns but those of ``UNREAD_BY_PREDICT``, as pyarrow names them, from the file's first line;
    None (read every column) when there is nothing to leave out or the first line is not the whole header."""
    try:
        names = pacsv.read_csv(io.BytesIO(first), read_options=pacsv.ReadOptions(autogenerate_column_names=False),
                               convert_options=pacsv.ConvertOptions(include_columns=[])).column_names
    except Exception:  # a header that runs past its first line (a quoted newline): read every column
        return None
    keep = [c for c in names if c not in UNREAD_BY_PREDICT]
    return keep if len(keep) < len(names) and len(set(names)) == len(names) else None


def _check_header(p: Path) -> bytes:
    """Refuse, before parsing the whole file, a header that repeats a column or lacks a required one; the first
    line's bytes."""
    try:
        with p.open("rb") as f:
            first = f.readline(1 << 20)
    except OSError as e:
        raise InputFileError(f"{p}: cannot read ({e.strerror or e})") from None
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputFileError(f"{p}: not a UTF-8 text file (byte {e.start}); expected a CSV file") from None
    try:
        names = next(csv.reader(io.StringIO(text)), [])
    except csv.Error as e:
        raise InputFileError(f"{p}: cannot parse the CSV header ({e})") from None
    names = [n.strip() for n in names]
    repeated = [(n, k) for n, k in Counter(names).items() if k > 1 and n]
    if repeated:
        n, k = repeated[0]
        where = ", ".join(str(i + 1) for i, m in enumerate(names) if m == n)
        raise InputFileError(f"{p}: column {shown(n)} appears {k} times (columns {where}); keep one")
    if names and not any(names):
        return first  # an empty first line: the parser names it
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if names and missing:
        raise InputFileError(f"{p}: missing required column(s) {', '.join(missing)}; see the column schema "
                             "in docs/columns.md")
    return first


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

    def fail_each(self, messages: np.ndarray) -> None:
        """Record ``messages[i]`` (None: no error) on each row, in one pass (a message per distinct value)."""
        for i in np.nonzero(pd.notna(messages))[0]:
            if self.error[i] is None:
                self.error[i] = messages[i]


def _per_row(per_distinct: list[str | None], inv: np.ndarray) -> np.ndarray:
    out = np.empty(len(per_distinct), dtype=object)
    out[:] = per_distinct
    return out[inv]


def numeric_columns(df: pd.DataFrame, rows: Rows) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    n = len(df)
    for c in NUMERIC_COLUMNS:
        if c not in df.columns:
            out[c] = np.full(n, np.nan)
            continue
        raw = df[c]
        if pd.api.types.is_bool_dtype(raw):  # a column of true/false: pyarrow types it bool, numbers would be 1/0
            v = np.full(n, np.nan)
        else:
            v = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
        bad = raw.notna().to_numpy() & ~np.isfinite(v)
        rows.fail(bad, lambda i, c=c, raw=raw: f"{c}: must be a number, got {_shown(raw.iloc[i])}")
        r = COLUMNS_BY_NAME[c].range
        if r is not None:  # the quantity's plausible range (chipplan.specs.limits), whole numbers for counts
            fin = np.isfinite(v)
            inside = (v >= r.low) & (v <= r.high) | ((v == 0) if r.zero else False)
            if r.integer or COLUMNS_BY_NAME[c].type == "integer":
                inside &= v == np.floor(v)
            out_of_range = fin & ~inside
            rows.fail(out_of_range, lambda i, c=c, v=v, rule=r.rule: f"{c}: {rule}, got {v[i]:g}")
            out[c] = np.where(bad | out_of_range, np.nan, v)
            continue
        huge = np.isfinite(v) & (np.abs(v) > MAX_VALUE)
        rows.fail(huge, lambda i, c=c, v=v: f"{c}: must be at most {MAX_VALUE:.0e}, got {v[i]:g}")
        if c in POSITIVE_COLUMNS:
            nonpos = np.isfinite(v) & (v <= 0)
            rows.fail(nonpos, lambda i, c=c, v=v: f"{c}: must be > 0, got {v[i]:g}")
        else:
            neg = np.isfinite(v) & (v < 0)
            rows.fail(neg, lambda i, c=c, v=v: f"{c}: must be >= 0, got {v[i]:g}")
        if COLUMNS_BY_NAME[c].type == "integer":  # a count: 24.5 layers is a typo, not a model
            frac = np.isfinite(v) & (v != np.floor(v))
            rule = COLUMNS_BY_NAME[c].allowed_text
            rows.fail(frac, lambda i, c=c, v=v, rule=rule: f"{c}: must be a whole number {rule}, got {v[i]:g}")
        out[c] = np.where(bad | huge, np.nan, v)
    return out


def _shown(x: Any) -> str:
    """A cell as a message shows it: numbers plainly (``inf``, not ``np.float64(inf)``), text quoted and capped."""
    if isinstance(x, bool | np.bool_):
        return str(bool(x)).lower()
    if isinstance(x, float | np.floating | int | np.integer):
        return f"{float(x):g}"
    return shown(str(x))


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
    errors: list[str | None] = []
    for u in uniq:
        k = u.strip().lower()
        if not u.strip():
            mapped.append(default)
            errors.append(None)
        elif k in codes:
            mapped.append(codes[k])
            errors.append(None)
        else:
            errors.append(f"{col}: must be {allowed}, got {shown(u)}")
            mapped.append(default)
    rows.fail_each(_per_row(errors, inv))
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
    cat = catalog.load()
    for j, key in enumerate(uniq):
        found = cat.find("models", key) if key else None  # no near-match search: an unknown name is not an error
        if found is None:
            continue
        mc = cat.models[found].to_columns()
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
              "tied_embeddings", "learned_pos_emb", "moe_max_nodes"):
        cols[f] = np.nan_to_num(cols[f], nan=0.0)
    cols["d_ff"] = np.where(np.isfinite(cols["d_ff"]), cols["d_ff"], 4 * cols["d_model"])
    cols["dense_d_ff"] = np.where((cols["n_experts"] > 0) & (cols["dense_d_ff"] == 0), cols["d_ff"],
                                  cols["dense_d_ff"])
    cols["max_seq_len"] = np.where(np.isfinite(cols["max_seq_len"]), cols["max_seq_len"], num["seq_len"])
    attn = coded_column(df, "attention", rows, {a: a for a in COLUMNS_BY_NAME["attention"].allowed}, "")
    cols["is_mla"] = np.asarray(attn == "mla", dtype=float)
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
    """Hardware columns per row, looked up once per distinct (hardware_id, precision).

    An unknown id gets near matches for the first ``MAX_NEAR_SEARCHES`` distinct unknown ids only, so a table of
    junk ids costs one catalog scan per few ids rather than one per row.
    """
    hw_ids = text_column(df, "hardware_id")
    n = len(df)
    keys = np.array([f"{h}\x00{p}" if h is not None else "" for h, p in zip(hw_ids, precision, strict=True)],
                    dtype=object)
    uniq, inv = distinct(keys)
    table = np.full((len(uniq), len(HW_FIELDS)), np.nan)
    fam_u = np.full(len(uniq), "custom", dtype=object)
    errors: list[str | None] = [None] * len(uniq)
    cat = catalog.load()
    searches = 0
    for j, key in enumerate(uniq):
        if not key:
            errors[j] = "hardware_id: required, got nothing"
            continue
        hid, prec = key.split("\x00")
        try:
            if cat.find("accelerators", hid) is None and cat.find("systems", hid) is None:
                searches += 1
                if searches > MAX_NEAR_SEARCHES:
                    errors[j] = f"hardware_id: unknown id {shown(hid)}"
                    continue
            acc, sys_ = cat.hardware(hid)
            r = hardware_row(acc, prec, sys_)
        except UnknownIdError as e:
            errors[j] = f"hardware_id: {str(e).split(': ', 1)[1]}"
            continue
        except FieldError as e:
            errors[j] = f"precision: {e.rule}"
            continue
        table[j] = [r[k] for k in HW_FIELDS]
        fam_u[j] = r["family"]
    rows.fail_each(_per_row(errors, inv))
    out = {k: table[inv, c] if n else np.full(0, np.nan) for c, k in enumerate(HW_FIELDS)}
    return Columns(out), fam_u[inv] if n else np.full(0, "custom", dtype=object)


def precision_column(df: pd.DataFrame, rows: Rows) -> np.ndarray:
    return coded_column(df, "precision", rows, {p: p for p in COLUMNS_BY_NAME["precision"].allowed}, "bf16")


