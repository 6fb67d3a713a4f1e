"""Objects → column arrays. Engines read fields by attribute, so a single spec and a table of arrays
(one entry per configuration) go through the same code and broadcast."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np


class Columns(dict):
    """A dict of equal-length (or broadcastable) numpy arrays with attribute access.

    >>> c = Columns(d_model=[4096, 8192])
    >>> c.d_model * 2
    array([ 8192., 16384.])
    """

    def __init__(self, data: Mapping[str, Any] | None = None, **kw: Any):
        super().__init__()
        for k, v in {**(data or {}), **kw}.items():
            self[k] = np.asarray(v, dtype=float)

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    @classmethod
    def stack(cls, objs: Iterable[Any]) -> Columns:
        """Columns from objects that have ``to_columns()`` (Model, Accelerator, ...)."""
        rows = [o.to_columns() for o in objs]
        keys = rows[0].keys() if rows else []
        return cls({k: [r[k] for r in rows] for k in keys})

    def take(self, idx: Any) -> Columns:
        return Columns({k: v[idx] if v.ndim else v for k, v in self.items()})


def as_columns(obj: Any) -> Any:
    """A spec object becomes Columns of 0-d arrays; Columns pass through."""
    if isinstance(obj, Columns):
        return obj
    if hasattr(obj, "to_columns"):
        return Columns(obj.to_columns())
    return obj
