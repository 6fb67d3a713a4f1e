"""Errors users can cause. Every message names the field and what is allowed.

The command line prints ``str(err)`` on one line and exits with status 2; the web app answers 4xx.
"""

from __future__ import annotations

import contextlib
import math
import reprlib
from typing import Any


class ChipplanError(Exception):
    """Base class for every error caused by user input."""


class FieldError(ChipplanError, ValueError):
    """A single field holds a value outside what is allowed.

    >>> str(FieldError("models.gpt5.n_layers", "must be a positive integer", -3))
    'models.gpt5.n_layers: must be a positive integer, got -3'
    """

    def __init__(self, field: str, rule: str, got: object = ...):
        self.field = field
        self.rule = rule
        self.got = got
        msg = f"{field}: {rule}" if got is ... else f"{field}: {rule}, got {shown(got)}"
        super().__init__(msg)


class UnknownIdError(ChipplanError, KeyError):
    """An id that is not in the catalog; the message lists the nearest matches."""

    def __init__(self, kind: str, given: str, suggestions: list[str]):
        self.kind = kind
        self.given = given
        self.suggestions = suggestions
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"{kind}: unknown id {shown(given)}{hint}")

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.args[0]


class CatalogError(ChipplanError):
    """A catalog file is malformed (bad YAML, missing source, wrong type)."""


class InputFileError(ChipplanError):
    """An input file (CSV, YAML scenario) cannot be read or lacks required columns."""


class InfeasibleError(ChipplanError):
    """No configuration satisfies the request; the message says what came closest."""


class OutputFileError(ChipplanError):
    """An output (``--plot``, ``--out``, a report, a store) cannot be written; nothing is left half-written."""


_repr = reprlib.Repr()
_repr.maxlevel = 3
_repr.maxstring = 60
_repr.maxother = 60
_repr.maxlist = _repr.maxtuple = _repr.maxset = _repr.maxfrozenset = _repr.maxdeque = _repr.maxarray = 6
_repr.maxdict = 4
_repr.maxlong = 40
MAX_MESSAGE_VALUE = 80


def shown(value: Any, limit: int = MAX_MESSAGE_VALUE) -> str:
    """A value as a one-line message shows it: capped in length and nesting, numbers plainly.

    numpy scalars print as Python numbers (``inf``, not ``np.float64(inf)``); strings keep their quotes;
    containers are cut after a few items (a YAML alias bomb's shared lists are never expanded); the result
    is at most ``limit`` characters and has no line breaks.

    >>> shown(-3), shown("fp7"), shown(float("inf")), shown(True)
    ('-3', "'fp7'", 'inf', 'True')
    >>> shown([[1] * 100] * 100)
    '[[1, 1, 1, 1, 1, 1, ...], [1, 1, 1, 1, 1, 1, ...], [1, 1, 1, 1, 1, 1, ...], [...'
    >>> len(shown("x" * 10_000)) <= 80
    True
    """
    item = getattr(value, "item", None)
    if callable(item) and type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0:
        with contextlib.suppress(Exception):
            value = item()
    if isinstance(value, float):
        text = repr(value) if math.isfinite(value) else str(value)
    else:
        try:
            text = _repr.repr(value)
        except Exception:  # a broken __repr__ must not hide the real error
            text = f"<{type(value).__name__}>"
    text = " ".join(text.split())  # one line
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text
