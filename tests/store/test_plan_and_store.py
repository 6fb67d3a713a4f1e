"""``chipplan plan`` end to end on a quick scenario, the results store, and atomic writes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import chipplan
from chipplan.cli import app
from chipplan.store import Store

DATA = Path(__file__).resolve().parents[1] / "scenario" / "data"
runner = CliRunner()


def run(*args):
    r = runner.invoke(app, [str(a) for a in args])
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """The quick scenario twice: as written, then with a longer ownership horizon and another seed."""
    tmp = tmp_path_factory.mktemp("plan")
    store = tmp / "store"
    code, out, err = run("plan", DATA / "small_lab.yaml", "--out", tmp / "a", "--store", store, "--progress", "none",
                         "--json")
    assert code == 0, err
    a = json.loads(out)
    (tmp / "longer.yaml").write_text(f"extends: {DATA / 'small_lab.yaml'}\nplan:\n  years: 5\n")
    code, out, err = run("plan", tmp / "longer.yaml", "--out", tmp / "b", "--store", store, "--seed", "11",
                         "--progress", "none", "--json")
    assert code == 0, err
    return tmp, store, a, json.loads(out)


def test_plan_writes_report_tables_and_provenance(two_runs):
    tmp, _store, a, _ = two_runs
    d = tmp / "a"
    for f in ("report.html", "report.md", "provenance.json", "tables/headlines.parquet", "tables/headlines.csv",
              "tables/training.parquet", "tables/serving.parquet", "tables/tco.parquet", "tables/portfolio.parquet",
              "tables/supply_fan.parquet", "tables/validation.parquet", "tables/codesign_pareto.parquet"):
        assert (d / f).is_file(), f
    html = (d / "report.html").read_text()
    assert len(html.encode()) < 10_000_000
    assert html.count("Plotly.newPlot") >= 8  # one per figure, plotly.js itself embedded once
    assert html.count("<script>/**\n* plotly.js") + html.count("* plotly.js v") >= 1
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=\"https?://", html)  # nothing from the network
    assert "Executive summary" in html and "80 % interval" in html
    prov = json.loads((d / "provenance.json").read_text())
    assert prov["run_id"] == a["run_id"]
    assert prov["seed"] == 2026 and prov["scenario"]["name"] == "small_lab"
    assert prov["scenario_files"] == ["small_lab.yaml", "frontier_lab.yaml"]
    assert re.fullmatch(r"[0-9a-f]{12}", prov["catalog_version"]) and prov["chipplan_version"]
    heads = pd.read_parquet(d / "tables" / "headlines.parquet")
    assert {"key", "label", "value", "low", "high", "unit"} <= set(heads.columns)
    assert (heads["low"] <= heads["value"]).all() and (heads["value"] <= heads["high"]).all()
    assert "| question | answer | 80 % interval |" in (d / "report.md").read_text()
    assert "codesign.best" in set(heads["key"]) and 'id="pareto"' in html


def test_headlines_match_the_engines(two_runs):
    """The plan's numbers are the engines' numbers: a training run and a serving plan recomputed directly."""
    from chipplan import api

    tmp, _, _, _ = two_runs
    tr = pd.read_parquet(tmp / "a" / "tables" / "training.parquet")
    row = tr[(tr["run"] == "frontier-run-1") & (tr["chip"] == "h100-sxm-80gb")].iloc[0]
    est = api.train("llama-3.1-70b", "h100-sxm-80gb", tokens=2e12, days=91.3125, global_batch=16777216)
    assert row["n_accelerators"] == est.n_accelerators
    assert row["days"] == pytest.approx(est.days, rel=1e-9)
    assert (row["days_p10"], row["days_p90"]) == pytest.approx((est.days_low, est.days_high))
    sv = pd.read_parquet(tmp / "a" / "tables" / "serving.parquet")
    s = sv[sv["chip"] == "h100-sxm-80gb"].iloc[0]
    ref = api.serve("llama-3.1-70b", "h100-sxm-80gb", input_len=2048, output_len=512, slo_tpot_ms=50,
                    price_per_hour=s["price_usd_per_accelerator_hour"]).to_dict()
    assert s["output_tokens_per_s_per_accelerator"] == pytest.approx(ref["best"]["output_tokens_per_s_per_accelerator"])
    # median $/M at fixed price and full utilisation is the engine's figure
    assert s["usd_per_million_output_tokens"] == pytest.approx(ref["best"]["usd_per_million_output_tokens"],
                                                               rel=0.03)


def test_second_run_uses_the_cache(two_runs):
    _tmp, _, _, b = two_runs
    assert b["timings"]["training"]["cached"] is True  # engine calls are keyed on their inputs, not the seed
    assert b["timings"]["strategy"]["cached"] is False  # the seed reaches the sourcing Monte Carlo


def test_runs_list_show_diff(two_runs):
    _tmp, store, a, b = two_runs
    code, out, _ = run("runs", "list", "--store", store, "--json")
    rows = json.loads(out)
    assert code == 0 and [r["run_id"] for r in rows] == [b["run_id"], a["run_id"]]
    # a list of runs (its shape is the contract), each stamped with the versions that produced it
    assert all(r["chipplan_version"] == chipplan.__version__ and len(r["catalog_version"]) >= 8 for r in rows)
    code, out, _ = run("runs", "show", a["run_id"][:22], "--store", store, "--json")
    assert code == 0 and json.loads(out)["run_id"] == a["run_id"]
    code, out, _ = run("runs", "diff", a["run_id"], "latest", "--store", store, "--json")
    d = json.loads(out)
    changed = {c["field"]: (c["a"], c["b"]) for c in d["inputs_changed"]}
    assert changed["plan.years"] == (None, 5)
    assert changed["seed"] == (2026, 11)
    tco = next(h for h in d["headlines"] if h["key"] == "tco.h100-sxm-80gb.owned_to_cloud_ratio")
    assert tco["a"] != tco["b"] and tco["relative_change"] == pytest.approx((tco["b"] - tco["a"]) / tco["a"])
    code, out, _ = run("runs", "diff", a["run_id"], "latest", "--store", store)
    assert code == 0 and "plan.years" in out
    code, _, err = run("runs", "show", "nope", "--store", store)
    assert code == 2 and "unknown id 'nope'" in err


def test_bad_scenario_exits_2_and_writes_nothing(tmp_path):
    code, _, err = run("plan", DATA / "bad_lab.yaml", "--out", tmp_path / "out", "--store", tmp_path / "s")
    assert code == 2
    assert "bad_lab.yaml:5 demand.training[0].tokens: must be in [1, 1e+16] tokens, got -1" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists() and not (tmp_path / "s").exists()


def test_scenario_schema_command():
    code, out, _ = run("scenario", "schema")
    assert code == 0 and json.loads(out)["title"] == "chipplan scenario"
    code, out, _ = run("scenario", "check", DATA / "small_lab.yaml")
    assert code == 0 and "valid" in out


def test_a_failure_mid_write_leaves_nothing(tmp_path, monkeypatch):
    """A write that fails after the tables are written leaves no DIR, no stored run and no temp folder."""
    from chipplan import scenario as sc
    from chipplan.report import plan as rp
    from chipplan.report import run as rr
    from chipplan.scenario import pipeline as pl

    res = pl.run(sc.load(DATA / "small_lab.yaml"), stages=("training", "serving", "tco"))
    st = Store(tmp_path / "store").ensure()

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(rp, "write_markdown", boom)
    with pytest.raises(OSError):
        rr.write(res, tmp_path / "out", store=st)
    assert not (tmp_path / "out").exists()
    assert st.ids() == [] and list(st.tmp_dir.iterdir()) == []
    assert [p.name for p in tmp_path.iterdir()] == ["store"]
    # an existing DIR survives a failed rewrite
    monkeypatch.undo()
    rr.write(res, tmp_path / "out", store=st)
    before = (tmp_path / "out" / "provenance.json").read_text()
    monkeypatch.setattr(rp, "write_markdown", boom)
    with pytest.raises(OSError):
        rr.write(res, tmp_path / "out", store=st)
    assert (tmp_path / "out" / "provenance.json").read_text() == before
    assert len(st.ids()) == 1


def test_a_killed_writer_leaves_the_store_readable(tmp_path):
    """SIGKILL a process while it copies a run into the store: no half run is listed, and the store reads."""
    st = Store(tmp_path / "store").ensure()
    src = tmp_path / "run"
    (src / "tables").mkdir(parents=True)
    pd.DataFrame([{"run_id": "x", "created_utc": "2026-01-01T00:00:00Z"}]).to_parquet(src / "run.parquet")
    for i in range(200):
        (src / "tables" / f"t{i}.csv").write_text("a,b\n1,2\n" * 200)
    code = textwrap.dedent(f"""
        import shutil, time
        from pathlib import Path
        from chipplan.store import Store
        real = shutil.copy2
        def slow(a, b, **k):
            time.sleep(0.02)
            return real(a, b, **k)
        shutil.copy2 = slow
        Store(Path({str(st.root)!r})).add(Path({str(src)!r}), "20260101T000000Z-killed-abcdef")
    """)
    p = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.time() + 60
    while time.time() < deadline and not any(d.iterdir() for d in st.tmp_dir.iterdir()):
        time.sleep(0.05)
    time.sleep(0.3)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert st.ids() == [] and st.list() == []
    assert len(list(st.tmp_dir.iterdir())) == 1  # the half-copied run sits in .tmp/, which nothing reads
    old = time.time() - 2 * 24 * 3600
    for d in st.tmp_dir.iterdir():
        os.utime(d, (old, old))
    assert st.sweep() == 1 and list(st.tmp_dir.iterdir()) == []


FIGURE_IDS = ("roofline", "step_time", "memory", "frontier", "waterfall", "owned_rented", "pareto", "supply_fan",
              "portfolio", "tornado", "validation")


def test_report_has_every_plot_with_a_one_line_reading(two_runs):
    """Issue 16's ten questions each have a plot and a one-line reading; every headline has its 80 % interval."""
    tmp, *_ = two_runs
    html = (tmp / "a" / "report.html").read_text()
    for fid in FIGURE_IDS:
        m = re.search(rf'<section class="fig" id="{fid}">\s*<h2>([^<]+)</h2>\s*<p class="reading">([^<]+)</p>', html)
        assert m, fid
        assert len(m.group(2)) > 30 and "\n" not in m.group(2), fid
        assert f'id="fig-{fid}"' in html, fid
    assert re.search(r'id="frontier">.*?per million output tokens', html, re.S)  # the frontier carries $/M
    assert re.search(r'id="waterfall">\s*<h2>Cost waterfall[^<]*\$ per million output tokens', html)
    md = (tmp / "a" / "report.md").read_text()
    assert md.count("- **") >= len(FIGURE_IDS)
    rows = re.findall(r'<tr data-key="([^"]+)"><td>[^<]+</td><td class="num">([^<]+)</td><td class="num">([^<]+)</td>',
                      html)
    heads = pd.read_parquet(tmp / "a" / "tables" / "headlines.parquet")
    assert len(rows) == len(heads) >= 8
    for key, _value, interval in rows:
        lo, _, hi = interval.partition(" – ")
        assert re.search(r"\d", lo) and re.search(r"\d", hi), key
    assert (heads["low"] < heads["high"]).all()


