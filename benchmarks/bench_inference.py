"""Inference benchmark: chipplan serving configurations per second vs llm-analysis 0.2.2's
``LLMAnalysis.inference`` on the same configurations, in one run.

Configurations: a static batch of ``batch`` requests with prompt ``input_len`` and ``output_len`` generated
tokens, for a dense GQA model (Llama-2-70B shape), on an A100-SXM-80GB, for a grid of TP × batch ×
prompt × output lengths. llm-analysis is a per-configuration Python object model (one call per point,
with logging); chipplan evaluates the whole grid as arrays in one call. llm-analysis is timed on a
sample of the grid (``LLMA_SAMPLE`` points) and its rate extrapolated; chipplan on the full grid.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import time

import numpy as np

LLMA_SAMPLE = 60


def _grid() -> list[tuple[int, int, int, int]]:
    return list(itertools.product([2, 4, 8], [1, 2, 4, 8, 16, 32, 64], [128, 512, 1024, 2048],
                                  [32, 128, 256, 512]))


def _chipplan(grid: np.ndarray, repeat: int) -> tuple[float, np.ndarray]:
    from chipplan import catalog
    from chipplan.perf import efficiency
    from chipplan.perf import inference as inf
    from chipplan.perf.columns import Columns
    from chipplan.perf.hardware_cols import hardware_row

    acc, sys_ = catalog.hardware("a100-sxm-80gb")
    row = hardware_row(acc, "bf16", sys_)
    fam = row.pop("family")
    n = len(grid)
    big = np.tile(grid, (repeat, 1))
    m = Columns(catalog.model("llama-2-70b").to_columns())
    t0 = time.perf_counter()
    eff = efficiency.for_families(np.full(len(big), fam, dtype=object))
    hw = Columns({k: np.full(len(big), v) for k, v in row.items()})
    out = inf.serve(m, hw, eff, mode=inf.MODES["static_batch"], tp=big[:, 0], pp=1.0, ep=1.0, batch=big[:, 1],
                    input_len=big[:, 2], output_len=big[:, 3], w_bytes=2.0, kv_bytes=2.0)
    dt = time.perf_counter() - t0
    return len(big) / dt, out["output_tokens_per_s_per_gpu"][:n]


def _llm_analysis(grid: np.ndarray) -> float | str:
    try:
        from llm_analysis.analysis import LLMAnalysis
        from llm_analysis.config import (
            ParallelismConfig,
            get_dtype_config_by_name,
            get_gpu_config_by_name,
            get_model_config_by_name,
        )
    except ImportError as e:  # the bench extra is not installed
        return f"llm-analysis not importable: {e}"
    logging.disable(logging.CRITICAL)
    try:
        model = get_model_config_by_name("meta-llama/Llama-2-70b-hf")
    except Exception:  # its registry lookup needs the network for unknown names
        model = get_model_config_by_name("decapoda-research_llama-65b-hf")
    gpu = get_gpu_config_by_name("a100-sxm-80gb")
    dtype = get_dtype_config_by_name("w16a16e16")
    sample = grid[np.linspace(0, len(grid) - 1, LLMA_SAMPLE).astype(int)]
    t0 = time.perf_counter()
    for tp, b, i, o in sample:
        la = LLMAnalysis(model, gpu, dtype, ParallelismConfig(tp_size=int(tp)), flops_efficiency=0.7,
                         hbm_memory_efficiency=0.8)
        # it rejects points whose KV cache does not fit, after doing the work
        with contextlib.suppress(AssertionError):
            la.inference(batch_size_per_gpu=int(b), seq_len=int(i), num_tokens_to_generate=int(o))
    dt = time.perf_counter() - t0
    logging.disable(logging.NOTSET)
    return len(sample) / dt


def run() -> dict[str, float | str]:
    grid = np.array(_grid(), dtype=float)
    chip_rate, _ = _chipplan(grid, repeat=2000)
    llma = _llm_analysis(grid)
    out: dict[str, float | str] = {"configs": float(len(grid)), "chipplan_configs_per_s": chip_rate}
    if isinstance(llma, str):
        out["llm_analysis"] = llma
    else:
        out["llm_analysis_configs_per_s"] = llma
        out["speedup_x"] = chip_rate / llma
    return out


if __name__ == "__main__":
    for k, v in run().items():
        print(f"{k}: {v:.3f}" if isinstance(v, float) else f"{k}: {v}")
