"""Serving prediction intervals from leave-one-source-group-out residuals (prints YAML; edits nothing).

For every source group whose rows took part in fitting a serving-engine profile's device terms (``FITTED``:
decode_layer_overhead_s, allreduce_bw_fraction, gemm_m_half, seq_overhead_s), the profile is refitted on a small
grid without that group and the group is predicted with the refitted values; rows of groups no fit used are out of
sample as they stand. The residuals ``log(measured / predicted)`` of throughput, TTFT and TPOT feed
``chipplan.perf.intervals.fit_table`` (each source group weighted once, regimes coarsest first: metric, the engine
class (TensorRT-LLM, the calibration's home engine; another named engine; unknown), the load (more than
``HEAVY_BATCH`` running sequences or not); the regimes were chosen on the fit set's nested out-of-group coverage).
TPOT residuals come from decode-dominated throughput rows (``DECODE_SHARE_TTFT``). The held-out file
(``serving_inference_holdout.csv``) is not used.

    python -m benchmarks.serving_intervals > /tmp/serving_intervals.yaml

then paste the printed ``serving_intervals:`` section into ``catalog/data/serving_engines.yaml``.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from chipplan import catalog
from chipplan.io.write import predict_frame
from chipplan.perf import intervals, serving_engines

ROOT = Path(__file__).resolve().parents[1]
FILES = [ROOT / "benchmarks" / "data" / "serving_inference.csv", ROOT / "benchmarks" / "data" / "extra_inference.csv",
         ROOT.parent / "shared" / "validation" / "inference_calibration.csv"]
# Which profiles' device terms each fitted group informed (the groups named in serving_engines.yaml's sources).
ROCM_FIT = ["vllm-rocm", "vllm-rocm-v0", "sglang", "deepseek-infer", "vllm", "vllm-v0"]
FITTED = {"TensorRT-LLM": ["tensorrt-llm"], "ROCm blog MI300X vLLM": ROCM_FIT,
          "InferenceX DeepSeek-R1 8k/1k FP8 (mi300x)": ROCM_FIT}
GRID = {"decode_layer_overhead_s": [3e-5, 5e-5], "allreduce_bw_fraction": [0.5, 0.75], "gemm_m_half": [64.0, 128.0],
        "seq_overhead_s": [0.0, 6e-5]}
METRICS = (("output_tokens_per_s_per_gpu", "target_output_tokens_per_s_per_gpu"), ("ttft_ms", "target_ttft_ms"),
           ("tpot_ms", "target_tpot_ms"))


def _fitted_by(group: str) -> list[str]:
    return [e for key, engines in FITTED.items() if key in group for e in engines]


# A throughput row whose time is almost all decode also measures TPOT: with TTFT under this share of the request's
# predicted time, log(measured TPOT / predicted TPOT) ≈ −log(measured / predicted throughput) (exactly so for
# decode_only rows). No table of the fit set states TPOT itself, so these rows are the TPOT regime's residuals.
DECODE_SHARE_TTFT = 0.05
DECODE_MODES = ("static_batch", "decode_only", "latency")


def _residuals(df: pd.DataFrame) -> pd.DataFrame:
    rows = predict_frame(df)["rows"]
    out = []
    for r, (_, row) in zip(rows, df.iterrows(), strict=True):
        p = r.get("prediction") or {}
        base = {"group": row["source_group"], "engine_known": "inf_engine" not in p.get("filled", []),
                "engine": p.get("engine", serving_engines.DEFAULT), "batch": p.get("batch", np.nan),
                "moe": bool(p.get("layout", {}).get("ep", 1) > 1 or
                            pd.to_numeric(pd.Series([row.get("moe_num_experts")]),
                                          errors="coerce").fillna(0).iloc[0] > 0)}
        for key, tcol in METRICS:
            t = pd.to_numeric(pd.Series([row.get(tcol)]), errors="coerce").iloc[0]
            v = p.get(key)
            if not np.isfinite(t) or t <= 0 or not v:
                continue
            out.append({**base, "metric": key, "resid": float(np.log(t / v))})
            if key == "output_tokens_per_s_per_gpu" and p.get("mode") in DECODE_MODES and p.get("tpot_ms") and \
                    not np.isfinite(pd.to_numeric(pd.Series([row.get("target_tpot_ms")]), errors="coerce").iloc[0]):
                o = float(row["inf_output_len"])
                ttft = (p.get("ttft_ms") or 0.0) if p["mode"] != "decode_only" else 0.0
                if ttft <= DECODE_SHARE_TTFT * (ttft + max(o - 1, 1) * p["tpot_ms"]):
                    out.append({**base, "metric": "tpot_ms", "resid": -float(np.log(t / v))})
    return pd.DataFrame(out)


def _score(df: pd.DataFrame) -> float:
    r = _residuals(df)
    return float(r.assign(a=r.resid.abs()).groupby("group").a.median().mean()) if len(r) else np.inf


def logo() -> pd.DataFrame:
    df = pd.concat([pd.read_csv(f) for f in FILES], ignore_index=True)
    raw = catalog.load().serving_engines
    saved = {k: dict(v) for k, v in raw.items()}
    parts = []
    try:
        for g in sorted(df["source_group"].dropna().unique()):
            test = df[df["source_group"] == g]
            engines = _fitted_by(g)
            if engines:
                shares = df["source_group"].map(lambda x, e=frozenset(engines): bool(set(_fitted_by(x)) & e))
                train = df[(df["source_group"] != g) & shares]
                best = None
                for vals in itertools.product(*GRID.values()):
                    for e in engines:
                        raw[e].update(dict(zip(GRID, vals, strict=True)))
                    serving_engines.profiles.cache_clear()
                    s = _score(train)
                    if best is None or s < best[0]:
                        best = (s, vals)
                for e in engines:
                    raw[e].update(dict(zip(GRID, best[1], strict=True)))
                serving_engines.profiles.cache_clear()
                print(f"# {g}: refit without it {dict(zip(GRID, best[1], strict=True))}", file=sys.stderr)
            parts.append(_residuals(test))
            for k, v in saved.items():
                raw[k].clear()
                raw[k].update(v)
            serving_engines.profiles.cache_clear()
    finally:
        for k, v in saved.items():
            raw[k].clear()
            raw[k].update(v)
        serving_engines.profiles.cache_clear()
    return pd.concat(parts, ignore_index=True)


def factors(res: pd.DataFrame) -> dict[str, np.ndarray]:
    return serving_engines.interval_regimes(metric=res["metric"].to_numpy(), engine=res["engine"].to_numpy(),
                                            engine_known=res["engine_known"].to_numpy(), batch=res["batch"].to_numpy())


def main() -> None:
    # `--residuals FILE.csv` writes the out-of-sample residuals; `--from FILE.csv` reuses them (no refits).
    args = sys.argv[1:]
    if "--from" in args:
        res = pd.read_csv(args[args.index("--from") + 1])
    else:
        res = logo()
    if "--residuals" in args:
        res.to_csv(args[args.index("--residuals") + 1], index=False)
    table = intervals.fit_table(res["resid"], res["group"], factors(res))
    rounded = {k: {"low": round(v["low"], 3), "high": round(v["high"], 3), "rows": v["rows"], "groups": v["groups"]}
               for k, v in table.items()}
    inside = intervals.coverage_out_of_group(res["resid"], res["group"], factors(res))
    print(f"# {len(res)} out-of-sample residuals from {res['group'].nunique()} source groups; nested coverage of "
          f"the 80 % interval {np.nanmean(inside) * 100:.1f} %", file=sys.stderr)
    print(yaml.safe_dump({"serving_intervals": rounded}, sort_keys=True))


if __name__ == "__main__":
    main()