def test_the_designed_chip_is_a_route_of_the_portfolio(two_runs):
    """The co-design stage's chip enters the sourcing stage as the in-house route, rated and priced by the
    engines (not routes.yaml's estimates), and the portfolio, its table and the report list it."""
    from chipplan import scenario as sc
    from chipplan.codesign.route import design_figures
    from chipplan.scenario import pipeline as pl
    from chipplan.strategy import scenario as strat

    tmp, *_ = two_runs
    r = sc.load(DATA / "small_lab.yaml")
    cd = pl.stage_codesign(r, 2026, pl.Cache(None))
    sf, (rid, body) = pl.strategy_scenario(r, cd)
    assert rid == "in_house" and body["uses"] == "in-house-chip"
    assert body["design"]["params"] == cd["design_params"]
    assert cd["design_params"]["node"] == cd["best"]["design"]["node"]
    assert cd["design_params"]["cores"] == cd["best"]["design"]["cores"]
    inp = strat.build(sf, scenarios=50)
    route = next(x for x in inp.routes if x.id == "in_house")
    want = design_figures(body["design"])
    assert route.perf_per_unit == pytest.approx(want["perf_per_unit"])
    assert route.unit_price_usd == pytest.approx(want["unit_price_usd"])
    default = strat.defaults()["routes"]["in-house-chip"]
    assert route.perf_per_unit != pytest.approx(default.perf_per_unit)
    assert route.name.startswith("In-house chip (designed: design ")
    assert "routes.in_house.perf_per_unit" in inp.provenance["performance"]
    # the plan's output
    prov = json.loads((tmp / "a" / "provenance.json").read_text())
    dr = prov["design_route"]
    assert dr["route"] == "in_house" and dr["added"] is False
    assert dr["perf_per_unit"] == pytest.approx(want["perf_per_unit"])
    port = pd.read_parquet(tmp / "a" / "tables" / "portfolio.parquet")
    row = port[port["route"] == "in_house"].iloc[0]
    assert bool(row["designed_chip"]) and port["designed_chip"].sum() == 1
    assert row["units"] == pytest.approx(dr["units"])
    html = (tmp / "a" / "report.html").read_text()
    assert "in_house (designed chip)" in html
    assert re.search(r'id="portfolio">.*?the designed chip is route in_house', html, re.S)


