"""The training layout search, vectorised: every candidate (``chipplan.perf.candidates``) of every configuration
is one element of the same arrays; no Python loop per candidate.

Fields a configuration states are kept; the open ones are enumerated, invalid combinations are dropped with
the rule they break, and the fastest layout that fits in memory wins (the least over-full one when none fits,
so the shortfall can be reported).
"""

from __future__ import annotations

import numpy as np

from chipplan.perf.candidates import LAYOUT_FIELDS, expand, invalid_code
from chipplan.perf.columns import Columns
from chipplan.perf.training import memory_and_fit, step_time


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


def evaluate(cols: Columns, eff: Columns) -> dict[str, np.ndarray]:
    """Step time, memory and validity for expanded configuration columns (see ``search``)."""
    perf = step_time(cols, cols, cols, global_batch_seqs=cols.global_batch_seqs, seq_len=cols.seq_len, eff=eff)
    mem = memory_and_fit(cols, cols, cols, global_batch_seqs=cols.global_batch_seqs, seq_len=cols.seq_len)
    code = invalid_code(cols, cols, n_gpu=cols.n_gpu, global_batch_seqs=cols.global_batch_seqs,
                        seq_len=cols.seq_len, domain=cols.scale_up_domain)
    return {**perf, **mem, "invalid_code": code}


#: The layout spread is measured against the ``SPREAD_RANK``-th fastest plausible layout of a row: a published run
#: need not have used the fastest layout its stack could run, but one of the few fastest that fit.
SPREAD_RANK = 5

#: Configurations searched together: their candidates are one set of arrays, so this bounds the memory a table of
#: many distinct configurations needs (each configuration's answer does not depend on the others in its block).
BLOCK = 8192


def kth_score(rows: np.ndarray, n_rows: int, score: np.ndarray, ok: np.ndarray, k: int) -> np.ndarray:
    """Per row, the ``k``-th highest ``score`` among its ``ok`` elements (the lowest one when it has fewer than
    ``k``); NaN for a row with none."""
    sel = np.nonzero(ok)[0]
    out = np.full(n_rows, np.nan)
    if not len(sel):
        return out
    r, sc = rows[sel], score[sel]
    order = np.lexsort((-sc, r))
    r, sc = r[order], sc[order]
    starts = np.r_[0, np.nonzero(np.diff(r))[0] + 1]
    ends = np.r_[starts[1:], len(r)]
    pick = np.minimum(starts + k - 1, ends - 1)
    out[r[starts]] = sc[pick]
    return out


def search(base: dict[str, np.ndarray], missing: dict[str, np.ndarray], eff_of_row: Columns, *,
           memory_slack_bytes: float | np.ndarray = 0.0) -> tuple[dict[str, np.ndarray], Columns, np.ndarray]:
    """Best layout per row. Returns (results per row, chosen layout columns per row, chosen index or -1).

    ``base`` holds model, hardware and batch columns, ``n_gpu``, and the layout fields (any value where
    missing). ``dp`` is derived as ``n_gpu / (tp·pp·cp)`` unless ``dp_stated`` (> 0) gives it. A layout the
    memory model finds at most ``memory_slack_bytes`` short counts as fitting (a published run that did fit is not
    swapped for a slower layout over the memory model's own error); its result keeps ``fits_in_memory`` false.
    The results also carry ``layout_spread_log``: log(fastest / ``SPREAD_RANK``-th fastest) over the layouts
    that count as fitting (0 where the row states its whole layout). Rows are searched ``BLOCK`` at a time.
    """
    n = len(next(iter(base.values())))
    slack = np.asarray(memory_slack_bytes, dtype=float)
    if n > BLOCK:
        parts = [_search({k: np.asarray(v)[lo:lo + BLOCK] for k, v in base.items()},
                         {k: v[lo:lo + BLOCK] for k, v in missing.items()}, eff_of_row.take(slice(lo, lo + BLOCK)),
                         slack[lo:lo + BLOCK] if slack.ndim else slack)
                 for lo in range(0, n, BLOCK)]
        chosen = {k: np.concatenate([p[0][k] for p in parts]) for k in parts[0][0]}
        layout = Columns({k: np.concatenate([p[1][k] for p in parts]) for k in parts[0][1]})
        return chosen, layout, np.concatenate([p[2] for p in parts])
    return _search(base, missing, eff_of_row, slack)


def _search(base: dict[str, np.ndarray], missing: dict[str, np.ndarray], eff_of_row: Columns,
            memory_slack_bytes: np.ndarray) -> tuple[dict[str, np.ndarray], Columns, np.ndarray]:
    n = len(next(iter(base.values())))
    cols, rows = expand(base, missing)
    eff = eff_of_row.take(rows)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        res = evaluate(cols, eff)
    valid = res["invalid_code"] == 0
    slack = np.asarray(memory_slack_bytes, dtype=float)
    slack = slack[rows] if slack.ndim else slack
    ok = valid & (res["fits_in_memory"] | (res["memory_shortfall_bytes"] <= slack))
    fallback = np.where(valid, res["memory_shortfall_bytes"], np.inf)
    best = pick_best(rows, n, res["tokens_per_s_per_gpu"], ok, fallback)
    safe = np.maximum(best, 0)
    chosen = {k: np.asarray(v)[safe] for k, v in res.items()}
    with np.errstate(divide="ignore", invalid="ignore"):
        kth = kth_score(rows, n, res["tokens_per_s_per_gpu"], ok, SPREAD_RANK)
        spread = np.log(chosen["tokens_per_s_per_gpu"] / kth)
    chosen["layout_spread_log"] = np.where(np.isfinite(spread) & (spread > 0), spread, 0.0)
    layout = Columns({f: cols[f][safe] for f in (*LAYOUT_FIELDS, "dp")})
    return chosen, layout, best
