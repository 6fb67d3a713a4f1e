import json

import pytest
from typer.testing import CliRunner

from chipplan.cli import app

runner = CliRunner()
HEADER = ("row_id,hardware_id,model_name,num_accelerators,num_layers,hidden_size,num_heads,ffn_hidden_size,"
          "vocab_size,seq_len,global_batch_seqs,tp,pp,dp,micro_batch_size,precision,activation_recompute\n")
GOOD = "1,a100-sxm-80gb,GPT-3.6B (Megatron),64,30,3072,32,12288,51200,2048,512,2,1,32,4,bf16,full\n"


def run(*args):
    r = runner.invoke(app, list(args))
    return r.exit_code, r.stdout, r.stderr


def test_version():
    code, out, _ = run("--version")
    assert code == 0 and out.startswith("chipplan 0.")


def test_catalog_list_and_show():
    code, out, _ = run("catalog", "list", "accelerators", "--json")
    assert code == 0 and "h100-sxm-80gb" in json.loads(out)["accelerators"]
    code, out, _ = run("catalog", "show", "H100 SXM5 80GB", "--json")
    assert code == 0 and json.loads(out)["id"] == "h100-sxm-80gb"


def test_unknown_id_lists_near_matches_and_exits_2():
    code, _, err = run("catalog", "show", "h100-sxm-80")
    assert code == 2
    assert err.startswith("error: accelerators: unknown id 'h100-sxm-80'; did you mean h100-sxm-80gb")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_bad_section():
    code, _, err = run("catalog", "list", "chips")
    assert code == 2 and "section: must be one of accelerators, systems, models" in err


def test_model_command():
    code, out, _ = run("model", "deepseek-v3", "--json")
    assert code == 0
    d = json.loads(out)
    assert d["params"]["total"] == pytest.approx(671e9, rel=0.02)
    assert d["kv_cache_bytes_per_token"]["bf16"] == 61 * 576 * 2


def test_predict_contract(tmp_path):
    f = tmp_path / "t.csv"
    bad_hw = GOOD.replace("1,a100", "2,b999")
    bad_num = GOOD.replace(",30,", ",abc,").replace("1,", "3,", 1)
    f.write_text(HEADER + GOOD + bad_hw + bad_num)
    code, out, _ = run("predict", str(f), "--json")
    assert code == 0
    d = json.loads(out)
    assert set(d) == {"chipplan_version", "catalog_version", "rows"}
    r1, r2, r3 = d["rows"]
    assert r1["status"] == "ok" and r1["kind"] == "training" and r1["reason"] is None
    p = r1["prediction"]
    for k in ("tokens_per_s_per_gpu", "step_time_s", "mfu", "memory_per_gpu_bytes", "fits_in_memory",
              "tokens_per_s_per_gpu_low", "tokens_per_s_per_gpu_high"):
        assert k in p
    assert p["tokens_per_s_per_gpu_low"] < p["tokens_per_s_per_gpu"] < p["tokens_per_s_per_gpu_high"]
    assert "cp" in p["filled"] and "micro_batch" not in p["filled"]
    assert r2["status"] == "error" and r2["reason"].startswith("hardware_id: unknown id 'b999-sxm-80gb'; did you mean")
    assert r3["status"] == "error" and r3["reason"] == "num_layers: must be a number, got 'abc'"


@pytest.mark.parametrize(("row", "reason"), [
    (GOOD.replace(",2,1,32,", ",3,1,32,"), "dp: tp*pp*dp*cp=96 must equal num_accelerators=64"),
    (GOOD.replace(",2,1,32,", ",5,1,32,").replace(",64,", ",160,", 1),
     "layout: no valid layout for the stated fields (tp must divide n_heads)"),
    (GOOD.replace(",4,bf16", ",5,bf16"),
     "layout: no valid layout for the stated fields (dp*micro_batch must divide the global batch"),
    (GOOD.replace("2048,512", "-2048,512"), "seq_len: must be a whole number in [1, 100,000,000] tokens, got -2048"),
    (GOOD.replace("bf16", "fp8"), "precision: a100-sxm-80gb has no fp8 peak"),
    (GOOD.replace(",full", ",sometimes"), "activation_recompute: must be one of none, selective, full"),
    (GOOD.replace(",51200,", ",1e30,"), "vocab_size: must be a whole number in [1, 100,000,000] tokens, got 1e+30"),
])
def test_predict_bad_rows_name_the_field(tmp_path, row, reason):
    f = tmp_path / "t.csv"
    f.write_text(HEADER + row)
    code, out, _ = run("predict", str(f))
    assert code == 0
    r = json.loads(out)["rows"][0]
    assert r["status"] == "error"
    assert r["reason"].startswith(reason), r["reason"]


