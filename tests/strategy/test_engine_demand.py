"""Engine-backed demand: training runs through `estimate_run`, serving through the serving engine, chip
ratings from the training engine, and engine errors renamed to the scenario field that caused them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from chipplan.cli import app
from chipplan.errors import FieldError, InfeasibleError
from chipplan.perf.plan import estimate_run
from chipplan.perf.serving import tokens_per_s_per_accelerator
from chipplan.strategy import demand as dm
from chipplan.strategy import scenario as sc

Q_DAYS = 365.25 / 4
H100 = "h100-sxm-80gb"
# llama-3.1-8b keeps every engine call to a fraction of a second
BASE = {
    "name": "engine", "horizon_quarters": 4, "seed": 1, "monte_carlo_scenarios": 200, "optimisation_scenarios": 10,
    "demand": {"training": [{"name": "run", "model": "llama-3.1-8b", "tokens": 1.0e12, "start_quarter": 1,
                             "deadline_quarter": 2}]},
    "routes": {"buy": {"uses": "merchant-h100"}, "b200": {"uses": "merchant-b200"}},
    "unmet_penalty_usd_per_h100e_hour": 8.0,
}
runner = CliRunner()


def doc(**training) -> dict:
    d = json.loads(json.dumps(BASE))
    d["demand"]["training"][0].update(training)
    return d


def build(tmp_path: Path, d: dict, name: str = "s.yaml") -> sc.StrategyInputs:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(d))
    return sc.build(sc.load(p))


def test_training_hours_are_the_engines_and_scale_with_tokens(tmp_path):
    a = build(tmp_path, doc())
    b = build(tmp_path, doc(tokens=2.0e12))
    est = estimate_run("llama-3.1-8b", H100, 1.0e12, days=Q_DAYS)
    # one quarter: reference accelerators busy = engine accelerator-hours / hours in a quarter
    assert a.demand.training_h100e[1] == pytest.approx(est.accelerator_hours / dm.HOURS_PER_QUARTER, rel=1e-12)
    assert a.demand.training_h100e[[0, 2, 3]].tolist() == [0.0, 0.0, 0.0]
    # twice the tokens at the same throughput per accelerator: twice the hours, up to goodput at the new scale
    ratio = b.demand.training_h100e[1] / a.demand.training_h100e[1]
    assert 1.9 < ratio < 2.1
    note = a.provenance["performance"]["demand.training.run.accelerator_hours"]
    assert note.startswith(dm.TRAINING_ENGINE)
    assert a.provenance["engines"] == {"training": dm.TRAINING_ENGINE, "serving": dm.SERVING_ENGINE}


def test_run_settings_reach_the_engine(tmp_path):
    inp = build(tmp_path, doc(precision="fp8", global_batch_tokens=2**23, seq_len=4096))
    est = estimate_run("llama-3.1-8b", H100, 1.0e12, days=Q_DAYS, precision="fp8", global_batch_tokens=2**23,
                       seq_len=4096)
    assert inp.demand.training_h100e[1] == pytest.approx(est.accelerator_hours / dm.HOURS_PER_QUARTER, rel=1e-12)
    note = inp.provenance["performance"]["demand.training.run.accelerator_hours"]
    assert "fp8" in note and "global batch 2048 x 4096 tokens" in note
    # fp8 is faster than the bf16 default on an H100
    assert inp.demand.training_h100e[1] < build(tmp_path, doc()).demand.training_h100e[1]


def test_merchant_chip_rated_by_training_engine_not_peak(tmp_path):
    inp = build(tmp_path, doc())
    perf = {r.id: r.perf_per_unit for r in inp.routes}
    s = dm.RunSettings(tokens=1.0e12, days=Q_DAYS)
    ref = estimate_run("llama-3.1-8b", H100, 1.0e12, days=Q_DAYS)
    h100 = ref.accelerator_hours
    # at equal cluster size: the B200 runs the same job on as many accelerators as the H100 needs
    b200 = estimate_run("llama-3.1-8b", "b200-sxm-180gb", 1.0e12, n_accelerators=ref.n_accelerators).accelerator_hours
    assert perf["buy"] == 1.0
    assert perf["b200"] == pytest.approx(h100 / b200, rel=1e-12)
    assert perf["b200"] == pytest.approx(dm.workload_ratio("llama-3.1-8b", "b200-sxm-180gb", s), rel=1e-12)
    assert inp.provenance["performance"]["routes.b200.perf_per_unit"].startswith(dm.TRAINING_ENGINE)


def test_serving_demand_from_serving_engine(tmp_path):
    d = doc()
    d["demand"]["serving"] = [{"name": "chat", "model": "llama-3.1-8b", "users": 1.0e6, "tokens_per_user_per_day":
                               8640, "peak_to_average": 2.0, "slo_tpot_ms": 20}]
    inp = build(tmp_path, d)
    tps = tokens_per_s_per_accelerator("llama-3.1-8b", H100, slo_tpot_ms=20)
    # 1e6 users x 8,640 tokens / 86,400 s = 1e5 tokens/s, x2 at peak, no growth
    assert inp.demand.inference_h100e == pytest.approx([2.0e5 / tps] * 4, rel=1e-12)
    assert inp.serving_tokens_per_h100e_hour == pytest.approx(tps * 3600, rel=1e-12)
    assert inp.provenance["performance"]["demand.serving.chat.tokens_per_s_per_accelerator"].startswith(
        dm.SERVING_ENGINE)


def test_overrides_skip_the_engines(tmp_path):
    d = doc(accelerator_hours=2191.5 * 1000, model="", tokens=None)
    d["demand"]["serving"] = [{"name": "chat", "users": 1.0e6, "tokens_per_user_per_day": 8640,
                               "tokens_per_s_per_accelerator": 100}]
    d["routes"]["b200"]["perf_per_unit"] = 2.0
    inp = build(tmp_path, d)
    assert inp.demand.training_h100e[1] == pytest.approx(1000 * 2191.5 / dm.HOURS_PER_QUARTER)
    assert inp.demand.inference_h100e[0] == pytest.approx(1.0e5 * 1.5 / 100)
    notes = inp.provenance["performance"]
    assert "override" in notes["demand.training.run.accelerator_hours"]
    assert "override" in notes["demand.serving.chat.tokens_per_s_per_accelerator"]
    assert notes["routes.b200.perf_per_unit"].startswith("given")


def test_model_file_relative_to_scenario(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "tiny.yaml").write_text(yaml.safe_dump({"models": {"tiny-lm": {
        "name": "Tiny LM", "n_layers": 32, "d_model": 4096, "n_heads": 32, "n_kv_heads": 8, "d_ff": 14336,
        "vocab_size": 128256, "max_seq_len": 8192, "gated_mlp": True, "source": "test fixture (2026)"}}}))
    inp = build(tmp_path, doc(model="models/tiny.yaml"))
    assert inp.demand.training_h100e[1] > 0
    assert "tiny-lm" in inp.provenance["performance"]["demand.training.run.accelerator_hours"]
    with pytest.raises(FieldError, match=r"^demand\.training\.run\.model: model file not found"):
        build(tmp_path, doc(model="models/missing.yaml"))


def cli(tmp_path: Path, d: dict):
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(d))
    return runner.invoke(app, ["strategy", str(p), "--json", "--tornado-scenarios", "0"])


def test_infeasible_deadline_is_one_line_naming_the_field(tmp_path):
    # 1e15 tokens of an 8B model in one quarter: the fastest plan at the 4M-token default batch takes ~177 days
    r = cli(tmp_path, doc(tokens=1.0e15))
    assert r.exit_code == 2
    line = r.stderr.strip()
    assert len(line.splitlines()) == 1
    assert line.startswith("error: demand.training.run.deadline_quarter: llama-3.1-8b on h100-sxm-80gb cannot "
                           "finish 1e+15 tokens in 91.3125 days")
    assert "the fastest plan takes" in line
    with pytest.raises(InfeasibleError, match=r"^demand\.training\.run\.deadline_quarter: "):
        build(tmp_path, doc(tokens=1.0e15))
    # a 64M-token global batch lets more accelerators share the work and meets the quarter
    ok = build(tmp_path, doc(tokens=1.0e15, global_batch_tokens=2**26))
    assert ok.demand.training_h100e[1] > 10_000


@pytest.mark.parametrize(("change", "needle"), [
    ({"precision": "fp3"}, "demand.training.run.precision: "),
    ({"tokens": -1.0}, "demand.training.0.tokens: must be in [1, 1e+16] tokens, got -1.0"),
    ({"model": "llama-9"}, "demand.training.run.model: unknown id 'llama-9'"),
    ({"global_batch_tokens": 10.0}, "demand.training.run.global_batch_tokens: must hold at least one sequence"),
])
def test_engine_input_errors_name_the_scenario_field(tmp_path, change, needle):
    r = cli(tmp_path, doc(**change))
    assert r.exit_code == 2
    assert needle in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(("accelerator", "precision", "needle"), [
    ("h900", "bf16", "routes.b200.accelerator: unknown id 'h900'; did you mean"),
    ("a100-sxm-80gb", "fp8", "routes.b200.accelerator: a100-sxm-80gb has no fp8 peak"),
])
def test_route_chip_the_engine_cannot_rate(tmp_path, accelerator, precision, needle):
    d = doc(precision=precision)
    d["routes"]["b200"]["accelerator"] = accelerator
    r = cli(tmp_path, d)
    assert r.exit_code == 2
    assert needle in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_catalog_chip_without_a_run_to_rate_it(tmp_path):
    d = doc(accelerator_hours=1.0e6, model="", tokens=None)
    r = cli(tmp_path, d)
    assert r.exit_code == 2
    assert "routes.b200.perf_per_unit: needs a value, or a training run" in r.stderr
    # a performance model without a run of its own is rated on a short probe run
    d["demand"]["performance_model"] = "llama-3.1-8b"
    inp = build(tmp_path, d)
    probe = dm.RunSettings(tokens=sc.PROBE_TOKENS, days=sc.PROBE_DAYS)
    assert {r.id: r.perf_per_unit for r in inp.routes}["b200"] == pytest.approx(
        dm.workload_ratio("llama-3.1-8b", "b200-sxm-180gb", probe))
