"""Workloads and objectives of designs, computed by the project's perf engines (no second model).

Training (``perf.training.step_time`` and ``memory_and_fit``) runs each design over a short list of layout
candidates and keeps the fastest that fits memory. Serving (``perf.inference.inflight_point`` and ``memory``)
runs in-flight batching over a grid of batch sizes and keeps the highest throughput whose TPOT meets the SLO
and whose KV cache fits. Money comes from ``codesign.costing`` (unit cost → server → owned $/accelerator-hour).

Objective columns (direction in ``DIRECTIONS``):

``train_tokens_per_s_per_accelerator``, ``train_tokens_per_usd`` (tokens per dollar of owned cluster cost),
``train_tokens_per_j`` (per joule at TDP), ``train_run_usd`` and ``train_run_days``;
``serve_tokens_per_s_per_accelerator``, ``serve_usd_per_mtok``, ``serve_tokens_per_j``,
``serve_tokens_per_s_per_user`` (1 / TPOT);
``unit_cost_usd``, ``server_price_usd``, ``tdp_w``, ``silicon_area_mm2``.

Constraints are columns that must be ≤ 0 (``constraint_*``): reticle, power, memory fit, SLO, and any
user bound ``column ≤ value`` or ``column ≥ value`` from the sweep file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import ConfigDict, Field

from chipplan import catalog
from chipplan.errors import FieldError
from chipplan.perf import inference as inf
from chipplan.perf import training as tr
from chipplan.perf.arithmetic import derive as derive_model
from chipplan.perf.columns import Columns
from chipplan.perf.efficiency import for_families
from chipplan.units import BYTES_PER_ELEMENT, SECONDS_PER_DAY

DIRECTIONS: dict[str, str] = {
    "train_tokens_per_s_per_accelerator": "max", "train_tokens_per_usd": "max", "train_tokens_per_j": "max",
    "train_run_usd": "min", "train_run_days": "min",
    "serve_tokens_per_s_per_accelerator": "max", "serve_usd_per_mtok": "min", "serve_tokens_per_j": "max",
    "serve_tokens_per_s_per_user": "max",
    "unit_cost_usd": "min", "price_usd": "min", "server_price_usd": "min", "tdp_w": "min",
    "silicon_area_mm2": "min", "h100e_per_unit": "max", "h100e_per_usd": "max", "mix_score": "max",
    "peak_bf16_flops_per_s": "max", "hbm_bw_bytes_per_s": "max", "hbm_bytes": "max",
}


Precision = Literal["bf16", "fp16", "fp8", "fp4"]


# The workloads are declared once: the sweep file's ``workloads:`` section (chipplan.codesign.sweeps) is validated
# into these records by pydantic, with the bounds in the annotations and extra keys refused.
@dataclass(frozen=True, kw_only=True)
class TrainWorkload:
    __pydantic_config__ = ConfigDict(extra="forbid")
    model: str
    tokens: Annotated[float, Field(gt=0)] = 15e12
    accelerators: Annotated[int, Field(ge=1)] = 1024
    seq_len: Annotated[int, Field(ge=1)] = 8192
    global_batch_seqs: Annotated[int, Field(ge=1)] = 512
    precision: Precision = "bf16"
    layouts: Annotated[tuple[dict[str, float], ...], Field(min_length=1)] = ({"tp": 8, "pp": 1},)


@dataclass(frozen=True, kw_only=True)
class ServeWorkload:
    __pydantic_config__ = ConfigDict(extra="forbid")
    model: str
    input_len: Annotated[int, Field(ge=1)] = 2048
    output_len: Annotated[int, Field(ge=1)] = 512
    slo_tpot_ms: Annotated[float, Field(gt=0)] = 50.0
    tp: Annotated[int, Field(ge=1)] = 8
    precision: Precision = "fp8"
    batches: Annotated[tuple[int, ...], Field(min_length=1)] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


@dataclass(frozen=True, kw_only=True)
class Workloads:
    train: TrainWorkload | None = None
    serve: ServeWorkload | None = None
    mix: dict[str, float] = field(default_factory=dict)  # weights of train / serve in h100e_per_unit

    def __post_init__(self) -> None:
        if self.train is None and self.serve is None:
            raise FieldError("workloads", "needs train: or serve: (or both)")


LAYOUT_DEFAULTS = {"tp": 1, "pp": 1, "cp": 1, "ep": 1, "vpp": 1, "micro_batch": 1, "zero_stage": 1, "recompute": 1,
                   "sequence_parallel": 1}


def hardware_columns(hw: dict[str, Any], precision: str) -> Columns:
    """Design (or catalog chip) columns → the hardware columns the perf engines read (as ``hardware_row``).
    A precision the design lacks runs at the 16-bit peak (its GEMMs fall back to BF16)."""
    p16 = np.asarray(hw["peak_bf16_flops_per_s"], dtype=float)
    pf8 = np.asarray(hw.get("peak_fp8_flops_per_s", 0.0), dtype=float)
    pi8 = np.asarray(hw.get("peak_int8_flops_per_s", 0.0), dtype=float)
    p4 = np.asarray(hw.get("peak_fp4_flops_per_s", 0.0), dtype=float)
    if precision in ("fp8", "int8"):
        low = pf8 if precision == "fp8" else pi8
        mm, f8, f4 = np.where(low > 0, low, p16), (low > 0).astype(float), 0.0
    elif precision in ("fp4", "int4"):
        mm = np.where(p4 > 0, p4, np.where(pf8 > 0, pf8, p16))
        f8, f4 = ((p4 > 0) | (pf8 > 0)).astype(float), (p4 > 0).astype(float)
    else:
        mm, f8, f4 = p16, 0.0, 0.0
    return Columns({"peak16_flops_per_s": p16, "peak_mm_flops_per_s": mm,
                    # 8-bit products (an FP8 KV cache's attention) at the FP8, else INT8, else 16-bit peak
                    "peak8_flops_per_s": np.where(pf8 > 0, pf8, np.where(pi8 > 0, pi8, p16)), "fp8": f8, "fp4": f4,
                    "hbm_bw_bytes_per_s": hw["hbm_bw_bytes_per_s"], "hbm_bytes": hw["hbm_bytes"],
                    "scale_up_bw_bytes_per_s": hw["scale_up_bw_bytes_per_s"],
                    "scale_up_domain": hw["scale_up_domain"],
                    "scale_out_bw_bytes_per_s": hw["scale_out_bw_bytes_per_s"],
                    # TensorCores addressed as separate devices (TPU7x: 2); a design is one device per chip
                    "devices_per_chip": np.asarray(hw.get("devices_per_chip", 1.0), dtype=float),
                    # systolic matrix-unit side: the training engine pads attention's head dimensions to it
                    "matrix_unit_width": np.asarray(hw.get("matrix_unit_width", 0.0), dtype=float)})


def efficiencies(families: Any, *, engine: str) -> Columns:
    """Per-family efficiencies aligned with ``families`` (each distinct family looked up once), as ``engine``
    (``"training"`` or ``"serving"``) reads them, so a catalog chip trains here as ``chipplan train`` predicts it."""
    from chipplan.codesign.design import Cat

    if isinstance(families, Cat):
        e = for_families(np.asarray(families.values, dtype=object), engine=engine)
        return Columns({key: np.asarray(v)[families.idx] for key, v in e.items()})
    f = np.asarray(families, dtype=object)
    e = for_families(f, engine=engine)  # groups the distinct families itself; atleast_1d, so restore f's shape
    return Columns({key: np.asarray(v).reshape(f.shape) for key, v in e.items()})


def _model(mid: str) -> Columns:
    return derive_model(Columns(catalog.model(mid).to_columns()))


def train(hw: dict[str, Any], eff: Columns, w: TrainWorkload, model: Columns | None = None
          ) -> dict[str, np.ndarray]:
    """Best-fitting layout per design: tokens/s per accelerator, fits, memory shortfall. ``model`` (columns
    that broadcast against the designs) replaces the workload's catalog model."""
    m = _model(w.model) if model is None else derive_model(model)
    h = hardware_columns(hw, w.precision)
    best = None
    fits_any = None
    short = None
    for cand in w.layouts:
        lay = {**LAYOUT_DEFAULTS, **cand}
        dp = w.accelerators / (lay["tp"] * lay["pp"] * lay["cp"])
        if dp < 1 or dp != int(dp):
            raise FieldError("workloads.train.layouts", f"tp·pp·cp must divide accelerators ({w.accelerators})",
                             cand)
        lay["dp"] = dp
        L = Columns(lay)
        st = tr.step_time(m, h, L, global_batch_seqs=w.global_batch_seqs, seq_len=w.seq_len, eff=eff)
        mf = tr.memory_and_fit(m, h, L, global_batch_seqs=w.global_batch_seqs, seq_len=w.seq_len)
        tok = np.where(mf["fits_in_memory"], st["tokens_per_s_per_gpu"], 0.0)
        best = tok if best is None else np.maximum(best, tok)
        fits_any = mf["fits_in_memory"] if fits_any is None else fits_any | mf["fits_in_memory"]
        sh = mf["memory_shortfall_bytes"]
        short = sh if short is None else np.minimum(short, sh)
    return {"train_tokens_per_s_per_accelerator": best, "train_fits": fits_any, "train_memory_shortfall_bytes": short}


