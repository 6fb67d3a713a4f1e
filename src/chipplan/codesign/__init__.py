"""Chip–model co-design: parametric accelerators with area, power and cost; sweeps streamed to Parquet with
Pareto fronts; Optuna ask/tell search; Ray execution; model shape with scaling laws; physics checks of claims;
designed chips as supply routes. Sits between cost and strategy: imports specs, catalog, perf and cost only.

>>> from chipplan.codesign import rederive
>>> r = rederive()
>>> r["median_abs_area_error"] <= 0.15 and r["median_abs_tdp_error"] <= 0.15
True
"""

from __future__ import annotations

from typing import Any


def sweep(config: Any, *, designs: int, seed: int | None = None, out_dir: Any = None, progress: Any = None,
          **kw: Any) -> Any:
    """Evaluate ``designs`` designs of a sweep file or dict; returns ``.designs``, ``.pareto``, ``.objectives``.
    See ``chipplan.codesign.sweeps.sweep``."""
    from chipplan.codesign.sweeps import sweep as _sweep

    return _sweep(config, designs=designs, seed=seed, out_dir=out_dir, progress=progress, **kw)


def rederive() -> dict[str, Any]:
    """Catalog chips re-derived from their design points (``chipplan.codesign.catalog_chips.rederive``)."""
    from chipplan.codesign.catalog_chips import rederive as _r

    return _r()


__all__ = ["rederive", "sweep"]
