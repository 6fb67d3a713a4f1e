"""Errors users can cause. Every message names the field and what is allowed.

The command line prints ``str(err)`` on one line and exits with status 2; the web app answers 4xx.
"""

from __future__ import annotations


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
        msg = f"{field}: {rule}" if got is ... else f"{field}: {rule}, got {_shown(got)}"
        super().__init__(msg)


class UnknownIdError(ChipplanError, KeyError):
    """An id that is not in the catalog; the message lists the nearest matches."""

    def __init__(self, kind: str, given: str, suggestions: list[str]):
        self.kind = kind
        self.given = given
        self.suggestions = suggestions
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"{kind}: unknown id {_shown(given)}{hint}")

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


def _shown(value: object) -> str:
    # Values are capped (reprlib) so a message never grows with the input; safeio imports this module.
    from chipplan.safeio import shown

    return shown(value)
