"""Training engine speed, side by side with llm-analysis (PyPI llm-analysis==0.2.2) in the same run.

* engine: chipplan's vectorised step-time model on N configurations at once (configs/s);
* llm-analysis: its ``LLMAnalysis.training`` on the same model/hardware/layout configurations, one call each;
* predict: ``chipplan predict`` end to end (CSV read → JSON text, as the command line runs it) on the tables users
  bring: the calibration rows repeated as given (100,000 rows, their empty layout fields left empty) and 100,000
  distinct configurations each leaving three layout fields empty (rows per CPU second, best of 3 in process, and
  best of 3 as a fresh process with start-up included, the start-up alone measured on the table's first row;
  wall time and load beside them). ``make bench`` compiles chipplan's bytecode first, as an installed package
  has it (this checkout is an editable install, and a ``PYTHONDONTWRITEBYTECODE`` environment would otherwise
  recompile every module in every fresh process);
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
    dt = cpu = np.inf
    for _ in range(REPEAT):
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(n):
            c = CASES[i % len(CASES)]
            pc = ParallelismConfig(tp_size=c[3], pp_size=c[4], dp_size=c[2] // (c[3] * c[4]))
            a = LLMAnalysis(models[c[0]], gpu, dtype, pc, flops_efficiency=0.5, hbm_memory_efficiency=0.8)
            a.training(batch_size_per_gpu=c[5], seq_len=c[6], global_batch_size=c[7],
                       activation_recomputation=ActivationRecomputation.FULL, output_dir=None)
        dt, cpu = min(dt, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
    return {"configs": n, "seconds": dt, "configs_per_s": n / dt, "cpu_seconds": cpu, "configs_per_cpu_s": n / cpu}


def _predict_cli(path: Path) -> tuple[float, float, str]:
    """``chipplan predict PATH`` in this process, as the command line runs it (CSV in, JSON text out): CPU and
    wall seconds, and the text."""
    import contextlib
    import io

    from chipplan.cli import run as cli_run

    buf = io.StringIO()
    c0, w0 = time.process_time(), time.perf_counter()
    with contextlib.redirect_stdout(buf):
        code = cli_run(["predict", str(path)])
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    if code != 0:
        raise RuntimeError(f"chipplan predict {path} exited {code}")
    return cpu, wall, buf.getvalue()


def _predict_subprocess(path: Path) -> tuple[float, float]:
    """``chipplan predict PATH`` as a fresh process (interpreter start, imports and the catalog included): CPU
    seconds (user + system, all threads) and wall seconds."""
    import os
    import resource
    import subprocess
    import sys

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    w0 = time.perf_counter()
    with open(os.devnull, "w") as sink:
        subprocess.run([sys.executable, "-m", "chipplan", "predict", str(path)], stdout=sink, check=True)
    wall = time.perf_counter() - w0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def _time_predict(table: Any, name: str, note: str) -> dict[str, Any]:
    """Best of ``REPEAT`` in-process runs and best of ``REPEAT`` fresh processes (CPU time; the machine is shared,
    so wall time is reported beside it), and the start-up of a fresh process: the same command on the table's
    first row alone."""
    import os

    from chipplan.io.write import distinct_rows

    n_rows = len(table)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"{name}.csv"
        table.to_csv(path, index=False)
        one = Path(d) / f"{name}-first-row.csv"
        table.iloc[:1].to_csv(one, index=False)
        load = os.getloadavg()[0]
        cpu = wall = np.inf
        text = ""
        for _ in range(REPEAT):
            c, w, text = _predict_cli(path)
            cpu, wall = min(cpu, c), min(wall, w)
        sub_cpu = sub_wall = start_cpu = start_wall = np.inf
        for _ in range(REPEAT):
            c, w = _predict_subprocess(path)
            sub_cpu, sub_wall = min(sub_cpu, c), min(sub_wall, w)
            c, w = _predict_subprocess(one)
            start_cpu, start_wall = min(start_cpu, c), min(start_wall, w)
        load = max(load, os.getloadavg()[0])
    rows = json.loads(text)["rows"]
    return {"rows": n_rows, "ok_rows": sum(r["status"] == "ok" for r in rows),
            "distinct_configurations": len(distinct_rows(table)[0]),
            "cpu_seconds": cpu, "rows_per_cpu_s": n_rows / cpu, "wall_seconds": wall, "rows_per_s": n_rows / wall,
            "process_cpu_seconds": sub_cpu, "process_rows_per_cpu_s": n_rows / sub_cpu,
            "process_wall_seconds": sub_wall, "process_rows_per_s": n_rows / sub_wall,
            "startup_cpu_seconds": start_cpu, "startup_wall_seconds": start_wall,
            "load_average_1min": load, "note": note}


def repeated_table(validation: Path, n_rows: int = 100_000) -> Any:
    """The calibration rows exactly as given (their empty layout fields included), repeated to ``n_rows``, each
    with its own row_id."""
    import pandas as pd

    src = pd.read_csv(validation / "training_calibration.csv", dtype=str, keep_default_na=False)
    table = src.iloc[np.arange(n_rows) % len(src)].copy()
    table["row_id"] = np.arange(n_rows).astype(str)
    return table


def distinct_table(validation: Path, n_rows: int = 100_000, seed: int = 0) -> Any:
    """``n_rows`` distinct training configurations, each leaving three layout fields empty.

    Each row is a calibration row with its layout completed (the stated fields, and chipplan's fills for the
    others), scaled in data parallelism (x1, x2 or x4 accelerators and global batch) and in gradient accumulation
    (x1 to x12 global batch); then three of its searched layout fields, drawn at random (ep only for a mixture of
    experts), are emptied. Repeats are dropped, so every row is a configuration of its own.
    """
    import pandas as pd

    from chipplan import api
    from chipplan.io import read_table
    from chipplan.io.write import distinct_rows
    from chipplan.specs.layout import TRAINING_SEARCHED

    src = read_table(validation / "training_calibration.csv")
    res = api.predict_rows(src)
    ok = [i for i, r in enumerate(res["rows"]) if r["status"] == "ok"]
    base = src.iloc[ok].reset_index(drop=True)
    lays = [res["rows"][i]["prediction"]["layout"] for i in ok]
    fields = [d.column for d in TRAINING_SEARCHED]
    for d in TRAINING_SEARCHED:
        base[d.column] = [lay[d.name] for lay in lays]
    base["dp"] = [lay["dp"] for lay in lays]
    moe = base["moe_num_experts"].fillna(0).to_numpy() > 0
    rng = np.random.default_rng(seed)
    draw = 2 * n_rows
    pick = rng.integers(0, len(base), draw)
    accum = rng.integers(1, 13, draw)
    scale = rng.choice([1, 2, 4], draw)
    out = base.iloc[pick].reset_index(drop=True)
    gbs = out["global_batch_seqs"].to_numpy(dtype=float) * accum * scale
    out["global_batch_seqs"] = gbs
    out["global_batch_tokens"] = gbs * out["seq_len"].to_numpy(dtype=float)
    out["num_accelerators"] = out["num_accelerators"].to_numpy(dtype=float) * scale
    out["dp"] = out["dp"].to_numpy(dtype=float) * scale
    out["num_nodes"] = None
    empty = np.zeros((draw, len(fields)), dtype=bool)
    dense_choices = [j for j, f in enumerate(fields) if f != "ep"]
    for i in range(draw):
        choices = range(len(fields)) if moe[pick[i]] else dense_choices
        empty[i, rng.choice(list(choices), 3, replace=False)] = True
    for j, f in enumerate(fields):
        out[f] = out[f].astype(object)
        out.loc[empty[:, j], f] = None
    first, _ = distinct_rows(out)
    if len(first) < n_rows:
        raise RuntimeError(f"only {len(first)} distinct configurations drawn; raise the draw")
    out = out.iloc[np.sort(first)[:n_rows]].reset_index(drop=True)
    out["row_id"] = np.arange(n_rows).astype(str)
    return pd.DataFrame(out)


def bench_predict(validation: Path, n_rows: int = 100_000) -> dict[str, Any]:
    """``chipplan predict`` end to end on the two tables users bring (see ``repeated_table``/``distinct_table``)."""
    return {
        "repeated": _time_predict(repeated_table(validation, n_rows), "repeated",
                                  "shared/validation/training_calibration.csv repeated as given (empty layout "
                                  "fields left empty), 100,000 rows"),
        "distinct_three_empty": _time_predict(distinct_table(validation, n_rows), "distinct",
                                              "100,000 distinct configurations, each leaving three layout fields "
                                              "empty"),
    }


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
        pred = out["predict_end_to_end"] = bench_predict(validation)
        if "configs_per_cpu_s" in peer:
            # llm-analysis answers one fully stated configuration per call and fills no layout field; chipplan's
            # rows also carry the layout search, the interval and the JSON.
            for case in pred.values():
                case["speedup_vs_llm_analysis_cpu"] = case["rows_per_cpu_s"] / peer["configs_per_cpu_s"]
    return out
