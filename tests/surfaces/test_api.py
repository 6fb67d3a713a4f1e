"""The Python API is the CLI's front door: same inputs, same numbers; typed results with frames."""

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import chipplan
import chipplan.errors
from chipplan.cli import app
from chipplan.commands._common import to_json

runner = CliRunner()


def cli_json(*args):
    r = runner.invoke(app, [*args, "--json"])
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def same(result):
    """The API's dict as the CLI prints it (JSON numbers, NaN as null)."""
    return json.loads(to_json(result.to_dict()))


def test_train_api_equals_cli():
    api = chipplan.train("llama-3.1-8b", "h100-sxm-80gb", tokens=1e12, accelerators=64, price=2.5, top=3)
    cli = cli_json("train", "--model", "llama-3.1-8b", "--hardware", "h100-sxm-80gb", "--tokens", "1e12",
                   "--accelerators", "64", "--price", "2.5", "--top", "3")
    assert same(api) == cli
    assert isinstance(api, chipplan.TrainResult) and api.n_accelerators == 64
    assert api.cost_usd == pytest.approx(api.accelerator_hours * 2.5)
    assert api.days_low < api.days < api.days_high
    frame = api.to_frame()
    assert len(frame) == 1 and frame.loc[0, "layout_tp"] == api.layout["tp"]
    with pytest.raises(AttributeError):
        api.days = 1.0  # frozen


def test_old_gpus_flag_and_keyword_still_work():
    a = chipplan.train("llama-3.1-8b", "h100-sxm-80gb", tokens=1e12, gpus=64)
    b = cli_json("train", "--model", "llama-3.1-8b", "--hardware", "h100-sxm-80gb", "--tokens", "1e12",
                 "--gpus", "64")
    assert a.n_accelerators == b["n_accelerators"] == 64


def test_compare_api_equals_cli_and_frame_has_a_row_per_chip():
    kw = dict(tokens=1e12, accelerators=64)
    api = chipplan.compare("llama-3.1-8b", ["h100-sxm-80gb", "b200-sxm-180gb"], **kw)
    cli = cli_json("compare", "--model", "llama-3.1-8b", "--tokens", "1e12", "--accelerators", "64",
                   "--hardware", "h100-sxm-80gb", "--hardware", "b200-sxm-180gb")
    assert same(api) == cli
    f = api.to_frame()
    assert list(f["accelerator"]) == ["h100-sxm-80gb", "b200-sxm-180gb"]
    assert (f["days_low"] < f["days"]).all() and (f["days"] < f["days_high"]).all()


def test_serve_api_equals_cli():
    kw = dict(input_len=1024, output_len=256, slo_tpot_ms=30, qps=10, price_per_hour=2.0)
    api = chipplan.serve("llama-3.1-8b", "h100-sxm-80gb", **kw)
    cli = cli_json("serve", "--model", "llama-3.1-8b", "--hardware", "h100-sxm-80gb", "--input-len", "1024",
                   "--output-len", "256", "--slo-tpot-ms", "30", "--qps", "10", "--price-per-hour", "2")
    assert same(api) == cli
    b = api.best
    assert b["output_tokens_per_s_per_accelerator_low"] < b["output_tokens_per_s_per_accelerator"] \
        < b["output_tokens_per_s_per_accelerator_high"]
    # cost falls as throughput rises: the interval's ends swap, both around the central value
    assert b["usd_per_million_output_tokens_low"] < b["usd_per_million_output_tokens"] \
        < b["usd_per_million_output_tokens_high"]
    assert len(api.to_frame()) == len(api.frontier) and "memory_per_accelerator_gib" in api.to_frame()


def test_serve_without_slo_says_it_is_the_fastest_and_system_prices_on_ownership():
    r = runner.invoke(app, ["serve", "--model", "llama-3.1-8b", "--system", "dgx-h100", "--input-len", "1024",
                            "--output-len", "256", "--format", "table"])
    assert r.exit_code == 0, r.stderr
    assert "Best under the SLO" not in r.stdout and "Fastest configuration (no SLO given)" in r.stdout
    d = cli_json("serve", "--model", "llama-3.1-8b", "--system", "dgx-h100", "--input-len", "1024",
                 "--output-len", "256")
    owned = chipplan.tco("dgx-h100", years=3).owned_usd_per_accelerator_hour
    assert d["price_usd_per_accelerator_hour"] == pytest.approx(owned)
    assert d["price_source"].startswith("owned dgx-h100") and d["best_under_slo"] is False


