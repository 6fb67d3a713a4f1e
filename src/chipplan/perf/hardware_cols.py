"""Accelerator (and system) specs → the hardware columns the engines read."""

from __future__ import annotations

from typing import Any

from chipplan.errors import FieldError
from chipplan.specs import Accelerator, System

HW_FIELDS = ("peak16_flops_per_s", "peak_mm_flops_per_s", "peak8_flops_per_s", "fp8", "fp4", "hbm_bw_bytes_per_s",
             "hbm_bytes", "scale_up_bw_bytes_per_s", "scale_up_domain", "scale_out_bw_bytes_per_s", "devices_per_chip",
             "matrix_unit_width")


def hardware_row(acc: Accelerator, precision: str, system: System | None = None) -> dict[str, Any]:
    """One configuration's hardware columns. Raises FieldError when the chip lacks ``precision``."""
    domain = acc.scale_up_domain
    out_bw = acc.scale_out_bw_bytes_per_s
    if system is not None:
        domain = system.scale_up_domain
        if system.nics_per_node and system.nic_bw_bytes_per_s:
            out_bw = system.nics_per_node * system.nic_bw_bytes_per_s / system.accelerators_per_node
    peak_mm = acc.peak_flops_per_s(precision)
    peak16 = _peak16(acc, precision)
    return {
        "peak16_flops_per_s": peak16,
        "peak_mm_flops_per_s": peak_mm,
        # 8-bit products (an FP8 KV cache's attention) run at the FP8 (else INT8, else 16-bit) peak.
        "peak8_flops_per_s": acc.peak_fp8_flops_per_s or acc.peak_int8_flops_per_s or peak16,
        "fp8": float(precision in ("fp8", "fp4", "int8", "int4")),
        "fp4": float(precision in ("fp4", "int4")),
        "hbm_bw_bytes_per_s": acc.hbm_bw_bytes_per_s,
        "hbm_bytes": acc.hbm_bytes,
        "scale_up_bw_bytes_per_s": acc.scale_up_bw_bytes_per_s,
        "scale_up_domain": float(domain),
        "scale_out_bw_bytes_per_s": out_bw,
        # TensorCores a framework addresses as separate devices (no megacore): each runs its share of the tokens
        "devices_per_chip": float(acc.devices_per_chip),
        # side of the systolic matrix unit (TPU MXU); attention's head dimension is padded to it (0: none)
        "matrix_unit_width": float(acc.matrix_unit_width),
        "family": acc.family,
    }



def _peak16(acc: Accelerator, precision: str) -> float:
    """The 16-bit matrix peak for the work an engine keeps in 16 bits (attention, unless it runs in 8 bits).

    A chip without 16-bit matrix units (a hypothetical 8-bit-only part) can still answer an 8-bit or 4-bit
    question: its attention then runs in 8 bits, as FP8 attention kernels do, at the 8-bit peak. A 16-bit
    question on it is an error naming the missing peak.
    """
    try:
        return acc.peak_flops_per_s("bf16")
    except FieldError:
        low = acc.peak_fp8_flops_per_s or acc.peak_int8_flops_per_s
        if precision in ("fp8", "int8", "fp4", "int4") and low:
            return low
        raise


# What a serving engine runs a format on when the accelerator has no matrix peak for it.
FALLBACK = {"fp4": ("fp8", "bf16", "fp16"), "int4": ("int8", "fp8", "bf16", "fp16"), "fp8": ("bf16", "fp16"),
            "int8": ("fp8", "bf16", "fp16"), "bf16": ("fp16",), "fp16": ("bf16",)}


def next_supported_precision(acc: Accelerator, precision: str) -> str:
    """``precision`` if ``acc`` has a matrix peak for it, else the first of ``FALLBACK[precision]`` it has."""
    for p in (precision, *FALLBACK.get(precision, ())):
        try:
            acc.peak_flops_per_s(p)
        except FieldError:
            continue
        return p
    return precision
