"""chipplan against published serving results the shared table lacks (H200, GH200, B200/GB200 NVFP4, Gaudi 2/3,
405B and MoE models), collected with sources in benchmarks/data/ (see its README)."""

from pathlib import Path

import pytest

from chipplan.io import validate_file

EXTRA = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "extra_inference.csv"


@pytest.fixture(scope="module")
def result():
    return validate_file(EXTRA)


def test_rows_are_predicted_except_the_four_that_do_not_fit(result):
    s = result["overall"]["output_tokens_per_s_per_gpu"]
    assert s["n_rows"] == 365 and s["n_predicted"] >= 361


def test_throughput_error_on_unseen_serving_results(result):
    s = result["overall"]["output_tokens_per_s_per_gpu"]
    assert s["median_ape"] <= 0.20
    assert s["p90_ape"] <= 0.50
    assert 0.65 <= s["interval_coverage"] <= 0.98
