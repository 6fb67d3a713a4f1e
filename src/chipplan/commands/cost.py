"""``chipplan cost die|chip|server|cluster|tco|cost-per-token|custom-server``, ``chipplan tco`` and
``chipplan cost-per-token``.

Stable JSON contracts (scripts rely on them):
``cost die --json`` has at least gross_dies_per_wafer, yield, good_dies_per_wafer, cost_per_good_die_usd;
``tco --json`` has at least server_capex_usd, owned_total_usd, cloud_total_usd,
owned_usd_per_accelerator_hour, cloud_usd_per_accelerator_hour, breakeven_utilisation.
"""

from __future__ import annotations

import math
from typing import Any

import typer

from chipplan import catalog
from chipplan.catalog import cost as cost_catalog
from chipplan.commands._common import (
    Output,
    as_flags,
    format_option,
    handle_errors,
    json_option,
    output_format,
    print_json,
    table,
)
from chipplan.cost import server as srv
from chipplan.cost import silicon as si
from chipplan.cost import tco as tc
from chipplan.cost import uncertainty as unc
from chipplan.errors import FieldError

cost_app = typer.Typer(help="Cost from wafer to token: dies, chips, servers, clusters, TCO, $ per token.",
                       no_args_is_help=True)

JSON_OPT = json_option()
FORMAT_OPT = format_option()
SAMPLES_OPT = typer.Option(0, "--samples", help="Monte Carlo draws over the catalog's p5/p50/p95 ranges (0 = off).")
SEED_OPT = typer.Option(0, "--seed", help="Random seed for --samples.")


def _nonneg(flag: str, v: float | None) -> None:
    if v is not None and not (math.isfinite(v) and v >= 0):
        raise FieldError(flag, "must be a number >= 0", v)


def _pos(flag: str, v: float | None) -> None:
    if v is not None and not (math.isfinite(v) and v > 0):
        raise FieldError(flag, "must be a number > 0", v)


def _frac(flag: str, v: float | None) -> None:
    if v is not None and not 0 < v <= 1:
        raise FieldError(flag, "must be in (0, 1]", v)


def _margin(flag: str, v: float | None) -> None:
    if v is not None and not 0 <= v < 1:
        raise FieldError(flag, "must be in [0, 1)", v)


def _harvest(units: int, required: int, frac: float) -> tuple[float, float, float] | None:
    if not units:
        return None
    if units < 1 or not 1 <= required <= units:
        raise FieldError("--units-required", f"must be between 1 and --units ({units})", required)
    if not 0 <= frac <= 1:
        raise FieldError("--unit-fraction", "must be in [0, 1]", frac)
    return float(units), float(required), float(frac)


def _bands_table(out: Output, title: str, bands: dict[str, dict[str, float]]) -> None:
    rows = [[k, b["p5"], b["p50"], b["p95"]] for k, b in bands.items()]
    out.add(table(title, ["quantity", "p5", "p50", "p95"], rows))


_DIE_FLAGS = {"die_area_mm2": "--area-mm2", "wafer_price_usd": "--wafer-price",
              "defect_density_per_cm2": "--defect-density", "alpha": "--alpha", "critical_layers": "--layers",
              "yield_model": "--yield-model", "wafer_diameter_mm": "--wafer-diameter",
              "edge_exclusion_mm": "--edge-exclusion", "scribe_mm": "--scribe", "yield": "--yield",
              "node": "--node", "n_required": "--units-required", "unit_area_fraction": "--unit-fraction",
              "n_units": "--units"}


