"""Shared plumbing for commands: one-line errors with exit status 2, JSON output, rich tables."""

from __future__ import annotations

import functools
import json
import math
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from chipplan.errors import ChipplanError

F = TypeVar("F", bound=Callable[..., Any])
console = Console()
err_console = Console(stderr=True)
EXIT_USAGE = 2


def debug_enabled() -> bool:
    return os.environ.get("CHIPPLAN_DEBUG", "") not in ("", "0")


def fail(message: str) -> None:
    """Print one line to stderr and exit with status 2."""
    err_console.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_USAGE)


def handle_errors(fn: F) -> F:
    """Turn ChipplanError (and bad numbers) into a one-line message and exit status 2, no traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ChipplanError as e:
            if debug_enabled():
                raise
            fail(str(e))
        return None

    return wrapper  # type: ignore[return-value]


def _clean(o: Any) -> Any:
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_clean(v) for v in o]
    if isinstance(o, np.ndarray):
        return _clean(o.tolist())
    if isinstance(o, np.generic):
        return _clean(o.item())
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return o


def to_json(obj: Any, *, compact: bool = False) -> str:
    """Deterministic JSON (sorted keys, NaN/inf → null), so the same inputs give byte-identical output.

    ``compact`` skips indentation so that the C encoder runs (tables of 10⁵ rows print in a fraction of a second);
    objects made only of Python scalars skip the cleaning pass.
    """
    indent = None if compact else 2
    try:
        return json.dumps(obj, indent=indent, sort_keys=not compact, allow_nan=False)
    except (TypeError, ValueError):  # numpy scalars or non-finite floats: clean, then encode
        return json.dumps(_clean(obj), indent=indent, sort_keys=not compact, allow_nan=False)


def print_json(obj: Any, *, compact: bool = False) -> None:
    sys.stdout.write(to_json(obj, compact=compact) + "\n")


def table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    t = Table(title=title, title_justify="left")
    for c in columns:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*[fmt(v) for v in r])
    return t


def fmt(v: Any) -> str:
    """Human format: 3 significant digits for floats, thousands separators for big numbers."""
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int | np.integer):
        return f"{int(v):,}"
    if isinstance(v, float | np.floating):
        x = float(v)
        if not math.isfinite(x):
            return "—"
        if x != 0 and (abs(x) >= 1e15 or abs(x) < 1e-3):
            return f"{x:.3g}"
        if abs(x) >= 1000:
            return f"{x:,.0f}"
        return f"{x:.3g}"
    return str(v)