def test_design_route_choice(tmp_path):
    """plan.design_route names the route, `none` keeps the routes, and without an in-house or partner route the
    plan adds one; a route of the wrong kind is a scenario error with its line."""
    import dataclasses

    from chipplan import scenario as sc
    from chipplan.scenario import pipeline as pl

    r = sc.load(DATA / "small_lab.yaml")
    cd = {"design_params": {"node": "N3", "cores": 64}, "best": {"design": {"design_id": 7, "node": "N3"}}}

    def with_(routes=None, **plan):
        sf = r.scenario.model_copy(update={"routes": routes or r.scenario.routes,
                                           "plan": r.scenario.plan.model_copy(update=plan)})
        sf._folder = r.scenario._folder
        return dataclasses.replace(r, scenario=sf)

    assert pl.design_route(r, cd)[0] == "in_house"
    assert pl.design_route(with_(design_route="partner_asic"), cd)[0] == "partner_asic"
    assert pl.design_route(with_(design_route="none"), cd) is None
    assert pl.design_route(r, {"best": {}}) is None  # no designed chip, nothing added
    rid, body = pl.design_route(with_(routes={"buy_h100": {"uses": "merchant-h100"}}), cd)
    assert (rid, body["uses"]) == ("designed_chip", "in-house-chip")
    assert body["name"] == "In-house chip (designed: design 7, N3)"
    (tmp_path / "wrong.yaml").write_text(f"extends: {DATA / 'small_lab.yaml'}\nplan:\n  design_route: buy_h100\n")
    with pytest.raises(sc.ScenarioError, match=r"wrong.yaml:3 plan.design_route: must be a custom_asic or "
                                               r"in_house route, got 'buy_h100' \(buy\)"):
        sc.load(tmp_path / "wrong.yaml")