@cost_app.command("die")
@handle_errors
def die_command(
    area_mm2: float = typer.Option(..., "--area-mm2", help="Silicon area in mm² (split evenly over --dies)."),
    node: str = typer.Option("N5", "--node", help="Process node (N28, N16, N10, N7, N5, N4, N3, N2 or an alias)."),
    defect_density: float = typer.Option(None, "--defect-density", help="D0 in defects/cm² (default: the node's)."),
    yield_model: str = typer.Option(None, "--yield-model", help=f"One of {', '.join(si.YIELD_MODELS)} (default: "
                                    "the catalog's chip_defaults, negative-binomial)."),
    alpha: float = typer.Option(None, "--alpha", help="Negative-binomial clustering parameter (default: the "
                                "catalog's, 10)."),
    layers: float = typer.Option(None, "--layers", help="Critical layers for the Bose-Einstein model (default: the "
                                 "catalog's, 10)."),
    wafer_price: float = typer.Option(None, "--wafer-price", help="USD per wafer (default: the node's p50)."),
    wafer_diameter: float = typer.Option(None, "--wafer-diameter", help="Wafer diameter, mm (default 300)."),
    edge_exclusion: float = typer.Option(None, "--edge-exclusion", help="Edge exclusion, mm."),
    scribe: float = typer.Option(None, "--scribe", help="Scribe line width, mm."),
    dies: int = typer.Option(1, "--dies", help="Split the area over this many dies (multi-die package)."),
    wafer_scale: bool = typer.Option(False, "--wafer-scale", help="One stitched die on the whole wafer."),
    yield_: float = typer.Option(None, "--yield", help="Use this die yield in (0, 1] instead of a model."),
    units: int = typer.Option(0, "--units", help="Redundancy: identical units (SMs, cores) on the die."),
    units_required: int = typer.Option(0, "--units-required", help="Redundancy: units that must work."),
    unit_fraction: float = typer.Option(0.0, "--unit-fraction", help="Redundancy: share of area in units."),
    fmt_: str | None = FORMAT_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Dies per wafer, yield and cost of one known-good die."""
    cat = cost_catalog.load()
    g = cat.wafer
    cd = cat.chip_defaults
    yield_model = cd.yield_model if yield_model is None else yield_model
    alpha = cd.alpha if alpha is None else alpha
    layers = cd.critical_layers if layers is None else layers
    for flag, v in (("--wafer-price", wafer_price), ("--defect-density", defect_density),
                    ("--edge-exclusion", edge_exclusion), ("--scribe", scribe)):
        _nonneg(flag, v)
    _pos("--area-mm2", area_mm2)
    _pos("--wafer-diameter", wafer_diameter)
    _frac("--yield", yield_)
    if dies < 1:
        raise FieldError("--dies", "must be a positive integer", dies)
    if yield_model not in si.YIELD_MODELS:
        raise FieldError("--yield-model", f"must be one of {', '.join(si.YIELD_MODELS)}", yield_model)
    with as_flags(**_DIE_FLAGS):
        name = cat.node_name(node, "--node")
        nd = cat.node(name)
        d = g.diameter_mm if wafer_diameter is None else wafer_diameter
        e = g.edge_exclusion_mm if edge_exclusion is None else edge_exclusion
        s = g.scribe_mm if scribe is None else scribe
        per_die = area_mm2 / dies
        si.check_die_area(per_die, n_dies=dies, wafer_scale=wafer_scale, reticle_limit_mm2=g.reticle_limit_mm2,
                          wafer_diameter_mm=d, edge_exclusion_mm=e, field="--area-mm2")
        d0 = cost_catalog.central(nd.defect_density_per_cm2) if defect_density is None else defect_density
        w = cost_catalog.central(nd.wafer_price_usd) if wafer_price is None else wafer_price
        hv = _harvest(units, units_required, unit_fraction)
        y = yield_
        if y is None and (hv or wafer_scale):
            n_u, n_r, f = hv or (1.0, 1.0, 0.0)
            y = si.redundant_yield(per_die, d0, n_units=n_u, n_required=n_r, unit_area_fraction=f,
                                   model=yield_model, alpha=alpha, critical_layers=layers)
        if wafer_scale:
            if not y or y <= 0:
                raise FieldError("--units", "a wafer-scale die yields nothing without redundancy; "
                                 "give --units, --units-required and --unit-fraction", units)
            r = si.wafer_scale_die_cost(w, y, cat.test.wafer_probe_usd_per_die)
        else:
            r = si.die_cost(per_die, w, d0, model=yield_model, alpha=alpha, critical_layers=layers,
                            wafer_diameter_mm=d, edge_exclusion_mm=e, scribe_mm=s, yield_override=y,
                            probe_usd_per_die=cat.test.wafer_probe_usd_per_die)
    res = {**r, "node": name, "die_area_mm2": per_die, "dies": dies, "wafer_price_usd": w,
           "defect_density_per_cm2": d0, "yield_model": "given" if yield_ is not None else yield_model,
           "alpha": alpha, "wafer_diameter_mm": d, "edge_exclusion_mm": e, "scribe_mm": s,
           "classic_dies_per_wafer": si.classic_dies_per_wafer(per_die, d) if not wafer_scale else 1.0,
           "silicon_cost_per_package_usd": r["cost_per_good_die_usd"] * dies, "wafer_scale": wafer_scale,
           "reticle_limit_mm2": g.reticle_limit_mm2}
    out = Output(output_format(fmt_, as_json))
    if out.fmt == "json":
        print_json(res)
        return
    rows = [["node", name], ["die area", f"{per_die:g} mm²" + (f" × {dies} dies" if dies > 1 else "")],
            ["wafer price", w], ["D0 (/cm²)", d0], ["yield model", res["yield_model"]],
            ["gross dies per wafer", int(r["gross_dies_per_wafer"])],
            ["classic formula (no scribe/edge)", res["classic_dies_per_wafer"]], ["yield", r["yield"]],
            ["good dies per wafer", r["good_dies_per_wafer"]], ["raw die cost", r["raw_die_cost_usd"]],
            ["cost per good die", r["cost_per_good_die_usd"]],
            ["silicon per package", res["silicon_cost_per_package_usd"]]]
    out.add(table("Die cost (USD)", ["quantity", "value"], rows))
    out.print()


_CHIP_FLAGS = {"die_area_mm2": "--area-mm2", "wafer_price_usd": "--wafer-price",
               "defect_density_per_cm2": "--defect-density", "hbm_stack_usd": "--hbm-price",
               "packaging_usd": "--packaging-price", "final_test_usd": "--test-price", "nre_usd": "--nre",
               "volume_units": "--volume", "gross_margin": "--margin", "node": "--node",
               "hbm_generation": "--hbm-generation", "packaging": "--packaging", "process_node": "--accelerator"}


@cost_app.command("chip")
@handle_errors
def chip_command(
    accelerator: str = typer.Option(None, "--accelerator", help="Catalog accelerator id (e.g. h100-sxm-80gb)."),
    area_mm2: float = typer.Option(None, "--area-mm2", help="Logic die area, mm² per die."),
    node: str = typer.Option(None, "--node", help="Process node."),
    dies: int = typer.Option(None, "--dies", help="Logic dies per package."),
    hbm_stacks: int = typer.Option(None, "--hbm-stacks", help="HBM stacks per package."),
    hbm_generation: str = typer.Option(None, "--hbm-generation", help="HBM2e, HBM3, HBM3e or HBM4."),
    packaging: str = typer.Option(None, "--packaging", help="fcbga, info, cowos-s, cowos-l or wafer-scale."),
    wafer_scale: bool = typer.Option(False, "--wafer-scale", help="A wafer-scale part."),
    wafer_price: float = typer.Option(None, "--wafer-price", help="USD per wafer."),
    defect_density: float = typer.Option(None, "--defect-density", help="D0, defects/cm²."),
    hbm_price: float = typer.Option(None, "--hbm-price", help="USD per HBM stack."),
    packaging_price: float = typer.Option(None, "--packaging-price", help="USD per package."),
    test_price: float = typer.Option(None, "--test-price", help="USD of final test per package."),
    nre: float = typer.Option(None, "--nre", help="Design NRE, USD (default: the node's)."),
    volume: float = typer.Option(None, "--volume", help="Lifetime units the NRE is spread over."),
    margin: float = typer.Option(None, "--margin", help="Gross margin in [0, 1) from cost to price."),
    units: int = typer.Option(0, "--units", help="Redundancy: identical units on a die."),
    units_required: int = typer.Option(0, "--units-required", help="Redundancy: units that must work."),
    unit_fraction: float = typer.Option(0.0, "--unit-fraction", help="Redundancy: share of die area in units."),
    samples: int = SAMPLES_OPT,
    seed: int = SEED_OPT,
    fmt_: str | None = FORMAT_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Manufacturing cost, NRE per unit and price of one accelerator package."""
    cat = cost_catalog.load()
    for flag, v in (("--wafer-price", wafer_price), ("--defect-density", defect_density), ("--hbm-price", hbm_price),
                    ("--packaging-price", packaging_price), ("--test-price", test_price), ("--nre", nre)):
        _nonneg(flag, v)
    _pos("--volume", volume)
    _pos("--area-mm2", area_mm2)
    _margin("--margin", margin)
    with as_flags(**_CHIP_FLAGS):
        if accelerator:
            base = si.recipe_for(catalog.accelerator(accelerator), cat)
        elif area_mm2 is None or node is None:
            raise FieldError("--accelerator", "give a catalog accelerator, or --area-mm2 and --node")
        else:
            base = si.ChipRecipe(die_area_mm2=area_mm2, node=node)
        kw = {"die_area_mm2": area_mm2, "node": node, "n_dies": dies, "hbm_stacks": hbm_stacks,
              "hbm_generation": hbm_generation, "packaging": packaging}
        upd = {k: v for k, v in kw.items() if v is not None}
        if wafer_scale:
            upd.update(wafer_scale=True, packaging=packaging or "wafer-scale")
        if upd.get("n_dies", 1) < 1 or upd.get("hbm_stacks", 0) < 0:
            raise FieldError("--dies" if upd.get("n_dies", 1) < 1 else "--hbm-stacks", "must be >= 0 (dies >= 1)")
        recipe = si.ChipRecipe(**{**base.__dict__, **upd})
        if recipe.node:
            recipe = si.ChipRecipe(**{**recipe.__dict__, "node": cat.node_name(recipe.node, "--node")})
        over = {k: v for k, v in {"wafer_price_usd": wafer_price, "defect_density_per_cm2": defect_density,
                                  "hbm_stack_usd": hbm_price, "packaging_usd": packaging_price,
                                  "final_test_usd": test_price, "nre_usd": nre, "volume_units": volume,
                                  "gross_margin": margin}.items() if v is not None}
        hv = _harvest(units, units_required, unit_fraction)
        r = si.chip_cost(recipe, cat, overrides=over, harvest=hv)
        bands = None
        if samples:
            params = {**si.chip_params(recipe, cat), **over}
            bands = unc.monte_carlo(lambda **p: si.chip_cost(recipe, cat, overrides=p, harvest=hv), params, n=samples,
                                    seed=seed, outputs=("die_cost_per_good_die_usd", "manufacturing_cost_usd",
                                                        "unit_cost_usd", "price_usd"))
    res = {**r, "recipe": recipe.__dict__, "accelerator": accelerator}
    if bands:
        res["uncertainty"] = {"samples": samples, "seed": seed, "bands": bands}
    out = Output(output_format(fmt_, as_json))
    if out.fmt == "json":
        print_json(res)
        return
    rows = [["logic dies", r["logic_dies_usd"]], ["HBM", r["hbm_usd"]], ["packaging", r["packaging_usd"]],
            ["assembly scrap", r["assembly_scrap_usd"]], ["test", r["test_usd"]],
            ["manufacturing cost", r["manufacturing_cost_usd"]], ["NRE per unit", r["nre_per_unit_usd"]],
            ["unit cost", r["unit_cost_usd"]], [f"price at {r['gross_margin']:.0%} margin", r["price_usd"]]]
    hbm = (f"{recipe.hbm_stacks} × {recipe.hbm_generation}"
           + (f" ({recipe.hbm_gb_per_stack:g} GB each)" if recipe.hbm_gb_per_stack else ""))
    hv_ = r.get("harvest")
    harvest_note = (f", {hv_['units_enabled']:g} of {hv_['units']:g} units enabled (harvested)" if hv_ else "")
    title = (f"Accelerator cost (USD): {recipe.n_dies} × {recipe.die_area_mm2:g} mm² {recipe.node}, "
             f"{hbm}, {recipe.packaging}{harvest_note}")
    out.add(table(title, ["item", "USD"], rows))
    if bands:
        _bands_table(out, f"Uncertainty ({samples} draws, seed {seed})", bands)
    out.print()


def _system(system: str) -> tuple[Any, Any]:
    """A catalog system and its accelerator. Systems are looked up first, so a rack whose id is also its
    accelerator's (gb200-nvl72) resolves to the rack."""
    from chipplan.errors import UnknownIdError

    try:
        sys_ = catalog.system(system)
        return sys_, catalog.accelerator(sys_.accelerator)
    except UnknownIdError:
        pass
    with as_flags():
        acc, sys_ = catalog.hardware(system)
    if sys_ is None:
        raise FieldError("--system", "is an accelerator id; give a system id (e.g. dgx-h100)", system)
    return sys_, acc


@cost_app.command("server")
@handle_errors
def server_command(
    system: str = typer.Option(..., "--system", help="Catalog system id (e.g. dgx-h100)."),
    accelerator_price: float = typer.Option(None, "--accelerator-price", help="USD per accelerator."),
    host: str = typer.Option(None, "--host", help="Host parts profile (hgx-8gpu, generic-8acc)."),
    fmt_: str | None = FORMAT_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Server bill of materials built from parts."""
    _nonneg("--accelerator-price", accelerator_price)
    cat = cost_catalog.load()
    sys_, acc = _system(system)
    price = acc.price_usd if accelerator_price is None else accelerator_price
    hname = host or srv.default_host(sys_, acc)
    with as_flags("host", accelerator_price_usd="--accelerator-price"):
        hp = srv.host_params(cat.host(hname, "--host"))
        r = srv.server_bom(n_accelerators=sys_.accelerators_per_node, accelerator_price_usd=price,
                           node_power_w=srv.node_power_w(sys_, acc, cat), **hp)
    res = {**r, "system": sys_.id, "accelerator": acc.id, "host_profile": hname,
           "catalog_list_price_usd": sys_.price_usd or None, "node_power_w": srv.node_power_w(sys_, acc, cat)}
    out = Output(output_format(fmt_, as_json))
    if out.fmt == "json":
        print_json(res)
        return
    keys = ["accelerators_usd", "cpus_usd", "dram_usd", "nics_usd", "scale_up_fabric_usd", "storage_usd",
            "power_supplies_usd", "chassis_usd", "parts_usd", "integrator_margin_usd", "server_price_usd"]
    rows = [[k.removesuffix("_usd").replace("_", " "), r[k]] for k in keys]
    if sys_.price_usd:
        rows.append(["catalog list price", sys_.price_usd])
    out.add(table(f"{sys_.name or sys_.id} bill of materials (USD)", ["item", "USD"], rows))
    out.print()


@cost_app.command("cluster")
@handle_errors
def cluster_command(
    system: str = typer.Option(..., "--system", help="Catalog system id."),
    accelerators: int = typer.Option(1024, "--accelerators", help="Accelerators in the cluster."),
    topology: str = typer.Option(None, "--topology", help="rail-optimised or fat-tree."),
    radix: int = typer.Option(None, "--radix", help="Switch ports (default 64)."),
    accelerator_price: float = typer.Option(None, "--accelerator-price", help="USD per accelerator."),
    fmt_: str | None = FORMAT_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Cluster capex: servers, scale-out network, storage, facility."""
    _pos("--accelerators", accelerators)
    _nonneg("--accelerator-price", accelerator_price)
    if radix is not None and radix < 2:
        raise FieldError("--radix", "must be an integer >= 2", radix)
    cat = cost_catalog.load()
    sys_, acc = _system(system)
    price = acc.price_usd if accelerator_price is None else accelerator_price
    with as_flags("topology"):
        hp = srv.host_params(cat.host(srv.default_host(sys_, acc)))
        pw = srv.node_power_w(sys_, acc, cat)
        bom = srv.server_bom(n_accelerators=sys_.accelerators_per_node, accelerator_price_usd=price,
                             node_power_w=pw, **hp)
        r = srv.cluster_cost(n_accelerators=accelerators, accelerators_per_node=sys_.accelerators_per_node,
                             nics_per_node=sys_.nics_per_node, server_price_usd=bom["server_price_usd"],
                             node_power_w=pw, cat=cat, topology=topology, radix=radix)
    res = {**r, "system": sys_.id, "accelerators": accelerators, "topology": topology or cat.network.topology,
           "radix": radix or cat.network.switch_radix, "server_price_usd": bom["server_price_usd"]}
    out = Output(output_format(fmt_, as_json))
    if out.fmt == "json":
        print_json(res)
        return
    rows = [["nodes", int(r["nodes"])], ["fabric tiers", int(r["tiers"])], ["switches", int(r["switches"])],
            ["links", int(r["links"])], ["servers", r["servers_usd"]], ["switches $", r["switches_usd"]],
            ["optics", r["optics_usd"]], ["cables", r["cables_usd"]], ["storage", r["storage_usd"]],
            ["hardware total", r["hardware_usd"]], ["network share of hardware", r["network_share_of_hardware"]],
            ["IT power (MW)", r["it_power_mw"]], ["facility build capex", r["facility_capex_usd"]],
            ["total capex", r["total_capex_usd"]]]
    out.add(table(f"Cluster of {accelerators} × {acc.id} ({res['topology']}, radix {res['radix']})",
                  ["item", "value"], rows))
    out.print()


_CLOUD_FIELDS = ("cloud_total_usd", "cloud_usd_per_accelerator_hour", "owned_to_cloud_ratio",
                 "breakeven_utilisation", "breakeven_years")


@handle_errors
def tco_command(
    system: str = typer.Option(..., "--system", help="Catalog system id (e.g. dgx-h100, gb200-nvl72)."),
    years: float = typer.Option(3.0, "--years", help="Horizon in years."),
    utilisation: float = typer.Option(1.0, "--utilisation", help="Busy fraction of hours, (0, 1]."),
    cloud_term: str = typer.Option(None, "--cloud-term", help="on-demand, 1yr or 3yr (default: matches --years, "
                                   "else the longest term the catalog quotes)."),
    cloud_kind: str = typer.Option(None, "--cloud-kind", help="hyperscaler or neocloud (default: hyperscaler, "
                                   "else neocloud)."),
    cloud_provider: str = typer.Option(None, "--cloud-provider", help="aws, gcp, azure, lambda, ... "
                                       "(default: median of the newest rows of --cloud-kind)."),
    cloud_price: float = typer.Option(None, "--cloud-price", help="USD per accelerator-hour instead of the table."),
    facility: str = typer.Option("colo", "--facility", help="colo (rent space) or build (own facility)."),
    server_price: float = typer.Option(None, "--server-price", help="USD per server (default: the catalog list "
                                       "price, else parts)."),
    parts_price: bool = typer.Option(False, "--parts-price", help="Cost the server from parts even when the "
                                     "catalog has a list price."),
    accelerator_price: float = typer.Option(None, "--accelerator-price", help="USD per accelerator (prices the "
                                            "server from parts)."),
    life_years: float = typer.Option(None, "--life-years", help="Server life for financing and resale "
                                     "(default: the catalog's 5 years)."),
    interest: float = typer.Option(None, "--interest", help="Cost of capital per year (e.g. 0.08)."),
    pue: float = typer.Option(None, "--pue", help="Power usage effectiveness, >= 1."),
    electricity: float = typer.Option(None, "--electricity", help="USD per kWh."),
    cluster_accelerators: int = typer.Option(None, "--cluster-accelerators",
                                             help="Cluster size for the network share (default 1024)."),
    samples: int = SAMPLES_OPT,
    seed: int = SEED_OPT,
    fmt_: str | None = FORMAT_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Own vs rent: total cost, $/accelerator-hour, break-even utilisation and horizon, cost waterfall.

    Owning counts financing over the server's life and the resale value at the horizon; renting uses the
    newest dated price of the catalog's one cloud table."""
    from chipplan import api

    out = Output(output_format(fmt_, as_json))
    with as_flags("years", "utilisation", "cloud_term", "cloud_kind", "cloud_provider", "cloud_price", "facility",
                  "server_price", "accelerator_price", "life_years", "interest", "pue", "electricity",
                  "cluster_accelerators", "samples", "seed", "host", system="--system"):
        res = api.tco(system, years=years, utilisation=utilisation, cloud_term=cloud_term, cloud_kind=cloud_kind,
                      cloud_provider=cloud_provider, cloud_price=cloud_price, facility=facility,
                      server_price=server_price, parts_price=parts_price, accelerator_price=accelerator_price,
                      life_years=life_years, interest=interest, pue=pue, electricity=electricity,
                      cluster_accelerators=cluster_accelerators, samples=samples, seed=seed).data
    if out.fmt == "json":
        print_json(res)
        return
    sys_, acc = _system(system)
    r, meta = res, res
    bands = (res.get("uncertainty") or {}).get("bands")
    n = sys_.accelerators_per_node
    na = "—"
    basis = meta["server_price_basis"]
    cloud_label = (f"cloud total ({meta['cloud_kind']} {meta['cloud_term']}, {', '.join(meta['cloud_price_dates'])})"
                   if meta["cloud_priced"] else "cloud total")
    head = [[f"server capex ({basis})", r["server_capex_usd"]],
            ["server from parts", r["server_parts_price_usd"]],
            ["catalog list price", sys_.price_usd or na],
            ["owned total", r["owned_total_usd"]], [cloud_label, na if r["cloud_total_usd"] is None
                                                    else r["cloud_total_usd"]],
            ["owned $/accelerator-hour", r["owned_usd_per_accelerator_hour"]],
            ["cloud $/accelerator-hour", r["cloud_usd_per_accelerator_hour"] or na],
            ["owned / cloud", r["owned_to_cloud_ratio"] or na],
            ["break-even utilisation", na if r["breakeven_utilisation"] is None else r["breakeven_utilisation"]],
            ["break-even horizon (years)", na if r["breakeven_years"] is None else r["breakeven_years"]]]
    life = meta["life_years"]
    title = (f"TCO of one {sys_.name or sys_.id} ({n} × {acc.id}) over {years:g} years at {utilisation:.0%} "
             f"utilisation; {life:g}-year life, resale {r['residual_value_fraction']:.0%} of capex at the horizon")
    out.add(table(title, ["quantity", "value"], head))
    if meta["cloud_note"]:
        out.note(f"cloud price: {meta['cloud_note']}")
    out.add(table("Cost waterfall (USD)", ["step", "amount", "running total"],
                  [[w["step"], w["usd"], w["running_usd"]] for w in res["waterfall"]]))
    if bands:
        _bands_table(out, f"Uncertainty ({samples} draws, seed {seed})", bands)
    out.print()


@handle_errors
def cost_per_token_command(
    tokens_per_s_per_gpu: float = typer.Option(None, "--tokens-per-s-per-gpu",
                                               help="Tokens per second per accelerator at the SLO."),
    price_per_hour: float = typer.Option(None, "--price-per-hour", help="USD per accelerator-hour (rent)."),
    system: str = typer.Option(None, "--system", help="Price from owning this catalog system instead."),
    years: float = typer.Option(3.0, "--years", help="Ownership horizon with --system."),
    utilisation: float = typer.Option(1.0, "--utilisation", help="Busy fraction of paid hours, (0, 1]."),
    counting: str = typer.Option("output", "--counting", help="Which tokens the throughput counts: output or "
                                 "input+output."),
    model: str = typer.Option(None, "--model", help="Model id: throughput from the inference engine."),
    hardware: str = typer.Option(None, "--hardware", help="Hardware id for the inference engine (default: the "
                                 "--system's accelerator)."),
    input_len: int = typer.Option(2048, "--input-len", help="Prompt tokens per request (with --model)."),
    output_len: int = typer.Option(512, "--output-len", help="Generated tokens per request (with --model)."),
    slo_ttft_ms: float = typer.Option(None, "--slo-ttft-ms", help="p99 time-to-first-token limit (with --model)."),
    slo_tpot_ms: float = typer.Option(None, "--slo-tpot-ms", help="p99 time-per-output-token limit (with --model)."),
    fmt_: str | None = FORMAT_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """USD per million tokens from throughput (given, or from the inference engine) and an hourly price."""
    from chipplan import api
    from chipplan.commands._common import band

    out = Output(output_format(fmt_, as_json))
    with as_flags("price_per_hour", "system", "years", "utilisation", "counting", "model", "hardware",
                  "input_len", "output_len", "slo_ttft_ms", "slo_tpot_ms",
                  tokens_per_s_per_accelerator="--tokens-per-s-per-gpu"):
        res = api.cost_per_token(tokens_per_s_per_accelerator=tokens_per_s_per_gpu, price_per_hour=price_per_hour,
                                 system=system, years=years, utilisation=utilisation, counting=counting,
                                 model=model, hardware=hardware, input_len=input_len, output_len=output_len,
                                 slo_ttft_ms=slo_ttft_ms, slo_tpot_ms=slo_tpot_ms).data
    if out.fmt == "json":
        print_json(res)
        return
    rows = [["USD per accelerator-hour", res["usd_per_accelerator_hour"], None],
            ["tokens/s per accelerator", res["tokens_per_s_per_accelerator"],
             band(res, "tokens_per_s_per_accelerator")],
            ["utilisation", res["utilisation"], None],
            [f"USD per million {counting} tokens", res["usd_per_million_tokens"], band(res, "usd_per_million_tokens")]]
    out.add(table("Cost per token", ["quantity", "value", "80 % interval"], rows))
    out.note(f"price: {res['price_source']}; throughput: {res['throughput_source']}")
    c = res.get("configuration")
    if c:
        out.note(f"configuration behind the number: {c['precision']} tp={c['tp']} pp={c['pp']} ep={c['ep']} "
                 f"batch={c['batch']} ({c['accelerators_per_replica']} accelerators per replica), p99 TTFT "
                 f"{c['ttft_p99_ms']:.0f} ms, TPOT {c['tpot_ms']:.1f} ms"
                 + ("" if slo_ttft_ms or slo_tpot_ms else "; no SLO given, so the fastest configuration (set "
                    "--slo-tpot-ms / --slo-ttft-ms to price a latency target)"))
    out.print()


cost_app.command("tco")(tco_command)
cost_app.command("cost-per-token")(cost_per_token_command)


@cost_app.command("custom-server")
@handle_errors
def custom_server_command(
    target: float = typer.Option(100e3, "--target", help="Server price to reach, USD."),
    accelerators: int = typer.Option(8, "--accelerators", help="Accelerators per server."),
    host: str = typer.Option("generic-8acc", "--host", help="Host parts profile."),
    node_power_kw: float = typer.Option(10.2, "--node-power-kw", help="Server power for PSU sizing."),
    nre: float = typer.Option(None, "--nre", help="Chip design NRE, USD (default: the node's)."),
    node: str = typer.Option("N4", "--node", help="Process node for the default NRE."),
    volume: float = typer.Option(None, "--volume", help="Lifetime accelerators to spread NRE over."),
    manufacturing_cost: float = typer.Option(None, "--manufacturing-cost", help="Chip manufacturing cost, USD."),
    margin: float = typer.Option(0.0, "--margin", help="Chip gross margin in [0, 1) (0 = in-house)."),
    alternative: float = typer.Option(None, "--alternative", help="Price of the server it replaces, USD."),
    fmt_: str | None = FORMAT_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """What a custom n-accelerator server under a target price requires of chip cost, volume and NRE."""
    _pos("--target", target)
    _pos("--accelerators", accelerators)
    _nonneg("--nre", nre)
    _pos("--volume", volume)
    _nonneg("--manufacturing-cost", manufacturing_cost)
    _nonneg("--alternative", alternative)
    _margin("--margin", margin)
    cat = cost_catalog.load()
    with as_flags("host", "node"):
        hp = srv.host_params(cat.host(host, "--host"))
        n_nre = cost_catalog.central(cat.node(node, "--node").design_nre_usd) if nre is None else nre
    bom = srv.server_bom(n_accelerators=accelerators, accelerator_price_usd=0.0, node_power_w=node_power_kw * 1e3,
                         **hp)
    r = tc.custom_server_requirements(host_parts_usd=bom["host_parts_usd"], integrator_margin=hp["integrator_margin"],
                                      target_server_usd=target, n_accelerators=accelerators, gross_margin=margin,
                                      nre_usd=n_nre, volume_units=volume, manufacturing_cost_usd=manufacturing_cost,
                                      alternative_server_usd=alternative)
    res = {**r, "host_parts_usd": bom["host_parts_usd"], "nre_usd": n_nre, "target_server_usd": target}
    out = Output(output_format(fmt_, as_json))
    if out.fmt == "json":
        print_json(res)
        return
    out.add(table(f"Custom {accelerators}-accelerator server under ${target:,.0f}", ["quantity", "value"],
                  [[k, v] for k, v in res.items()]))
    out.print()
