"""Unit cost of designs and the owned cost of their servers, from the cost engine (``chipplan.cost``).

Per design: known-good-die cost of the compute dies (``cost.silicon.die_cost`` at the node's wafer price and
D0, with partial-good harvesting when ``cores_enabled < cores`` and spare cores on wafer-scale parts via
``redundant_yield``), base dies at their node, then ``package_cost`` with the HBM stacks and the packaging the
die split implies (CoWoS-S, CoWoS-L, flip-chip or wafer-scale), then NRE / volume. The server around
``accelerators`` of them and its cost of ownership are ``cost.tco.system_tco`` with the cost catalog's host,
network, facility and finance data. Every call is vectorised over designs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from chipplan.catalog.cost import CostCatalog, central
from chipplan.catalog.cost import load as load_cost
from chipplan.codesign.constants import Constants
from chipplan.codesign.constants import load as load_constants
from chipplan.cost import silicon
from chipplan.cost.tco import system_tco, tco_params
from chipplan.cost.uncertainty import central_params
from chipplan.specs import Accelerator, System


@dataclass(frozen=True, kw_only=True)
class Economics:
    """Money assumptions of a sweep (the cost catalog fills what is not given)."""

    gross_margin: float = 0.0          # 0: the design is bought at cost (in-house or partner at cost-plus 0)
    volume_units: float | None = None  # lifetime units the NRE is spread over; None: cost catalog default
    nre_usd: float | None = None       # design NRE; None: the node's design NRE from the cost catalog
    accelerators_per_server: int = 8
    host: str = "generic-8acc"
    years: float = 3.0
    utilisation: float = 1.0
    cluster_accelerators: int | None = None


def _node_arrays(k: Constants, cat: CostCatalog) -> dict[str, np.ndarray]:
    wafer, d0, nre = [], [], []
    for name in k.nodes.names:
        node = cat.node(cat.node_name(name, "node"), "node")
        wafer.append(central(node.wafer_price_usd))
        d0.append(central(node.defect_density_per_cm2))
        nre.append(central(node.design_nre_usd))
    return {"wafer": np.array(wafer), "d0": np.array(d0), "nre": np.array(nre)}


def _hbm_usd_per_gb(k: Constants, cat: CostCatalog) -> np.ndarray:
    """$/GB of each HBM generation (a stack costs $/GB × its capacity, as the cost catalog prices it)."""
    out = []
    for name in k.hbm.names:
        if name == "none":
            out.append(0.0)
            continue
        out.append(central(cat.hbm_generation(name, "hbm_generation").usd_per_gb))
    return np.array(out)


def unit_cost(c: dict[str, Any], d: dict[str, Any], econ: Economics | None = None, *,
              k: Constants | None = None, cat: CostCatalog | None = None) -> dict[str, np.ndarray]:
    """Manufacturing cost, NRE per unit, unit cost and price of designs (USD, arrays)."""
    econ = econ or Economics()
    k = k or load_constants()
    cat = cat or load_cost()
    na = _node_arrays(k, cat)
    dflt = cat.chip_defaults
    g = cat.wafer
    node, bnode = c["node_code"], c["base_node_code"]
    ws = np.asarray(c["wafer_scale"]) > 0
    dies = d["n_dies"]
    die = d["die_area_mm2"]
    alpha = central(dflt.alpha)
    # Partial-good dies: the product needs cores_enabled of cores; the cores cover the compute share of a die.
    cores_die = c["cores"] / dies
    need_die = d["cores_enabled_eff"] / dies
    core_frac = np.clip((d["area_matrix_mm2"] + d["area_core_mm2"] + d["area_local_sram_mm2"]) / dies / die,
                        0.0, 0.999)
    # A wafer-scale part routes around bad cores and its fabric is itself redundant (cost catalog chip_defaults).
    core_frac = np.where(ws, dflt.wafer_scale_unit_area_fraction, core_frac)
    harvest = (need_die < cores_die) | ws
    y = np.asarray(silicon.die_yield(np.where(ws, 1.0, die), na["d0"][node], "negative-binomial", alpha))
    y = np.broadcast_to(y, np.shape(die)).copy()
    if np.any(harvest):
        h = np.flatnonzero(np.ravel(harvest))
        take = lambda a: np.ravel(np.broadcast_to(a, np.shape(die)))[h]  # noqa: E731
        y_h = silicon.redundant_yield(take(die), take(na["d0"][node]), n_units=np.round(take(cores_die)),
                                      n_required=np.ceil(take(need_die)), unit_area_fraction=take(core_frac),
                                      alpha=alpha)
        y.ravel()[h] = np.maximum(np.asarray(y_h), 1e-300)
    wafer = na["wafer"][node]
    probe = central(cat.test.wafer_probe_usd_per_die)
    safe_die = np.where(ws, 100.0, die)
    kgd = np.asarray(silicon.die_cost(safe_die, wafer, na["d0"][node], alpha=alpha, wafer_diameter_mm=g.diameter_mm,
                                      edge_exclusion_mm=g.edge_exclusion_mm, scribe_mm=g.scribe_mm,
                                      probe_usd_per_die=probe, yield_override=y)["cost_per_good_die_usd"])
    kgd = np.where(ws, wafer / y + probe / y, kgd)
    has_base = np.asarray(c["base_dies"]) > 0
    bdie = np.where(has_base, d["base_die_area_mm2"], 100.0)
    kgd_base = np.asarray(silicon.die_cost(bdie, na["wafer"][bnode], na["d0"][bnode], alpha=alpha,
                                           wafer_diameter_mm=g.diameter_mm, edge_exclusion_mm=g.edge_exclusion_mm,
                                           scribe_mm=g.scribe_mm, probe_usd_per_die=probe)["cost_per_good_die_usd"])
    logic = kgd * dies + np.where(has_base, kgd_base * c["base_dies"], 0.0)
    n_parts = dies + np.where(has_base, c["base_dies"], 0.0)
    stacks = np.where(np.asarray(c["hbm_stacks"]) > 0, c["hbm_stacks"], 0.0)
    gen = c["hbm_generation_code"]
    stack_gib = np.where(np.asarray(c["hbm_stack_gib"]) > 0, c["hbm_stack_gib"], k.hbm.cols["stack_gib"][gen])
    stack_gb = stack_gib * 2.0**30 / 1e9
    pk = {name: cat.packaging_kind(name, "packaging") for name in ("fcbga", "cowos-s", "cowos-l", "wafer-scale")}
    split = (dies > 1) | has_base
    pkg_usd = np.where(ws, central(pk["wafer-scale"].cost_usd),
                       np.where(split, central(pk["cowos-l"].cost_usd),
                                np.where(stacks > 0, central(pk["cowos-s"].cost_usd), central(pk["fcbga"].cost_usd))))
    bond = np.where(ws, pk["wafer-scale"].bond_yield_per_die, np.where(split, pk["cowos-l"].bond_yield_per_die,
                    np.where(stacks > 0, pk["cowos-s"].bond_yield_per_die, pk["fcbga"].bond_yield_per_die)))
    # package_cost counts each logic die once; pass the per-part average KGD with the part count.
    pkg = silicon.package_cost(kgd_cost_usd=logic / n_parts, n_dies=n_parts, hbm_stacks=stacks,
                               hbm_stack_usd=_hbm_usd_per_gb(k, cat)[c["hbm_generation_code"]] * stack_gb,
                               packaging_usd=pkg_usd, bond_yield_per_die=bond,
                               final_test_usd=central(cat.test.final_test_usd))
    nre = na["nre"][node] if econ.nre_usd is None else np.full(np.shape(die), float(econ.nre_usd))
    vol = econ.volume_units or dflt.volume_units
    nre_u = np.asarray(silicon.nre_per_unit(nre, vol))
    manuf = np.asarray(pkg["manufacturing_cost_usd"])
    unit = manuf + nre_u
    return {"die_yield": y, "logic_dies_usd": logic, "hbm_usd": np.asarray(pkg["hbm_usd"]) * np.ones_like(unit),
            "packaging_usd": pkg_usd * np.ones_like(unit), "manufacturing_cost_usd": manuf,
            "nre_usd": nre * np.ones_like(unit), "nre_per_unit_usd": nre_u, "unit_cost_usd": unit,
            "price_usd": np.asarray(silicon.price_from_cost(unit, econ.gross_margin))}


_REF_ACC = Accelerator(id="design", family="custom", peak_bf16_flops_per_s=1e15, hbm_bytes=1e11,
                       hbm_bw_bytes_per_s=1e12, scale_up_bw_bytes_per_s=1e11, scale_out_bw_bytes_per_s=5e10,
                       tdp_w=1000.0, price_usd=1.0)


def server_economics(price_usd: Any, tdp_w: Any, econ: Economics | None = None, *,
                     cat: CostCatalog | None = None) -> dict[str, np.ndarray]:
    """Server price and owned $/accelerator-hour for servers of ``accelerators_per_server`` accelerators at
    ``price_usd`` and ``tdp_w`` each (arrays), from ``cost.tco.system_tco`` at the catalog's central values."""
    econ = econ or Economics()
    cat = cat or load_cost()
    n = econ.accelerators_per_server
    system = System(id="design-server", accelerator="design", accelerators_per_node=n, scale_up_domain=n,
                    nics_per_node=n)
    p, _ = tco_params(system, _REF_ACC, cat, years=econ.years, utilisation=econ.utilisation, cloud_price=0.0,
                      host=econ.host, cluster_accelerators=econ.cluster_accelerators)
    p = central_params(p)
    p["accelerator_price_usd"] = np.asarray(price_usd, dtype=float)
    p["node_power_w"] = n * np.asarray(tdp_w, dtype=float) * cat.facility.server_power_factor
    r = system_tco(**p)
    return {"server_price_usd": np.asarray(r["server_capex_usd"]) * np.ones(np.shape(price_usd)),
            "owned_usd_per_accelerator_hour": np.asarray(r["owned_usd_per_accelerator_hour"])
            * np.ones(np.shape(price_usd))}