@pytest.mark.parametrize(("content", "message"), [
    ("", "empty file"),
    ("row_id,model_name\n1,x\n", "missing required column(s) hardware_id"),
])
def test_predict_bad_files_exit_2(tmp_path, content, message):
    f = tmp_path / "t.csv"
    f.write_text(content)
    code, _, err = run("predict", str(f))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_predict_zero_rows_and_missing_file(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text(HEADER)
    code, out, _ = run("predict", str(f))
    assert code == 0 and json.loads(out)["rows"] == []
    code, _, err = run("predict", str(tmp_path / "nope.csv"))
    assert code == 2 and "file not found" in err
    code, _, err = run("predict", str(tmp_path))
    assert code == 2 and "is a directory" in err


def test_validate_by_group(validation_dir):
    code, out, _ = run("validate", str(validation_dir / "training_calibration.csv"), "--by-group", "--json")
    assert code == 0
    d = json.loads(out)
    assert "Megatron-LM (Narayanan et al. 2021)" in d["by_group"]


def test_train_command_and_errors():
    code, out, _ = run("train", "--model", "llama-3.1-8b", "--hardware", "dgx-h100", "--gpus", "64",
                       "--tokens", "1e12", "--price", "2", "--json")
    assert code == 0
    d = json.loads(out)
    assert d["n_accelerators"] == 64 and d["cost_usd"] == pytest.approx(2 * d["accelerator_hours"])
    code, _, err = run("train", "--model", "llama-3.1-8b", "--hardware", "h100", "--tokens", "1e12")
    assert code == 2 and "give the accelerator count (--accelerators) or the deadline (--days), exactly one" in err
    code, _, err = run("train", "--model", "llama-9", "--hardware", "h100", "--tokens", "1e12", "--gpus", "8")
    assert code == 2 and err.startswith("error: models: unknown id 'llama-9'")
    code, _, err = run("train", "--model", "llama-3.1-8b", "--hardware", "h100", "--tokens", "1e12", "--gpus", "8",
                       "--price", "-1")
    assert code == 2 and "--price: must be 0 or in [0.0001, 10,000] USD per accelerator-hour, got -1.0" in err


def test_predict_detail_adds_breakdown(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text(HEADER + GOOD)
    plain = json.loads(run("predict", str(f))[1])["rows"][0]["prediction"]
    detail = json.loads(run("predict", str(f), "--detail")[1])["rows"][0]["prediction"]
    assert "breakdown_s" not in plain
    b = detail["breakdown_s"]
    assert sum(b.values()) == pytest.approx(detail["step_time_s"], rel=1e-6)  # the parts add up to the step


def test_validate_plot_writes_html(tmp_path, validation_dir):
    out = tmp_path / "v.html"
    code, _, _ = run("validate", str(validation_dir / "inference_calibration.csv"), "--plot", str(out))
    # One plotly.min.js beside the chart (shared by every chart in the folder); the HTML loads it.
    assert code == 0 and b'src="plotly.min.js"' in out.read_bytes()
    assert (tmp_path / "plotly.min.js").stat().st_size > 1_000_000
    code, _, err = run("validate", str(validation_dir / "inference_calibration.csv"), "--plot", str(tmp_path / "v.txt"))
    assert code == 2 and "--plot: must name an .html, .png or .svg file" in err
    assert not (tmp_path / "v.txt").exists()


def test_model_from_a_yaml_file(tmp_path):
    f = tmp_path / "m.yaml"
    f.write_text("models:\n  tiny:\n    name: Tiny\n    n_layers: 2\n    d_model: 64\n    n_heads: 4\n    d_ff: 256\n"
                 "    vocab_size: 1000\n    source: 'a test shape, chipplan tests, 2026'\n")
    code, out, _ = run("model", str(f), "--json")
    assert code == 0 and json.loads(out)["params"]["total"] > 0
    code, _, err = run("model", str(tmp_path / "missing.yaml"))
    assert code == 2 and "file not found" in err


MOE_HEADER = ("row_id,hardware_id,model_name,num_accelerators,seq_len,global_batch_seqs,tp,pp,dp,ep,micro_batch_size,"
              "precision,activation_recompute\n")


def test_predict_moe_rules_and_memory_shortfall(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text(MOE_HEADER
                 + "1,h100-sxm-80gb,mixtral-8x7b,16,4096,64,2,1,8,3,1,bf16,none\n"     # ep=3 does not divide 8 experts
                 + "2,h100-sxm-80gb,llama-3.1-405b,8,8192,8,1,1,8,1,1,bf16,none\n")  # 405B on one node
    rows = json.loads(run("predict", str(f))[1])["rows"]
    assert rows[0]["status"] == "error"
    assert "ep must divide n_experts" in rows[0]["reason"]
    assert rows[1]["status"] == "ok" and rows[1]["prediction"]["fits_in_memory"] is False
    assert rows[1]["reason"].startswith("does not fit in memory: needs ")
    assert rows[1]["prediction"]["memory_shortfall_gb"] > 500  # 405B × 18 B/param on 8 GPUs is ~0.9 TB each


@pytest.mark.parametrize(("flags", "message"), [
    (["--tp", "8", "--pp", "5"], "tp*pp*dp*cp must equal the number of accelerators"),
    (["--micro-batch", "3"], "dp*micro_batch must divide the global batch in sequences"),
    (["--recompute", "sometimes"], "recompute: must be one of none, selective, full"),
    (["--tp", "0"], "tp: must be an integer in [1,"),
    (["--tp", "8", "--pp", "16", "--cp", "1", "--vpp", "1", "--micro-batch", "1", "--zero-stage", "1",
      "--recompute", "none"], "GiB more per accelerator"),
])
def test_train_with_a_stated_layout_names_the_broken_rule(flags, message):
    code, _, err = run("train", "--model", "llama-3.1-405b", "--hardware", "h100-sxm-80gb", "--gpus", "16384",
                       "--tokens", "15.6e12", *flags)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_train_keeps_a_stated_layout():
    code, out, _ = run("train", "--model", "llama-3.1-70b", "--hardware", "h100-sxm-80gb", "--gpus", "64",
                       "--tokens", "1e12", "--tp", "4", "--pp", "4", "--json")
    assert code == 0
    lay = json.loads(out)["layout"]
    assert (lay["tp"], lay["pp"], lay["dp"] * lay["cp"]) == (4, 4, 4)


def test_train_top_lists_ranked_layouts_that_fit():
    code, out, _ = run("train", "--model", "llama-3.1-70b", "--hardware", "h100-sxm-80gb", "--gpus", "64",
                       "--tokens", "1e12", "--top", "5", "--json")
    assert code == 0
    d = json.loads(out)
    ranked = d["ranked_layouts"]
    assert 1 <= len(ranked) <= 5 and all(x["fits_in_memory"] for x in ranked)
    speeds = [x["tokens_per_s_per_accelerator"] for x in ranked]
    assert speeds == sorted(speeds, reverse=True)
    assert speeds[0] == pytest.approx(d["tokens_per_s_per_accelerator"], rel=1e-9)  # the plan is the fastest
    code, _, err = run("train", "--model", "llama-3.1-70b", "--hardware", "h100", "--gpus", "64", "--tokens", "1e12",
                       "--top", "500")
    assert code == 2 and "--top: must be a whole number in [0, 100] layouts, got 500" in err


def test_train_ep_on_a_dense_model_is_an_error_not_ignored():
    code, _, err = run("train", "--model", "llama-3.1-70b", "--hardware", "h100-sxm-80gb", "--gpus", "64",
                       "--tokens", "1e12", "--ep", "4")
    assert code == 2 and "ep: must be 1 for llama-3.1-70b, a dense model without experts, got 4" in err


def test_train_deadline_with_a_stated_layout_that_breaks_a_rule_names_the_rule():
    code, _, err = run("train", "--model", "llama-3.1-70b", "--hardware", "h100-sxm-80gb", "--days", "30",
                       "--tokens", "1e12", "--tp", "3")
    assert code == 2 and "tp must divide n_heads" in err and "inf days" not in err
