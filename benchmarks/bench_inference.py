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
    return list(itertools.product([1, 2, 4, 8], [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 256, 512],
                                  [128, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096, 6144, 8192],
                                  [32, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048]))


SWEEP_MODELS = ("llama-2-7b", "llama-2-13b", "llama-2-70b", "llama-3.1-8b", "llama-3.1-70b", "mixtral-8x7b")
SWEEP_HARDWARE = ("a100-sxm-80gb", "h100-sxm-80gb", "h200-sxm-141gb", "b200-sxm-180gb", "mi300x")


def _chipplan(grid: np.ndarray, repeat: int = 3) -> tuple[float, int]:
    """Configurations/s over models × accelerators × (tp, batch, prompt, output) by broadcasting.

    Model columns have shape (k, 1, 1), hardware (1, h, 1) and the request/layout grid (1, 1, g); the best
    of ``repeat`` timings is kept (the machine is shared).
    """
    from chipplan import catalog
    from chipplan.perf import efficiency
    from chipplan.perf import inference as inf
    from chipplan.perf.columns import Columns
    from chipplan.perf.hardware_cols import hardware_row

    m = Columns({k: v[:, None, None] for k, v in Columns.stack([catalog.model(x) for x in SWEEP_MODELS]).items()})
    rows = [hardware_row(catalog.accelerator(h), "bf16") for h in SWEEP_HARDWARE]
    hw = Columns({k: np.array([r[k] for r in rows])[None, :, None] for k in rows[0] if k != "family"})
    eff = efficiency.for_families(np.array([r["family"] for r in rows], dtype=object))
    eff = Columns({k: v[None, :, None] for k, v in eff.items()})
    # Each swept quantity on its own axis: (model, chip, tp, batch, prompt, output). Terms that do not
    # depend on an axis (prefill does not depend on the output length) are computed once along it.
    axes = [np.unique(grid[:, i]) for i in range(4)]
    m = Columns({k: v[:, None, None, None, None, None] for k, v in m.items()})
    hw = Columns({k: v[..., None, None, None] for k, v in hw.items()})
    eff = Columns({k: v[..., None, None, None] for k, v in eff.items()})
    g = [a.reshape([-1 if j == i else 1 for j in range(4)]) for i, a in enumerate(axes)]
    best = np.inf
    n = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = inf.serve(m, hw, eff, mode=inf.MODES["static_batch"], tp=g[0], pp=1.0, ep=1.0, batch=g[1],
                        input_len=g[2], output_len=g[3], w_bytes=2.0, kv_bytes=2.0)
        best = min(best, time.perf_counter() - t0)
        n = out["output_tokens_per_s_per_gpu"].size
    return n / best, n


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
    chip_rate, n = _chipplan(grid)
    llma = _llm_analysis(grid)
    out: dict[str, float | str] = {"configs": float(n), "chipplan_configs_per_s": chip_rate,
                                   "note": f"{len(SWEEP_MODELS)} models x {len(SWEEP_HARDWARE)} accelerators x "
                                           f"{len(grid)} (tp, batch, prompt, output) points, broadcast"}
    if isinstance(llma, str):
        out["llm_analysis"] = llma
    else:
        out["llm_analysis_configs_per_s"] = llma
        out["speedup_x"] = chip_rate / llma
    return out


if __name__ == "__main__":
    for k, v in run().items():
        print(f"{k}: {v:.3f}" if isinstance(v, float) else f"{k}: {v}")
