"""Realistic user mistakes: each gives exit status 2 and one line naming the field, never a traceback."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chipplan.cli import app

runner = CliRunner()
TRAIN = ("train", "--model", "llama3-8b", "--hardware", "h100-sxm-80gb", "--tokens", "1e12", "--gpus", "8")
SERVE = ("serve", "--model", "llama3-8b", "--hardware", "h100-sxm-80gb", "--input-len", "128",
         "--output-len", "128")


def fails(*args: str) -> str:
    r = runner.invoke(app, list(args))
    assert r.exit_code == 2, (r.exit_code, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    return r.stderr.strip()


@pytest.mark.parametrize(("extra", "message"), [
    (("--global-batch", "nan"), "error: --global-batch: must be in [1, 1e+10] tokens, got nan"),
    (("--global-batch", "inf"), "error: --global-batch: must be in [1, 1e+10] tokens, got inf"),
    (("--global-batch", "0"), "error: --global-batch: must be in [1, 1e+10] tokens, got 0.0"),
    (("--global-batch", "100"), "error: --global-batch: must hold at least one sequence of 8192 tokens, got 100.0"),
    (("--seq-len", "0"), "error: --seq-len: must be a whole number in [1, 100,000,000] tokens, got 0"),
    (("--seq-len", "-5"), "error: --seq-len: must be a whole number in [1, 100,000,000] tokens, got -5"),
    (("--price", "inf"), "error: --price: must be 0 or in [0.0001, 10,000] USD per accelerator-hour, got inf"),
    (("--tp", "0"), "error: --tp: must be an integer in [1, 1e+06], got 0"),
])
def test_train_bad_flags(extra, message):
    assert fails(*TRAIN, *extra) == message


def test_serve_tp_must_divide_heads():
    # Llama 3 8B has 32 query heads: tp 3 cannot split them, tp 1000 even less.
    assert fails(*SERVE, "--tp", "3") == "error: --tp: must divide the model's n_heads=32, got 3"
    assert fails(*SERVE, "--tp", "1000") == "error: --tp: must divide the model's n_heads=32, got 1000"


def test_serve_unknown_precision_lists_what_is_allowed():
    assert fails(*SERVE, "--precision", "fp7") == (
        "error: --precision: must be one of fp32, tf32, bf16, fp16, fp8, int8, fp4, int4, got 'fp7'")


@pytest.mark.parametrize(("extra", "message"), [
    (("--years", "1e308"), "error: --years: must be in [0.01, 100] years, got 1e+308"),
    (("--life-years", "inf"), "error: --life-years: must be in [0.01, 100] years, got inf"),
    (("--cloud-price", "inf"), "error: --cloud-price: must be 0 or in [0.0001, 10,000] USD per accelerator-hour, "
                               "got inf"),
    (("--pue", "inf"), "error: --pue: must be in [1, 5], got inf"),
    (("--samples", "100000000"), "error: --samples: must be a whole number in [0, 1,000,000] draws, got 100000000"),
    (("--samples", "10", "--seed", "-1"), "error: --seed: must be a whole number in [0, 4,294,967,295], got -1"),
])
def test_tco_bad_flags(extra, message):
    assert fails("tco", "--system", "dgx-h100", *extra) == message


def test_cost_per_token_years_bounded():
    assert fails("cost-per-token", "--system", "dgx-h100", "--tokens-per-s-per-gpu", "1000", "--years",
                 "1e308") == "error: --years: must be in [0.01, 100] years, got 1e+308"


def test_strategy_binary_file(tmp_path):
    p = tmp_path / "scenario.yaml"
    p.write_bytes(b"\xff\xfe\x00\xe7garbage")
    assert fails("strategy", str(p)) == f"error: {p}: not a UTF-8 text file (byte 0); expected YAML"


@pytest.mark.parametrize(("extra", "message"), [
    (("--seed", "-1"), "error: --seed: must be a whole number in [0, 4,294,967,295], got -1"),
    (("--scenarios", "100000000"), "error: --scenarios: must be an integer in [1, 500,000], got 100000000"),
    (("--tornado-scenarios", "100000000"), "error: --tornado-scenarios: must be a whole number in [0, 4,096] "
                                           "scenarios per re-optimisation, got 100000000"),
])
def test_strategy_bad_flags(extra, message):
    scenario = Path(__file__).resolve().parents[2] / "examples" / "frontier_lab.yaml"
    assert fails("strategy", str(scenario), *extra) == message


def test_strategy_scenario_seed_and_size_checked(tmp_path):
    from chipplan.errors import FieldError
    from chipplan.strategy import scenario as sc

    src = Path(__file__).resolve().parents[2] / "examples" / "frontier_lab.yaml"
    text = src.read_text()
    p = tmp_path / "s.yaml"
    p.write_text(text.replace("seed: 2026", "seed: -3"))
    with pytest.raises(FieldError, match=r"^seed: must be a non-negative integer, got -3$"):
        sc.build(sc.load(p))
    p.write_text(text.replace("monte_carlo_scenarios: 100000", "monte_carlo_scenarios: 9000000"))
    with pytest.raises(FieldError, match=r"^monte_carlo_scenarios: must be an integer in \[1, 500,000\]"):
        sc.build(sc.load(p))


def test_predict_non_finite_cell_is_shown_plainly(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("row_id,hardware_id,model_name,num_accelerators,seq_len,global_batch_seqs,tp,pp,dp\n"
                 "1,h100-sxm-80gb,llama3-8b,8,8192,inf,1,1,8\n")
    r = runner.invoke(app, ["predict", str(p)])
    row = json.loads(r.stdout)["rows"][0]
    assert row["status"] == "error" and row["reason"] == "global_batch_seqs: must be a number, got inf"


def test_predict_inference_tp_must_divide_heads(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("row_id,hardware_id,model_name,inf_input_len,inf_output_len,num_accelerators,tp\n"
                 "1,h100-sxm-80gb,llama3-8b,128,128,3,3\n"
                 "2,h100-sxm-80gb,llama3-8b,128,128,2,2\n")
    r = runner.invoke(app, ["predict", str(p)])
    rows = json.loads(r.stdout)["rows"]
    assert rows[0]["status"] == "error" and rows[0]["reason"] == "tp: must divide num_heads=32, got 3"
    assert rows[1]["status"] == "ok" and rows[1]["prediction"]["layout"]["tp"] == 2
