"""Example files whose comments quote engine numbers: every "engine: <key> = <number>" line is recomputed."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from chipplan import catalog
from chipplan.catalog import cost as cc
from chipplan.catalog import read_yaml
from chipplan.cost import server as srv
from chipplan.cost import silicon as si
from chipplan.cost import tco as tc
from chipplan.cost.uncertainty import central_params
from chipplan.strategy import demand as dm
from chipplan.strategy import portfolio as pf
from chipplan.strategy import scenario as sc
from chipplan.units import HOURS_PER_YEAR

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
QUOTE = re.compile(r"#\s*engine:\s*([\w.\-\[\]]+)\s*=\s*([-0-9.eE+]+)")
CAT = cc.load()


def quotes(path: Path) -> dict[str, float]:
    found = {k: float(v) for k, v in QUOTE.findall(path.read_text())}
    assert found, f"{path.name} quotes no engine numbers"
    return found


def check(path: Path, computed: dict[str, float]) -> None:
    for key, quoted in quotes(path).items():
        assert key in computed, f"{path.name}: nothing computes {key}"
        assert computed[key] == pytest.approx(quoted, rel=0.02, abs=1e-9), f"{path.name}: {key}"


def seed_figures(doc: dict) -> dict[str, float]:
    out: dict[str, float] = {}
    s = doc["server_8xh100"]
    sys_ = catalog.system(s["system"])
    acc = catalog.accelerator(sys_.accelerator)
    bom = srv.server_bom(n_accelerators=8, accelerator_price_usd=acc.price_usd, node_power_w=sys_.node_power_w,
                         **srv.host_params(CAT.host(srv.default_host(sys_, acc))))
    out["server_parts_usd"], out["host_parts_usd"] = bom["server_price_usd"], bom["host_parts_usd"]
    c = doc["cloud_three_years"]
    hours = c["years"] * HOURS_PER_YEAR * 8
    out["implied_usd_per_gpu_hour"] = c["claim_usd"] / hours
    neo = tc.resolve_cloud_rate(CAT, acc.id, "1yr", kind="neocloud")
    out["neocloud_1yr_contract_usd_per_gpu_hour"] = neo["rate"]
    out["neocloud_three_years_usd"] = neo["rate"] * hours
    p, _ = tc.tco_params(sys_, acc, CAT, years=c["years"])
    own = tc.system_tco(**central_params(p))
    out["hyperscaler_3yr_usd_per_gpu_hour"] = own["cloud_usd_per_accelerator_hour"]
    out["owned_three_years_usd"] = own["owned_total_usd"]
    g = doc["gpt5_class_run"]
    est = dm.training_run(str(EXAMPLES / g["model"]), g["hardware"], dm.RunSettings(
        tokens=g["tokens"], days=g["days"], global_batch_tokens=g["global_batch_tokens"], precision=g["precision"]))
    out["n_accelerators"], out["days"] = est.n_accelerators, est.days
    k = doc["custom_server_under_100k"]
    ref = catalog.system(k["compare_system"])
    pc, _ = tc.tco_params(ref, catalog.accelerator(ref.accelerator), CAT, years=k["years"],
                          server_price=k["server_usd"])
    custom = tc.system_tco(**central_params(pc))["owned_usd_per_accelerator_hour"]
    out["custom_owned_usd_per_accelerator_hour"] = custom
    out["dgx_owned_usd_per_accelerator_hour"] = own["owned_usd_per_accelerator_hour"]
    out["breakeven_h100e_per_accelerator"] = custom / own["owned_usd_per_accelerator_hour"]
    out["two_for_two_h100e_per_accelerator"] = 2 * custom / own["owned_usd_per_accelerator_hour"]
    nre = si.nre_usd(cc.central(CAT.node(k["nre_node"]).design_nre_usd))
    saving = (own["owned_usd_per_accelerator_hour"] - custom) * k["years"] * HOURS_PER_YEAR
    out["accelerators_to_repay_nre"] = nre / saving
    return out


def test_seed_check_reproduces_the_seed_from_parts():
    path = EXAMPLES / "seed_check.yaml"
    doc = read_yaml(path)
    got = seed_figures(doc)
    check(path, got)
    # the verdicts: the server and the GPT-5-class run are near the seed's figures; the $1M cloud bill is the
    # seed's price, which 2026 contracts undercut by well over a third; a $100k server must still do real work
    s, g = doc["server_8xh100"], doc["gpt5_class_run"]
    assert got["server_parts_usd"] == pytest.approx(s["claim_usd"], rel=s["tolerance"])
    assert got["n_accelerators"] == pytest.approx(g["claim_accelerators"], rel=g["tolerance"])
    assert got["days"] <= g["days"]
    assert got["neocloud_three_years_usd"] < 0.6 * doc["cloud_three_years"]["claim_usd"]
    assert 0.3 < got["breakeven_h100e_per_accelerator"] < 1.0
    # the reference's illustrative break-even: 12k-29k accelerators at parity for $300M-$725M of NRE
    assert 10_000 < got["accelerators_to_repay_nre"] < 30_000


@pytest.mark.slow
def test_fleet_example_comments_and_quarter_zero():
    path = EXAMPLES / "frontier_lab_fleet.yaml"
    inp = sc.build(sc.load(path), scenarios=20_000)
    check(path, inp.provenance["values"])
    r = pf.plan(inp, tornado_scenarios=0, with_stability=False)
    # the installed fleet covers quarter 0: no shortfall in any scenario
    assert r["quarters"][0]["p_short"] == 0
    assert r["installed"][0]["retires_quarter"] == 10
    for run in r["training_runs"]:
        assert run["route"] is not None
        assert run["on_time_probability_out_of_sample"] >= run["target_probability"] - 0.02
    spend = r["budget"]["expected_spend_usd"]
    assert all(x <= b * (1 + 1e-6) for x, b in zip(spend, r["budget"]["budget_usd"], strict=True))


@pytest.mark.slow
def test_frontier_example_is_stable():
    inp = sc.build(sc.load(EXAMPLES / "frontier_lab.yaml"), scenarios=20_000)
    check(EXAMPLES / "frontier_lab.yaml", inp.provenance["values"])
    a = pf.plan(inp, tornado_scenarios=0, with_stability=False)
    b = pf.plan(sc.build(sc.load(EXAMPLES / "frontier_lab.yaml"), scenarios=100_000), tornado_scenarios=0,
                with_stability=False)
    assert {k: v["units"] for k, v in a["portfolio"].items()} == {k: v["units"] for k, v in b["portfolio"].items()}
    # per-workload capacity: the serving engine rates a B200 above its training ratio; goodput is reported apart
    b200 = a["portfolio"]["buy_b200"]
    assert b200["serving_h100e_per_unit"] > b200["workload_h100e_per_unit"] > 1.5
    # published per-GPU B200/H100 serving ratios bracket the assistant's (a 235B-parameter MoE at 50 ms per output
    # token): 4.2x offline on the dense Llama 2 70B (MLPerf Inference v4.1, one B200 at FP4 against H100s at FP8,
    # 11,264 against 2,675 tokens/s per GPU) up to 14-18x on the 671B DeepSeek-R1 MoE at 42-71 tokens/s per user
    # (SemiAnalysis InferenceX, 1k/1k FP8): the larger the model against 80 GB, the larger the ratio
    assert 4.2 <= b200["serving_h100e_per_unit"] <= 18
    assert 0 < b200["training_goodput"] <= 1
    perf = {r.id: r.perf_per_unit for r in inp.routes}

    def committed(seed: int) -> tuple[float, str]:
        r = pf.plan(sc.build(sc.load(EXAMPLES / "frontier_lab.yaml"), seed=seed, scenarios=20_000),
                    tornado_scenarios=0, with_stability=False)
        units = {k: v["units"] * perf[k] for k, v in r["portfolio"].items()}
        return sum(units.values()), max(units, key=units.get)

    (c1, top1), (c2, top2) = committed(1), committed(2)
    assert c1 == pytest.approx(c2, rel=0.10)
    assert top1 == top2
    assert np.isfinite(c1)


def comment_text(path: Path) -> str:
    """A YAML file's comments with the ``#`` markers and line breaks folded away."""
    lines = path.read_text().splitlines()
    return re.sub(r"\s+", " ", " ".join(line.split("#", 1)[1] for line in lines if "#" in line))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["frontier_lab.yaml", "frontier_lab_fleet.yaml"])
