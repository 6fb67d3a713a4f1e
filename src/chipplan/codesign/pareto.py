"""Non-dominated sorting, vectorised, and the hypervolume of a two-objective front.

All objectives are minimised here (negate a "max" column before calling). Point ``i`` is dominated when some
``j`` is no worse in every objective and strictly better in one; equal points do not dominate each other.
"""

from __future__ import annotations

from typing import Any

import numpy as np

BLOCK = 2048


def _front_2d(F: np.ndarray) -> np.ndarray:
    """O(n log n): sort by (f0, f1); a point is on the front when its f1 beats every point before it whose f0
    is strictly smaller, and is not beaten by an equal-f0 point with a smaller f1."""
    order = np.lexsort((F[:, 1], F[:, 0]))
    f0, f1 = F[order, 0], F[order, 1]
    # smallest f1 among points with strictly smaller f0: cumulative min up to the start of each f0 group
    cm = np.minimum.accumulate(f1)
    start = np.searchsorted(f0, f0, side="left")  # first index of each point's f0 group (f0 sorted)
    prev_min = np.where(start > 0, cm[np.maximum(start - 1, 0)], np.inf)
    grp_min = f1[start]  # f1 is sorted within an f0 group, so the group's first holds its minimum
    keep_sorted = (f1 < prev_min) & (f1 <= grp_min)
    keep = np.zeros(len(F), bool)
    keep[order[keep_sorted]] = True
    return keep


def _dominated_by(P: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """For each row of Q: is it dominated by some row of P? (blocks of P × Q)."""
    out = np.zeros(len(Q), bool)
    for s in range(0, len(P), BLOCK):
        p = P[s:s + BLOCK, None, :]
        le = np.all(p <= Q[None, :, :], axis=2)
        lt = np.any(p < Q[None, :, :], axis=2)
        out |= np.any(le & lt, axis=0)
    return out


def non_dominated(F: Any) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``F`` (n × k, minimised). NaN rows are never on the front."""
    F = np.asarray(F, dtype=float)
    if F.ndim != 2:
        raise ValueError("F must be n x k")
    n, k = F.shape
    valid = ~np.any(np.isnan(F), axis=1)
    keep = np.zeros(n, bool)
    idx = np.flatnonzero(valid)
    if len(idx) == 0:
        return keep
    G = F[idx]
    if k == 1:
        keep[idx[G[:, 0] == G[:, 0].min()]] = True
        return keep
    if k == 2:
        keep[idx[_front_2d(G)]] = True
        return keep
    # k >= 3: sweep blocks in lexicographic order; a block's survivors are checked against the running front
    # and themselves, and knock dominated points out of the running front.
    order = np.lexsort(G.T[::-1])
    front = np.empty((0, k))
    front_ids = np.empty(0, np.int64)
    for s in range(0, len(order), BLOCK):
        ids = order[s:s + BLOCK]
        B = G[ids]
        ok = ~_dominated_by(front, B) if len(front) else np.ones(len(B), bool)
        ok &= ~_dominated_by(B, B)
        B, ids = B[ok], ids[ok]
        if len(B) == 0:
            continue
        stay = ~_dominated_by(B, front) if len(front) else np.zeros(0, bool)
        front = np.vstack([front[stay], B])
        front_ids = np.concatenate([front_ids[stay], ids])
    keep[idx[front_ids]] = True
    return keep


def oriented(values: dict[str, np.ndarray], objectives: dict[str, str]) -> np.ndarray:
    """n × k matrix of the objective columns, negated where the direction is "max"."""
    cols = [np.asarray(values[c], dtype=float) * (-1.0 if d == "max" else 1.0) for c, d in objectives.items()]
    return np.column_stack(cols)


def hypervolume_2d(F: Any, ref: Any) -> float:
    """Area dominated by the points of ``F`` (n × 2, minimised) and bounded by ``ref``."""
    F = np.asarray(F, dtype=float)
    ref = np.asarray(ref, dtype=float)
    F = F[np.all(ref > F, axis=1)]
    if len(F) == 0:
        return 0.0
    F = F[non_dominated(F)]
    F = F[np.argsort(F[:, 0])]
    widths = np.diff(np.append(F[:, 0], ref[0]))
    return float(np.sum(widths * (ref[1] - F[:, 1])))
