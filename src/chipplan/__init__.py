"""chipplan: plan AI compute from model shape and silicon to cost per token and sourcing strategy.

The Python API (``chipplan.train``, ``serve``, ``compare``, ``cost_per_token``, ``tco``, ``strategy``,
``predict``) lives in ``chipplan.api``, and the co-design sweep is ``chipplan.codesign.sweep``; both are imported
on first use, so ``import chipplan`` stays fast.
"""

from __future__ import annotations

import sys
import types
from typing import Any

__version__ = "0.1.0"

_API = ("train", "serve", "compare", "cost_per_token", "tco", "strategy", "predict", "versions",
        "TrainResult", "ServeResult", "CompareResult", "CostPerTokenResult", "TcoResult", "StrategyResult")
_SUBPACKAGES = ("codesign",)  # reachable as attributes after a bare `import chipplan`
__all__ = ["__version__", *_API, *_SUBPACKAGES]


#: API functions that share their name with a subpackage (the function ``chipplan.strategy`` and the layer
#: ``chipplan.strategy``). Importing the subpackage binds the name to it, so the subpackage is made callable
#: as the function: ``chipplan.strategy(...)`` and ``chipplan.strategy.montecarlo`` both work.
_CALLABLE_SUBPACKAGES = ("strategy",)


class _CallableSubpackage(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        import importlib

        return getattr(importlib.import_module("chipplan.api"), self.__name__.rsplit(".", 1)[1])(*args, **kwargs)


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value: Any) -> None:
        if name in _CALLABLE_SUBPACKAGES and type(value) is types.ModuleType:
            value.__class__ = _CallableSubpackage  # the import system binds the subpackage here
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    # PEP 562 lazy export: the API (and pandas behind it) loads on first use, not on `import chipplan`.
    if name in _API or name in _SUBPACKAGES:
        import importlib

        if name in _SUBPACKAGES or name in _CALLABLE_SUBPACKAGES:
            return importlib.import_module(f"chipplan.{name}")
        return getattr(importlib.import_module("chipplan.api"), name)
    raise AttributeError(f"module 'chipplan' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API) | set(_SUBPACKAGES))
