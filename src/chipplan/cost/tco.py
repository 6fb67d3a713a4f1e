"""Ownership vs cloud: total cost of a server over a horizon, $/accelerator-hour, break-even, waterfall.

``tco_params`` gathers every input of one system from the catalogs (uncertain ones stay as triples);
``system_tco`` is the vectorised formula, so the same call serves a point estimate (``central_params``)
and a Monte Carlo (``uncertainty.monte_carlo``).

Owned cost over a horizon of ``years`` (per server), with the capex financed over the server's ``life``
(default 5 years, Epoch AI's lifetime for servers bought from 2023) at rate r:

- capex = server (the catalog list price where there is one, else built from parts) + network share +
  storage share;
- financing = interest paid on a loan of capex repaid in equal instalments A = capex · CRF(r, life):
  interest = A · h + B − capex, with h = min(years, life) instalments made and B the balance still owed;
- residual value = what the hardware sells for at the horizon: capex · 10^(−k · years) (k = 0.14 orders of
  magnitude a year, Epoch AI's fall in GPU value) while years < life, 0 after;
- capital = capex + financing − residual value;
- facility = $/kW-month · peak kW · 12 · years; energy = average kW(u) · PUE · hours · $/kWh;
  maintenance = fraction · server · years; staff = $/accelerator-year · accelerators · years.

Cloud cost = rate · accelerators · hours (reserved terms pay every hour; on-demand only the busy ones), from
the one cloud price table (``catalog/data/cost/cloud.yaml``) that the strategy routes read too.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chipplan.catalog.cost import CLOUD_KINDS, CLOUD_TERMS, CostCatalog, central
from chipplan.cost._arr import arr, fraction, out
from chipplan.cost.finance import capital_recovery_factor
from chipplan.cost.server import (
    average_power_w,
    default_host,
    facility_usd_per_kw_month,
    fat_tree,
    node_power_w,
    server_bom,
)
from chipplan.errors import FieldError
from chipplan.specs import Accelerator, System
from chipplan.units import HOURS_PER_YEAR

_TERM_FIELD = {"on-demand": "on_demand", "1yr": "reserved_1yr", "3yr": "reserved_3yr"}


def default_term(years: float) -> str:
    """The cloud commitment that matches a horizon: 3-yr reserved for >= 3 years, 1-yr for >= 1."""
    return "3yr" if years >= 3 else "1yr" if years >= 1 else "on-demand"


def _kind(kind: str) -> str:
    k = "neocloud" if kind == "specialist" else kind  # the older name of neoclouds
    if k not in CLOUD_KINDS:
        raise FieldError("cloud_kind", f"must be one of {', '.join(CLOUD_KINDS)}", kind)
    return k


def cloud_rate(cat: CostCatalog, accelerator_id: str, term: str, provider: str | None = None,
               kind: str = "hyperscaler") -> tuple[float, list[str]]:
    """$/accelerator-hour for ``term`` and the price rows it came from.

    With a ``provider``: its newest row quoting the term. Without: the median over the newest-dated rows
    of that ``kind`` (hyperscaler or neocloud) quoting the term.
    """
    if term not in CLOUD_TERMS:
        raise FieldError("cloud_term", f"must be one of {', '.join(CLOUD_TERMS)}", term)
    kind = _kind(kind)
    f = _TERM_FIELD[term]
    rows = {k: v for k, v in cat.cloud_prices(accelerator_id).items() if getattr(v, f) is not None}
    if provider:
        rows = {k: v for k, v in rows.items() if v.provider == provider.lower()}
        if not rows:
            have = sorted({v.provider for v in cat.cloud_prices(accelerator_id).values()})
            raise FieldError("cloud_provider", f"no {term} price for {accelerator_id}; providers with prices: "
                             f"{', '.join(have) or 'none'}", provider)
        k0 = next(iter(rows))
        return float(getattr(rows[k0], f)), [k0]
    rows = {k: v for k, v in rows.items() if v.kind == kind}
    if not rows:
        raise FieldError("cloud_price", f"no {kind} {term} price for {accelerator_id} in the catalog; "
                         "pass a price per accelerator-hour", None)
    newest = max(v.date for v in rows.values())
    pick = {k: v for k, v in rows.items() if v.date == newest}
    return float(np.median([getattr(v, f) for v in pick.values()])), sorted(pick)


def resolve_cloud_rate(cat: CostCatalog, accelerator_id: str, term: str, *, provider: str | None = None,
                       kind: str | None = None, fallback: bool = True) -> dict[str, Any]:
    """The catalog cloud price for a TCO, with the search that found it.

    ``kind`` None tries hyperscalers, then neoclouds. With ``fallback`` (a term the user did not choose),
    a term nobody quotes falls back to the next shorter one (3yr → 1yr → on-demand). Returns ``rate``
    (NaN when the catalog has no price at all), ``term``, ``kind``, ``rows`` (ids, each dated) and ``note``.
    """
    if term not in CLOUD_TERMS:
        raise FieldError("cloud_term", f"must be one of {', '.join(CLOUD_TERMS)}", term)
    kinds = [_kind(kind)] if kind else list(CLOUD_KINDS)
    order = list(CLOUD_TERMS)
    # a named provider must quote the term asked for; the catalog-wide search may fall back to shorter terms
    terms = [term] + ([t for t in reversed(order[:order.index(term)])] if fallback and not provider else [])
    for t in terms:
        for k in kinds:
            try:
                rate, rows = cloud_rate(cat, accelerator_id, t, provider, kind=k)
            except FieldError as e:
                if e.field == "cloud_provider" and t == terms[-1] and k == kinds[-1]:
                    raise
                continue
            dates = sorted({cat.cloud[r].date for r in rows if r in cat.cloud})
            note = "" if (t, k) == (term, kinds[0]) else f"no {kinds[0]} {term} price; using {k} {t}"
            return {"rate": rate, "term": t, "kind": k if not provider else cat.cloud[rows[0]].kind,
                    "rows": rows, "dates": dates, "note": note}
    return {"rate": float("nan"), "term": term, "kind": kinds[0], "rows": [], "dates": [],
            "note": f"no sourced cloud price for {accelerator_id} (the cost catalog's cloud table has no dated, "
                    f"sourced row for it); pass --cloud-price"}


def tco_params(system: System, acc: Accelerator, cat: CostCatalog, *, years: float = 3.0, utilisation: float = 1.0,
               life_years: float | None = None, cloud_term: str | None = None, cloud_provider: str | None = None,
               cloud_price: float | None = None, cloud_kind: str | None = None, facility: str = "colo",
               cluster_accelerators: int | None = None, server_price: float | None = None,
               accelerator_price: float | None = None, host: str | None = None, topology: str | None = None,
               list_price: bool = True) -> tuple[dict[str, Any], dict[str, Any]]:
    """All inputs of ``system_tco`` for one catalog system, and a record of where they came from.

    The server costs its catalog list price when it has one (``list_price``), else its parts; ``server_price``
    overrides both. Life defaults to the catalog's server life (5 years). Without a catalog cloud price the
    cloud side is NaN and ``meta['cloud_note']`` says so; owning is still costed.
    """
    years = float(arr("years", years, lo_open=True))
    fraction("utilisation", utilisation)
    term = cloud_term or default_term(years)
    if cloud_price is not None:
        found = {"rate": float(arr("cloud_price", cloud_price)), "term": term, "kind": cloud_kind or "given",
                 "rows": ["given"], "dates": [], "note": ""}
    else:
        found = resolve_cloud_rate(cat, acc.id, term, provider=cloud_provider, kind=cloud_kind,
                                   fallback=cloud_term is None)
    rate, term = found["rate"], found["term"]
    acc_price = acc.price_usd if accelerator_price is None else accelerator_price
    basis = "given" if server_price else "catalog list price" if (list_price and system.price_usd
                                                                   and accelerator_price is None) else "parts"
    override = float(server_price or (system.price_usd if basis == "catalog list price" else 0.0))
    if acc_price <= 0 and not override:
        raise FieldError("accelerator_price", f"{acc.id} has no price_usd in the catalog; pass one", acc_price)
    h = cat.host(host or default_host(system, acc), "host")
    net, fac, fin = cat.network, cat.facility, cat.finance
    n_acc = system.accelerators_per_node
    cluster = cluster_accelerators or net.default_cluster_accelerators
    if facility not in ("colo", "build"):
        raise FieldError("facility", "must be one of colo, build", facility)
    life = float(life_years or fin.server_life_years)
    p: dict[str, Any] = {
        "n_accelerators": n_acc, "accelerator_price_usd": acc_price, "node_power_w": node_power_w(system, acc, cat),
        "cpus": h.cpus, "cpu_usd": h.cpu_usd, "dram_gb": h.dram_gb, "dram_usd_per_gb": h.dram_usd_per_gb,
        "nics": h.nics, "nic_usd": h.nic_usd, "scale_up_fabric_usd": h.scale_up_fabric_usd,
        "storage_tb": h.storage_tb, "storage_usd_per_tb": h.storage_usd_per_tb, "psu_usd_per_w": h.psu_usd_per_w,
        "chassis_usd": h.chassis_usd, "integrator_margin": h.integrator_margin,
        "server_price_override_usd": override,
        "cluster_nodes": float(np.ceil(cluster / n_acc)), "nics_per_node": max(system.nics_per_node, 1),
        "switch_radix": net.switch_radix, "rail_optimised": (topology or net.topology) == "rail-optimised",
        "switch_usd": net.switch_usd, "transceiver_usd": net.transceiver_usd, "cable_usd": net.cable_usd,
        "storage_usd_per_accelerator": net.storage_usd_per_accelerator,
        "years": years, "life_years": life, "utilisation": utilisation,
        "depreciation_ooms_per_year": fin.hardware_depreciation_ooms_per_year,
        "interest_rate": fin.interest_rate, "facility_build": facility == "build",
        "colocation_usd_per_kw_month": fac.colocation_usd_per_kw_month, "build_usd_per_w": fac.build_usd_per_w,
        "build_life_years": fac.build_life_years, "build_opex_usd_per_kw_month": fac.build_opex_usd_per_kw_month,
        "pue": fac.pue, "electricity_usd_per_kwh": fac.electricity_usd_per_kwh,
        "busy_power_fraction": fac.busy_power_fraction, "idle_power_fraction": fac.idle_power_fraction,
        "maintenance_fraction_per_year": fin.maintenance_fraction_per_year,
        "staff_usd_per_accelerator_year": fin.staff_usd_per_accelerator_year,
        # no catalog price: 0 keeps the formula finite; callers blank the cloud side (meta["cloud_priced"])
        "cloud_usd_per_accelerator_hour": rate if np.isfinite(rate) else 0.0, "cloud_pays_idle": term != "on-demand",
    }
    meta = {"system": system.id, "accelerator": acc.id, "cloud_term": term, "cloud_price_rows": found["rows"],
            "cloud_kind": found["kind"], "cloud_priced": bool(np.isfinite(rate)),
            "cloud_price_dates": found["dates"], "cloud_note": found["note"],
            "life_years": life, "server_price_basis": basis,
            "catalog_list_price_usd": system.price_usd or None,
            "host_profile": host or default_host(system, acc), "facility": facility,
            "cluster_accelerators": cluster, "topology": topology or net.topology}
    return p, meta


def system_tco(*, n_accelerators: Any, accelerator_price_usd: Any, node_power_w: Any, cpus: Any, cpu_usd: Any,
               dram_gb: Any, dram_usd_per_gb: Any, nics: Any, nic_usd: Any, scale_up_fabric_usd: Any,
               storage_tb: Any, storage_usd_per_tb: Any, psu_usd_per_w: Any, chassis_usd: Any,
               integrator_margin: Any, server_price_override_usd: Any, cluster_nodes: Any, nics_per_node: Any,
               switch_radix: Any, rail_optimised: bool, switch_usd: Any, transceiver_usd: Any, cable_usd: Any,
               storage_usd_per_accelerator: Any, years: Any, life_years: Any, utilisation: Any, interest_rate: Any,
               depreciation_ooms_per_year: Any,
               facility_build: bool, colocation_usd_per_kw_month: Any, build_usd_per_w: Any,
               build_life_years: Any, build_opex_usd_per_kw_month: Any, pue: Any, electricity_usd_per_kwh: Any,
               busy_power_fraction: Any, idle_power_fraction: Any, maintenance_fraction_per_year: Any,
               staff_usd_per_accelerator_year: Any, cloud_usd_per_accelerator_hour: Any,
               cloud_pays_idle: bool) -> dict[str, Any]:
    """Owned vs cloud cost of one server over ``years`` (see the module docstring). All arrays broadcast."""
    bom = server_bom(n_accelerators=n_accelerators, accelerator_price_usd=accelerator_price_usd,
                     node_power_w=node_power_w, cpus=cpus, cpu_usd=cpu_usd, dram_gb=dram_gb,
                     dram_usd_per_gb=dram_usd_per_gb, nics=nics, nic_usd=nic_usd,
                     scale_up_fabric_usd=scale_up_fabric_usd, storage_tb=storage_tb,
                     storage_usd_per_tb=storage_usd_per_tb, psu_usd_per_w=psu_usd_per_w, chassis_usd=chassis_usd,
                     integrator_margin=integrator_margin)
    override = arr("server_price", server_price_override_usd)
    server = np.where(override > 0, override, bom["server_price_usd"])
    n = arr("n_accelerators", n_accelerators, lo_open=True)
    # network: the switch count depends only on cluster shape, so one fat-tree sizing serves every draw
    nodes = arr("cluster_nodes", cluster_nodes, lo_open=True)
    nics_pn = arr("nics_per_node", nics_per_node, lo_open=True)
    tree = fat_tree(nodes if rail_optimised else nodes * nics_pn, switch_radix)
    mult = nics_pn if rail_optimised else 1.0
    sw, links = np.asarray(tree["switches"]) * mult, np.asarray(tree["links"]) * mult
    network_cluster = (sw * arr("switch_usd", switch_usd) + 2 * links * arr("transceiver_usd", transceiver_usd)
                       + links * arr("cable_usd", cable_usd))
    network = network_cluster / nodes
    storage = n * arr("storage_usd_per_accelerator", storage_usd_per_accelerator)
    capex = server + network + storage

    yrs = arr("years", years, lo_open=True)
    hours = yrs * HOURS_PER_YEAR
    u = fraction("utilisation", utilisation)
    fin = financing(capex, interest_rate=interest_rate, life_years=life_years, years=yrs,
                    depreciation_ooms_per_year=depreciation_ooms_per_year)
    capital = capex + fin["interest_usd"] - fin["residual_value_usd"]
    kw_month = np.where(
        facility_build,
        facility_usd_per_kw_month(mode="build", build_usd_per_w=build_usd_per_w, build_life_years=build_life_years,
                                  build_opex_usd_per_kw_month=build_opex_usd_per_kw_month,
                                  interest_rate=interest_rate),
        facility_usd_per_kw_month(mode="colo", colocation_usd_per_kw_month=colocation_usd_per_kw_month))
    p_w = arr("node_power_w", node_power_w)
    fac = kw_month * p_w / 1e3 * 12 * yrs
    price_kwh = arr("electricity_usd_per_kwh", electricity_usd_per_kwh)
    pue_ = arr("pue", pue, lo=1.0)

    def energy_at(util: Any) -> np.ndarray:
        avg = np.asarray(average_power_w(p_w, util, busy_power_fraction, idle_power_fraction))
        return avg / 1e3 * pue_ * hours * price_kwh

    energy = energy_at(u)
    maint = arr("maintenance_fraction_per_year", maintenance_fraction_per_year) * server * yrs
    staff = arr("staff_usd_per_accelerator_year", staff_usd_per_accelerator_year) * n * yrs
    owned = capital + fac + energy + maint + staff
    rate = arr("cloud_usd_per_accelerator_hour", cloud_usd_per_accelerator_hour)
    paid_hours = hours if cloud_pays_idle else hours * u
    cloud = rate * n * paid_hours

    # break-even utilisation against paying the cloud rate for busy hours only:
    # fixed + slope·u = rate·n·hours·u, with energy split into its idle floor and busy slope
    e0, e1 = energy_at(0.0), energy_at(1.0)
    fixed = capital + fac + maint + staff + e0
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = rate * n * hours - (e1 - e0)
        u_star = np.where(denom > 0, fixed / denom, np.inf)
        # break-even horizon on cash (capex up front, no financing): capex / (cloud/h − owned running/h)
        run_h = (fac + energy + maint + staff) / hours
        cloud_h = cloud / hours
        t_star = np.where(cloud_h > run_h, capex / (cloud_h - run_h) / HOURS_PER_YEAR, np.inf)
    used = n * hours * u
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = owned / cloud
    list_diff = np.where(override > 0, server - bom["server_price_usd"], 0.0)
    return {
        "server_capex_usd": out(server), "server_parts_price_usd": out(bom["server_price_usd"]),
        "network_share_usd": out(network), "storage_share_usd": out(storage),
        "capex_usd": out(capex), "network_cluster_usd": out(network_cluster),
        "accelerators_usd": out(bom["accelerators_usd"]), "host_parts_usd": out(bom["host_parts_usd"]),
        "integrator_margin_usd": out(bom["integrator_margin_usd"]), "list_price_difference_usd": out(list_diff),
        "financing_usd": out(fin["interest_usd"]), "residual_value_usd": out(fin["residual_value_usd"]),
        "residual_value_fraction": out(fin["residual_value_fraction"]),
        "loan_balance_usd": out(fin["balance_usd"]), "capital_usd": out(capital), "facility_usd": out(fac),
        "energy_usd": out(energy), "maintenance_usd": out(maint), "staff_usd": out(staff),
        "owned_total_usd": out(owned), "cloud_total_usd": out(cloud),
        "owned_usd_per_accelerator_hour": out(owned / used), "cloud_usd_per_accelerator_hour": out(cloud / used),
        "owned_to_cloud_ratio": out(ratio), "breakeven_utilisation": out(u_star),
        "breakeven_years": out(t_star), "hours": out(hours), "accelerator_hours_used": out(used),
    }


def resale_fraction(age_years: Any, life_years: Any, depreciation_ooms_per_year: Any) -> Any:
    """Resale value of hardware of a given age, as a fraction of its price: 10^(−k · age) while
    age < life, 0 from the end of its life (scrapped). k = 0.14 orders of magnitude a year is Epoch AI's fall
    in ML GPU value with price-performance (training-cost-trends, 2024): 0.38 after 3 years, 0.20 after 5.

    >>> round(float(resale_fraction(3, 5, 0.14)), 3)
    0.38
    """
    age = arr("age_years", age_years)
    life = arr("life_years", life_years, lo_open=True)
    k = arr("depreciation_ooms_per_year", depreciation_ooms_per_year)
    return out(np.where(age < life, 10.0 ** (-k * age), 0.0))


def financing(capex_usd: Any, *, interest_rate: Any, life_years: Any, years: Any,
              depreciation_ooms_per_year: Any) -> dict[str, Any]:
    """Loan and resale of hardware bought for ``capex_usd`` and used ``years``.

    The capex is borrowed at ``interest_rate`` and repaid in equal yearly instalments A = capex · CRF(r, life).
    After h = min(years, life) instalments the balance owed is B = capex·(1+r)^h − A·((1+r)^h − 1)/r
    (B = capex·(1 − h/life) at r = 0), so the interest paid in the horizon is A·h + B − capex. The hardware
    sells for ``resale_fraction(years, life)`` of its price at the horizon.
    """
    c = arr("capex_usd", capex_usd)
    r = arr("interest_rate", interest_rate)
    life = arr("life_years", life_years, lo_open=True)
    yrs = arr("years", years, lo_open=True)
    a = c * np.asarray(capital_recovery_factor(r, life))
    h = np.minimum(yrs, life)
    g = np.expm1(h * np.log1p(r))  # (1+r)^h − 1
    with np.errstate(divide="ignore", invalid="ignore"):
        annuity_sum = np.where(r > 0, g / np.where(r > 0, r, 1.0), h)
    balance = np.maximum(c * (g + 1.0) - a * annuity_sum, 0.0)
    frac = np.asarray(resale_fraction(yrs, life, depreciation_ooms_per_year))
    return {"instalment_usd": out(a), "interest_usd": out(a * h + balance - c), "balance_usd": out(balance),
            "residual_value_usd": out(c * frac), "residual_value_fraction": out(frac * np.ones_like(c))}


WATERFALL = (("accelerators", "accelerators_usd", 1), ("host parts", "host_parts_usd", 1),
             ("integrator margin", "integrator_margin_usd", 1), ("list price vs parts", "list_price_difference_usd", 1),
             ("network share", "network_share_usd", 1), ("storage share", "storage_share_usd", 1),
             ("financing", "financing_usd", 1), ("residual value", "residual_value_usd", -1),
             ("facility", "facility_usd", 1), ("energy", "energy_usd", 1), ("maintenance", "maintenance_usd", 1),
             ("staff", "staff_usd", 1))


def waterfall(res: dict[str, Any]) -> list[tuple[str, float, float]]:
    """Owned cost as (step, amount, running total), ending with the owned total and the cloud figure."""
    rows, run = [], 0.0
    for label, key, sign in WATERFALL:
        v = sign * float(res[key])
        run += v
        rows.append((label, v, run))
    rows.append(("owned total", float(res["owned_total_usd"]), float(res["owned_total_usd"])))
    if res.get("cloud_total_usd") is not None:
        rows.append(("cloud total", float(res["cloud_total_usd"]), float(res["cloud_total_usd"])))
    return rows


def custom_server_requirements(*, host_parts_usd: Any, integrator_margin: Any = 0.0, target_server_usd: Any = 100e3,
                               n_accelerators: Any = 8, gross_margin: Any = 0.0, nre_usd: Any = 0.0,
                               volume_units: Any = None, manufacturing_cost_usd: Any = None,
                               alternative_server_usd: Any = None) -> dict[str, Any]:
    """What a custom n-accelerator server under ``target_server_usd`` asks of its chip.

    max accelerator price = (target / (1 + integrator margin) − host parts) / n;
    max unit cost (incl. NRE share) = max price · (1 − chip gross margin);
    given a volume: max manufacturing cost = max unit cost − NRE / volume;
    given a manufacturing cost: min volume = NRE / (max unit cost − manufacturing cost) (inf if none works);
    given an alternative server price: servers (at target price) whose savings repay the NRE.
    """
    target = arr("target_server_usd", target_server_usd, lo_open=True)
    n = arr("n_accelerators", n_accelerators, lo_open=True)
    host = arr("host_parts_usd", host_parts_usd)
    m_int = arr("integrator_margin", integrator_margin, hi=1.0, hi_open=True)
    m_chip = arr("gross_margin", gross_margin, hi=1.0, hi_open=True)
    nre = arr("nre_usd", nre_usd)
    max_price = (target / (1 + m_int) - host) / n
    max_unit = max_price * (1 - m_chip)
    res: dict[str, Any] = {"max_accelerator_price_usd": out(max_price), "max_unit_cost_usd": out(max_unit),
                           "feasible": bool(np.all(max_price > 0))}
    if volume_units is not None:
        res["max_manufacturing_cost_usd"] = out(max_unit - nre / arr("volume_units", volume_units, lo_open=True))
    if manufacturing_cost_usd is not None:
        headroom = max_unit - arr("manufacturing_cost_usd", manufacturing_cost_usd)
        with np.errstate(divide="ignore"):
            res["min_volume_units"] = out(np.where(headroom > 0, nre / headroom, np.inf))
    if alternative_server_usd is not None:
        saving = arr("alternative_server_usd", alternative_server_usd) - target
        with np.errstate(divide="ignore"):
            res["servers_to_recover_nre"] = out(np.where(saving > 0, nre / saving, np.inf))
    return res


def owned_rate(system: System, acc: Accelerator, cat: CostCatalog, **kw: Any) -> float:
    """Owned $/accelerator-hour of a catalog system at its central parameters (for cost per token)."""
    from chipplan.cost.uncertainty import central_params

    p, _ = tco_params(system, acc, cat, **kw)
    return float(system_tco(**central_params(p))["owned_usd_per_accelerator_hour"])


__all__ = ["central", "cloud_rate", "custom_server_requirements", "default_term", "financing", "owned_rate",
           "resale_fraction", "resolve_cloud_rate", "system_tco", "tco_params", "waterfall"]
