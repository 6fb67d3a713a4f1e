"""chipplan: plan AI compute from model shape and silicon to cost per token and sourcing strategy.

The Python API (``chipplan.train``, ``serve``, ``compare``, ``cost_per_token``, ``tco``, ``strategy``,
``predict``) lives in ``chipplan.api``, and the co-design sweep is ``chipplan.codesign.sweep``; both are imported
on first use, so ``import chipplan`` stays fast.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_API = ("train", "serve", "compare", "cost_per_token", "tco", "strategy", "predict", "versions",
        "TrainResult", "ServeResult", "CompareResult", "CostPerTokenResult", "TcoResult", "StrategyResult")
_SUBPACKAGES = ("codesign",)  # reachable as attributes after a bare `import chipplan`
__all__ = ["__version__", *_API, *_SUBPACKAGES]


def __getattr__(name: str) -> Any:
    # PEP 562 lazy export: the API (and pandas behind it) loads on first use, not on `import chipplan`.
    if name in _API or name in _SUBPACKAGES:
        import importlib

        if name in _SUBPACKAGES:
            return importlib.import_module(f"chipplan.{name}")
        return getattr(importlib.import_module("chipplan.api"), name)
    raise AttributeError(f"module 'chipplan' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API) | set(_SUBPACKAGES))
