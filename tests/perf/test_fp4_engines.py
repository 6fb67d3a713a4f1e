"""Dense FP4 GEMMs follow the engine's per-family rule (serving_engines.yaml ``fp4_dense``): ROCm engines on CDNA4
stream MXFP4 weights no faster than FP8 and compute at the FP8 peak; native FP4 elsewhere."""

from __future__ import annotations

import numpy as np
import pytest
from serving_columns import serving_columns

from chipplan import catalog
from chipplan.perf import inference as inf
from chipplan.perf import serving_engines


def _step(model_id: str, hw_id: str, prec: str, engine: str, batch: float, tp: float = 8.0) -> float:
    m, hw, e = serving_columns(model_id, hw_id, prec, engine)
    wb = {"fp4": 0.5, "fp8": 1.0}[prec]
    return float(inf.decode_iteration(m, hw, e, tp=tp, pp=1.0, ep=1.0, batch=batch, ctx=1536.0, w_bytes=wb,
                                      kv_bytes=1.0)["time_s"])


def test_the_catalog_fp4_peak_is_double_fp8_on_mi355x() -> None:
    acc = catalog.accelerator("mi355x")
    assert acc.peak_flops_per_s("fp4") == pytest.approx(2 * acc.peak_flops_per_s("fp8"), rel=1e-4)


@pytest.mark.parametrize("batch", [1.0, 64.0, 512.0])
def test_dense_mxfp4_on_cdna4_is_no_faster_than_fp8(batch: float) -> None:
    for engine in ("vllm-rocm", "sglang", "default"):
        assert _step("llama-3.3-70b", "mi355x", "fp4", engine, batch) == pytest.approx(
            _step("llama-3.3-70b", "mi355x", "fp8", engine, batch), rel=1e-9)


def test_native_fp4_elsewhere_reads_half_the_bytes() -> None:
    # TensorRT-LLM's NVFP4 on Blackwell: the weight-bound batch-1 step is faster than FP8
    assert _step("llama-3.3-70b", "b200-sxm-180gb", "fp4", "tensorrt-llm", 1.0, tp=1.0) < \
        0.7 * _step("llama-3.3-70b", "b200-sxm-180gb", "fp8", "tensorrt-llm", 1.0, tp=1.0)
    rule = serving_engines.for_rows(np.array(["sglang", "sglang"], dtype=object), ["cdna4", "blackwell"])
    assert rule.eng_fp4_dense_stream_bytes.tolist() == [1.0, 0.5]
    assert rule.eng_fp4_dense_fp8_peak.tolist() == [1.0, 0.0]


def test_moe_experts_keep_the_native_fp4_path_on_cdna4() -> None:
    # DeepSeek-style experts at FP4 read half the bytes of FP8 even where dense FP4 GEMMs do not gain
    m, hw4, e = serving_columns("deepseek-v3", "mi355x", "fp4", "sglang")
    _, hw8, _ = serving_columns("deepseek-v3", "mi355x", "fp8", "sglang")
    kw = dict(tp=8.0, pp=1.0, ep=8.0, batch=1.0, ctx=1024.0, kv_bytes=2.0)
    t4 = inf.decode_iteration(m, hw4, e, w_bytes=0.5, **kw)["gemm_s"]
    t8 = inf.decode_iteration(m, hw8, e, w_bytes=1.0, **kw)["gemm_s"]
    assert float(t4) < 0.9 * float(t8)
