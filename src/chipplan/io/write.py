"""The output of ``chipplan predict FILE.csv`` and ``chipplan validate FILE.csv`` (stable; extend, don't break)::

    {"chipplan_version": str, "catalog_version": str,
     "rows": [{"row_id": str, "kind": "training"|"inference", "status": "ok"|"unsupported"|"error",
               "reason": str|null, "prediction": {...}}]}

A row is inference when ``inf_input_len`` is present. One bad row gets ``status: error`` with a reason naming
the column (``docs/columns.md``); the others are still predicted. Missing layout fields are filled by the
layout search among layouts that fit memory, and listed in ``prediction.filled``.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from chipplan import __version__, catalog
from chipplan.errors import InputFileError
from chipplan.io.inference import predict_inference
from chipplan.io.read import Rows, read_table, text_column
from chipplan.io.schema import FIRST_PROBLEMS, JUNK_ROWS, PREDICTION_COLUMNS, TARGET_COLUMNS
from chipplan.io.training import predict_training
from chipplan.safeio import one_line, shown

PREDICTION_SET = frozenset(PREDICTION_COLUMNS)


def predict_frame(df: pd.DataFrame, *, detail: bool = False,
                  each: Callable[[dict[str, Any]], Any] | None = None) -> dict[str, Any]:
    """Predict every row of a validation-schema table (the output is in the module docstring).

    ``detail`` adds each training row's step-time breakdown (``breakdown_s``). A table whose first ``JUNK_ROWS``
    rows all fail is refused at once with an InputFileError naming the first problems (a file of junk fails
    fast); the message names ``df.attrs["source"]`` (the file ``read_table`` read) when there is one.

    Rows equal on every column a prediction depends on (``PREDICTION_COLUMNS``) are predicted once: they share
    one ``prediction`` object (copy it before changing it). ``each`` is applied once to every distinct prediction
    (``chipplan.api`` adds its output names this way).
    """
    return predict_table(df, detail=detail, each=each).document()


@dataclass
class TablePrediction:
    """:func:`predict_frame`'s answer before it is laid out as one dict per row (``document()`` does that).

    ``ids[i]`` is row i's id and ``config[i]`` the index of its configuration in ``per_config``, which holds each
    distinct configuration's (kind, status, reason, prediction) once; ``row_error`` maps the rows whose own error
    (a repeated ``row_id``) replaces their configuration's status and prediction to that error. A command that
    prints the table as JSON encodes each configuration once from here (``chipplan.commands.table``) instead of
    building a dict for every row.
    """

    ids: list[str]
    config: np.ndarray
    per_config: list[tuple[str, str, str | None, dict[str, Any] | None]]
    row_error: dict[int, str]
    catalog_version: str

    def __len__(self) -> int:
        return len(self.ids)

    def status(self, i: int) -> tuple[str, str | None]:
        """(status, reason) of row ``i``."""
        if i in self.row_error:
            return "error", self.row_error[i]
        _, st, why, _ = self.per_config[int(self.config[i])]
        return st, why

    def rows(self) -> list[dict[str, Any]]:
        """One dict per row (rows of one configuration share its ``prediction`` object)."""
        per_u = self.per_config
        out = [{"row_id": rid, "kind": k, "status": st, "reason": why, "prediction": p}
               for rid, (k, st, why, p) in zip(self.ids, map(per_u.__getitem__, self.config.tolist()), strict=True)]
        for i, err in self.row_error.items():
            out[i].update(status="error", reason=err, prediction=None)
        return out

    def document(self) -> dict[str, Any]:
        """The output of ``chipplan predict --json`` (the module docstring)."""
        return {"chipplan_version": __version__, "catalog_version": self.catalog_version, "rows": self.rows()}


def predict_table(df: pd.DataFrame, *, detail: bool = False, each: Callable[[dict[str, Any]], Any] | None = None,
                  refuse_junk: bool = True) -> TablePrediction:
    """:func:`predict_frame` as a :class:`TablePrediction` (``refuse_junk``: refuse a table whose first
    ``JUNK_ROWS`` rows all fail, as ``predict_frame`` does)."""
    with _gc_paused():
        return _predict_table(df, detail=detail, each=each, refuse_junk=refuse_junk)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a table is predicted: the rows allocate many small containers and
    none of them form cycles, so its collections would scan the whole heap for nothing (10-12 % of the time on a
    table of 10⁵ rows). Back to its previous state afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def distinct_rows(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(position of the first row of each distinct configuration, configuration of each row), configurations
    in order of first appearance; rows are equal when every ``PREDICTION_COLUMNS`` cell is (empty cells too).

    Every row's cells become one 64-bit word each (a number's bits, with every NaN one word and -0 as 0, which is
    how ``pd.factorize`` compares them; any other column's code from ``pd.factorize``); rows are grouped by a hash
    of their words, and the grouping is kept only when every row's words equal those of the first row of its
    group, so it is exact: rows are grouped together exactly when all their cells are equal. Should two unequal
    rows ever share a hash, the configurations are numbered column by column instead (``_distinct_exact``).
    """
    n = len(df)
    keys = [c for c in df.columns if c in PREDICTION_SET]
    if n == 0 or not keys:
        return np.arange(min(n, 1)), np.zeros(n, dtype=np.int64)
    words = np.empty((len(keys), n), dtype=np.uint64)
    h = np.zeros(n, dtype=np.uint64)
    mult = _multipliers(len(keys))
    for j, c in enumerate(keys):
        col, w = df[c], words[j]
        if col.dtype == np.float64:
            v = col.to_numpy() + 0.0  # -0.0 + 0.0 is 0.0
            np.copyto(w, v.view(np.uint64))
            w[np.isnan(v)] = _NAN_WORD
        elif col.dtype == np.int64:
            np.copyto(w, col.to_numpy().view(np.uint64))
        elif col.dtype == object and col.isna().all():  # an empty column (every empty cell is one NA to factorize)
            w[:] = 0
        else:
            w[:] = pd.factorize(col, use_na_sentinel=False)[0]
        h += (w ^ (w >> np.uint64(31))) * mult[j]  # wraps modulo 2**64
    codes, _ = pd.factorize(h)
    first = np.full(int(codes.max()) + 1, n, dtype=np.int64)
    np.minimum.at(first, codes, np.arange(n))
    if not np.array_equal(words, words[:, first[codes]]):
        return _distinct_exact(df, keys)
    return first, codes


