"""Array checks for the cost formulas: every bad value raises a FieldError naming the parameter."""

from __future__ import annotations

from typing import Any

import numpy as np

from chipplan.errors import FieldError


def _first_bad(a: np.ndarray, bad: np.ndarray) -> Any:
    return a[bad].flat[0].item() if a.ndim else a.item()


def arr(name: str, x: Any, *, lo: float = 0.0, hi: float | None = None, lo_open: bool = False,
        hi_open: bool = False) -> np.ndarray:
    """``x`` as a float array, finite and within [lo, hi] (open ends where asked)."""
    try:
        a = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise FieldError(name, "must be a number", x) from None
    bad = ~np.isfinite(a) | ((a <= lo) if lo_open else (a < lo))
    if hi is not None:
        bad |= (a >= hi) if hi_open else (a > hi)
    if np.any(bad):
        lo_s = f"> {lo:g}" if lo_open else f">= {lo:g}"
        hi_s = "" if hi is None else (f" and < {hi:g}" if hi_open else f" and <= {hi:g}")
        raise FieldError(name, f"must be a finite number {lo_s}{hi_s}", _first_bad(a, bad))
    return a


def fraction(name: str, x: Any) -> np.ndarray:
    """A yield or utilisation: in (0, 1]."""
    return arr(name, x, lo=0.0, hi=1.0, lo_open=True)


def out(a: Any) -> Any:
    """0-d arrays back to Python floats so scalar callers get scalars."""
    a = np.asarray(a)
    return float(a) if a.ndim == 0 else a
