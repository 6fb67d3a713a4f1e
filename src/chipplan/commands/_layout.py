"""Layout flags (``--tp``, ``--pp``, …) generated from the layout declaration (``chipplan.specs.layout``).

``layout_options(dims)`` adds one typer option per dimension to a command that takes ``**layout``; the command
receives ``{name: value or None}`` (``chipplan train``: every training dimension). With ``repeatable=True`` each
flag may be given several times and the command receives ``{name: [values] or None}``: the sizes to try
(``chipplan serve``: the serving dimensions). A new dimension declared in ``chipplan.specs.layout`` gets its flags
here with nothing else to change.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import typer

from chipplan.specs.layout import Dimension


def _help(d: Dimension, repeatable: bool = False) -> str:
    allowed = f" ({', '.join(d.choices)})" if d.choices else ""
    if repeatable:
        return f"{d.description[0].upper()}{d.description[1:]} to try{allowed}, repeatable; otherwise searched."
    if d.derived:
        return f"Fix the {d.description}; otherwise the accelerator count divided by the other sizes."
    return f"Fix the {d.description}{allowed}; otherwise searched" + (
        " (a divisor of the accelerator count)." if d.divides_accelerators else ".")


def layout_options(dims: tuple[Dimension, ...], *, repeatable: bool = False
                   ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate ``fn(..., **layout)`` so that typer sees one ``--flag`` option per dimension in ``dims``
    (repeatable: a list of values to try)."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(fn)
        params = [p for p in sig.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        def kind(d: Dimension) -> Any:
            one = str if d.choices else int
            return list[one] | None if repeatable else one | None  # type: ignore[valid-type]

        extra = [inspect.Parameter(d.name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                   default=typer.Option(None, d.flag, help=_help(d, repeatable)),
                                   annotation=kind(d)) for d in dims]
        names = {d.name for d in dims}

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            layout = {k: kwargs.pop(k) for k in list(kwargs) if k in names}
            return fn(*args, **kwargs, **layout)

        wrapper.__signature__ = sig.replace(parameters=[*params[:-1], *extra, params[-1]] if params else extra)
        return wrapper

    return wrap