def test_roofline_places_moe_points(tmp_path):
    """An MoE run gets its routed-expert GEMM on the roofline, and MoE decode reads only the experts its batch
    routes to (left of where a dense model of the same active size would sit)."""
    from chipplan import catalog
    from chipplan import scenario as sc
    from chipplan.perf.arithmetic import param_counts
    from chipplan.report import plan as rp
    from chipplan.scenario import pipeline as pl

    (tmp_path / "moe.yaml").write_text(textwrap.dedent(f"""\
        extends: {DATA / 'small_lab.yaml'}
        demand:
          performance_model: mixtral-8x7b
          training:
            - {{name: frontier-run-1, model: mixtral-8x7b, tokens: 1.0e12}}
            - {{name: frontier-run-2, model: mixtral-8x7b, tokens: 1.0e12}}
          serving:
            - {{name: assistant, model: mixtral-8x7b, users: 1.0e6}}
        plan:
          chips: [h100-sxm-80gb]
        """))
    res = pl.run(sc.load(tmp_path / "moe.yaml"), stages=("training", "serving"), cache=pl.Cache(tmp_path / "c"))
    fig, reading = rp.fig_roofline(res)
    names = [t.name for t in fig.data]
    moe = [t for t in fig.data if t.name.startswith("MoE expert GEMM of frontier-run-1")]
    assert len(moe) == 1 and "an MoE expert GEMM" in reading
    m = catalog.model("mixtral-8x7b")
    run = next(x for x in res.stages["training"]["runs"] if x["run"] == "frontier-run-1")
    lay = run["layout"]
    t_e = lay["micro_batch"] * run["seq_len"] / lay["cp"] * lay["ep"] * m.top_k / m.n_experts
    b = 1 if run["precision"] == "fp8" else 2
    assert moe[0].x[0] == pytest.approx(2 * t_e * m.d_model * m.d_ff / (b * (t_e * m.d_model + m.d_model * m.d_ff
                                                                            + t_e * m.d_ff)))
    dec = next(t for t in fig.data if t.name.startswith("decode assistant"))
    best = res.stages["serving"]["loads"][0]["best"]
    pc = param_counts(m)
    k = m.top_k / m.n_experts
    routed = (float(pc["total"]) - float(pc["active"])) / (1 - k)
    read = float(pc["total"]) - routed * (1 - k) ** best["batch"]
    bb = {"bf16": 2, "fp16": 2, "fp8": 1, "fp4": 0.5}[best["precision"]]
    assert dec.x[0] == pytest.approx(2 * best["batch"] * float(pc["active"]) / (bb * read))
    assert dec.x[0] < 2 * best["batch"] / bb  # fewer FLOP per byte than a dense model's decode
    assert any(n.startswith("h100-sxm-80gb roof") for n in names)


def test_runs_commands_take_every_format(two_runs):
    import csv
    import io

    _tmp, store, a, b = two_runs
    code, out, err = run("runs", "list", "--store", store, "--format", "csv")
    assert code == 0, err
    assert {r["run"] for r in csv.DictReader(io.StringIO(out))} == {a["run_id"], b["run_id"]}
    code, out, err = run("runs", "show", a["run_id"], "--store", store, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == len(a["headlines"])
    first = a["headlines"][0]
    assert rows[0]["question"] == first["label"] and float(rows[0]["value"]) == pytest.approx(first["value"])
    assert float(rows[0]["80 % interval low"]) == pytest.approx(first["low"])
    code, out, err = run("runs", "diff", a["run_id"], "latest", "--store", store, "--format", "tsv")
    rows = list(csv.DictReader(io.StringIO(out), delimiter="\t"))
    assert code == 0 and rows[0]["question"] == first["label"] and "relative change" in rows[0]
    code, out, err = run("runs", "diff", a["run_id"], "latest", "--store", store, "--format", "markdown")
    assert code == 0 and "### Headlines" in out and "### Inputs changed" in out
