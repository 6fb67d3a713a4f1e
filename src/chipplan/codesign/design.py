"""A parametric accelerator: physical parameters → peaks, memory, links, die area, power and unit cost.

Every function takes columns (numpy arrays that broadcast, one entry per design) and returns columns, so one
design and ten million designs run the same code. Constants come from ``catalog/data/codesign.yaml``
(``chipplan.codesign.constants``); money comes from the cost engine (``chipplan.cost.silicon``).

Area (mm²) is a sum of blocks, each scaled from N7 to the design's node by the right factor:

* matrix units ``cores · macs_per_core · a_mac · (1 + Σ precision modes) / s_logic``;
* the fixed per-core block of the core class (schedulers, vector lanes, load/store) ``/ s_logic``;
* core-local SRAM (register files, L1, scratchpads) and the global cache at the SRAM class density
  ``× bitcell(node)/bitcell(N7)`` (SRAM scales with the bitcell, not with logic);
* on-chip network ``noc_fraction`` of the above (GA100: 12.8 %);
* HBM PHYs (fixed, they do not shrink) and controllers (scale with logic), SerDes PHYs per link, PCIe lanes,
  a fixed ``other`` block;
* die-to-die PHYs when the silicon is split: shoreline ``bandwidth / (TB/s per mm) × depth`` (2.5D) or
  bonded area (3D).

``s_logic`` is the effective logic density ratio ``node / N7``. Compute blocks sit on ``dies`` compute dies;
with ``base_dies > 0`` the cache, PHYs and I/O sit on base dies of ``base_node`` (MI300X-style), otherwise they
are shared out over the compute dies. A die above the reticle (858 mm²) must be split or be wafer-scale.

Power (W) is energy per action × actions per second (Timeloop/Accelergy style) at full load:
``peak FLOP/s · e_flop(precision, node) + HBM B/s · 8 · pJ/bit + links · 8 · pJ/bit + d2d · 8 · pJ/bit +
static W/mm² · silicon``, with ``e_flop = arithmetic(N7) · datapath_overhead · energy_factor(node)``. A power
cap throttles the clock: dynamic compute power scales as ``f^dvfs_exponent``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from chipplan.codesign.constants import Constants
from chipplan.codesign.constants import load as load_constants
from chipplan.errors import FieldError
from chipplan.specs.hardware import MAX_MATRIX_UNIT_WIDTH
from chipplan.units import GIB, MIB

A = Any


@dataclass(frozen=True)
class Param:
    """One design parameter: numeric (with range) or categorical (a catalog table)."""

    name: str
    default: Any
    lo: float = 0.0
    hi: float = np.inf
    integer: bool = False
    table: str = ""  # constants table for categorical parameters
    help: str = ""


PARAMS: tuple[Param, ...] = (
    Param("node", "N5", table="nodes", help="process node of the compute dies"),
    Param("base_node", "", table="nodes", help="node of the base (I/O, cache) dies; empty: the compute node"),
    Param("core_class", "gpu-sm", table="cores", help="kind of core: gpu-sm, cdna-cu, tpu-tensorcore, ..."),
    Param("cores", 128, 1, 1e7, True, help="physical cores (SMs, CUs, tensor cores, wafer PEs)"),
    Param("cores_enabled", 0, 0, 1e7, True, help="cores the product enables (0: all)"),
    Param("macs_per_core", 1024, 1, 1e6, True, help="16-bit multiply-accumulates per core per clock"),
    Param("matrix_unit_width", 0, 0, MAX_MATRIX_UNIT_WIDTH, True,
          help="side of a systolic matrix unit in MACs (TPU MXU: 128, 256 on v6e); attention pads its head "
               "dimensions to it (0: tensor-core tiles, no padding)"),
    Param("clock_ghz", 1.5, 0.05, 6.0, help="matrix clock"),
    Param("fp8_rate", 0, 0, 8, help="FP8 throughput as a multiple of 16-bit (0: no FP8)"),
    Param("int8_rate", 0, 0, 8, help="INT8 throughput multiple (0: as FP8)"),
    Param("fp4_rate", 0, 0, 16, help="FP4 throughput multiple (0: no FP4)"),
    Param("local_sram_kib", 256, 0, 1e7, help="core-local SRAM per core (registers, L1, scratchpad), KiB"),
    Param("local_sram_class", "scratchpad", table="sram", help="density class of the core-local SRAM"),
    Param("cache_mib", 32, 0, 1e7, help="global on-chip SRAM (L2, last-level cache, shared buffer), MiB"),
    Param("cache_class", "cache", table="sram", help="density class of the global SRAM"),
    Param("hbm_generation", "HBM3e", table="hbm", help="HBM generation (none: no stacks)"),
    Param("hbm_stacks", 8, 0, 32, True, help="active HBM stacks"),
    Param("hbm_phy_sites", 0, 0, 32, True, help="HBM PHYs on the die (0: one per active stack)"),
    Param("hbm_stack_gib", 0.0, 0, 256, help="capacity per stack, GiB (0: the generation's)"),
    Param("hbm_stack_gb_per_s", 0.0, 0, 1e5, help="bandwidth per stack, GB/s (0: the generation's)"),
    Param("offchip_memory_gib", 0.0, 0, 1e8, help="external memory when there is no HBM (MemoryX, DDR), GiB"),
    Param("offchip_memory_gb_per_s", 0.0, 0, 1e6, help="its bandwidth, GB/s"),
    Param("link_type", "nvlink5", table="links", help="scale-up link kind"),
    Param("scale_up_links", 18, 0, 512, True, help="scale-up links per accelerator"),
    Param("scale_up_domain", 8, 1, 1e6, True, help="accelerators in one scale-up domain"),
    Param("scale_out_gbps", 400, 0, 1e5, help="scale-out (NIC) bandwidth per accelerator, Gb/s"),
    Param("pcie_lanes", 16, 0, 256, True, help="host PCIe lanes"),
    Param("dies", 1, 0, 64, True, help="compute dies per package (0: as many as the reticle forces)"),
    Param("base_dies", 0, 0, 64, True, help="base dies holding cache, PHYs and I/O (0: none)"),
    Param("d2d_kind", "2.5d", table="d2d", help="die-to-die interface: 2.5d or 3d"),
    Param("d2d_tb_per_s", 0.0, 0, 1e4, help="die-to-die bandwidth per compute die, TB/s (0: its HBM share)"),
    Param("wafer_scale", 0, 0, 1, True, help="1: one wafer-scale die with spare cores"),
    Param("sram_bw_tb_per_s", 0.0, 0, 1e6, help="claimed on-chip SRAM bandwidth, TB/s (claims checks)"),
    Param("power_cap_w", np.inf, 1.0, np.inf, help="power cap (TDP); the clock throttles to meet it"),
    Param("die_area_mm2", np.inf, 1.0, np.inf, help="area budget per compute die (optional)"),
    Param("family", "custom", help="efficiency family the perf engines use"),
)
PARAM = {p.name: p for p in PARAMS}


@dataclass(frozen=True)
class Cat:
    """A categorical column as a few names and an index per design (cheap to sample, store and look up)."""

    values: tuple[str, ...]
    idx: np.ndarray

    @classmethod
    def of(cls, v: Any, n: int | None = None) -> Cat:
        if isinstance(v, Cat):
            return v
        a = np.asarray(v, dtype=object)
        if a.ndim == 0:
            return cls((str(a.item()),), np.zeros(() if n is None else n, dtype=np.int32))
        uniq, inv = np.unique(a.astype(str), return_inverse=True)
        return cls(tuple(uniq), inv.astype(np.int32))

    def names(self) -> np.ndarray:
        return np.asarray(self.values, dtype=object)[self.idx]

    def __len__(self) -> int:
        return 1 if np.ndim(self.idx) == 0 else len(self.idx)

    def __getitem__(self, i: Any) -> Any:
        return self.values[int(self.idx[i])] if np.ndim(i) == 0 else Cat(self.values, self.idx[i])


def names_of(v: Any) -> np.ndarray:
    """Names of a categorical column (Cat or array)."""
    return v.names() if isinstance(v, Cat) else np.asarray(v, dtype=object)
CATEGORICAL = tuple(p.name for p in PARAMS if p.table or p.name == "family")
NUMERIC = tuple(p.name for p in PARAMS if p.name not in CATEGORICAL)


def _tables(k: Constants) -> dict[str, Any]:
    return {"nodes": k.nodes, "cores": k.cores, "sram": k.sram, "hbm": k.hbm, "links": k.links, "d2d": k.d2d}


def columns(params: dict[str, Any], *, n: int | None = None, prefix: str = "design", k: Constants | None = None
            ) -> dict[str, np.ndarray]:
    """Validate design parameters (scalars or arrays) and fill defaults. Categorical values become codes
    (``<name>_code``) next to their names. Raises FieldError naming ``prefix.<field>``."""
    from chipplan.specs import FAMILIES

    k = k or load_constants()
    unknown = set(params) - set(PARAM)
    if unknown:
        raise FieldError(f"{prefix}.{sorted(unknown)[0]}", f"unknown design parameter; allowed: {', '.join(PARAM)}")
    tabs = _tables(k)
    out: dict[str, np.ndarray] = {}
    for p in PARAMS:
        v = params.get(p.name, p.default)
        f = f"{prefix}.{p.name}"
        if p.name == "family":
            cat = Cat.of(v, n)
            bad = [x for x in cat.values if x not in FAMILIES]
            if bad:
                raise FieldError(f, f"must be one of {', '.join(FAMILIES)}", bad[0])
            out[p.name] = cat
            continue
        if p.table:
            if p.name == "base_node" and (v is None or (np.ndim(v) == 0 and not isinstance(v, Cat) and v == "")):
                v = params.get("node", PARAM["node"].default)
            if p.name == "hbm_generation" and not isinstance(v, Cat) and np.ndim(v) == 0 and v in (None, ""):
                v = "none"
            cat = Cat.of(v, n)
            out[p.name] = cat
            out[p.name + "_code"] = tabs[p.table].codes(np.asarray(cat.values, dtype=object), f)[cat.idx]
            continue
        try:
            a = np.asarray(v, dtype=float)
        except (TypeError, ValueError):
            raise FieldError(f, "must be a number", v) from None
        bad = np.isnan(a) | (a < p.lo) | (a > p.hi)
        if np.isinf(p.hi):
            bad |= np.isneginf(a)
        else:
            bad |= ~np.isfinite(a)
        if p.integer:
            bad |= np.isfinite(a) & (a != np.round(a))
        if np.any(bad):
            got = a[bad].flat[0].item() if a.ndim else a.item()
            hi = "" if np.isinf(p.hi) else f" and <= {p.hi:g}"
            what = "a whole number" if p.integer else "a number"
            raise FieldError(f, f"must be {what} >= {p.lo:g}{hi}", got)
        out[p.name] = a
    shape = np.broadcast_shapes(*(np.shape(v) for v in out.values() if not isinstance(v, Cat)),
                                *((len(v),) for v in out.values() if isinstance(v, Cat) and len(v) > 1),
                                () if n is None else (n,))
    res: dict[str, Any] = {}
    for key, v in out.items():
        if isinstance(v, Cat):
            same = (np.ndim(v.idx) == 0) if not shape else (np.ndim(v.idx) == 1 and len(v) == shape[0])
            res[key] = v if same else Cat(v.values, np.broadcast_to(np.ravel(v.idx)[:1], shape))
        else:
            res[key] = np.broadcast_to(v, shape)
    return res


def derive(c: dict[str, np.ndarray], k: Constants | None = None) -> dict[str, np.ndarray]:
    """Peaks, memory, links, area and power of designs (columns from ``columns``). See the module docstring.

    Returns SI columns: ``peak_bf16_flops_per_s`` (and fp8/int8/fp4), ``hbm_bytes``, ``hbm_bw_bytes_per_s``,
    ``sram_bytes``, ``scale_up_bw_bytes_per_s``, ``scale_out_bw_bytes_per_s``, the area blocks
    ``area_<block>_mm2``, ``die_area_mm2`` (per compute die), ``base_die_area_mm2``, ``silicon_area_mm2``,
    ``n_dies``, power blocks ``power_<block>_w``, ``power_full_w`` (at the stated clock), ``tdp_w`` (after the
    cap), ``clock_eff_ghz``, and the "≤ 0" constraint columns ``reticle_excess_mm2``, ``area_budget_excess_mm2``,
    ``power_excess_w`` and ``matrix_unit_excess_macs``.
    """
    k = k or load_constants()
    K = k.k
    nd, cr, sr, hb, lk, dd = (k.nodes.cols, k.cores.cols, k.sram.cols, k.hbm.cols, k.links.cols, k.d2d.cols)
    n7 = k.nodes.code("N7", "node")
    node, bnode = c["node_code"], c["base_node_code"]
    s_logic = nd["logic_mtr_per_mm2"][node] / nd["logic_mtr_per_mm2"][n7]
    s_sram = nd["sram_bitcell_um2"][node] / nd["sram_bitcell_um2"][n7]
    has_base = c["base_dies"] > 0
    unode = np.where(has_base, bnode, node)  # where the uncore (cache, PHYs) lives
    nd["logic_mtr_per_mm2"][unode] / nd["logic_mtr_per_mm2"][n7]
    u_sram = nd["sram_bitcell_um2"][unode] / nd["sram_bitcell_um2"][n7]

    cores = c["cores"]
    enabled = np.where(c["cores_enabled"] > 0, np.minimum(c["cores_enabled"], cores), cores)
    fp8, fp4 = c["fp8_rate"], c["fp4_rate"]
    int8 = np.where(c["int8_rate"] > 0, c["int8_rate"], fp8)
    paf = K.precision_area_factor
    prec_area = (1.0 + np.where(fp8 > 0, paf.get("fp8", 0.0), 0.0) + np.where(fp4 > 0, paf.get("fp4", 0.0), 0.0)
                 + np.where(c["int8_rate"] > 0, paf.get("int8", 0.0), 0.0))

    # --- area ----------------------------------------------------------------------------------------
    a_matrix = cores * c["macs_per_core"] * K.mac_area_mm2_n7 * prec_area / s_logic
    a_core = cores * cr["overhead_mm2_n7"][c["core_class_code"]] / s_logic
    a_local = cores * c["local_sram_kib"] / 1024.0 / sr["mib_per_mm2_n7"][c["local_sram_class_code"]] * s_sram
    a_cache = c["cache_mib"] / sr["mib_per_mm2_n7"][c["cache_class_code"]] * u_sram
    compute = a_matrix + a_core + a_local
    a_noc = K.noc_fraction * (compute + a_cache)
    gen = c["hbm_generation_code"]
    stacks = np.where(c["hbm_stacks"] > 0, c["hbm_stacks"], 0.0)
    sites = np.where(c["hbm_phy_sites"] > 0, np.maximum(c["hbm_phy_sites"], stacks), stacks)
    a_hbm_phy = sites * hb["phy_mm2"][gen]
    a_hbm_ctrl = sites * hb["controller_mtr"][gen] / nd["logic_mtr_per_mm2"][unode]
    a_links = c["scale_up_links"] * lk["phy_mm2"][c["link_type_code"]]
    a_io = c["pcie_lanes"] * K.pcie_lane_mm2 + K.other_area_mm2
    uncore = a_cache + a_hbm_phy + a_hbm_ctrl + a_links + a_io
    compute_noc = K.noc_fraction * compute
    uncore_noc = a_noc - compute_noc

    # memory and bandwidths
    stack_gib = np.where(c["hbm_stack_gib"] > 0, c["hbm_stack_gib"], hb["stack_gib"][gen])
    stack_bw = np.where(c["hbm_stack_gb_per_s"] > 0, c["hbm_stack_gb_per_s"], hb["stack_gb_per_s"][gen])
    hbm_bytes = np.where(stacks > 0, stacks * stack_gib * GIB, c["offchip_memory_gib"] * GIB)
    hbm_bw = np.where(stacks > 0, stacks * stack_bw * 1e9, c["offchip_memory_gb_per_s"] * 1e9)

    # dies: a compute-die count of 0 means "as many as the reticle forces"
    ws = c["wafer_scale"] > 0
    per_die_core = compute + compute_noc + np.where(has_base, 0.0, uncore + uncore_noc)
    auto = np.maximum(np.ceil(per_die_core / (0.95 * K.reticle_limit_mm2)), 1.0)
    dies = np.where(ws, 1.0, np.where(c["dies"] > 0, c["dies"], auto))
    split = (dies > 1) | has_base
    d2d_bw = np.where(c["d2d_tb_per_s"] > 0, c["d2d_tb_per_s"] * 1e12, hbm_bw / dies)  # per compute die, B/s
    d2d_bw = np.where(split, d2d_bw, 0.0)
    dk = c["d2d_kind_code"]
    a_d2d_die = d2d_bw / 1e12 / dd["tb_per_s_per_mm"][dk] * dd["depth_mm"][dk]
    die = per_die_core / dies + a_d2d_die
    bdies = np.maximum(c["base_dies"], 1.0)
    base_die = np.where(has_base, (uncore + uncore_noc) / bdies + a_d2d_die * dies / bdies, 0.0)
    silicon = die * dies + base_die * c["base_dies"]

    limit = np.where(ws, K.wafer_scale_max_mm2, K.reticle_limit_mm2)
    reticle_excess = np.maximum(die - limit, np.where(has_base, base_die - K.reticle_limit_mm2, -np.inf))
    budget_excess = die - c["die_area_mm2"]

    # --- power ------------------------------------------------------------------------------------------
    ar = k.arithmetic
    ef = nd["energy_factor"][node] * K.datapath_overhead * 1e-12  # J per pJ-of-N7-arithmetic
    flops16 = enabled * c["macs_per_core"] * 2.0 * c["clock_ghz"] * 1e9
    p_compute_full = flops16 * ef * np.maximum.reduce([
        np.full(np.shape(fp8), ar.bf16), fp8 * ar.fp8, fp4 * ar.fp4, int8 * ar.int8])
    p_hbm = hbm_bw * 8.0 * hb["pj_per_bit"][gen] * 1e-12 * (stacks > 0)
    up_bw = c["scale_up_links"] * lk["gb_per_s_per_direction"][c["link_type_code"]] * 1e9
    p_links = 2.0 * up_bw * 8.0 * lk["pj_per_bit"][c["link_type_code"]] * 1e-12
    p_d2d = d2d_bw * dies * 8.0 * dd["pj_per_bit"][dk] * 1e-12
    p_static = (nd["static_w_per_mm2"][node] * die * dies
                + nd["static_w_per_mm2"][unode] * base_die * c["base_dies"])
    fixed = p_hbm + p_links + p_d2d + p_static
    full = fixed + p_compute_full
    cap = c["power_cap_w"]
    room = cap - fixed
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(full <= cap, 1.0,
                         np.clip(room / p_compute_full, 0.0, 1.0) ** (1.0 / K.dvfs_exponent))
    clock = c["clock_ghz"] * scale
    p_compute = p_compute_full * scale**K.dvfs_exponent
    peak16 = flops16 * scale

    return {
        "cores_enabled_eff": enabled,
        "clock_eff_ghz": clock,
        "peak_bf16_flops_per_s": peak16,
        "peak_fp8_flops_per_s": peak16 * fp8,
        "peak_int8_flops_per_s": peak16 * int8,
        "peak_fp4_flops_per_s": peak16 * fp4,
        "hbm_bytes": hbm_bytes,
        "hbm_bw_bytes_per_s": hbm_bw,
        "sram_bytes": cores * c["local_sram_kib"] * 1024.0 + c["cache_mib"] * MIB,
        "scale_up_bw_bytes_per_s": up_bw,
        "scale_out_bw_bytes_per_s": c["scale_out_gbps"] * 1e9 / 8.0,
        "area_matrix_mm2": a_matrix,
        "area_core_mm2": a_core,
        "area_local_sram_mm2": a_local,
        "area_cache_mm2": a_cache,
        "area_noc_mm2": a_noc,
        "area_hbm_phy_mm2": a_hbm_phy + a_hbm_ctrl,
        "area_links_mm2": a_links,
        "area_io_mm2": a_io,
        "area_d2d_mm2": a_d2d_die * dies * np.where(has_base, 2.0, 1.0),
        "die_area_mm2": die,
        "base_die_area_mm2": base_die,
        "silicon_area_mm2": silicon,
        "n_dies": dies,
        "power_compute_w": p_compute,
        "power_hbm_w": p_hbm,
        "power_links_w": p_links,
        "power_d2d_w": p_d2d,
        "power_static_w": p_static,
        "power_full_w": full,
        "tdp_w": fixed + p_compute,
        "power_density_w_per_mm2": (fixed + p_compute) / silicon,
        "reticle_excess_mm2": reticle_excess,
        "area_budget_excess_mm2": budget_excess,
        "power_excess_w": fixed - cap,
        # a W x W systolic array is W² MACs of one core: a wider side than the core's MACs cannot be built
        "matrix_unit_excess_macs": c["matrix_unit_width"] ** 2 - c["macs_per_core"],
    }


def check(c: dict[str, np.ndarray], d: dict[str, np.ndarray], *, prefix: str = "design") -> None:
    """Raise a FieldError for the first physically impossible design (explicit designs, not sweeps)."""
    def first(mask: np.ndarray) -> int:
        return int(np.flatnonzero(np.ravel(mask))[0])

    bad = d["area_budget_excess_mm2"] > 0
    if np.any(bad):
        i = first(bad)
        sram = np.ravel(d["area_local_sram_mm2"] + d["area_cache_mm2"])[i] / np.ravel(d["n_dies"])[i]
        budget = np.ravel(c["die_area_mm2"])[i]
        field = "cache_mib" if sram > budget else "die_area_mm2"
        what = (f"the SRAM alone needs {sram:,.0f} mm² per die" if sram > budget
                else f"the blocks need {np.ravel(d['die_area_mm2'])[i]:,.0f} mm² per die")
        raise FieldError(f"{prefix}.{field}", f"{what}, beyond the die area budget of {budget:,.0f} mm²",
                         float(np.ravel(c[field])[i]))
    bad = d["reticle_excess_mm2"] > 0
    if np.any(bad):
        i = first(bad)
        ws = np.ravel(c["wafer_scale"])[i] > 0
        limit = "the wafer-scale maximum" if ws else "the reticle limit"
        raise FieldError(f"{prefix}.dies", f"a die of {np.ravel(d['die_area_mm2'])[i]:,.0f} mm² exceeds {limit}; "
                         "use more dies (dies: 0 picks enough), base dies or wafer_scale: 1",
                         int(np.ravel(d["n_dies"])[i]))
    bad = d["matrix_unit_excess_macs"] > 0
    if np.any(bad):
        i = first(bad)
        raise FieldError(f"{prefix}.matrix_unit_width", "a systolic array of this side needs side² MACs per core, "
                         f"more than macs_per_core ({np.ravel(c['macs_per_core'])[i]:g})",
                         int(np.ravel(c["matrix_unit_width"])[i]))
    bad = d["power_excess_w"] >= 0
    if np.any(bad):
        i = first(bad)
        fixed = np.ravel(d["power_excess_w"] + c["power_cap_w"])[i]
        raise FieldError(f"{prefix}.power_cap_w", f"memory, links and leakage alone draw {fixed:,.0f} W, above "
                         "the cap; raise the cap or cut HBM stacks, links or silicon",
                         float(np.ravel(c["power_cap_w"])[i]))


def evaluate(params: dict[str, Any], *, prefix: str = "design", strict: bool = True) -> dict[str, np.ndarray]:
    """Columns and derived quantities of designs; ``strict`` raises on impossible designs."""
    c = columns(params, prefix=prefix)
    d = derive(c)
    if strict:
        check(c, d, prefix=prefix)
    return {**c, **d}
