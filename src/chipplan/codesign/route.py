"""Designed chips as supply routes: a design (or a sweep's best design) becomes the fields of a strategy route.

``unit_price_usd`` is the cost engine's manufacturing cost of the design (NRE stays in the route's
``fixed_cost_usd``, so it is not counted twice) with the sweep's gross margin; ``perf_per_unit`` is its
workload H100-equivalents per unit from the perf engines on the sweep's train/serve mix; NRE, schedule, success
and respin probabilities, ramp and exposure come from the route data (``catalog/data/strategy/routes.yaml``).
Nothing is typed by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from chipplan import catalog
from chipplan.codesign import design as dz
from chipplan.codesign.sweeps import SweepResult, baseline_of, evaluate_params, load_config
from chipplan.errors import FieldError

ROUTES_FILE = Path(catalog.DATA_DIR) / "strategy" / "routes.yaml"
DESIGN_KINDS = ("custom_asic", "in_house")


def route_data(route: str) -> dict[str, Any]:
    """A route entry of the strategy route data (raw YAML, with its sources)."""
    doc = catalog.read_yaml(ROUTES_FILE) or {}
    routes = doc.get("routes") or {}
    if route not in routes:
        kinds = [k for k, v in routes.items() if (v or {}).get("kind") in DESIGN_KINDS]
        raise FieldError("route", f"unknown route; design routes: {', '.join(kinds)}", route)
    entry = dict(routes[route])
    if entry.get("kind") not in DESIGN_KINDS:
        raise FieldError("route", f"a design can stand in for a {' or '.join(DESIGN_KINDS)} route", route)
    return entry


def best_design(result: SweepResult | pd.DataFrame, pick: str = "h100e_per_usd") -> dict[str, Any]:
    """Design parameters of the feasible row with the largest ``pick`` (front first, then all rows)."""
    df = result.pareto if isinstance(result, SweepResult) else result
    if isinstance(result, SweepResult) and (df.empty or pick not in df):
        df = result.designs
    if pick not in df:
        raise FieldError("pick", f"unknown column; known: {', '.join(df.columns)}", pick)
    ok = df[df["feasible"].astype(bool) & np.isfinite(df[pick].astype(float))]
    if ok.empty:
        raise FieldError("pick", "no feasible design to pick from", pick)
    row = ok.sort_values([pick, "design_id"], ascending=[False, True]).iloc[0]
    return {p.name: (row[p.name].item() if hasattr(row[p.name], "item") else str(row[p.name])) for p in dz.PARAMS}


def _figures(design: dict[str, Any], cfg: Any, field: str) -> dict[str, Any]:
    """Unit price (manufacturing cost at the sweep's margin; NRE stays in the route's fixed cost) and workload
    H100-equivalents of one design, with its evaluated columns."""
    params = {k: v for k, v in design.items() if k in dz.PARAM}
    out = evaluate_params(params, cfg, 1, baseline_of(cfg))
    if not bool(out["feasible"][0]):
        bad = [k for k, v in out.items() if k.startswith("constraint_") and float(v[0]) > 0]
        raise FieldError(field, f"the design is not feasible ({', '.join(bad)} > 0)")
    if "h100e_per_unit" not in out:
        raise FieldError(f"{field}.sweep", "the sweep needs a train or serve workload for H100-equivalents")
    price = float(out["manufacturing_cost_usd"][0]) / (1.0 - cfg.economics.gross_margin)
    return {"params": params, "out": out, "unit_price_usd": price, "perf_per_unit": float(out["h100e_per_unit"][0])}


def designed_route(design: dict[str, Any] | None = None, *, config: Any, result: SweepResult | None = None,
                   route: str = "partner-asic", pick: str = "h100e_per_usd") -> dict[str, Any]:
    """Route fields for ``design`` (parameters) or for the best design of a sweep ``result``.

    Returns the route entry with ``unit_price_usd`` and ``perf_per_unit`` computed, plus ``design`` (the
    parameters), ``unit_cost_usd``, ``tdp_w`` and a ``source`` naming how they were derived.
    """
    cfg = load_config(config)
    if design is None:
        if result is None:
            raise FieldError("design", "give a design's parameters or a sweep result to pick from")
        design = best_design(result, pick)
    f = _figures(design, cfg, "design")
    params, out = f["params"], f["out"]
    r = route_data(route)
    margin = cfg.economics.gross_margin
    unit_price, perf = f["unit_price_usd"], f["perf_per_unit"]
    r.update(unit_price_usd=round(unit_price, 2), perf_per_unit=round(perf, 4), name=f"{r.get('name', route)} "
             f"(designed: {params.get('node', '')}, {int(float(out['cores'][0]))} cores)")
    fs = dict(r.get("field_sources") or {})
    fs.pop("perf_per_unit", None)
    fs.pop("unit_price_usd", None)
    r["field_sources"] = fs
    r["source"] = (f"chipplan codesign: unit price = manufacturing cost from the cost engine at gross margin "
                   f"{margin:g}; perf_per_unit = workload H100-equivalents from the perf engines on "
                   f"{cfg.name!r}; NRE and schedule from route {route} ({r.get('source', '')})")
    return {**r, "design": params, "unit_cost_usd": float(out["unit_cost_usd"][0]), "tdp_w": float(out["tdp_w"][0]),
            "server_price_usd": float(out["server_price_usd"][0])}


def design_figures(spec: dict[str, Any], *, base_dir: Path | None = None, field: str = "design"
                   ) -> dict[str, Any]:
    """``perf_per_unit`` and ``unit_price_usd`` of a design named in a scenario route.

    ``spec``: ``{sweep: FILE, params: {...}}`` (one design on the sweep's workloads and economics) or
    ``{sweep: FILE, designs: N, seed: S, pick: COLUMN}`` (the best feasible design of that sweep by ``pick``,
    default ``h100e_per_usd``). Returns the two figures, the design's parameters and a note for provenance.
    """
    if not isinstance(spec, dict) or "sweep" not in spec:
        raise FieldError(field, "needs sweep: FILE and params: {...} or designs: N")
    allowed = {"sweep", "params", "designs", "seed", "pick"}
    extra = set(spec) - allowed
    if extra:
        raise FieldError(f"{field}.{sorted(extra)[0]}", f"unknown key; allowed: {', '.join(sorted(allowed))}")
    path = Path(str(spec["sweep"]))
    if base_dir is not None and not path.is_absolute() and not path.exists():
        path = Path(base_dir) / path
    pick = str(spec.get("pick", "h100e_per_usd"))
    if "params" in spec:
        design = dict(spec["params"] or {})
        how = "given parameters"
    else:
        from chipplan.codesign.sweeps import sweep

        n = int(spec.get("designs", 4096))
        seed = int(spec.get("seed", 0))
        design = best_design(sweep(path, designs=n, seed=seed), pick)
        how = f"best of {n:,} designs (seed {seed}) by {pick}"
    f = _figures(design, load_config(path), field)
    price, perf = f["unit_price_usd"], f["perf_per_unit"]
    note = (f"chipplan codesign {path.name}: {how}; unit price = cost-engine manufacturing cost "
            f"${price:,.0f} (NRE in the route's fixed cost); perf = {perf:.3f} workload H100e from the perf engines")
    return {"perf_per_unit": perf, "unit_price_usd": price, "design": design, "note": note}
