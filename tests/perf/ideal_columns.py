"""Ideal kernels and a plain one-chip layout for the hand-computed training tests: every efficiency 1, no
latency or fixed cost, so a step is its FLOP and bytes over the peaks and the links below."""

from __future__ import annotations

from chipplan.perf.columns import Columns

IDEAL = dict(matmul_fraction=1.0, matmul_fraction_fp8=1.0, matmul_half_dim=0.0, attention_fraction=1.0,
             hbm_fraction=1.0, scale_up_fraction=1.0, scale_out_fraction=1.0, collective_latency_s=0.0,
             tp_overlap=0.0, dp_overlap=1.0, kernel_overhead_s=0.0, moe_layer_overhead_s=0.0)


def hw(**kw):
    """1 PFLOP/s, unbounded HBM bandwidth, 80 GB, 400 GB/s NVLink-like links in domains of 8, 50 GB/s out."""
    base = dict(peak16_flops_per_s=1e15, peak_mm_flops_per_s=1e15, fp8=0.0, hbm_bw_bytes_per_s=1e30,
                hbm_bytes=80e9, scale_up_bw_bytes_per_s=400e9, scale_up_domain=8.0, scale_out_bw_bytes_per_s=50e9)
    return Columns({**base, **kw})


def lay(**kw):
    base = dict(tp=1, pp=1, dp=1, cp=1, ep=1, vpp=1, micro_batch=1, zero_stage=0, recompute=0, sequence_parallel=1)
    return Columns({**base, **kw})
