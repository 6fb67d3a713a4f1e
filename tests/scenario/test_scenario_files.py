"""Scenario files: the example loads, extends merges, every problem is reported at once with file and line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chipplan import scenario as sc
from chipplan.scenario.model import Uncertain

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"


def test_frontier_lab_is_a_plan_scenario():
    r = sc.load(ROOT / "examples" / "frontier_lab.yaml")
    assert r.scenario.name == "frontier_lab"
    assert r.files == ("frontier_lab.yaml",)
    assert [t.name for t in r.scenario.demand.training] == ["frontier-run-1", "frontier-run-2"]
    assert r.scenario.plan.years == 3.0  # the plan section's defaults
    # the same file still reads as a strategy scenario
    from chipplan.strategy import scenario as strategy_scenario

    assert strategy_scenario.load(ROOT / "examples" / "frontier_lab.yaml").horizon_quarters == 12


def test_extends_merges_named_entries_and_keeps_lines():
    r = sc.load(DATA / "small_lab.yaml")
    assert r.files == ("small_lab.yaml", "frontier_lab.yaml")
    t0 = r.scenario.demand.training[0]
    assert (t0.model, t0.tokens) == ("llama-3.1-70b", 2e12)  # overridden here
    assert (t0.start_quarter, t0.deadline_quarter) == (4, 5)  # inherited from frontier_lab.yaml
    assert r.scenario.routes["buy_b200"] == {"uses": "merchant-b200"}
    assert r.scenario.monte_carlo_scenarios == 2000
    assert r.lines[("demand", "training", 0, "tokens")][0] == "small_lab.yaml"
    assert r.lines[("demand", "training", 0, "start_quarter")][0] == "frontier_lab.yaml"
    assert r.digest() == sc.load(DATA / "small_lab.yaml").digest()


def test_every_problem_at_once_with_file_line_and_field():
    with pytest.raises(sc.ScenarioError) as e:
        sc.load(DATA / "bad_lab.yaml")
    assert e.value.problems == [
        "bad_lab.yaml:5 demand.training[0].tokens: must be in [1, 1e+16] tokens, got -1",
        "bad_lab.yaml:7 plan.years: must be > 0, got 0",
        "bad_lab.yaml:8 plan.utilisation: needs p5 <= p50 <= p95",
        "bad_lab.yaml:10 routes.buy_h100.max_units: must be a number, got 'lots'",
    ]


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_unknown_fields_missing_fields_and_inherited_lines(tmp_path):
    base = _write(tmp_path, "base.yaml", (ROOT / "examples" / "frontier_lab.yaml").read_text())
    child = _write(tmp_path, "child.yaml", "extends: base.yaml\nhorizon_quarters: 4\nplan:\n  colour: red\n")
    with pytest.raises(sc.ScenarioError) as e:
        sc.load(child)
    msgs = e.value.problems
    assert "child.yaml:4 plan.colour: unknown field (see `chipplan scenario schema`), got 'red'" in msgs
    # frontier-run-2's deadline (quarter 11) now lies beyond the 4-quarter horizon set in child.yaml; the line
    # points at the base file, where the deadline is written
    line = next(i for i, t in enumerate(base.read_text().splitlines(), 1) if "deadline_quarter: 11" in t)
    assert (f"base.yaml:{line} demand.training[1].deadline_quarter: must be <= horizon_quarters (4), got 11"
            in msgs)


def test_cycles_aliases_duplicates_and_malformed(tmp_path):
    _write(tmp_path, "a.yaml", "extends: b.yaml\nname: a\n")
    _write(tmp_path, "b.yaml", "extends: a.yaml\nname: b\n")
    with pytest.raises(sc.ScenarioError, match="a cycle"):
        sc.load(tmp_path / "a.yaml")
    laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]\n" for p, c in zip("abcdefg", "bcdefgh", strict=True))
    _write(tmp_path, "laughs.yaml", laughs)
    with pytest.raises(sc.InputFileError, match=r"laughs\.yaml:\d+: malformed YAML \(.*alias"):
        sc.load(tmp_path / "laughs.yaml")
    _write(tmp_path, "dup.yaml", "name: a\nname: b\n")
    with pytest.raises(sc.InputFileError, match=r"dup\.yaml:2: malformed YAML \(duplicate key 'name'"):
        sc.load(tmp_path / "dup.yaml")
    _write(tmp_path, "broken.yaml", "name: [a\n")
    with pytest.raises(sc.InputFileError, match=r"broken\.yaml:2: malformed YAML"):
        sc.load(tmp_path / "broken.yaml")
    _write(tmp_path, "list.yaml", "- 1\n")
    with pytest.raises(sc.ScenarioError, match=r"list\.yaml:1 a scenario must be a YAML mapping"):
        sc.load(tmp_path / "list.yaml")


def test_loads_refuses_extends_outside_its_folder(tmp_path):
    with pytest.raises(sc.ScenarioError, match="extends: not allowed here"):
        sc.loads("extends: ../../etc/passwd.yaml\n")
    with pytest.raises(sc.ScenarioError, match="unknown scenario"):
        sc.loads("extends: ../frontier_lab.yaml\n", folder=ROOT / "examples")
    r = sc.loads("extends: frontier_lab.yaml\nseed: 3\n", folder=ROOT / "examples")
    assert r.scenario.seed == 3 and r.files == ("scenario.yaml", "frontier_lab.yaml")


def test_schema_states_units_and_plan_defaults():
    s = sc.json_schema()
    assert s["title"] == "chipplan scenario"
    props = s["properties"]
    assert {"extends", "plan", "demand", "routes", "horizon_quarters"} <= set(props)
    assert "quarters" in props["horizon_quarters"]["description"]
    plan = s["$defs"]["PlanSection"]["properties"]
    assert "years" in plan["years"]["description"] and plan["years"]["default"] == 3.0
    assert "USD per accelerator-hour" in plan["price_usd_per_accelerator_hour"]["description"]


@pytest.mark.parametrize(("spec", "p5", "p50", "p95"), [
    ({"p5": 1.0, "p50": 2.0, "p95": 5.0}, 1.0, 2.0, 5.0),  # two-piece lognormal keeps the skew
    ({"dist": "lognormal", "p5": 1.0, "p95": 4.0}, 1.0, 2.0, 4.0),  # median sqrt(1 · 4)
    ({"dist": "normal", "mean": 10.0, "sd": 1.0}, 10 - 1.6449, 10.0, 10 + 1.6449),
    ({"dist": "uniform", "low": 0.0, "high": 1.0}, 0.05, 0.5, 0.95),
    ({"dist": "triangular", "low": 0.0, "mode": 0.0, "high": 1.0}, 1 - np.sqrt(0.95), 1 - np.sqrt(0.5),
     1 - np.sqrt(0.05)),
    (2.5, 2.5, 2.5, 2.5),
])
def test_uncertain_inputs_sample_their_stated_percentiles(spec, p5, p50, p95):
    u = Uncertain.model_validate(spec)
    x = u.sample(np.random.default_rng(1), 200_000)
    got = np.percentile(x, [5, 50, 95])
    assert got == pytest.approx([p5, p50, p95], rel=0.01, abs=0.01)
    assert u.median == pytest.approx(p50, rel=0.01, abs=0.01)


def test_one_uncertainty_vocabulary_for_plan_and_cost():
    """A plan input and a cost-catalog range written alike are the same distribution, drawn by the same sampler:
    the plan's triple is the cost engine's two-piece lognormal (not a split normal), bit for bit."""
    from chipplan.catalog.cost import Dist, Triple, lognormal_90
    from chipplan.cost import uncertainty as cu
    from chipplan.strategy.routes import LogNormal90

    u = Uncertain.model_validate({"p5": 0.7, "p50": 0.85, "p95": 0.95})
    assert u.param == Triple(p5=0.7, p50=0.85, p95=0.95)
    a = u.sample(np.random.default_rng(3), 1000)
    b = cu.sample(Triple(p5=0.7, p50=0.85, p95=0.95), 1000, np.random.default_rng(3))
    assert np.array_equal(a, b)
    # below the median the log-spread is ln(p50/p5)/1.645: the 25th percentile of a two-piece lognormal, which a
    # split normal (linear spread) would put at 0.85 - 0.6745 x 0.15/1.645 = 0.7885
    q25 = 0.85 * np.exp(-0.6745 * np.log(0.85 / 0.7) / 1.6449)
    x = Uncertain.model_validate({"p5": 0.7, "p50": 0.85, "p95": 0.95}).sample(np.random.default_rng(0), 400_000)
    assert np.percentile(x, 25) == pytest.approx(q25, abs=1e-3) and abs(q25 - 0.7885) > 2e-3
    # a lognormal 90 % interval: one conversion for the cost catalog, the plan and the strategy's multipliers
    med, sig = lognormal_90(1.6, 3.0)
    assert med == pytest.approx(np.sqrt(1.6 * 3.0)) and sig == pytest.approx(np.log(3.0 / 1.6) / (2 * 1.6448536))
    d = Dist(dist="lognormal", p5=1.6, p95=3.0)
    assert (d.median, d.sigma) == (med, sig)
    assert Uncertain.model_validate({"dist": "lognormal", "p5": 1.6, "p95": 3.0}).param == d
    assert (LogNormal90(p5=1.6, p95=3.0).median, LogNormal90(p5=1.6, p95=3.0).sigma) == (med, sig)
    # a triangular's median in closed form: low + sqrt((high - low)(mode - low)/2) when the mode is past the middle
    tri = Uncertain.model_validate({"dist": "triangular", "low": 2.0, "mode": 3.5, "high": 4.0})
    assert tri.median == pytest.approx(2.0 + np.sqrt(2.0 * 1.5 / 2.0))
    with pytest.raises(ValueError, match="p5 >= 0"):
        Uncertain.model_validate({"p5": -1.0, "p50": 0.0, "p95": 1.0})


def test_uncertain_inputs_reject_incomplete_ranges():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="needs low, high"):
        Uncertain.model_validate({"dist": "uniform", "low": 1.0})
    with pytest.raises(ValidationError, match="p5 > 0"):
        Uncertain.model_validate({"dist": "lognormal", "p5": 0.0, "p95": 1.0})


def test_control_characters_are_a_one_line_error():
    with pytest.raises(sc.InputFileError,
                       match=r"scenario\.yaml:1: malformed YAML \(character U\+0007 at column 8 is not allowed"):
        sc.loads("name: a\x07\n")
