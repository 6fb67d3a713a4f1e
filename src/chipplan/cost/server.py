"""Servers, cluster networks, facilities and power. Vectorised; USD, W, kW, hours.

Sources for the formulas: reference/cost_parameters.md §3 (ASIC Clouds TCO model as coded in reallm;
Epoch AI training-cost-trends); prices live in ``catalog/data/cost/server.yaml`` and ``facility.yaml``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chipplan.catalog.cost import CostCatalog, HostBom, central
from chipplan.cost._arr import arr, fraction, out
from chipplan.errors import FieldError
from chipplan.specs import Accelerator, System
from chipplan.units import HOURS_PER_YEAR

TOPOLOGIES = ("fat-tree", "rail-optimised")


# ---------------------------------------------------------------------------------------------- server
def host_params(host: HostBom) -> dict[str, Any]:
    """Central values of a host profile, as keyword arguments of ``server_bom``."""
    return {
        "cpus": host.cpus, "cpu_usd": central(host.cpu_usd), "dram_gb": host.dram_gb,
        "dram_usd_per_gb": central(host.dram_usd_per_gb), "nics": host.nics, "nic_usd": central(host.nic_usd),
        "scale_up_fabric_usd": central(host.scale_up_fabric_usd), "storage_tb": host.storage_tb,
        "storage_usd_per_tb": central(host.storage_usd_per_tb), "psu_usd_per_w": central(host.psu_usd_per_w),
        "chassis_usd": central(host.chassis_usd), "integrator_margin": central(host.integrator_margin),
    }


def server_bom(*, n_accelerators: Any, accelerator_price_usd: Any, node_power_w: Any, cpus: Any, cpu_usd: Any,
               dram_gb: Any, dram_usd_per_gb: Any, nics: Any, nic_usd: Any, scale_up_fabric_usd: Any,
               storage_tb: Any, storage_usd_per_tb: Any, psu_usd_per_w: Any, chassis_usd: Any,
               integrator_margin: Any) -> dict[str, Any]:
    """Bill of materials of one server node and its price.

    parts = accelerators + CPUs + DRAM + NICs + scale-up fabric + NVMe + PSUs ($/W × node power) + chassis;
    price = parts · (1 + integrator margin) (margin charged on the whole box, as an OEM does).
    """
    lines = {
        "accelerators_usd": arr("n_accelerators", n_accelerators, lo_open=True)
        * arr("accelerator_price_usd", accelerator_price_usd),
        "cpus_usd": arr("cpus", cpus) * arr("cpu_usd", cpu_usd),
        "dram_usd": arr("dram_gb", dram_gb) * arr("dram_usd_per_gb", dram_usd_per_gb),
        "nics_usd": arr("nics", nics) * arr("nic_usd", nic_usd),
        "scale_up_fabric_usd": arr("scale_up_fabric_usd", scale_up_fabric_usd),
        "storage_usd": arr("storage_tb", storage_tb) * arr("storage_usd_per_tb", storage_usd_per_tb),
        "power_supplies_usd": arr("psu_usd_per_w", psu_usd_per_w) * arr("node_power_w", node_power_w),
        "chassis_usd": arr("chassis_usd", chassis_usd),
    }
    parts = sum(lines.values())
    host = parts - lines["accelerators_usd"]
    m = arr("integrator_margin", integrator_margin, hi=1.0, hi_open=True)
    margin = parts * m
    return {**{k: out(v) for k, v in lines.items()}, "host_parts_usd": out(host), "parts_usd": out(parts),
            "integrator_margin_usd": out(margin), "server_price_usd": out(parts + margin)}


def node_power_w(system: System, acc: Accelerator, cat: CostCatalog) -> float:
    """Node power at full load: the system's own figure, else accelerators × TDP × Epoch's
    chip-to-server factor (1.82 for H100: (10.2/8)/0.7)."""
    if system.node_power_w > 0:
        return system.node_power_w
    if acc.tdp_w <= 0:
        raise FieldError(f"systems.{system.id}.node_power_kw", "costing needs node power or accelerator TDP", 0)
    return system.accelerators_per_node * acc.tdp_w * cat.facility.server_power_factor


def default_host(system: System, acc: Accelerator) -> str:
    """Host profile for a system: HGX-class for NVIDIA 8-GPU nodes, else a lean generic host."""
    return "hgx-8gpu" if acc.vendor.upper() == "NVIDIA" and system.accelerators_per_node == 8 else "generic-8acc"


# ---------------------------------------------------------------------------------------------- network
def fat_tree(n_endpoints: Any, radix: Any) -> dict[str, Any]:
    """Non-blocking folded-Clos (fat-tree) sized for ``n_endpoints`` with switches of ``radix`` ports.

    A t-tier tree of radix k reaches 2·(k/2)^t endpoints (k for one tier, k²/2 for two, k³/4 for three).
    Each lower tier has ⌈2N/k⌉ switches (half their ports down), the top tier ⌈N/k⌉; every tier
    boundary carries N links, so links = t·N (endpoint links included).
    """
    n = arr("n_endpoints", n_endpoints, lo_open=True)
    k = arr("switch_radix", radix, lo=2.0)
    n = np.ceil(n)
    tiers = np.ones_like(n * k)
    for _ in range(6):  # 2·(k/2)^7 exceeds any real cluster
        cap = np.where(tiers == 1, k, 2 * (k / 2) ** tiers)
        tiers = np.where(cap < n, tiers + 1, tiers)
    lower = np.ceil(2 * n / k)
    switches = np.where(tiers == 1, 1.0, (tiers - 1) * lower + np.ceil(n / k))
    return {"tiers": out(tiers), "switches": out(switches), "links": out(tiers * n)}


def network_cost(*, n_nodes: Any, nics_per_node: Any, radix: Any, switch_usd: Any, transceiver_usd: Any,
                 cable_usd: Any, topology: str = "rail-optimised") -> dict[str, Any]:
    """Scale-out fabric for ``n_nodes`` servers with ``nics_per_node`` NICs each.

    ``fat-tree``: one tree over all NIC ports. ``rail-optimised``: NIC i of every node joins rail i, one
    tree per rail over ``n_nodes`` endpoints (fewer tiers while a rail fits a switch). Each link has an
    optical transceiver at both ends and one cable.
    """
    nodes = arr("n_nodes", n_nodes, lo_open=True)
    nics = arr("nics_per_node", nics_per_node, lo_open=True)
    if topology == "fat-tree":
        t = fat_tree(nodes * nics, radix)
        mult = 1.0
    elif topology == "rail-optimised":
        t = fat_tree(nodes, radix)
        mult = nics
    else:
        raise FieldError("topology", f"must be one of {', '.join(TOPOLOGIES)}", topology)
    switches = np.asarray(t["switches"]) * mult
    links = np.asarray(t["links"]) * mult
    sw = switches * arr("switch_usd", switch_usd)
    optics = 2 * links * arr("transceiver_usd", transceiver_usd)
    cables = links * arr("cable_usd", cable_usd)
    total = sw + optics + cables
    return {"tiers": t["tiers"], "switches": out(switches), "links": out(links), "transceivers": out(2 * links),
            "switches_usd": out(sw), "optics_usd": out(optics), "cables_usd": out(cables),
            "network_usd": out(total), "network_usd_per_node": out(total / nodes)}


# ---------------------------------------------------------------------------------------------- power
def average_power_w(peak_power_w: Any, utilisation: Any, busy_fraction: Any, idle_fraction: Any) -> Any:
    """Mean draw of a server busy a fraction u of the time: P·(u·busy + (1−u)·idle).

    The two fractions are the catalog's (``catalog/data/cost/facility.yaml``: ``busy_power_fraction``, from Epoch
    AI's training-server measurement, and ``idle_power_fraction``, an estimate), passed in by ``chipplan.cost.tco``.

    >>> average_power_w(10_200.0, 0.5, 0.75, 0.30)
    5355.0
    """
    p = arr("node_power_w", peak_power_w)
    u = arr("utilisation", utilisation, hi=1.0)
    b = fraction("busy_power_fraction", busy_fraction)
    i = fraction("idle_power_fraction", idle_fraction)
    return out(p * (u * b + (1 - u) * i))


def energy_cost(avg_it_power_w: Any, hours: Any, pue: Any, electricity_usd_per_kwh: Any) -> Any:
    """Electricity bill: IT kW × PUE × hours × $/kWh (PUE >= 1 covers cooling and distribution)."""
    p = arr("it_power_w", avg_it_power_w)
    pue_ = arr("pue", pue, lo=1.0)
    return out(p / 1e3 * pue_ * arr("hours", hours) * arr("electricity_usd_per_kwh", electricity_usd_per_kwh))


def facility_usd_per_kw_month(*, mode: str, colocation_usd_per_kw_month: Any = 0.0, build_usd_per_w: Any = 0.0,
                              build_life_years: Any = 15.0, build_opex_usd_per_kw_month: Any = 0.0,
                              interest_rate: Any = 0.08) -> Any:
    """Facility cost per kW of IT capacity per month.

    ``colo``: the colocation rent. ``build``: capex $/W × 1000 × CRF(r, life)/12 + operating cost
    (the capital-recovery form of the ASIC Clouds model's DC amortisation plus interest).
    """
    from chipplan.cost.finance import capital_recovery_factor

    if mode == "colo":
        return out(arr("colocation_usd_per_kw_month", colocation_usd_per_kw_month))
    if mode == "build":
        capex = arr("build_usd_per_w", build_usd_per_w) * 1e3
        crf = np.asarray(capital_recovery_factor(interest_rate, build_life_years))
        return out(capex * crf / 12 + arr("build_opex_usd_per_kw_month", build_opex_usd_per_kw_month))
    raise FieldError("facility", "must be one of colo, build", mode)


def facility_capex(it_power_w: Any, build_usd_per_w: Any) -> Any:
    """Up-front cost to build a facility for ``it_power_w`` of critical IT load."""
    return out(arr("it_power_w", it_power_w) * arr("build_usd_per_w", build_usd_per_w))


def cluster_cost(*, n_accelerators: Any, accelerators_per_node: int, nics_per_node: int, server_price_usd: Any,
                 node_power_w: Any, cat: CostCatalog, topology: str | None = None,
                 radix: int | None = None) -> dict[str, Any]:
    """Capex of a cluster: servers, scale-out network, shared storage, and the facility to house it."""
    n = arr("accelerators", n_accelerators, lo_open=True)
    nodes = np.ceil(n / accelerators_per_node)
    net = cat.network
    nw = network_cost(n_nodes=nodes, nics_per_node=max(nics_per_node, 1), radix=radix or net.switch_radix,
                      switch_usd=central(net.switch_usd), transceiver_usd=central(net.transceiver_usd),
                      cable_usd=central(net.cable_usd), topology=topology or net.topology)
    servers = nodes * arr("server_price_usd", server_price_usd)
    storage = nodes * accelerators_per_node * central(net.storage_usd_per_accelerator)
    it_w = nodes * arr("node_power_w", node_power_w)
    fac = np.asarray(facility_capex(it_w, central(cat.facility.build_usd_per_w)))
    hw = servers + np.asarray(nw["network_usd"]) + storage
    return {"nodes": out(nodes), **nw, "servers_usd": out(servers), "storage_usd": out(storage),
            "hardware_usd": out(hw), "network_share_of_hardware": out(np.asarray(nw["network_usd"]) / hw),
            "it_power_mw": out(it_w / 1e6), "facility_capex_usd": out(fac), "total_capex_usd": out(hw + fac),
            "hours_per_year": HOURS_PER_YEAR}
