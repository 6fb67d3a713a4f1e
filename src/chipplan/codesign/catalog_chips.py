"""Catalog chips as design points: re-derive their area, TDP and peak from physical descriptions.

Each design point (``codesign.yaml: design_points``) describes a shipped chip by unit counts, clocks, SRAM, HBM
stacks and links, never by back-solved factors. The error of the derived area and TDP against the catalog is
the model's accuracy; block constants were fitted on GA100/GH100 (GPU SM), Aldebaran (CDNA CU), TPUv4i and
WSE-2, so A100/H100/H200 are in sample for area and the others out of sample.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chipplan import catalog
from chipplan.codesign import design as dz
from chipplan.codesign.constants import load as load_constants
from chipplan.codesign.costing import unit_cost

META = ("source", "field_sources")


def point_params(chip_id: str) -> dict[str, Any]:
    """Design parameters of a catalog chip's design point."""
    k = load_constants()
    pts = k.design_points
    key = chip_id if chip_id in pts else catalog.accelerator(chip_id).id
    if key not in pts:
        from chipplan.errors import FieldError

        raise FieldError("design", f"no design point for {chip_id}; have {', '.join(pts)}", chip_id)
    return {p: v for p, v in pts[key].items() if p not in META}


def rederive() -> dict[str, Any]:
    """Per chip ``{id, area_mm2, derived_area_mm2, tdp_w, derived_tdp_w, peak_flops_error, ...}`` and medians."""
    k = load_constants()
    cat = catalog.load()
    rows = []
    for cid in k.design_points:
        p = point_params(cid)
        c = dz.columns(p, prefix=f"design_points.{cid}")
        d = dz.derive(c)
        money = unit_cost(c, d)
        acc = cat.accelerators[cid]
        area = acc.die_area_mm2 * acc.n_dies if acc.die_area_mm2 else None
        dv = {x: float(np.asarray(v)) for x, v in d.items()}
        peak = acc.peak_flops_per_s("bf16")
        rows.append({
            "id": cid,
            "area_mm2": area,
            "derived_area_mm2": round(dv["silicon_area_mm2"], 1),
            "area_error": None if area is None else round(dv["silicon_area_mm2"] / area - 1, 4),
            "tdp_w": acc.tdp_w,
            "derived_tdp_w": round(dv["power_full_w"], 1),
            "tdp_error": round(dv["power_full_w"] / acc.tdp_w - 1, 4) if acc.tdp_w else None,
            "peak_flops_error": round(dv["peak_bf16_flops_per_s"] / peak - 1, 4),
            "derived_peak_bf16_flops_per_s": dv["peak_bf16_flops_per_s"],
            "derived_hbm_bw_bytes_per_s": dv["hbm_bw_bytes_per_s"],
            "hbm_bw_error": round(dv["hbm_bw_bytes_per_s"] / acc.hbm_bw_bytes_per_s - 1, 4),
            "n_dies": dv["n_dies"],
            "die_area_mm2": round(dv["die_area_mm2"], 1),
            "area_breakdown_mm2": {x[5:-4]: round(v, 1) for x, v in dv.items()
                                   if x.startswith("area_") and x != "area_budget_excess_mm2"},
            "power_breakdown_w": {x[6:-2]: round(v, 1) for x, v in dv.items()
                                  if x.startswith("power_") and x not in ("power_full_w", "power_excess_w",
                                                                          "power_density_w_per_mm2")},
            "manufacturing_cost_usd": round(float(np.asarray(money["manufacturing_cost_usd"])), 0),
            "catalog_price_usd": acc.price_usd,
        })
    ae = [abs(r["area_error"]) for r in rows if r["area_error"] is not None]
    te = [abs(r["tdp_error"]) for r in rows if r["tdp_error"] is not None]
    return {"chips": rows, "median_abs_area_error": float(np.median(ae)), "median_abs_tdp_error": float(np.median(te)),
            "catalog_version": cat.version}
