"""chipplan against the training runs held out of every fit (benchmarks/data/training_holdout.csv): Ironwood TPU7x,
MaxText on H200, B200, TPU v6e and v5p, MI325X and MI355X with no stated global batch, whole-run averages (Llama 2,
Llama 3.1, BLOOM, DeepSeek-V2/V3, DeepSeek 67B, StarCoderBase, Falcon-180B, SmolLM3) and published steps of 2021-2024
(BLOOM, MT-NLG 530B, PaLM 540B, LLaMA 1, OPT-175B, Nemotron-4 15B/340B, TinyLlama), and MLPerf Training v5.0/v5.1
block throughput on GB200, H100 and B200 (IBM+CoreWeave+NVIDIA, Cisco, Oracle, Verda). No efficiency or interval
was fitted on these rows, but some mechanisms were looked for because rows 2001-2057 missed (benchmarks/data/README.md
lists which); rows 2058-2068 changed nothing. The figures are printed by ``python -m benchmarks.holdout_training``.
"""

from pathlib import Path

import pytest

from chipplan.io import validate_file

HOLDOUT = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "training_holdout.csv"


@pytest.fixture(scope="module")
def result():
    return validate_file(HOLDOUT)


def test_held_out_rows_are_predicted(result):
    # 57 rows, all read: OPT-175B's 2M-token batch on dp 124 is rounded to a multiple of dp (992 sequences), and
    # DeepSeek-V2 with pp 16, ep 8 and no accelerator count gets a default that ep can divide (128). Rows 2054-2057
    # (Pythia-1B run, OpenLLaMA 7B on TPU v4, Llama 3 405B Table 4) were added 2026-12-02 by the source-group split
    # of benchmarks/data/README.md; rows 2058-2067 (MLPerf Training v5.0/v5.1 logs of IBM+CoreWeave+NVIDIA, Cisco,
    # Oracle and Verda) and 2068 (MLPerf v6.0 AMD MI355X MXFP4) on 2026-12-03 by the alternating source-group split
    # of the same file; rows 2069-2070 (MLPerf v6.0 Cisco H200 and MiTAC MI325X) on 2026-12-03 by the third batch's
    # alternating split.
    s = result["overall"]["tokens_per_s_per_gpu"]
    assert s["n_predicted"] == s["n_rows"] == 81


def test_held_out_figures_are_computed_and_bounded(result):
    # Measured 2026-12-02 (see benchmarks/data/README.md): on the first 27 rows median 15.6 %, p90 35.8 %, 80 %
    # coverage 88.9 %; with 26 rows of 2021-2025 papers, logs and model cards added (53 rows, all predicted on main
    # 81dfa16) median 17.0 %, p90 62.5 %, coverage 69.8 %. With the intervals rebuilt after 16 published runs were added
    # to extra_training.csv and 4 to this file (2026-12-02): 53 old rows 17.0 % / 62.5 % / 81.1 %, all 57 rows 18.0 % /
    # 64.4 % / 82.5 %. With the data-parallel buckets, the per-stage pipeline split and the metaseq, LLaMA, Llama 3
    # and pre-FlashAttention DeepSpeed profiles (main 9a04fb5): all 57 rows 13.3 % / 55.9 % / 84.2 %. The issue's
    # median and p90 targets (<= 12 %, <= 35 %) are not met; these bounds catch a regression. With the 10 MLPerf rows
    # and the MLPerf v6.0 MI355X MXFP4 row (2026-12-03, on b1377b6, intervals not rebuilt): all 68 rows 12.5 % /
    # 34.8 % / 77.9 %, the 11 new rows 17.1 % / 26.4 % / 36.4 %. With the TPU MXU head-dimension padding and the
    # intervals rebuilt on 425 fit rows: all 68 rows 12.9 % / 34.8 % / 79.4 %, the 11 new rows 17.1 % / 26.4 % /
    # 36.4 %. With rows 2069-2070 (MLPerf v6.0 Cisco H200, MiTAC MI325X; main 918ac02): all 70 rows 12.5 % / 33.9 % /
    # 80.0 %. With the Blackwell family refitted on all its fit rows (the MLPerf rows of extra_training.csv had
    # joined the file without a refit), the 8-bit rule at 1.0 and the intervals rebuilt: all 70 rows 10.1 % / 29.9 % /
    # 87.1 %, rows 2058-2068 4.9 % / 16.1 % / 72.7 %, which meets the targets (<= 12 %, <= 35 %, 70-90 %).
    # Rows 2071-2081 (a blind MLPerf v5.1 batch, predicted once on 2c1c481): 7.0 % / 15.6 % / 90.9 %; all 81 rows
    # 9.3 % / 29.0 % / 87.7 %. The bounds are the targets.
    s = result["overall"]["tokens_per_s_per_gpu"]
    assert s["median_ape"] <= 0.12 and s["p90_ape"] <= 0.35
    assert 0.70 <= s["interval_coverage"] <= 0.90


def test_stated_remat_policies_reach_the_predictions(result):
    from chipplan.io import predict_file

    rows = {r["row_id"]: r["prediction"] for r in predict_file(HOLDOUT)["rows"]}
    assert rows["2009"]["remat_policy"].startswith("custom decoder_layer_input=device context=device")
    # DeepSeek-V3 on Ironwood offloads its layer inputs to host memory: with them on the device it would not fit
    assert rows["2001"]["fits_in_memory"] and rows["2001"]["layout"]["recompute"] == "full"
    assert "remat_policy" not in rows["2023"]  # the Llama 3 run states none


def test_run_average_rows_are_predicted_as_run_averages(result):
    from chipplan.io import predict_file

    rows = {r["row_id"]: r["prediction"] for r in predict_file(HOLDOUT)["rows"]}
    for rid in ("2023", "2024"):  # Llama 3 405B and DeepSeek-V3, tokens ÷ GPU-hours
        p = rows[rid]
        assert p["throughput_basis"] == "run" and 0.85 < p["goodput"] < 1.0 and p["ramp_factor"] <= 1.0
        assert p["tokens_per_s_per_gpu"] == pytest.approx(p["step_tokens_per_s_per_gpu"] * p["goodput"]
                                                          * p["ramp_factor"], rel=1e-9)
