"""Construction-time checks shared by the spec dataclasses. Each raises FieldError naming the field."""

from __future__ import annotations

import math

from chipplan.errors import FieldError


def positive_int(field: str, value: object, *, allow_zero: bool = False) -> int:
    """Return ``value`` as int, or raise if it is not a (non-negative when allow_zero) integer."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and float(value) == int(value) and (int(value) > 0 or (allow_zero and int(value) == 0))
    if not ok:
        kind = "a non-negative integer" if allow_zero else "a positive integer"
        raise FieldError(field, f"must be {kind}", value)
    return int(value)


def positive_float(field: str, value: object, *, allow_zero: bool = False, upper: float | None = None) -> float:
    """Return ``value`` as float, or raise if it is not finite and > 0 (>= 0 when allow_zero)."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > 0 or (allow_zero and value == 0))
    if ok and upper is not None:
        ok = value <= upper
    if not ok:
        lo = ">= 0" if allow_zero else "> 0"
        rng = f"a finite number {lo}" + (f" and <= {upper:g}" if upper is not None else "")
        raise FieldError(field, f"must be {rng}", value)
    return float(value)


def fraction(field: str, value: object, *, allow_zero: bool = True) -> float:
    """A number in [0, 1] (or (0, 1] when allow_zero is False)."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (0 < value <= 1 if not allow_zero else 0 <= value <= 1)
    if not ok:
        raise FieldError(field, "must be in [0, 1]" if allow_zero else "must be in (0, 1]", value)
    return float(value)


def one_of(field: str, value: object, allowed: tuple[str, ...] | list[str]) -> str:
    """A string from ``allowed``."""
    if value not in allowed:
        raise FieldError(field, f"must be one of {', '.join(allowed)}", value)
    return str(value)
