"""chipplan against published serving results from other engines and vendors (benchmarks/data/serving_*.csv):
ROCm vLLM, SGLang wide-EP, DeepSeek's profile, InferenceX frontiers; the held-out file is reported on its own."""

from pathlib import Path

import numpy as np
import pytest

from chipplan.io.write import validate_file

DATA = Path(__file__).resolve().parents[2] / "benchmarks" / "data"


@pytest.fixture(scope="module")
def fit_set():
    return validate_file(DATA / "serving_inference.csv")


@pytest.fixture(scope="module")
def held_out():
    return validate_file(DATA / "serving_inference_holdout.csv")


def test_every_row_is_predicted(fit_set, held_out):
    for res in (fit_set, held_out):
        s = res["overall"]["output_tokens_per_s_per_gpu"]
        assert s["n_predicted"] == s["n_rows"]


def test_errors_on_the_rows_the_profiles_were_fitted_on(fit_set):
    s = fit_set["overall"]["output_tokens_per_s_per_gpu"]
    assert s["median_ape"] <= 0.20 and s["p90_ape"] <= 0.60


def _throughput(res, trt: bool) -> dict:
    rows = [r for r in res["rows"] if r["metric"] == "output_tokens_per_s_per_gpu"
            and ("TensorRT-LLM" in r["group"]) == trt]
    apes = np.array([r["ape"] for r in rows if r["ape"] is not None])
    cov = [r["covered"] for r in rows if r["covered"] is not None]
    return {"predicted": apes.size / len(rows), "median": float(np.median(apes)),
            "p90": float(np.percentile(apes, 90)), "coverage": float(np.mean(cov))}


def test_errors_on_the_held_out_rows_of_other_engines_and_vendors(held_out):
    # measured 2026-12-01 (issue 12): 100 % predicted, median 15.0 %, p90 29.1 %, 80 % coverage 78.8 %;
    # the targets are >= 95 %, <= 25 %, <= 80 %, 70-90 %
    s = _throughput(held_out, trt=False)
    assert s["predicted"] >= 0.95
    assert s["median"] <= 0.25 and s["p90"] <= 0.80
    assert 0.70 <= s["coverage"] <= 0.90


def test_errors_on_the_held_out_tensorrt_llm_rows(held_out):
    # measured 2026-12-01: median 5.4 %, p90 21.5 % (targets <= 10 %, <= 30 %); Llama 3.1 405B on H100 with a
    # 16-bit KV cache: a 128-request 2k/2k batch runs in two waves
    s = _throughput(held_out, trt=True)
    assert s["median"] <= 0.10 and s["p90"] <= 0.30