def _multipliers(k: int) -> np.ndarray:
    """``k`` odd 64-bit multipliers, one per column of ``distinct_rows``'s hash, from a fixed seed (the same hash
    on every run)."""
    return np.random.default_rng(0x5EED).integers(0, 2**63, k, dtype=np.uint64) * np.uint64(2) + np.uint64(1)


#: The word every NaN cell becomes in ``distinct_rows`` (the bits of the default NaN).
_NAN_WORD = np.float64("nan").view(np.uint64)


def _distinct_exact(df: pd.DataFrame, keys: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`distinct_rows` numbering the configurations column by column (exact, no hashing of rows)."""
    n = len(df)
    codes = np.zeros(n, dtype=np.int64)
    size = 1  # the number of code values so far
    for c in keys:
        cell, uniq = pd.factorize(df[c], use_na_sentinel=False)
        if size * (len(uniq) + 1) >= 2**62:  # renumber the configurations so far before the codes could overflow
            codes, seen = pd.factorize(codes)
            size = len(seen)
        codes = codes * (len(uniq) + 1) + cell
        size *= len(uniq) + 1
    codes, _ = pd.factorize(codes)
    first = np.full(int(codes.max()) + 1, n, dtype=np.int64)
    np.minimum.at(first, codes, np.arange(n))
    return first, codes


def _predict_frame(df: pd.DataFrame, *, detail: bool = False, each: Callable[[dict[str, Any]], Any] | None = None,
                   dedup: bool = True) -> dict[str, Any]:
    """:func:`predict_frame` without the junk check (``dedup=False``: every row predicted on its own)."""
    return _predict_table(df, detail=detail, each=each, dedup=dedup).document()


def _predict_table(df: pd.DataFrame, *, detail: bool = False, each: Callable[[dict[str, Any]], Any] | None = None,
                   dedup: bool = True, refuse_junk: bool = False) -> TablePrediction:
    n = len(df)
    rows = Rows(n)
    row_ids = text_column(df, "row_id")
    _duplicate_ids(row_ids, rows)
    ids = [r if type(r) is str else str(r) if r is not None else str(i + 1) for i, r in enumerate(row_ids.tolist())]
    first, inv = distinct_rows(df) if dedup else (np.arange(n), np.arange(n))
    junk = refuse_junk and n >= JUNK_ROWS
    if junk and int(inv[:JUNK_ROWS].max()) + 1 < len(first):
        # The first rows hold only some of the configurations: predict those rows on their own first, so that a
        # table of junk is refused before the rest is read.
        _check_not_junk(df, _predict_table(df.iloc[:JUNK_ROWS]))
        junk = False
    uniq = df.iloc[first] if len(first) < n else df
    u_rows = Rows(len(uniq))
    u_kinds, u_preds = _predict_distinct(uniq, u_rows, detail=detail)
    per_u: list[tuple[str, str, str | None, dict[str, Any] | None]] = []
    for kind, pred, err in zip(u_kinds, u_preds, u_rows.error, strict=True):
        if err is not None:
            per_u.append((kind, "error", err, None))
            continue
        reason = None
        if pred is not None and "memory_shortfall_gb" in pred:
            reason = (f"does not fit in memory: needs {pred['memory_shortfall_gb']:.1f} GB more per accelerator "
                      "than the usable HBM")
        per_u.append((kind, "ok", reason, pred))
    # A repeated row_id: the row's own error, whatever its configuration.
    row_error = {i: rows.error[i] for i in np.nonzero([e is not None for e in rows.error])[0].tolist()}
    out = TablePrediction(ids, inv, per_u, row_error, catalog.load().version)
    if junk:
        # Every configuration of the table appears in its first rows: the whole table is the prediction of those.
        _check_not_junk(df, out)
    if each is not None:
        for _, _, _, pred in per_u:
            if pred is not None:
                each(pred)
    return out


def _predict_distinct(df: pd.DataFrame, rows: Rows, *, detail: bool = False
                      ) -> tuple[list[str], list[dict[str, Any] | None]]:
    """Kind and prediction of every row of ``df`` (None where it fails; ``rows`` records why)."""
    n = len(df)
    inf_len = df["inf_input_len"].notna().to_numpy() if "inf_input_len" in df.columns else np.zeros(n, bool)
    preds: list[dict[str, Any] | None] = [None] * n
    # Rows are computed together, the bad ones too (their errors are already recorded): arithmetic on their
    # cells (a zero head count) must not stop the good rows. Good rows are checked for finite results below.
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        tr = np.nonzero(~inf_len)[0]
        if len(tr):
            for k, p in zip(tr.tolist(), predict_training(df, rows, tr, detail=detail), strict=True):
                preds[k] = p
        inf = np.nonzero(inf_len)[0]
        if len(inf):
            for k, p in zip(inf.tolist(), predict_inference(df, rows, inf), strict=True):
                preds[k] = p
    # Never ``status: ok`` with a number that is not one: the headline must be a finite number > 0, and every other
    # number finite (an empty value is None, never NaN).
    for i, p in enumerate(preds):
        if p is not None and rows.error[i] is None:
            key = "output_tokens_per_s_per_gpu" if inf_len[i] else "tokens_per_s_per_gpu"
            v = p.get(key)
            if not isinstance(v, int | float) or not math.isfinite(v) or v <= 0:
                rows.error[i] = (f"prediction: {key} came out {shown(v)}; an input of this row is far outside its "
                                 "plausible range")
                continue
            # Training rows are checked column-wise where they are built (chipplan.io.training).
            bad = _non_finite(p) if inf_len[i] else None
            if bad is not None:
                rows.error[i] = (f"prediction: {bad[0]} came out {shown(bad[1])}; an input of this row is far "
                                 "outside its plausible range")
    return np.where(inf_len, "inference", "training").tolist(), preds


def _non_finite(x: Any, path: str = "") -> tuple[str, float] | None:
    """(dotted key, value) of the first non-finite number in a prediction's values, dicts and lists; None if all
    are finite."""
    items = x.items() if isinstance(x, dict) else enumerate(x)
    for k, v in items:
        if type(v) is float:
            if not math.isfinite(v):
                return f"{path}{k}", v
        elif isinstance(v, dict | list):
            found = _non_finite(v, f"{path}{k}.")
            if found is not None:
                return found
        elif isinstance(v, float | np.floating) and not math.isfinite(v):
            return f"{path}{k}", float(v)
    return None


def _duplicate_ids(row_ids: np.ndarray, rows: Rows) -> None:
    """A row whose ``row_id`` an earlier row already has is an error naming that row (the first is predicted)."""
    ids = pd.Series(row_ids, dtype=object)
    given = ids.notna().to_numpy()
    dup = given & ids.duplicated(keep="first").to_numpy()
    if not dup.any():
        return
    first = {}
    for i in np.nonzero(given)[0]:
        first.setdefault(row_ids[i], i)
    rows.fail(dup, lambda i: f"row_id: {shown(str(row_ids[i]))} is already the id of row {first[row_ids[i]] + 1}; "
                             "row ids must be unique")


def _problems(result: dict[str, Any], limit: int = FIRST_PROBLEMS) -> str:
    bad = [r for r in result["rows"] if r["status"] == "error"][:limit]
    return _problem_text([(r["row_id"], r["reason"]) for r in bad])


def _problem_text(bad: list[tuple[str, str | None]]) -> str:
    # a reason is chipplan's own message (its values already capped): shortened at its end, never mid-word
    return "; ".join(f"row {shown(rid)}: {one_line(why, 160)}" for rid, why in bad)


def _check_not_junk(df: pd.DataFrame, head: TablePrediction) -> None:
    """A table whose first ``JUNK_ROWS`` rows all fail is not one chipplan reads: an InputFileError naming the first
    ``FIRST_PROBLEMS`` problems (``head`` holds at least those rows' predictions)."""
    bad: list[tuple[str, str | None]] = []
    for i in range(min(JUNK_ROWS, len(head))):
        st, why = head.status(i)
        if st == "ok":
            return
        if len(bad) < FIRST_PROBLEMS:
            bad.append((head.ids[i], why))
    path = df.attrs.get("source", "table")
    of = f"first {JUNK_ROWS:,} rows (of {len(df):,})" if len(df) > JUNK_ROWS else f"{len(df):,} rows"
    raise InputFileError(f"{path}: none of the {of} can be predicted; the first problems: {_problem_text(bad)}")


def predict_file(path: str | Path, *, detail: bool = False) -> dict[str, Any]:
    """:func:`predict_frame` on a CSV file."""
    return predict_frame(read_table(path), detail=detail)


TARGETS = {
    "training": [("tokens_per_s_per_gpu", "target_tokens_per_s_per_gpu")],
    "inference": [("output_tokens_per_s_per_gpu", "target_output_tokens_per_s_per_gpu"),
                  ("ttft_ms", "target_ttft_ms"), ("tpot_ms", "target_tpot_ms")],
}


def validate_frame(df: pd.DataFrame, *, predicted: dict[str, Any] | None = None) -> dict[str, Any]:
    """Predict, compare with the ``target_*`` columns, and summarise the absolute percentage errors.

    ``predicted`` is ``predict_frame(df)`` when the caller already has it.
    """
    result = predict_frame(df) if predicted is None else predicted
    groups = text_column(df, "source_group")
    models, hardware = text_column(df, "model_name"), text_column(df, "hardware_id")
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
                            "target": float(t), "predicted": p, "status": r["status"], "reason": r["reason"],
                            "model": models[i], "hardware": hardware[i],
                            "ape": abs(p - t) / t if p is not None else None,
                            "covered": (lo <= t <= hi) if lo is not None and hi is not None else None})
    summary = _summarise(records)
    by_group = {}
    for g in sorted({r["group"] for r in records}):
        by_group[g] = _summarise([r for r in records if r["group"] == g])
    return {"chipplan_version": __version__, "catalog_version": catalog.load().version, "overall": summary,
            "by_group": by_group, "rows": records}


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
    """:func:`validate_table` on a CSV file."""
    return validate_table(read_table(path), source=str(path))


def validate_table(df: pd.DataFrame, *, source: str) -> dict[str, Any]:
    """:func:`validate_frame` on a table read from ``source``; an InputFileError naming ``source`` and why when
    nothing could be scored (no target column, no usable target, or no row with a target predicted)."""
    path = source
    pred = predict_frame(df)
    res = validate_frame(df, predicted=pred)
    if not any(c in df.columns for c in TARGET_COLUMNS):
        raise InputFileError(f"{path}: no target column ({', '.join(TARGET_COLUMNS)}); validate compares "
                             "predictions with them (predict needs none)")
    if not res["rows"]:
        raise InputFileError(f"{path}: no row has a usable target (a number > 0 in {', '.join(TARGET_COLUMNS)} "
                             "matching the row's kind)")
    if not any(r["ape"] is not None for r in res["rows"]):
        why = _problems(pred) or "the predictions lack the metrics the targets name"
        raise InputFileError(f"{path}: none of the {len(res['rows']):,} targets could be scored; the first "
                             f"problems: {why}")
    return res

