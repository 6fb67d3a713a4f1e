"""Training engine speed, side by side with llm-analysis (PyPI llm-analysis==0.2.2) in the same run.

* engine: chipplan's vectorised step-time model on N configurations at once (configs/s);
* llm-analysis: its ``LLMAnalysis.training`` on the same model/hardware/layout configurations, one call each;
* predict: ``chipplan predict`` end to end (CSV read → JSON text) on a 100,000-row table (rows/s);
* search: the full layout search for Llama 3.1 405B on 16,384 H100 (16M-token batch, sequence 8,192).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from chipplan import catalog
from chipplan.commands._common import to_json
from chipplan.io import predict_file
from chipplan.perf import efficiency
from chipplan.perf.columns import Columns
from chipplan.perf.hardware_cols import hardware_row
from chipplan.perf.plan import rank_layouts
from chipplan.perf.training import memory_and_fit, step_time

# Models whose d_ff is a multiple of d_model (llm-analysis requires it).
# (model id, accelerator id, n_gpu, tp, pp, micro_batch, seq_len, global batch in sequences)
CASES = [
    ("mpt-7b", "a100-sxm-80gb", 64, 1, 1, 2, 2048, 256),
    ("mpt-30b", "a100-sxm-80gb", 64, 2, 1, 1, 2048, 256),
    ("megatron-gpt-18.4b", "a100-sxm-80gb", 256, 8, 1, 1, 2048, 1024),
    ("gpt3-175b", "a100-sxm-80gb", 1024, 8, 8, 1, 2048, 1536),
    ("gpt3-13b", "a100-sxm-80gb", 128, 2, 1, 2, 2048, 512),
]


REPEAT = 3
SWEEP_HARDWARE = ("a100-sxm-80gb", "h100-sxm-80gb", "h200-sxm-141gb", "b200-sxm-180gb", "mi300x")


def sweep_columns() -> tuple[Columns, Columns, Columns, Columns, np.ndarray, np.ndarray]:
    """A design sweep as the engine is meant to run it: models × hardware × layouts by broadcasting.

    Model columns have shape (k, 1, 1), hardware and efficiencies (1, h, 1), layouts (1, 1, l): model-only
    and hardware-only terms are computed once per model or chip, and only the terms that mix them run over
    all k·h·l configurations.
    """
    # Each swept quantity on its own axis: (model, chip, tp, pp, dp, micro-batch, cp, ZeRO, recompute, vpp).
    # A term that does not depend on an axis is computed once along it.
    nax = 10

    def at(values: Any, axis: int) -> np.ndarray:
        shape = [1] * nax
        shape[axis] = -1
        return np.asarray(values, dtype=float).reshape(shape)

    stacked = Columns.stack([catalog.model(c[0]) for c in CASES])
    models = Columns({k: at(v, 0) for k, v in stacked.items()})
    hw_rows = [hardware_row(catalog.accelerator(h), "bf16") for h in SWEEP_HARDWARE]
    hw = Columns({k: at([r[k] for r in hw_rows], 1) for k in hw_rows[0] if k != "family"})
    eff_rows = efficiency.for_families(np.array([r["family"] for r in hw_rows], dtype=object), engine="training")
    eff = Columns({k: at(v, 1) for k, v in eff_rows.items()})
    sweep = {"tp": [1, 2, 4, 8], "pp": [1, 2, 4, 8, 16], "dp": [8, 16, 32, 64, 128, 256],
             "micro_batch": [1, 2, 4, 8, 16], "cp": [1, 2], "zero_stage": [0, 1, 2, 3], "recompute": [0, 1, 2],
             "vpp": [1, 2, 4]}
    lay = Columns({k: at(v, i + 2) for i, (k, v) in enumerate(sweep.items())})
    lay["ep"] = np.ones([1] * nax)
    lay["sequence_parallel"] = np.ones([1] * nax)
    gbs = at([c[7] * 4 for c in CASES], 0)
    seq = at([c[6] for c in CASES], 0)
    return models, hw, lay, eff, gbs, seq


def bench_engine() -> dict[str, Any]:
    m, hw, lay, eff, gbs, s = sweep_columns()
    dt = np.inf
    for _ in range(REPEAT):  # best of a few: the machine is shared
        t0 = time.perf_counter()
        out = step_time(m, hw, lay, global_batch_seqs=gbs, seq_len=s, eff=eff)
        mem = memory_and_fit(m, hw, lay, global_batch_seqs=gbs, seq_len=s)
        dt = min(dt, time.perf_counter() - t0)
    n = out["step_time_s"].size
    assert mem["fits_in_memory"].size == n
    n_layouts = n // (len(CASES) * len(SWEEP_HARDWARE))
    return {"configs": int(n), "seconds": dt, "configs_per_s": n / dt,
            "note": f"{len(CASES)} models x {len(SWEEP_HARDWARE)} accelerators x {n_layouts} layouts, each swept "
                    "quantity on its own broadcast axis"}


def bench_engine_rowwise() -> dict[str, Any]:
    """The same sweep with every column materialised per configuration (no broadcasting to exploit)."""
    m, hw, lay, eff, gbs, s = sweep_columns()
    shape = np.broadcast_shapes(*[v.shape for c in (m, hw, lay, eff) for v in c.values()], gbs.shape, s.shape)

    def flat(c: Columns) -> Columns:
        return Columns({k: np.broadcast_to(v, shape).ravel() for k, v in c.items()})

    fm, fh, fl, fe = flat(m), flat(hw), flat(lay), flat(eff)
    fg, fs = np.broadcast_to(gbs, shape).ravel(), np.broadcast_to(s, shape).ravel()
    dt = np.inf
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        step_time(fm, fh, fl, global_batch_seqs=fg, seq_len=fs, eff=fe)
        memory_and_fit(fm, fh, fl, global_batch_seqs=fg, seq_len=fs)
        dt = min(dt, time.perf_counter() - t0)
    n = fg.size
    return {"configs": int(n), "seconds": dt, "configs_per_s": n / dt}


def llm_analysis_model(model_id: str) -> Any:
    """The same catalog model as an llm-analysis ModelConfig (so both tools see one configuration)."""
    from llm_analysis.config import ModelConfig

    m = catalog.model(model_id)
    return ModelConfig(name=model_id, num_layers=m.n_layers, n_head=m.n_heads, hidden_dim=m.d_model,
                       vocab_size=m.vocab_size, max_seq_len=max(m.max_seq_len, 8192), num_key_value_heads=m.n_kv_heads,
                       ffn_embed_dim=m.d_ff)


def bench_llm_analysis(n: int = 50) -> dict[str, Any]:
    try:
        from llm_analysis.analysis import ActivationRecomputation, LLMAnalysis
        from llm_analysis.config import ParallelismConfig, get_dtype_config_by_name, get_gpu_config_by_name
    except ImportError as e:  # the bench extra is not installed
        return {"error": f"llm-analysis not importable: {e}"}
    import logging

    logging.getLogger("llm_analysis").setLevel(logging.ERROR)
    gpu = get_gpu_config_by_name("a100-sxm-80gb")
    dtype = get_dtype_config_by_name("w16a16e16")
    models = {c[0]: llm_analysis_model(c[0]) for c in CASES}
    dt = np.inf
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        for i in range(n):
            c = CASES[i % len(CASES)]
            pc = ParallelismConfig(tp_size=c[3], pp_size=c[4], dp_size=c[2] // (c[3] * c[4]))
            a = LLMAnalysis(models[c[0]], gpu, dtype, pc, flops_efficiency=0.5, hbm_memory_efficiency=0.8)
            a.training(batch_size_per_gpu=c[5], seq_len=c[6], global_batch_size=c[7],
                       activation_recomputation=ActivationRecomputation.FULL, output_dir=None)
        dt = min(dt, time.perf_counter() - t0)
    return {"configs": n, "seconds": dt, "configs_per_s": n / dt}


def bench_predict(validation: Path, n_rows: int = 100_000) -> dict[str, Any]:
    import pandas as pd

    src = pd.read_csv(validation / "training_calibration.csv", dtype=str)
    full = src[src[["tp", "pp", "dp", "micro_batch_size", "activation_recompute"]].notna().all(axis=1)].copy()
    for c, v in (("cp", "1"), ("vpp", "1"), ("zero_or_fsdp", None)):
        if v is not None:
            full[c] = full[c].fillna(v)
    full["zero_stage"] = full["zero_stage"].fillna("1")
    table = full.sample(n_rows, replace=True, random_state=0)
    table["row_id"] = np.arange(n_rows).astype(str)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "rows.csv"
        table.to_csv(path, index=False)
        dt = np.inf
        for _ in range(REPEAT):
            t0 = time.perf_counter()
            text = to_json(predict_file(path), compact=True)
            dt = min(dt, time.perf_counter() - t0)
    ok = sum(r["status"] == "ok" for r in json.loads(text)["rows"])
    return {"rows": n_rows, "ok_rows": ok, "seconds": dt, "rows_per_s": n_rows / dt,
            "note": "rows with a stated layout (cp, vpp, zero stage filled as 1 where empty), sampled from "
                    "shared/validation/training_calibration.csv"}


def bench_search() -> dict[str, Any]:
    m = catalog.model("llama-3.1-405b")
    acc = catalog.accelerator("h100-sxm-80gb")
    t0 = time.perf_counter()
    ranked = rank_layouts(m, acc, 16384, global_batch_seqs=2048, seq_len=8192, top=5)
    dt = time.perf_counter() - t0
    return {"seconds": dt, "best_layout": ranked[0]["layout"], "best_mfu": ranked[0]["mfu"]}


def run(validation: Path | None = None) -> dict[str, Any]:
    validation = validation or Path(__file__).resolve().parents[2] / "shared" / "validation"
    engine = bench_engine()
    peer = bench_llm_analysis()
    out = {"engine": engine, "engine_rowwise": bench_engine_rowwise(), "llm_analysis": peer,
           "search_405b_16k_h100": bench_search()}
    if "configs_per_s" in peer:
        out["engine_speedup_vs_llm_analysis"] = engine["configs_per_s"] / peer["configs_per_s"]
        out["engine_rowwise_speedup_vs_llm_analysis"] = out["engine_rowwise"]["configs_per_s"] / peer["configs_per_s"]
    if (validation / "training_calibration.csv").exists():
        out["predict_end_to_end"] = bench_predict(validation)
    return out