def test_tco_and_cost_per_token_api_equal_cli():
    assert same(chipplan.tco("dgx-h100", years=3)) == cli_json("tco", "--system", "dgx-h100", "--years", "3")
    api = chipplan.cost_per_token(model="llama-3.1-70b", hardware="h100-sxm-80gb", price_per_hour=2.5)
    cli = cli_json("cost-per-token", "--model", "llama-3.1-70b", "--hardware", "h100-sxm-80gb",
                   "--price-per-hour", "2.5")
    assert same(api) == cli
    # the configuration behind the number is the serving plan's best one, and the number follows from it
    serve = chipplan.serve("llama-3.1-70b", "h100-sxm-80gb", input_len=2048, output_len=512, price_per_hour=2.5)
    assert cli["configuration"]["tp"] == serve.best["tp"] and cli["configuration"]["batch"] == serve.best["batch"]
    assert cli["usd_per_million_tokens"] == pytest.approx(serve.best["usd_per_million_output_tokens"])
    assert cli["usd_per_million_tokens_low"] < cli["usd_per_million_tokens"] < cli["usd_per_million_tokens_high"]


def test_predict_keeps_input_columns_beside_predictions():
    df = pd.DataFrame([{"hardware_id": "a100-sxm-80gb", "model_name": "GPT-3.6B", "num_accelerators": 64,
                        "num_layers": 30, "hidden_size": 3072, "num_heads": 32, "ffn_hidden_size": 12288,
                        "vocab_size": 51200, "seq_len": 2048, "global_batch_seqs": 512, "tp": 2, "pp": 1, "dp": 32,
                        "micro_batch_size": 4, "precision": "bf16", "activation_recompute": "full",
                        "my_note": "keep me"},
                       {"hardware_id": "b999", "model_name": "x", "num_accelerators": 8, "my_note": "bad"}])
    with pytest.raises(chipplan.errors.InputFileError, match="unknown column 'my_note'"):
        chipplan.predict(df)
    out = chipplan.predict(df, allow_extra_columns=True)
    assert list(out.columns[: len(df.columns)]) == list(df.columns)
    assert list(out["my_note"]) == ["keep me", "bad"]
    assert list(out["status"]) == ["ok", "error"] and "num_layers" in out.loc[1, "reason"]
    assert out.loc[0, "tokens_per_s_per_accelerator"] == out.loc[0, "tokens_per_s_per_gpu"]
    assert out.loc[0, "memory_per_accelerator_gib"] == pytest.approx(out.loc[0, "memory_per_gpu_bytes"] / 2**30)
    assert "tp_predicted" not in out and out.loc[0, "layout_tp"] == 2  # the stated tp is kept, and reported


def test_predict_out_file_keeps_input_columns(tmp_path):
    src = tmp_path / "t.csv"
    src.write_text("row_id,hardware_id,model_name,num_accelerators,num_layers,hidden_size,num_heads,"
                   "ffn_hidden_size,vocab_size,seq_len,global_batch_seqs,tp,pp,dp,micro_batch_size,precision,"
                   "activation_recompute,comment\n1,a100-sxm-80gb,GPT-3.6B (Megatron),64,30,3072,32,12288,51200,2048,"
                   "512,2,1,32,4,bf16,full,mine\n")
    for suffix, read in ((".csv", pd.read_csv), (".parquet", pd.read_parquet), (".json", pd.read_json)):
        out = tmp_path / f"p{suffix}"
        r = runner.invoke(app, ["predict", str(src), "--out", str(out), "--allow-extra-columns"])
        assert r.exit_code == 0, r.stderr
        f = read(out)
        assert f.loc[0, "comment"] == "mine" and f.loc[0, "status"] == "ok"
        assert f.loc[0, "tokens_per_s_per_accelerator"] > 0
    r = runner.invoke(app, ["predict", str(src), "--out", str(tmp_path / "p.xlsx"), "--allow-extra-columns"])
    assert r.exit_code == 2 and "--out: must name a .csv, .parquet, .json file" in r.stderr


CODESIGN = str(Path(__file__).resolve().parents[2] / "examples" / "codesign.yaml")
TIMINGS = ("wall_s", "designs_per_s")  # the only fields of a sweep summary that are not a function of its inputs


def test_codesign_sweep_api_equals_cli():
    res = chipplan.codesign.sweep(CODESIGN, designs=64, seed=7)
    cli = cli_json("codesign", "sweep", CODESIGN, "--designs", "64", "--seed", "7")
    api = same(res)
    assert {k: v for k, v in api.items() if k not in TIMINGS} == {k: v for k, v in cli.items() if k not in TIMINGS}
    assert api["chipplan_version"] == chipplan.__version__ and api["designs"] == 64
    # .to_frame() is the Pareto front the summary lists (its first 50 rows), .designs every design
    front = res.to_frame()
    assert len(front) == api["pareto"] and len(res.designs) == 64
    assert [r["design_id"] for r in api["pareto_front"]] == front["design_id"].head(50).tolist()
    assert set(res.objectives) <= set(front.columns)
    # and the same front in every output format
    r = runner.invoke(app, ["codesign", "sweep", CODESIGN, "--designs", "64", "--seed", "7", "--format", "csv"])
    assert r.exit_code == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [int(x["design_id"]) for x in rows] == [x["design_id"] for x in api["pareto_front"]]


