"""Serving prediction intervals from leave-one-source-group-out residuals (prints YAML; edits nothing).

For every source group whose rows took part in fitting a serving-engine profile's device terms
(``FITTED``: decode_layer_overhead_s, allreduce_bw_fraction, gemm_m_half), the profile is refitted on a small grid
without that group and the group is predicted with the refitted values; rows of groups no fit used are out of
sample as they stand. The residuals ``log(measured / predicted)`` of throughput, TTFT and TPOT feed
``chipplan.perf.intervals.fit_table`` (each source group weighted once, regimes coarsest first: metric, whether
the engine is known, mixture of experts). The held-out file (``serving_inference_holdout.csv``) is not used.

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
FITTED = {"TensorRT-LLM": ["tensorrt-llm"], "ROCm blog MI300X vLLM": ["vllm-rocm", "sglang", "vllm", "vllm-v0"],
          "InferenceX DeepSeek-R1 8k/1k FP8 (mi300x)": ["vllm-rocm", "sglang", "vllm", "vllm-v0"]}
GRID = {"decode_layer_overhead_s": [3e-5, 5e-5], "allreduce_bw_fraction": [0.5, 0.75], "gemm_m_half": [64.0, 128.0]}
METRICS = (("output_tokens_per_s_per_gpu", "target_output_tokens_per_s_per_gpu"), ("ttft_ms", "target_ttft_ms"),
           ("tpot_ms", "target_tpot_ms"))


def _fitted_by(group: str) -> list[str]:
    return [e for key, engines in FITTED.items() if key in group for e in engines]


def _residuals(df: pd.DataFrame) -> pd.DataFrame:
    rows = predict_frame(df)["rows"]
    out = []
    for r, (_, row) in zip(rows, df.iterrows(), strict=True):
        p = r.get("prediction") or {}
        for key, tcol in METRICS:
            t = pd.to_numeric(pd.Series([row.get(tcol)]), errors="coerce").iloc[0]
            v = p.get(key)
            if not np.isfinite(t) or t <= 0 or not v:
                continue
            out.append({"group": row["source_group"], "metric": key, "resid": float(np.log(t / v)),
                        "engine_known": "inf_engine" not in p.get("filled", []),
                        "moe": bool(p.get("layout", {}).get("ep", 1) > 1 or
                                    pd.to_numeric(pd.Series([row.get("moe_num_experts")]),
                                                  errors="coerce").fillna(0).iloc[0] > 0)})
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
    return serving_engines.interval_regimes(metric=res["metric"].to_numpy(),
                                            engine_known=res["engine_known"].to_numpy(), moe=res["moe"].to_numpy())


def main() -> None:
    res = logo()
    table = intervals.fit_table(res["resid"], res["group"], factors(res))
    rounded = {k: {"low": round(v["low"], 3), "high": round(v["high"], 3), "rows": v["rows"], "groups": v["groups"]}
               for k, v in table.items()}
    inside = intervals.coverage_out_of_group(res["resid"], res["group"], factors(res))
    print(f"# {len(res)} out-of-sample residuals from {res['group'].nunique()} source groups; nested coverage of "
          f"the 80 % interval {np.nanmean(inside) * 100:.1f} %", file=sys.stderr)
    print(yaml.safe_dump({"serving_intervals": rounded}, sort_keys=True))


if __name__ == "__main__":
    main()
