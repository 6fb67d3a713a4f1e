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
        # Model-derived arrays (attention weights, layer counts, ...) computed once per Columns object.
        self._cache: dict[str, Any] = {}
        for k, v in {**(data or {}), **kw}.items():
            self[k] = np.asarray(v, dtype=float)

    def __setitem__(self, key: str, value: Any) -> None:
        self._cache.clear()  # a changed column invalidates everything derived from it
        super().__setitem__(key, value)

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
        """Rows ``idx`` of every column; derived arrays already computed are gathered too, not recomputed."""
        out = Columns({k: v[idx] if v.ndim else v for k, v in self.items()})
        n = len(next(iter(self.values()))) if self and next(iter(self.values())).ndim else None

        def pick(x: Any) -> Any:
            if isinstance(x, dict):
                return {k: pick(v) for k, v in x.items()}
            if isinstance(x, tuple):
                return tuple(pick(v) for v in x)
            x = np.asarray(x)
            return x[idx] if x.ndim and len(x) == n else x

        out._cache.update({k: pick(v) for k, v in self._cache.items()})
        return out


def per_model(fn: Any) -> Any:
    """Cache a one-argument model function on the Columns object it is given (see ``Columns._cache``)."""
    import functools

    @functools.wraps(fn)
    def wrapper(model: Any) -> Any:
        m = as_columns(model)
        cache = getattr(m, "_cache", None)
        if cache is None:
            return fn(m)
        if fn.__name__ not in cache:
            cache[fn.__name__] = fn(m)
        return cache[fn.__name__]

    return wrapper


def as_columns(obj: Any) -> Any:
    """A spec object becomes Columns of 0-d arrays; Columns pass through."""
    if isinstance(obj, Columns):
        return obj
    if hasattr(obj, "to_columns"):
        return Columns(obj.to_columns())
    return obj
