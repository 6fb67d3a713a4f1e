"""chipplan against the training runs held out of every fit (benchmarks/data/training_holdout.csv): Ironwood TPU7x,
MaxText on H200 and B200, MI325X with no stated global batch, and two whole-run averages (Llama 3 405B,
DeepSeek-V3). No efficiency, interval or stack profile was fitted or changed on these rows; the figures are
printed by ``python -m benchmarks.holdout_training``."""

from pathlib import Path

import pytest

from chipplan.io import validate_file

HOLDOUT = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "training_holdout.csv"


@pytest.fixture(scope="module")
def result():
    return validate_file(HOLDOUT)


def test_every_held_out_row_is_predicted(result):
    s = result["overall"]["tokens_per_s_per_gpu"]
    assert s["n_predicted"] == s["n_rows"] == 24


def test_held_out_figures_are_computed_and_bounded(result):
    # Measured 2026-12-01 (see benchmarks/data/README.md): median 25 %, p90 44 %, 80 % coverage 83 %. The issue's
    # targets (median <= 12 %, p90 <= 35 %) are not met; these bounds catch a regression.
    s = result["overall"]["tokens_per_s_per_gpu"]
    assert s["median_ape"] <= 0.30 and s["p90_ape"] <= 0.60
    assert s["interval_coverage"] >= 0.35


def test_run_average_rows_are_predicted_as_run_averages(result):
    from chipplan.io import predict_file

    rows = {r["row_id"]: r["prediction"] for r in predict_file(HOLDOUT)["rows"]}
    for rid in ("2023", "2024"):  # Llama 3 405B and DeepSeek-V3, tokens ÷ GPU-hours
        p = rows[rid]
        assert p["throughput_basis"] == "run" and 0.85 < p["goodput"] < 1.0 and p["ramp_factor"] <= 1.0
        assert p["tokens_per_s_per_gpu"] == pytest.approx(p["step_tokens_per_s_per_gpu"] * p["goodput"]
                                                          * p["ramp_factor"], rel=1e-9)
