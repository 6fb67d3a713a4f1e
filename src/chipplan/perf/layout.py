"""Parallel-layout search, vectorised: every candidate (tp, pp, dp, cp, ep, vpp, micro-batch, ZeRO stage,
recompute) of every configuration is one element of the same arrays; no Python loop per candidate.

Fields a configuration states are kept; the missing ones are enumerated over ``GRIDS``, invalid
combinations are masked with the rule they break, and the fastest layout that fits in memory wins
(the least over-full one when none fits, so the shortfall can be reported).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chipplan.perf.columns import Columns
from chipplan.perf.training import memory_and_fit, step_time

LAYOUT_FIELDS = ("tp", "pp", "cp", "ep", "vpp", "micro_batch", "zero_stage", "recompute")
GRIDS: dict[str, np.ndarray] = {
    "tp": np.array([1, 2, 4, 8, 16, 32, 64], dtype=float),
    "pp": np.array([1, 2, 3, 4, 6, 7, 8, 9, 12, 14, 16, 18, 21, 24, 32, 36, 42, 48, 63, 64, 96, 126, 128],
                   dtype=float),
    "cp": np.array([1, 2, 4, 8, 16], dtype=float),
    "ep": np.array([1, 2, 4, 8, 16, 32, 64, 128, 256], dtype=float),
    "vpp": np.array([1, 2, 3, 4, 5, 6, 7, 8, 12, 16], dtype=float),
    "micro_batch": np.array([1, 2, 4, 8, 16, 32], dtype=float),
    "zero_stage": np.array([0, 1, 3], dtype=float),
    "recompute": np.array([0, 1, 2], dtype=float),
}

# Reasons a candidate is invalid, in the order they are checked (code → rule).
RULES = {
    1: "tp*pp*dp*cp must equal the number of accelerators",
    2: "tp must divide n_heads",
    3: "pp must not exceed n_layers",
    4: "ep must divide n_experts (and be 1 for a dense model)",
    5: "ep must divide tp*dp*cp",
    6: "dp*micro_batch must divide the global batch in sequences",
    7: "cp must divide seq_len",
    8: "pp*vpp must not exceed n_layers + 2 (embedding and loss stages) (and vpp must be 1 without pipelining)",
    9: "tp*cp must be at most twice the scale-up domain (tensor/context parallel traffic)",
    10: "the software stack cannot run it (selective recompute, virtual stages or ZeRO sharding it lacks)",
}


def _divides(a: Any, b: Any) -> Any:
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    return (a > 0) & (np.mod(b, np.where(a > 0, a, 1.0)) == 0)


def invalid_code(model: Columns, lay: Columns, *, n_gpu: Any, global_batch_seqs: Any, seq_len: Any,
                 domain: Any) -> np.ndarray:
    """0 where the layout is valid, else the code (``RULES``) of the first rule it breaks."""
    tp, pp, dp, cp, ep, vpp = lay.tp, lay.pp, lay.dp, lay.cp, lay.ep, lay.vpp
    checks = [
        (1, np.abs(tp * pp * dp * cp - n_gpu) < 0.5),
        (2, _divides(tp, model.n_heads)),
        (3, pp <= model.n_layers),
        (4, np.where(model.n_experts > 0, _divides(ep, model.n_experts), ep == 1)),
        (5, _divides(ep, tp * dp * cp)),
        (6, _divides(dp * lay.micro_batch, global_batch_seqs)),
        (7, _divides(cp, seq_len)),
        # Stages may hold unequal layer counts, and Megatron can count the embedding and the loss as pipeline
        # layers, so a virtual stage needs one of the n_layers + 2 slots.
        (8, np.where(pp > 1, pp * vpp <= model.n_layers + 2, vpp == 1)),
        (9, tp * cp <= np.maximum(domain, 1.0) * 2),
        # Filling an empty field only with what the row's software stack could run (chipplan.perf.stacks).
        (10, ~(((lay.recompute == 1) & (lay.get("allows_selective", 1.0) == 0))
               | ((vpp > 1) & (lay.get("allows_interleave", 1.0) == 0))
               | ((lay.zero_stage > 0) & (lay.get("allows_zero", 1.0) == 0)))),
    ]
    code = np.zeros(np.broadcast(*[c for _, c in checks]).shape, dtype=np.int8)
    for k, ok in reversed(checks):
        code = np.where(ok, code, np.int8(k))
    return code


def expand(base: dict[str, np.ndarray], missing: dict[str, np.ndarray]) -> tuple[Columns, np.ndarray]:
    """Cartesian expansion of the missing layout fields, grouped by which fields are missing.

    ``base`` maps every column (layout and otherwise) to an array of ``n`` rows; ``missing`` maps each
    layout field to a boolean array (True where the row leaves it open). Returns the expanded columns and,
    for each expanded element, the index of its row.
    """
    n = len(next(iter(base.values())))
    pattern = np.zeros(n, dtype=np.int64)
    for i, f in enumerate(LAYOUT_FIELDS):
        pattern |= missing[f].astype(np.int64) << i
    out_cols: dict[str, list[np.ndarray]] = {k: [] for k in base}
    out_rows: list[np.ndarray] = []
    for pat in np.unique(pattern):
        rows = np.nonzero(pattern == pat)[0]
        open_fields = [f for i, f in enumerate(LAYOUT_FIELDS) if pat >> i & 1]
        grids = [GRIDS[f] for f in open_fields]
        combos = np.stack(np.meshgrid(*grids, indexing="ij"), -1).reshape(-1, len(grids)) if grids else \
            np.zeros((1, 0))
        nc = len(combos)
        rr = np.repeat(rows, nc)
        for k, v in base.items():
            out_cols[k].append(v[rr])
        for j, f in enumerate(open_fields):
            out_cols[f][-1] = np.tile(combos[:, j], len(rows))
        out_rows.append(rr)
    return Columns({k: np.concatenate(v) for k, v in out_cols.items()}), np.concatenate(out_rows)


def pick_best(rows: np.ndarray, n_rows: int, score: np.ndarray, ok: np.ndarray, fallback: np.ndarray
              ) -> np.ndarray:
    """Index (into the expanded arrays) of the best element per row.

    Highest ``score`` among ``ok`` elements; where a row has none, the lowest ``fallback`` among valid
    elements (``fallback`` is +inf for invalid ones); -1 where the row has no valid element at all.
    """
    order = np.lexsort((-np.where(ok, score, -np.inf), ~ok, rows))
    first = np.full(n_rows, -1, dtype=np.int64)
    srt = rows[order]
    starts = np.r_[0, np.nonzero(np.diff(srt))[0] + 1]
    first[srt[starts]] = order[starts]
    has_ok = np.zeros(n_rows, dtype=bool)
    has_ok[srt[starts]] = ok[order[starts]]
    # Rows with no fitting layout: take the valid element with the smallest fallback (memory shortfall).
    need = ~has_ok & (first >= 0)
    if need.any():
        order2 = np.lexsort((fallback, rows))
        srt2 = rows[order2]
        starts2 = np.r_[0, np.nonzero(np.diff(srt2))[0] + 1]
        best2 = np.full(n_rows, -1, dtype=np.int64)
        best2[srt2[starts2]] = order2[starts2]
        finite = np.zeros(n_rows, dtype=bool)
        finite[srt2[starts2]] = np.isfinite(fallback[order2[starts2]])
        first = np.where(need, np.where(finite, best2, -1), first)
    return first


STRUCTURAL = ("tp", "pp", "cp", "ep")


def _filter(cols: Columns, rows: np.ndarray) -> tuple[Columns, np.ndarray]:
    """Drop candidates that break a layout rule, keeping each row's first candidate so that a row with no
    valid layout can still report the rule it breaks."""
    code = invalid_code(cols, cols, n_gpu=cols.n_gpu, global_batch_seqs=cols.global_batch_seqs,
                        seq_len=cols.seq_len, domain=cols.scale_up_domain)
    first = np.r_[True, rows[1:] != rows[:-1]]
    keep = (code == 0) | first
    return cols.take(keep), rows[keep]


def expanded_valid(base: dict[str, np.ndarray], missing: dict[str, np.ndarray]) -> tuple[Columns, np.ndarray]:
    """Expand the missing fields in two stages, filtering invalid candidates after each.

    Stage one enumerates the structural fields (tp, pp, cp, ep) with any open micro-batch and vpp at 1; the
    rules checked are then necessary conditions (``dp | batch`` for every micro-batch), so no valid layout is
    lost. Stage two enumerates micro-batch, vpp, ZeRO stage and recompute on the survivors only; this keeps
    the arrays small for mixture-of-experts models and large accelerator counts.
    """
    n = len(next(iter(base.values())))
    none = np.zeros(n, dtype=bool)
    cols1, rows1 = expand(base, {f: (missing[f] if f in STRUCTURAL else none) for f in LAYOUT_FIELDS})
    derived = np.maximum(np.floor(cols1.n_gpu / (cols1.tp * cols1.pp * cols1.cp) + 1e-9), 1.0)
    # A stated dp is kept (and rule 1 rejects candidates that then miss the accelerator count).
    cols1["dp"] = np.where(cols1.dp_stated > 0, cols1.dp_stated, derived) if "dp_stated" in cols1 else derived
    cols1, rows1 = _filter(cols1, rows1)
    miss2 = {f: (missing[f][rows1] if f not in STRUCTURAL else np.zeros(len(rows1), dtype=bool))
             for f in LAYOUT_FIELDS}
    cols2, sub = expand(dict(cols1), miss2)
    rows2 = rows1[sub]
    order = np.argsort(rows2, kind="stable")  # keep candidates grouped by row
    return _filter(cols2.take(order), rows2[order])


def layout_error(base: dict[str, np.ndarray], j: int, stated: bool) -> str:
    """One-line reason why configuration ``j`` of ``base`` has no valid layout: the first rule its stated
    layout breaks (with the layout), or, when fields were left open, that none of the candidates is valid."""
    c = Columns({k: np.asarray(v[j:j + 1]) for k, v in base.items()})
    derived = np.maximum(np.floor(c.n_gpu / (c.tp * c.pp * c.cp)), 1.0)
    c["dp"] = np.where(c.dp_stated > 0, c.dp_stated, derived) if "dp_stated" in c else derived
    code = int(invalid_code(c, c, n_gpu=c.n_gpu, global_batch_seqs=c.global_batch_seqs, seq_len=c.seq_len,
                            domain=c.scale_up_domain)[0])
    if stated and code:
        return (f"layout: {RULES[code]} (tp={c.tp[0]:g}, pp={c.pp[0]:g}, dp={c.dp[0]:g}, cp={c.cp[0]:g}, "
                f"ep={c.ep[0]:g}, vpp={c.vpp[0]:g}, micro_batch={c.micro_batch[0]:g})")
    return "layout: no valid layout for the stated fields" + (f" ({RULES[code]})" if code else "")


def evaluate(cols: Columns, eff: Columns) -> dict[str, np.ndarray]:
    """Step time, memory and validity for expanded configuration columns (see ``search``)."""
    perf = step_time(cols, cols, cols, global_batch_seqs=cols.global_batch_seqs, seq_len=cols.seq_len, eff=eff)
    mem = memory_and_fit(cols, cols, cols, global_batch_seqs=cols.global_batch_seqs, seq_len=cols.seq_len)
    code = invalid_code(cols, cols, n_gpu=cols.n_gpu, global_batch_seqs=cols.global_batch_seqs,
                        seq_len=cols.seq_len, domain=cols.scale_up_domain)
    return {**perf, **mem, "invalid_code": code}


def search(base: dict[str, np.ndarray], missing: dict[str, np.ndarray], eff_of_row: Columns
           ) -> tuple[dict[str, np.ndarray], Columns, np.ndarray]:
    """Best layout per row. Returns (results per row, chosen layout columns per row, chosen index or -1).

    ``base`` holds model, hardware and batch columns, ``n_gpu``, and the layout fields (any value where
    missing). ``dp`` is derived as ``n_gpu / (tp·pp·cp)`` unless ``dp_stated`` (> 0) gives it.
    """
    n = len(next(iter(base.values())))
    cols, rows = expanded_valid(base, missing)
    eff = eff_of_row.take(rows)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        res = evaluate(cols, eff)
    valid = res["invalid_code"] == 0
    ok = valid & res["fits_in_memory"]
    fallback = np.where(valid, res["memory_shortfall_bytes"], np.inf)
    best = pick_best(rows, n, res["tokens_per_s_per_gpu"], ok, fallback)
    safe = np.maximum(best, 0)
    chosen = {k: np.asarray(v)[safe] for k, v in res.items()}
    layout = Columns({f: cols[f][safe] for f in (*LAYOUT_FIELDS, "dp")})
    return chosen, layout, best