def test_strategy_on_the_example_under_a_minute_with_progress_and_stable_units(name):
    """`chipplan strategy examples/<name>` (the full run: stability, policies, price-demand, tornado) takes under
    60 s of CPU time once the engine ratings are cached, reports progress to the end, and at the example's sample
    size its units vary by less than 5 % between independent batches (the issue's rule for the default size):
    the CV of committed H100e over the 10 replications, and of the largest route's units, as the comment says."""
    import time

    from chipplan import api

    path = EXAMPLES / name
    sf = sc.load(path)
    sc.build(sf, scenarios=1)  # engine ratings into the cache (the first run on a machine)
    seen: list[str] = []
    t0 = time.process_time()
    # as the command runs it: the tornado on the optimisation scenarios themselves
    r = api.strategy(path, tornado_scenarios=None, progress=seen.append).data
    cpu_s = time.process_time() - t0
    assert cpu_s < 60, f"{cpu_s:.1f} s of CPU"
    assert seen[-1] == "done" and len(seen) > 10 and any(s.startswith("replication") for s in seen)
    assert r["monte_carlo_scenarios"] == 100_000 and len(r["tornado"]) > 5
    st = r["stability"]
    assert st["replications"] == 10 and st["scenarios_per_replication"] == sf.optimisation_scenarios
    cv = st["committed_workload_h100e"]["cv"]
    assert 0 < cv < 0.05
    top = max(r["portfolio"], key=lambda k: r["portfolio"][k]["units"])
    u = np.array([b.get(top, 0.0) for b in st["units_by_replication"]])
    assert u.std(ddof=1) / u.mean() < 0.05, top
    quoted = re.search(r"committed H100e varies by ([\d.]+) % between batches", comment_text(path))
    assert quoted, f"{name} no longer quotes its batch-to-batch variation"
    assert 100 * cv == pytest.approx(float(quoted.group(1)), abs=0.05)
    if name == "frontier_lab.yaml":  # the example runs at the default sample size
        assert sf.optimisation_scenarios == sc.ScenarioFile.model_fields["optimisation_scenarios"].default == 512