def serve(hw: dict[str, Any], eff: Columns, w: ServeWorkload) -> dict[str, np.ndarray]:
    """In-flight batching at the best batch that meets the TPOT SLO and fits: tokens/s/accelerator and /user."""
    m = _model(w.model)
    h = hardware_columns(hw, w.precision)
    wb = BYTES_PER_ELEMENT[w.precision]
    kvb = BYTES_PER_ELEMENT[inf.kv_precision_for(w.precision)]
    slo = w.slo_tpot_ms / 1e3
    best = np.zeros(np.shape(h.hbm_bytes))
    user = np.zeros_like(best)
    fits1 = None
    for b in w.batches:
        pt = inf.inflight_point(m, h, eff, tp=float(w.tp), pp=1.0, ep=1.0, batch=float(b), input_len=float(w.input_len),
                                output_len=float(w.output_len), w_bytes=wb, kv_bytes=kvb)
        mem = inf.memory(m, h, tp=float(w.tp), pp=1.0, w_bytes=wb, kv_bytes=kvb, batch=float(b),
                         seq_tokens=float(w.input_len + w.output_len))
        if fits1 is None:
            fits1 = mem["fits"]
        ok = mem["fits"] & (pt["tpot_s"] <= slo) & np.isfinite(pt["ttft_p99_s"])
        thr = np.where(ok, pt["output_tokens_per_s"] / w.tp, 0.0)
        better = thr > best
        best = np.where(better, thr, best)
        user = np.where(better, 1.0 / pt["tpot_s"], user)
    return {"serve_tokens_per_s_per_accelerator": best, "serve_tokens_per_s_per_user": user, "serve_fits": fits1,
            "serve_slo_met": best > 0}