SMALL_STRATEGY = """\
name: small
horizon_quarters: 6
seed: 1
monte_carlo_scenarios: 2000
optimisation_scenarios: 30
demand:
  training: [{name: run, accelerator_hours: 3.0e7, start_quarter: 1, deadline_quarter: 3}]
  serving: [{name: chat, users: 1.0e7, tokens_per_user_per_day: 1000, growth_per_year: 1.0,
             tokens_per_s_per_accelerator: 500}]
routes: {buy: {uses: merchant-h100, max_units: 20000}, rent: {uses: cloud-reserved-h100}}
unmet_penalty_usd_per_h100e_hour: 8.0
"""


def test_strategy_api_equals_cli(tmp_path):
    path = tmp_path / "small.yaml"
    path.write_text(SMALL_STRATEGY)
    import chipplan.strategy.montecarlo  # the subpackage of the same name, imported first

    api = chipplan.strategy(path, seed=3, tornado_scenarios=0, replications=0)
    assert chipplan.strategy.montecarlo.__name__ == "chipplan.strategy.montecarlo"  # still the subpackage too
    cli = cli_json("strategy", str(path), "--seed", "3", "--tornado-scenarios", "0", "--replications", "0")
    assert same(api) == cli
    assert api.expected_cost_usd == cli["expected_cost_usd"] and api.cvar_cost_usd >= api.expected_cost_usd
    frame = api.to_frame()
    assert set(frame.route) == {"buy", "rent"}
    assert frame.set_index("route").loc["buy", "units"] == api.portfolio["buy"]["units"]


def test_predict_api_equals_cli(tmp_path):
    src = tmp_path / "t.csv"
    src.write_text("row_id,hardware_id,model_name,num_accelerators,num_layers,hidden_size,num_heads,"
                   "ffn_hidden_size,vocab_size,seq_len,global_batch_seqs,tp,pp,dp,micro_batch_size,precision,"
                   "activation_recompute\n1,a100-sxm-80gb,GPT-3.6B,64,30,3072,32,12288,51200,2048,512,2,1,32,4,bf16,"
                   "full\n2,h100-sxm-80gb,GPT-3.6B,64,30,3072,32,12288,51200,2048,512,,,,,bf16,\n")
    cli = cli_json("predict", str(src))
    out = chipplan.predict(pd.read_csv(src))
    assert [str(x) for x in out.row_id] == [r["row_id"] for r in cli["rows"]] == ["1", "2"]
    for i, row in enumerate(cli["rows"]):
        p = row["prediction"]
        assert out.loc[i, "status"] == row["status"] == "ok"
        for key in ("tokens_per_s_per_gpu", "tokens_per_s_per_gpu_low", "tokens_per_s_per_accelerator", "mfu",
                    "step_time_s", "memory_per_gpu_bytes"):
            assert out.loc[i, key] == pytest.approx(p[key], rel=1e-12), key
        assert out.loc[i, "layout_tp"] == p["layout"]["tp"]


def test_import_chipplan_is_light_and_exports_the_api_lazily():
    code = ("import sys, chipplan; heavy = [m for m in ('pandas', 'scipy', 'plotly', 'numpy') if m in sys.modules];"
            "print(heavy); print(callable(chipplan.train), 'chipplan.api' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "[]" and out[1] == "True True"
    exported = {"train", "serve", "compare", "tco", "strategy", "predict", "cost_per_token", "codesign"}
    assert exported <= set(dir(chipplan))
    code = "import sys, chipplan; print(callable(chipplan.codesign.sweep), 'pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "False"]  # the sweep is there after a bare `import chipplan`, loaded on use


def test_misspelt_columns_are_an_error_naming_close_matches(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("hardware_id,model_name,num_accelerators,seq_length,target_tokens_per_gpu\n"
                 "h100-sxm-80gb,llama-3.1-8b,8,4096,1000\n")
    for cmd in ("predict", "validate"):
        r = runner.invoke(app, [cmd, str(f)])
        assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1
        assert "unknown columns 'seq_length' (did you mean seq_len" in r.stderr
        assert "'target_tokens_per_gpu' (did you mean target_tokens_per_s_per_gpu" in r.stderr
    # With the extra columns allowed, predict answers; validate has no target column left to score.
    r = runner.invoke(app, ["predict", str(f), "--allow-extra-columns", "--json"])
    assert r.exit_code == 0
    r = runner.invoke(app, ["validate", str(f), "--allow-extra-columns", "--json"])
    assert r.exit_code == 2 and "no target column" in r.stderr


def test_validate_says_why_each_failed_row_failed(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("row_id,hardware_id,model_name,num_accelerators,global_batch_seqs,seq_len,target_tokens_per_s_per_gpu\n"
                 "1,h100-sxm-80gb,llama-3.1-8b,8,64,4096,9000\n2,b999,llama-3.1-8b,8,64,4096,9000\n")
    d = json.loads(runner.invoke(app, ["validate", str(f), "--json"]).stdout)
    bad = next(r for r in d["rows"] if r["row_id"] == "2")
    assert bad["predicted"] is None and "hardware_id" in bad["reason"]
    text = runner.invoke(app, ["validate", str(f), "--format", "table"]).stdout
    assert "rows not predicted, and why" in text and "hardware_id" in text
