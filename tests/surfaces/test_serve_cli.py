import json

import pytest
from typer.testing import CliRunner

from chipplan.cli import app

runner = CliRunner()
BASE = ["serve", "--model", "llama-3.1-8b", "--hardware", "h100-sxm-80gb", "--input-len", "1000",
        "--output-len", "200", "--tp", "1", "--tp", "2"]


def run(*args):
    r = runner.invoke(app, list(args))
    return r.exit_code, r.stdout, r.stderr


def test_serve_json_plan_load_and_cost():
    code, out, _ = run(*BASE, "--slo-tpot-ms", "20", "--qps", "50", "--price-per-hour", "2", "--json")
    assert code == 0
    d = json.loads(out)
    best = d["best"]
    assert best["tpot_ms"] <= 20 and best["tp"] in (1, 2)
    # the best under the SLO is the highest-throughput configuration that meets it
    ok = [r for r in d["frontier"] if r["tpot_ms"] <= 20]
    key = "output_tokens_per_s_per_accelerator"
    assert best[key] >= max(r[key] for r in ok) - 1e-6
    # frontier: TPOT rises as throughput rises
    thr = [r["output_tokens_per_s_per_accelerator"] for r in d["frontier"]]
    assert thr == sorted(thr)
    assert d["load_output_tokens_per_s"] == 50 * 200
    per_replica = best["output_tokens_per_s_per_accelerator"] * best["accelerators_per_replica"]
    assert d["replicas"] == -(-10000 // per_replica) or d["replicas"] * per_replica >= 10000
    # cost: $2/h ÷ (tokens/s · 3600) per token
    usd = 2 / 3600 / best["output_tokens_per_s_per_accelerator"] * 1e6
    assert best["usd_per_million_output_tokens"] == pytest.approx(usd)
    assert best["usd_per_million_input_output_tokens"] == pytest.approx(usd * 200 / 1200)
    assert "output" in d["tokens_counted"]


def test_serve_table_states_tokens_counted():
    code, out, _ = run(*BASE, "--price-per-hour", "2")
    assert code == 0
    assert "Tokens counted" in out and "per million output tokens" in out


@pytest.mark.parametrize(("extra", "msg"), [
    (["--input-len", "0"], "--input-len: must be a whole number in [1, 100,000,000] tokens, got 0"),
    (["--slo-tpot-ms", "0.01"], "slo: no configuration meets p99 TPOT <= 0.01 ms; best achievable"),
    (["--precision", "int3"], "--precision: must be one of"),
    (["--engine", "nonsense-engine"], "--engine: must be one of tensorrt-llm"),
])
def test_serve_bad_input_one_line_exit_2(extra, msg):
    code, _out, err = run(*BASE, *extra)
    assert code == 2
    assert err.strip().startswith(f"error: {msg}"), err
    assert len(err.strip().splitlines()) == 1


def test_serve_model_does_not_fit():
    code, _, err = run("serve", "--model", "llama-3.1-405b", "--hardware", "a100-sxm-40gb", "--input-len", "100",
                       "--output-len", "100", "--tp", "2")
    assert code == 2 and "does not fit" in err and "GB more per accelerator" in err


def test_serve_plot_writes_the_frontier_chart(tmp_path):
    from typer.testing import CliRunner

    from chipplan.cli import app

    out = tmp_path / "frontier.html"
    r = CliRunner().invoke(app, ["serve", "--model", "llama-3.1-8b", "--hardware", "h100-sxm-80gb", "--input-len",
                                 "1024", "--output-len", "256", "--slo-tpot-ms", "30", "--plot", str(out)])
    assert r.exit_code == 0 and (tmp_path / "plotly.min.js").stat().st_size > 1_000_000
    assert f"wrote chart to {out}" in r.stderr
    assert b"best under the SLO" in out.read_bytes()
    bad = CliRunner().invoke(app, ["serve", "--model", "llama-3.1-8b", "--hardware", "h100-sxm-80gb", "--input-len",
                                   "1024", "--output-len", "256", "--plot", str(tmp_path / "f.txt")])
    assert bad.exit_code == 2 and "--plot: must name an .html, .png or .svg file" in bad.stderr


def test_serve_plot_to_an_unwritable_place_is_one_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, _, err = run("serve", "--model", "llama-3.1-8b", "--hardware", "h100-sxm-80gb", "--input-len", "1024",
                       "--output-len", "256", "--plot", str(blocker / "frontier.html"))
    assert code == 2 and err.startswith("error: --plot: cannot write") and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.rglob("*.tmp"))


def test_serve_fp4_on_hardware_without_fp4_answers_at_fp8_with_the_note():
    code, out, _ = run(*BASE, "--precision", "fp4", "--json")
    assert code == 0
    d = json.loads(out)
    assert d["best"]["precision"] == "fp4" and d["best"]["run_precision"] == "fp8"
    assert any("h100-sxm-80gb has no fp4" in n and "fp8" in n for n in d["notes"])
    code, text, _ = run(*BASE, "--precision", "fp4")
    assert code == 0 and "Note: precision: h100-sxm-80gb has no fp4" in text.replace("\n", " ")


def test_serve_qps_raises_ttft_and_engine_is_reported():
    base = ["serve", "--model", "llama-3.1-70b", "--hardware", "mi300x", "--input-len", "2048", "--output-len", "256",
            "--tp", "8", "--precision", "fp8", "--engine", "vllm-rocm", "--json"]
    low = json.loads(run(*base, "--qps", "0.2")[1])
    high = json.loads(run(*base, "--qps", "0.2", "--slo-tpot-ms", "1000")[1])
    assert low["engine"] == "vllm-rocm" and low["engine_known"]
    # TTFT at a tiny load is the bare prefill + one step: below the TTFT the planner reports at its own rate
    own = json.loads(run(*base)[1])
    assert low["best"]["ttft_p99_ms"] <= own["best"]["ttft_p99_ms"] + 1e-6
    assert high["best"]["tpot_ms"] <= 1000


def test_serve_moe_searches_attention_dp_and_wide_ep():
    code, out, _ = run("serve", "--model", "deepseek-v3", "--hardware", "h200-sxm-141gb", "--input-len", "2000",
                       "--output-len", "500", "--precision", "fp8", "--engine", "sglang", "--json")
    assert code == 0
    d = json.loads(out)
    layouts = {(r["tp"], r["ep"], r["attention_dp"]) for r in d["frontier"]}
    assert d["configurations_evaluated"] > 0 and d["best"]["tp"] * d["best"]["attention_dp"] >= 8
    assert all(ep <= tp * dp for tp, ep, dp in layouts)


def test_serve_disaggregated_and_speculative_flags():
    code, out, _ = run(*BASE, "--prefill-instances", "2", "--decode-instances", "6", "--json")
    assert code == 0
    d = json.loads(out)
    assert d["disaggregation"] == {"prefill_instances": 2, "decode_instances": 6, "prefill_tp": None}
    b = d["best"]
    assert b["accelerators_per_replica"] == 8 * b["tp"] and b["bottleneck"] in ("prefill", "decode", "kv_transfer")
    assert b["kv_transfer_ms"] > 0
    code, out, _ = run(*BASE, "--spec-draft-len", "3", "--spec-accept", "0.7", "--json")
    assert code == 0 and json.loads(out)["speculative_decoding"] == {"draft_len": 3, "accept": 0.7}
    code, _, err = run(*BASE, "--prefill-tp", "2")
    assert code == 2 and "--prefill-tp" in err
    code, _, err = run(*BASE, "--spec-draft-len", "2", "--spec-accept", "1.5")
    assert code == 2 and "--spec-accept" in err
