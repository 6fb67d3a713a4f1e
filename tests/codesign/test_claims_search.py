"""Claims physics checks, Optuna ask/tell search, model co-design with scaling laws, designed routes, Ray."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from chipplan.cli import app
from chipplan.codesign import sweep
from chipplan.codesign.claims import check_file
from chipplan.codesign.modeldesign import codesign_model, loss, optimal
from chipplan.codesign.route import designed_route
from chipplan.codesign.search import SAMPLERS, make_searcher, search
from chipplan.codesign.sweeps import load_config

ROOT = Path(__file__).parents[2]


def test_example_claims_verdicts():
    r = {c["id"]: c for c in check_file(ROOT / "examples" / "claims.yaml")["claims"]}
    assert {c["company"] for c in r.values()} == {"Rain AI", "Cerebras", "Groq", "Etched"}
    assert r["rain-ai-training-energy"]["verdict"] == "inconsistent"
    # 0.71 pJ/FLOP / 10^4 is ~1/3700 of the N7 BF16 multiply-add floor
    assert r["rain-ai-training-energy"]["numbers"]["claimed_over_floor"] < 1e-3
    assert r["groq-lpu-llama70b"]["verdict"] == "consistent"
    assert r["groq-lpu-llama70b"]["numbers"]["kw_per_model_instance"] == pytest.approx(172.8)
    for cid in ("etched-sohu-llama70b", "cerebras-wse3-sram", "cerebras-wse3-compute", "rain-ai-compute"):
        assert r[cid]["verdict"].startswith("consistent only if"), cid
    # 500k tok/s x 2 x 70.6B active params / 8 chips = 8.8 PFLOP/s per chip (the reference's figure)
    assert r["etched-sohu-llama70b"]["numbers"]["flops_per_s_per_chip"] == pytest.approx(8.8e15, rel=0.01)
    # 21 PB/s x 8 bit x 0.21 pJ/bit = 35 kW against the 23 kW system
    assert r["cerebras-wse3-sram"]["numbers"]["sram_power_at_peak_w"] == pytest.approx(35.3e3, rel=0.01)
    for c in r.values():
        assert c["bound"] and c["source"]


def test_claims_cli_json_and_bad_file(tmp_path):
    res = CliRunner().invoke(app, ["codesign", "claims", str(ROOT / "examples" / "claims.yaml"), "--json"])
    assert res.exit_code == 0
    assert {"verdict", "bound", "id"} <= set(json.loads(res.stdout)["claims"][0])
    bad = tmp_path / "c.yaml"
    bad.write_text("claims:\n  - id: x\n    company: y\n    claim: z\n    source: somewhere public\n    kind: magic\n")
    res = CliRunner().invoke(app, ["codesign", "claims", str(bad)])
    assert res.exit_code == 2 and "claims.0.kind" in res.output


def test_rederive_cli_json():
    res = CliRunner().invoke(app, ["codesign", "rederive", "--json"])
    assert res.exit_code == 0
    chips = json.loads(res.stdout)["chips"]
    assert {"id", "area_mm2", "derived_area_mm2", "tdp_w", "derived_tdp_w", "peak_flops_error"} <= set(chips[0])


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_samplers_share_ask_tell_and_find_a_front(sampler, make_config):
    cfg = load_config(make_config())
    s = make_searcher(cfg, sampler, 0)
    rows = s.ask(4)
    assert len(rows) == 4 and set(cfg.space) <= set(rows[0])
    r = search(make_config(), budget=48, sampler=sampler, seed=1)
    assert len(r.designs) == 48 and len(r.pareto) >= 1
    assert r.designs["feasible"].any()


def test_scaling_laws_published_allocations():
    # Epoch's refit gives ~20 tokens per parameter (Besiroglu et al. 2024); Hoffmann's rounded fit ~90 here
    e = optimal(5.76e23, "epoch-2024")
    assert 15 < float(e["tokens_per_param"]) < 25
    c = optimal(5.76e23, "chinchilla")
    assert float(c["params"]) * float(c["tokens"]) * 6 == pytest.approx(5.76e23)
    # the optimum beats its neighbours along C = 6ND
    n = float(e["params"])
    for f in (0.8, 1.25):
        assert loss(n * f, 5.76e23 / (6 * n * f), "epoch-2024") > loss(n, 5.76e23 / (6 * n), "epoch-2024")


def test_model_codesign_joint_choice():
    r = codesign_model(ROOT / "examples" / "codesign.yaml", compute_flop=1e24, designs=16)
    assert r["law"] == "epoch-2024" and len(r["joint"]) == len(r["shapes"])
    assert all(j["params_active"] == pytest.approx(r["optimal"]["params"], rel=0.25) for j in r["joint"])
    assert r["best_chips"][0]["train_run_usd"] == min(j["train_run_usd"] for j in r["joint"])


def test_designed_route_fields_from_engines():
    cfg = ROOT / "examples" / "codesign.yaml"
    res = sweep(cfg, designs=200, seed=2)
    r = designed_route(config=cfg, result=res, route="partner-asic")
    assert r["kind"] == "custom_asic"
    assert r["perf_per_unit"] > 0 and r["unit_price_usd"] > 0
    assert r["unit_price_usd"] < r["unit_cost_usd"]  # NRE stays in the route's fixed cost
    assert r["fixed_cost_usd"] > 0 and r["lead_time_quarters"]
    again = designed_route(r["design"], config=cfg, route="partner-asic")
    assert again["perf_per_unit"] == r["perf_per_unit"]


@pytest.mark.slow
def test_ray_local_mode_writes_the_same_parquet(tmp_path, make_config):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=1, include_dashboard=False)
    try:
        sweep(make_config(), designs=300, seed=4, out_dir=tmp_path / "ray", ray=True)
    finally:
        ray.shutdown()
    sweep(make_config(), designs=300, seed=4, out_dir=tmp_path / "local")
    for f in ("designs.parquet", "pareto.parquet"):
        a = hashlib.sha256((tmp_path / "ray" / f).read_bytes()).hexdigest()
        b = hashlib.sha256((tmp_path / "local" / f).read_bytes()).hexdigest()
        assert a == b, f
    assert np.isfinite(1.0)


def test_design_figures_for_a_scenario_route():
    from chipplan.codesign.route import design_figures
    from chipplan.errors import FieldError

    f = design_figures({"sweep": "codesign.yaml", "designs": 100, "seed": 1}, base_dir=ROOT / "examples")
    assert f["perf_per_unit"] > 0 and f["unit_price_usd"] > 0 and "best of 100" in f["note"]
    g = design_figures({"sweep": str(ROOT / "examples" / "codesign.yaml"), "params": f["design"]})
    assert g["perf_per_unit"] == pytest.approx(f["perf_per_unit"])
    with pytest.raises(FieldError, match=r"routes\.x\.design\.bogus"):
        design_figures({"sweep": "codesign.yaml", "bogus": 1}, field="routes.x.design")


@pytest.mark.slow
def test_strategy_route_names_a_sweeps_best_design(tmp_path):
    import yaml

    from chipplan.strategy import scenario as sc

    doc = yaml.safe_load((ROOT / "examples" / "frontier_lab.yaml").read_text())
    doc["routes"]["partner_asic"] = {"uses": "partner-asic",
                                     "design": {"sweep": str(ROOT / "examples" / "codesign.yaml"), "designs": 64}}
    f = tmp_path / "lab.yaml"
    f.write_text(yaml.safe_dump(doc))
    for m in (ROOT / "examples").glob("*.yaml"):  # models the scenario names by relative path
        if "models:" in m.read_text():
            (tmp_path / m.name).write_text(m.read_text())
    inp = sc.build(sc.load(f), scenarios=200)
    route = {r.id: r for r in inp.routes}["partner_asic"]
    from chipplan.codesign.route import design_figures

    want = design_figures({"sweep": str(ROOT / "examples" / "codesign.yaml"), "designs": 64})
    assert route.perf_per_unit == pytest.approx(want["perf_per_unit"])
    assert route.unit_price_usd == pytest.approx(want["unit_price_usd"])
    assert route.perf_per_unit != 1.3 and route.unit_price_usd != 12000  # not the hand-typed route data
    doc["routes"]["buy_h100"]["design"] = {"sweep": "x.yaml", "designs": 8}
    f.write_text(yaml.safe_dump(doc))
    from chipplan.errors import FieldError

    with pytest.raises(FieldError, match=r"routes\.buy_h100\.design"):
        sc.build(sc.load(f), scenarios=200)
