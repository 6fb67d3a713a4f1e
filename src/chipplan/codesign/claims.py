"""Physics checks of accelerator claims: each claim becomes a number compared with a bound.

Kinds (``kind:`` in a claims file) and the bound that decides them:

``energy_efficiency``  "N× the energy efficiency of GPU X": claimed J/FLOP = (X's TDP / peak) / N against the
                       node's digital arithmetic floor (``arithmetic_pj_per_flop_n7 × energy_factor``, no
                       operand delivery) and Landauer's kT·ln2 per bit. ≥ floor: consistent; within 10× below:
                       consistent only if weights never move (analog/in-memory); further below: inconsistent.
``compute_multiple``   "N× the compute of GPU X": the FLOP/s must fit the power budget at the node's energy
                       per FLOP (datapath included) and the area at the node's densest MAC array. Over one
                       reticle: consistent only if wafer-scale or multi-chip.
``compute_density``    FLOP/s on an area: FLOP/s per mm² against a die that is nothing but MACs at the node
                       and clock, and against the best shipped die (H100 FP8 dense, 2.43 TF/mm²).
``sram_bandwidth``     "C GB of SRAM at B PB/s": SRAM capacity against the node's densest macro area, and
                       B × 8 × pJ/bit against the power budget.
``serving``            "T tokens/s (per user) on model M with K chips": FLOP/s per chip (2 × active params per
                       token, ``perf.arithmetic``) against peak or a MAC-only die, energy against power, bytes
                       per token (weights per step, KV per token) against memory bandwidth, and weights + KV
                       against on-chip or HBM capacity (chips per model instance).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chipplan import catalog
from chipplan.catalog import pydantic_message
from chipplan.codesign.constants import load as load_constants
from chipplan.errors import InputFileError
from chipplan.perf.arithmetic import kv_cache_bytes_per_token, param_counts

K_BOLTZMANN = 1.380649e-23  # J/K, exact (SI 2019)
#: The shipped chip whose dense FP8 FLOP/s per mm² of die a compute-density claim is held against (H100 SXM on
#: GH100, 1978.9 TFLOP/s on 814 mm², 2.43 TF/mm²; both from the catalog).
DENSITY_REFERENCE = "h100-sxm-80gb"


def best_shipped_fp8_flops_per_mm2() -> float:
    """Dense FP8 FLOP/s per mm² of die of ``DENSITY_REFERENCE``, from the catalog.

    >>> round(best_shipped_fp8_flops_per_mm2() / 1e12, 2)
    2.43
    """
    acc = catalog.accelerator(DENSITY_REFERENCE)
    return float(acc.peak_fp8_flops_per_s) / float(acc.die_area_mm2)


class Claim(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    company: str
    claim: str
    source: str = Field(min_length=10)
    kind: Literal["energy_efficiency", "compute_multiple", "compute_density", "sram_bandwidth", "serving"]
    baseline: str = "h100-sxm-80gb"
    factor: float | None = Field(default=None, gt=0)
    node: str = "N5"
    precision: Literal["bf16", "fp16", "fp8", "int8", "fp4"] = "bf16"
    analog: bool = False
    flops_per_s: float | None = Field(default=None, gt=0)
    area_mm2: float | None = Field(default=None, gt=0)
    power_w: float | None = Field(default=None, gt=0)
    clock_ghz: float = Field(default=2.0, gt=0)
    sram_gb: float | None = Field(default=None, gt=0)
    sram_bw_tb_per_s: float | None = Field(default=None, gt=0)
    model: str | None = None
    tokens_per_s: float | None = Field(default=None, gt=0)
    tokens_per_s_per_user: float | None = Field(default=None, gt=0)
    chips: int | None = Field(default=None, ge=1)
    memory_gb_per_chip: float | None = Field(default=None, gt=0)
    memory_bw_tb_per_s_per_chip: float | None = Field(default=None, gt=0)
    context_tokens: int = Field(default=2048, ge=1)
    weight_bytes: float = Field(default=1.0, gt=0)
    notes: str = ""


class ClaimsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str = ""
    claims: list[Claim] = Field(min_length=1)


def _k() -> Any:
    return load_constants()


def _energy(node: str, precision: str, *, datapath: bool) -> float:
    """J per FLOP at ``node`` for ``precision``: arithmetic floor, or with the datapath overhead."""
    k = _k()
    i = k.nodes.code(node, "node")
    ar = k.arithmetic
    base = {"bf16": ar.bf16, "fp16": ar.bf16, "fp8": ar.fp8, "int8": ar.int8, "fp4": ar.fp4}[precision]
    e = base * float(k.nodes.cols["energy_factor"][i]) * 1e-12
    return e * (k.k.datapath_overhead if datapath else 1.0)


def _mac_only_flops_per_mm2(node: str, precision: str, clock_ghz: float) -> float:
    """FLOP/s per mm² of a die that is nothing but 16-bit MAC arrays at ``node`` (×2 for 8-bit, ×4 for 4-bit)."""
    k = _k()
    i = k.nodes.code(node, "node")
    n7 = k.nodes.code("N7", "node")
    s = float(k.nodes.cols["logic_mtr_per_mm2"][i] / k.nodes.cols["logic_mtr_per_mm2"][n7])
    mult = {"bf16": 1, "fp16": 1, "fp8": 2, "int8": 2, "fp4": 4}[precision]
    return 2.0 * clock_ghz * 1e9 * s / k.k.mac_area_mm2_n7 * mult


def _chip_pj(acc_id: str, precision: str) -> tuple[float, Any]:
    acc = catalog.accelerator(acc_id)
    peak = acc.peak_flops_per_s(precision if precision != "fp16" else "bf16")
    return acc.tdp_w / peak, acc


def _verdict(ok: bool, only_if: str | None, bad: bool) -> str:
    if bad:
        return "inconsistent"
    if ok:
        return "consistent"
    return f"consistent only if {only_if}"


def check(c: Claim) -> dict[str, Any]:
    """One claim → ``{id, company, claim, source, verdict, bound, detail, numbers}``."""
    k = _k()
    n: dict[str, Any] = {}
    out = {"id": c.id, "company": c.company, "claim": c.claim, "source": c.source, "kind": c.kind}
    if c.kind == "energy_efficiency":
        j_base, acc = _chip_pj(c.baseline, c.precision)
        claimed = j_base / (c.factor or 1.0)
        floor = _energy(c.node, c.precision, datapath=False)
        landauer = K_BOLTZMANN * 300 * np.log(2)
        n.update(baseline_pj_per_flop=j_base * 1e12, claimed_pj_per_flop=claimed * 1e12,
                 digital_floor_pj_per_flop=floor * 1e12, landauer_j_per_bit=landauer,
                 claimed_over_floor=claimed / floor)
        bad = claimed < 0.1 * floor and not c.analog
        ok = claimed >= floor
        verdict = _verdict(ok, f"the arithmetic is analog or in-memory with weights that never move: the claim "
                               f"needs {claimed * 1e12:.3g} pJ/FLOP, below the {floor * 1e12:.3g} pJ/FLOP of a "
                               f"digital {c.precision} multiply-add at {c.node}", bad)
        out.update(verdict=verdict, bound="energy per FLOP vs the node's arithmetic energy",
                   detail=f"{c.factor:g}x better than {acc.id} ({j_base * 1e12:.2f} pJ/FLOP chip-level) = "
                          f"{claimed * 1e12:.3g} pJ/FLOP; digital floor {floor * 1e12:.3g} pJ/FLOP "
                          f"({claimed / floor:.2g}x of it); Landauer {landauer:.2e} J/bit")
    elif c.kind == "compute_multiple":
        acc = catalog.accelerator(c.baseline)
        flops = acc.peak_flops_per_s(c.precision if c.precision != "fp16" else "bf16") * (c.factor or 1.0)
        e = _energy(c.node, c.precision, datapath=True)
        need_w = flops * e
        need_mm2 = flops / _mac_only_flops_per_mm2(c.node, c.precision, c.clock_ghz)
        n.update(claimed_flops_per_s=flops, power_budget_w=c.power_w, power_needed_w=need_w,
                 mac_area_needed_mm2=need_mm2, reticle_mm2=k.k.reticle_limit_mm2, wafer_mm2=k.k.wafer_scale_max_mm2,
                 baseline_power_density_w_per_mm2=acc.tdp_w / max(acc.die_area_mm2 * acc.n_dies, 1.0))
        floor_w = flops * _energy(c.node, c.precision, datapath=False)
        conds = []
        if c.power_w and need_w > c.power_w:
            conds.append(f"energy per FLOP is {need_w / c.power_w:.2g}x below the node's digital figure "
                         f"({e * 1e12:.2g} pJ/FLOP)")
        elif not c.power_w and need_w > acc.tdp_w:
            conds.append(f"it draws ~{need_w / 1e3:,.1f} kW ({need_w / acc.tdp_w:.2g}x {acc.id}): the multiple is "
                         "power and silicon, not better silicon")
        if need_mm2 > k.k.reticle_limit_mm2:
            conds.append(f"it spans {need_mm2:,.0f} mm² of MAC arrays alone (wafer-scale or "
                         f"{int(np.ceil(need_mm2 / k.k.reticle_limit_mm2))}+ reticle-size dies)")
        bad = (c.power_w is not None and floor_w > 10 * c.power_w) or need_mm2 > 10 * k.k.wafer_scale_max_mm2
        budget = f"{c.power_w / 1e3:,.2f} kW budget" if c.power_w else "no power stated"
        out.update(verdict=_verdict(not conds, " and ".join(conds), bad), bound="power density and area at the node",
                   detail=f"{c.factor:g}x {acc.id} = {flops:.3g} FLOP/s needs {need_w / 1e3:,.1f} kW at "
                          f"{e * 1e12:.2g} pJ/FLOP ({budget}) and {need_mm2:,.0f} mm² of MACs")
    elif c.kind == "compute_density":
        dens = (c.flops_per_s or 0.0) / (c.area_mm2 or 1.0)
        mac_only = _mac_only_flops_per_mm2(c.node, c.precision, c.clock_ghz)
        best = best_shipped_fp8_flops_per_mm2() * {"bf16": 0.5, "fp16": 0.5, "fp8": 1, "int8": 1, "fp4": 2}[c.precision]
        power = c.power_w
        e = _energy(c.node, c.precision, datapath=True)
        need_w = (c.flops_per_s or 0.0) * e
        n.update(claimed_flops_per_s_per_mm2=dens, mac_only_die_flops_per_s_per_mm2=mac_only,
                 best_shipped_flops_per_s_per_mm2=best, power_needed_w=need_w, power_w=power)
        conds = []
        if dens > mac_only or dens > 2 * best:
            conds.append(f"the quoted {c.precision} figure is a sparse or lower-precision peak: it is "
                         f"{dens / mac_only:.2g}x a die of nothing but {c.precision} MACs at {c.clock_ghz:g} GHz and "
                         f"{dens / best:.2g}x the best shipped dense density ({best / 1e12:.2f} TF/mm²)")
        if power and need_w > power:
            conds.append(f"energy per FLOP is {need_w / power:.2g}x below the node's {e * 1e12:.2g} pJ/FLOP")
        bad = dens > 10 * mac_only  # beyond any sparsity factor a vendor quotes
        out.update(verdict=_verdict(not conds, " and ".join(conds), bad), bound="FLOP/s per mm² at the node",
                   detail=f"{dens / 1e12:.3g} TF/mm² claimed; MAC-only die {mac_only / 1e12:.3g} TF/mm² at "
                          f"{c.clock_ghz:g} GHz; best shipped {best / 1e12:.3g} TF/mm²")
    elif c.kind == "sram_bandwidth":
        i = k.nodes.code(c.node, "node")
        n7 = k.nodes.code("N7", "node")
        s_sram = float(k.nodes.cols["sram_bitcell_um2"][i] / k.nodes.cols["sram_bitcell_um2"][n7])
        macro = k.sram.cols["mib_per_mm2_n7"][k.sram.code("macro", "sram")] / s_sram
        area = (c.sram_gb or 0.0) * 1e9 / 2**20 / macro
        pj = k.k.sram_pj_per_bit_n7 * float(k.nodes.cols["energy_factor"][i])
        bw = (c.sram_bw_tb_per_s or 0.0) * 1e12
        need_w = bw * 8 * pj * 1e-12
        power = c.power_w or np.inf
        pj_max = power / (bw * 8) * 1e12 if bw else np.inf
        n.update(sram_area_mm2=area, sram_pj_per_bit=pj, sram_power_at_peak_w=need_w, power_w=power,
                 max_pj_per_bit_within_power=pj_max,
                 params_fp16_that_fit=(c.sram_gb or 0) * 1e9 / 2)
        conds = []
        if c.area_mm2 and area > c.area_mm2:
            conds.append(f"the SRAM is denser than {macro:.2f} MiB/mm² macros ({area:,.0f} mm² needed)")
        if need_w > power:
            conds.append(f"an SRAM access costs ≤ {pj_max:.2g} pJ/bit (small local macros; a 1 Mb macro at "
                         f"{c.node} is ~{pj:.2g}) or the peak bandwidth is not sustained with compute")
        bad = c.area_mm2 is not None and area > 3 * c.area_mm2
        out.update(verdict=_verdict(not conds, " and ".join(conds), bad),
                   bound="SRAM bandwidth × energy per bit vs the power cap; capacity vs area",
                   detail=f"{c.sram_gb:g} GB needs {area:,.0f} mm² at macro density; {bw / 1e15:g} PB/s × "
                          f"{pj:.2g} pJ/bit = {need_w / 1e3:,.1f} kW vs {power / 1e3:,.1f} kW; holds "
                          f"{(c.sram_gb or 0) / 2:g}B FP16 parameters")
    else:  # serving
        if not c.model:
            raise InputFileError(f"claims.{c.id}.model: a serving claim names a catalog model")
        m = catalog.model(c.model)
        p = param_counts(m)
        active, total = float(p["active"]), float(p["total"])
        chips = c.chips or 1
        tok = c.tokens_per_s or 0.0
        flops_chip = tok * 2 * active / chips
        e = _energy(c.node, c.precision, datapath=True)
        need_w = flops_chip * e
        mac_only = _mac_only_flops_per_mm2(c.node, c.precision, c.clock_ghz) * k.k.reticle_limit_mm2
        weights = total * c.weight_bytes
        kv_tok = float(kv_cache_bytes_per_token(m, "fp8" if c.weight_bytes <= 1 else "bf16"))
        mem = (c.memory_gb_per_chip or 0.0) * 1e9 * chips
        bw_chip = (c.memory_bw_tb_per_s_per_chip or 0.0) * 1e12
        # decode reads each token's KV context once per generated token; weights once per step (shared by the batch)
        kv_bw_chip = tok / chips * kv_tok * c.context_tokens
        conds = []
        n.update(active_params=active, flops_per_s_per_chip=flops_chip, power_needed_w_per_chip=need_w,
                 mac_only_reticle_die_flops_per_s=mac_only, weight_bytes=weights, kv_bytes_per_token=kv_tok,
                 kv_read_bytes_per_s_per_chip=kv_bw_chip, chips_for_weights=weights / max(mem / chips, 1.0)
                 if mem else None)
        if flops_chip > mac_only:
            conds.append(f"each chip sustains {flops_chip / 1e15:.3g} PFLOP/s, more than a reticle die of nothing "
                         f"but {c.precision} MACs at {c.clock_ghz:g} GHz ({mac_only / 1e15:.3g})")
        if c.power_w and need_w > c.power_w:
            conds.append(f"energy per FLOP is ≤ {c.power_w / flops_chip * 1e12:.2g} pJ all-in "
                         f"(node figure {e * 1e12:.2g})")
        elif not c.power_w:
            n["power_w_at_node_energy"] = need_w
        if bw_chip and kv_bw_chip > bw_chip:
            ctx_max = bw_chip / (tok / chips * kv_tok)
            conds.append(f"contexts stay under ~{ctx_max:,.0f} tokens (KV reads at {c.context_tokens:,} tokens need "
                         f"{kv_bw_chip / 1e12:.3g} TB/s per chip), or prefill tokens are counted")
        if mem and weights > mem:
            conds.append(f"weights ({weights / 1e9:,.0f} GB) fit the {mem / 1e9:,.0f} GB of {chips} chips "
                         f"(needs {int(np.ceil(weights / (mem / chips)))} chips)")
        if c.tokens_per_s_per_user and bw_chip:
            per_user_max = bw_chip * chips / weights
            n["tokens_per_s_per_user_max"] = per_user_max
            if c.tokens_per_s_per_user > per_user_max:
                conds.append(f"weights are read fewer than once per token (batch-1 bound {per_user_max:,.0f} tok/s)")
        if c.power_w:
            n["kw_per_model_instance"] = chips * c.power_w / 1e3
        bad = flops_chip > 3 * mac_only
        out.update(verdict=_verdict(not conds, "; ".join(conds), bad),
                   bound="FLOP/s and bytes per token vs compute density, bandwidth × energy, capacity",
                   detail=f"{tok:,.0f} tok/s on {chips} chips = {flops_chip / 1e15:.3g} PFLOP/s per chip "
                          f"({need_w:,.0f} W at {e * 1e12:.2g} pJ/FLOP); weights {weights / 1e9:,.0f} GB"
                          + (f"; {chips} chips x {c.power_w:,.0f} W = {chips * c.power_w / 1e3:,.1f} kW per model "
                             "instance" if c.power_w else ""))
    out["numbers"] = {key: (float(v) if isinstance(v, int | float | np.floating) else v) for key, v in n.items()}
    return out


def check_file(path: str | Path) -> dict[str, Any]:
    """Every claim of a claims file, checked."""
    p = Path(path)
    if not p.is_file():
        raise InputFileError(f"{p}: file not found (a claims file with claims:)")
    doc = catalog.read_yaml(p)
    try:
        f = ClaimsFile.model_validate(doc)
    except ValidationError as e:
        raise InputFileError(pydantic_message(p.name, e)) from None
    return {"claims": [check(c) for c in f.claims], "catalog_version": catalog.load().version}
