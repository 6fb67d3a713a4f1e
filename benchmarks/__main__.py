"""``make bench``: speed and accuracy benchmarks, each side by side with a peer tool where one exists.

Prints a summary and writes ``benchmarks/results/<name>.json``. Timings are wall-clock on this machine,
so compare ratios measured in the same run, not absolute numbers between machines.
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

from chipplan import __version__
from chipplan.commands._common import console, table, to_json

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def _predict_rows(tr: dict) -> list[list[str]]:
    """Summary lines for ``chipplan predict`` end to end, beside llm-analysis of the same run (CPU time)."""
    pe = tr.get("predict_end_to_end")
    if not pe:
        return [["predict end to end", "—", "needs shared/validation", ""]]
    peer = tr["llm_analysis"].get("configs_per_cpu_s", float("nan"))
    out = []
    for key, title, target in (("repeated", "predict, calibration rows repeated as given", 50_000),
                               ("distinct_three_empty", "predict, distinct rows, 3 layout fields empty", 5_000)):
        c = pe[key]
        fresh = (f"as a new process {c['process_rows_per_cpu_s']:,.0f} rows/CPU-s, "
                 f"{c['process_rows_per_s']:,.0f} rows/s wall, start-up {c['startup_cpu_seconds']:.2f} CPU-s"
                 if "process_rows_per_s" in c else f"{c['process_rows_per_cpu_s']:,.0f} as a new process")
        out.append([title, f"{c['rows_per_cpu_s']:,.0f} rows/CPU-s in process ({fresh}; load "
                    f"{c['load_average_1min']:.1f})",
                    f"target >= {target:,}; llm-analysis {peer:,.0f} configs/CPU-s (stated layouts only)",
                    f"{c.get('speedup_vs_llm_analysis_cpu', float('nan')):,.1f}x"])
    return out


def main() -> int:
    from benchmarks import bench_codesign, bench_inference, bench_strategy, bench_training, bench_web

    RESULTS.mkdir(exist_ok=True)
    meta = {"chipplan_version": __version__, "python": sys.version.split()[0], "machine": platform.machine()}
    results = {}
    for name, mod in (("training", bench_training), ("inference", bench_inference), ("strategy", bench_strategy),
                      ("codesign", bench_codesign), ("web", bench_web)):
        console.print(f"running {name} benchmark …")
        res = mod.run()
        results[name] = res
        (RESULTS / f"{name}.json").write_text(to_json({**meta, **res}) + "\n")
    tr, inf = results["training"], results["inference"]
    rows = [
        ["training engine", f"{tr['engine']['configs_per_s']:,.0f} configs/s",
         f"llm-analysis {tr['llm_analysis'].get('configs_per_s', float('nan')):,.0f} configs/s",
         f"{tr.get('engine_speedup_vs_llm_analysis', float('nan')):,.0f}x"],
        ["training engine, row-wise arrays", f"{tr['engine_rowwise']['configs_per_s']:,.0f} configs/s",
         "same configurations, no broadcasting", f"{tr.get('engine_rowwise_speedup_vs_llm_analysis', 0):,.0f}x"],
        *_predict_rows(tr),
        ["layout search 405B / 16,384 H100", f"{tr['search_405b_16k_h100']['seconds']:.2f} s", "target < 1 s", ""],
        ["inference engine", f"{inf.get('chipplan_configs_per_s', float('nan')):,.0f} configs/s",
         f"llm-analysis {inf.get('llm_analysis_configs_per_s', float('nan')):,.0f} configs/s",
         f"{inf.get('speedup_x', float('nan')):,.0f}x"],
    ]
    st = results["strategy"]
    rows += [[f"strategy: {k[:-2]}", f"{v:.2f} s", "Monte Carlo target < 5 s" if k == "monte_carlo_s" else "", ""]
             for k, v in st.items() if k.endswith("_s")]
    cd = results["codesign"]
    sw, se, rd = cd["sweep"], cd["search"], cd["rederive"]
    rows += [
        ["co-design sweep, 10⁷ designs × 1 workload → Parquet", f"{sw['wall_s']:.1f} s "
         f"({sw['designs_per_s']:,.0f} designs/s, {sw['cpu_s']:.0f} s CPU, peak {sw['peak_rss_mb']:,.0f} MB)",
         "target < 60 s", ""],
        [f"co-design search, {se['budget']:.0f} evaluations", f"hypervolume NSGA-II {se['nsga2_hypervolume_ratio']:.3f}"
         f", TPE {se['tpe_hypervolume_ratio']:.3f}, random {se['random_hypervolume_ratio']:.3f}",
         f"exhaustive front of {se['exhaustive_designs']:,.0f} designs = 1", ""],
        ["catalog chips re-derived", f"median |area error| {rd['median_abs_area_error']:.1%}, "
         f"|TDP error| {rd['median_abs_tdp_error']:.1%}", "target ≤ 15 %", ""],
    ]
    w = results["web"]
    rows.append(["web: POST /api/train, 2,000 loopback requests", f"{w['requests_per_s']:,.0f} req/s, "
                 f"{w['errors']} errors", f"target >= {w['target_requests_per_s']:.0f} req/s, 0 errors",
                 f"{w['requests_per_server_cpu_second']:,.0f} req per server CPU-s"])
    console.print(table("chipplan benchmarks", ["benchmark", "chipplan", "peer / target", "ratio"], rows))
    console.print(f"results written to {RESULTS}/")
    json.dumps(results, default=str)  # fail loudly here rather than in a later reader
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