def objectives(hw: dict[str, Any], money: dict[str, Any], work: Workloads, *, families: Any,
               baseline: dict[str, float] | None = None) -> dict[str, np.ndarray]:
    """All objective and constraint columns for designs or catalog chips.

    ``hw``: derived hardware columns (``design.derive`` or ``catalog_columns``); ``money``: ``tdp_w``,
    ``owned_usd_per_accelerator_hour``; ``baseline``: the same workload results for the H100 (for
    ``h100e_per_unit``)."""
    out: dict[str, np.ndarray] = {}
    rate = np.asarray(money["owned_usd_per_accelerator_hour"], dtype=float)
    tdp = np.asarray(money["tdp_w"], dtype=float)
    if work.train is not None:
        t = train(hw, efficiencies(families, engine="training"), work.train)
        tok = t["train_tokens_per_s_per_accelerator"]
        with np.errstate(divide="ignore", invalid="ignore"):
            acc_s = np.where(tok > 0, work.train.tokens / tok, np.inf)  # accelerator-seconds for the run
            out.update(t)
            out["train_tokens_per_usd"] = tok * 3600.0 / rate
            out["train_tokens_per_j"] = tok / tdp
            out["train_run_usd"] = acc_s / 3600.0 * rate
            out["train_run_days"] = acc_s / work.train.accelerators / SECONDS_PER_DAY
        out["constraint_train_memory_bytes"] = np.where(t["train_fits"], -1.0, t["train_memory_shortfall_bytes"])
    if work.serve is not None:
        s = serve(hw, efficiencies(families, engine="serving"), work.serve)
        tok = s["serve_tokens_per_s_per_accelerator"]
        with np.errstate(divide="ignore", invalid="ignore"):
            out.update(s)
            out["serve_usd_per_mtok"] = np.where(tok > 0, rate * 1e6 / (tok * 3600.0), np.inf)
            out["serve_tokens_per_j"] = tok / tdp
        out["constraint_serve_slo"] = np.where(s["serve_slo_met"], -1.0, 1.0)
    if baseline:
        parts, weights = [], []
        wmix = work.mix or {"train": 1.0, "serve": 1.0}
        for key, col in (("train", "train_tokens_per_s_per_accelerator"),
                         ("serve", "serve_tokens_per_s_per_accelerator")):
            if col in out and baseline.get(col, 0) > 0 and wmix.get(key, 0) > 0:
                parts.append(out[col] / baseline[col])
                weights.append(wmix[key])
        if parts:
            wsum = sum(weights)
            h100e = sum(wt * p for wt, p in zip(weights, parts, strict=True)) / wsum
            out["h100e_per_unit"] = h100e
            out["mix_score"] = h100e
    return out
