"""The cost commands through the real CLI: stable JSON contracts, tables, one-line errors with exit 2."""

import json

import pytest
from typer.testing import CliRunner

from chipplan.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def test_cost_die_contract():
    r = run("cost", "die", "--area-mm2", "814", "--node", "N4", "--defect-density", "0.1", "--yield-model",
            "negative-binomial", "--alpha", "10", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    for k in ("gross_dies_per_wafer", "yield", "good_dies_per_wafer", "cost_per_good_die_usd"):
        assert k in d
    assert d["yield"] == pytest.approx(0.457, abs=5e-4)
    assert d["gross_dies_per_wafer"] == 59
    # wafer / good dies + the $5 wafer probe paid on every gross die (catalog test.wafer_probe_usd_per_die)
    assert d["cost_per_good_die_usd"] == pytest.approx(15000 / (59 * 0.45723) + 5 / 0.45723, rel=1e-4)
    assert d["good_dies_per_wafer"] == pytest.approx(59 * 0.45723, rel=1e-4)


def test_tco_contract():
    r = run("tco", "--system", "dgx-h100", "--years", "3", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    for k in ("server_capex_usd", "owned_total_usd", "cloud_total_usd", "owned_usd_per_accelerator_hour",
              "cloud_usd_per_accelerator_hour", "breakeven_utilisation"):
        assert isinstance(d[k], float), k
    assert 270e3 <= d["server_capex_usd"] <= 300e3
    # 2026 hyperscaler 3-year reservations ($1.95/GPU-h, newest catalog rows) × 8 × 26,298 h
    assert d["cloud_total_usd"] == pytest.approx(1.95 * 8 * 26_298)
    assert d["cloud_price_dates"] == ["2026-03"] and d["life_years"] == 5
    assert d["server_price_basis"] == "catalog list price" and d["catalog_list_price_usd"] == 270_000
    assert d["owned_total_usd"] < d["cloud_total_usd"]
    assert [w["step"] for w in d["waterfall"]][-2:] == ["owned total", "cloud total"]
    # same as the cost sub-app's tco, byte for byte
    assert run("cost", "tco", "--system", "dgx-h100", "--years", "3", "--json").stdout == r.stdout


def test_tco_table_has_waterfall_and_bands():
    r = run("tco", "--system", "dgx-h100", "--samples", "2000", "--seed", "1")
    assert r.exit_code == 0, r.output
    for s in ("Cost waterfall", "financing", "p95"):
        assert s in r.stdout


def test_tco_samples_deterministic():
    a = run("tco", "--system", "dgx-h100", "--samples", "5000", "--seed", "4", "--json").stdout
    b = run("tco", "--system", "dgx-h100", "--samples", "5000", "--seed", "4", "--json").stdout
    assert a == b
    assert json.loads(a)["uncertainty"]["samples"] == 5000


@pytest.mark.parametrize("args", [
    ["cost", "die", "--area-mm2", "814", "--node", "N4"],
    ["cost", "chip", "--accelerator", "h100-sxm-80gb"],
    ["cost", "chip", "--area-mm2", "800", "--node", "N4P", "--dies", "2", "--hbm-stacks", "8",
     "--hbm-generation", "HBM3e", "--packaging", "cowos-l", "--samples", "1000"],
    ["cost", "server", "--system", "dgx-h100"],
    ["cost", "cluster", "--system", "dgx-h100", "--accelerators", "4096"],
    ["cost", "custom-server", "--manufacturing-cost", "3800", "--alternative", "300000"],
    ["cost-per-token", "--tokens-per-s-per-gpu", "1000", "--price-per-hour", "2"],
    ["cost", "cost-per-token", "--tokens-per-s-per-gpu", "1000", "--system", "dgx-h100"],
])
def test_tables_render(args):
    r = run(*args)
    assert r.exit_code == 0, r.output
    assert "┃" in r.stdout


def test_chip_and_server_json():
    c = json.loads(run("cost", "chip", "--accelerator", "h100-sxm-80gb", "--margin", "0.75", "--json").stdout)
    assert 2656 <= c["manufacturing_cost_usd"] <= 4150
    assert c["price_usd"] == pytest.approx(4 * c["unit_cost_usd"])
    s = json.loads(run("cost", "server", "--system", "dgx-h100", "--json").stdout)
    assert 270e3 <= s["server_price_usd"] <= 300e3


def test_cost_per_token_json():
    d = json.loads(run("cost-per-token", "--tokens-per-s-per-gpu", "1000", "--price-per-hour", "2", "--json").stdout)
    assert d["usd_per_million_tokens"] == pytest.approx(0.5556, abs=1e-4)
    assert d["tokens_counted"] == "output"
    o = json.loads(run("cost-per-token", "--tokens-per-s-per-gpu", "1000", "--system", "dgx-h100", "--json").stdout)
    assert o["usd_per_million_tokens"] == pytest.approx(o["usd_per_accelerator_hour"] / 3.6, rel=1e-9)


@pytest.mark.parametrize(("args", "flag"), [
    (["cost", "die", "--area-mm2", "814", "--wafer-price", "-5"], "--wafer-price"),
    (["cost", "die", "--area-mm2", "814", "--yield", "0"], "--yield"),
    (["cost", "die", "--area-mm2", "814", "--yield", "1.2"], "--yield"),
    (["cost", "die", "--area-mm2", "100000", "--wafer-scale"], "--area-mm2"),
    (["cost", "die", "--area-mm2", "900"], "--area-mm2"),
    (["cost", "die", "--area-mm2", "814", "--node", "N9"], "--node"),
    (["cost", "die", "--area-mm2", "814", "--yield-model", "gauss"], "--yield-model"),
    (["cost", "chip", "--accelerator", "h100-sxm-80gb", "--hbm-price", "-1"], "--hbm-price"),
    (["cost", "chip", "--accelerator", "h100-sxm-80gb", "--margin", "1"], "--margin"),
    (["cost", "chip", "--area-mm2", "500", "--node", "N1"], "--node"),
    (["tco", "--system", "dgx-h100", "--cloud-price", "-1"], "--cloud-price"),
    (["tco", "--system", "dgx-h100", "--utilisation", "1.5"], "--utilisation"),
    (["tco", "--system", "dgx-h100", "--pue", "0.8"], "--pue"),
    (["tco", "--system", "dgx-h100", "--cloud-term", "5yr"], "--cloud-term"),
    (["tco", "--system", "dgx-h100", "--cloud-provider", "lambda"], "--cloud-provider"),
    (["tco", "--system", "h100-sxm-80gb"], "--system"),
    (["cost-per-token", "--price-per-hour", "2"], "--tokens-per-s-per-gpu"),
    (["cost-per-token", "--tokens-per-s-per-gpu", "10"], "--price-per-hour"),
])
def test_bad_input_one_line_exit_2(args, flag):
    r = run(*args)
    assert r.exit_code == 2, r.output
    msg = r.stderr.strip()
    assert msg.startswith(f"error: {flag}:"), msg
    assert "\n" not in msg
    assert "Traceback" not in r.output


def test_unknown_node_lists_known_ones():
    r = run("cost", "die", "--area-mm2", "100", "--node", "N9")
    assert "known: N28, N16, N10, N7, N5, N4, N3, N2" in r.stderr


def test_tpu_v5p_cloud_price_is_the_sourced_2026_row():
    # TPU v5p on demand, $4.20 per chip-hour (AI Wiki TPU v5 guide, 2026-01); no commitment price was found, so a
    # 3-year TCO says it falls back to on-demand rather than inventing a discount
    r = run("tco", "--system", "tpu-v5p-pod-slice", "--years", "3", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["cloud_usd_per_accelerator_hour"] == pytest.approx(4.20)
    assert d["cloud_note"] == "no hyperscaler 3yr price; using hyperscaler on-demand"


@pytest.mark.parametrize(("system", "accelerator"), [("dgx-a100", "a100-sxm-40gb"), ("gaudi2-server", "gaudi2"),
                                                     ("gaudi3-server", "gaudi3")])
def test_tco_says_which_cloud_price_is_missing(system, accelerator):
    # no dated 2026 cloud row for these accelerators: the owned cost is given and the output names what is
    # missing and how to supply it, instead of comparing against a made-up rental price
    r = run("tco", "--system", system, "--years", "3", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["owned_total_usd"] > 0 and d["cloud_priced"] is False and d["cloud_total_usd"] is None
    assert d["cloud_note"] == (f"no sourced cloud price for {accelerator} (the cost catalog's cloud table has no "
                               f"dated, sourced row for it); pass --cloud-price")


@pytest.mark.parametrize(("extra", "message"), [
    # the die fits a standard wafer: a small wafer is the slip, named with its size
    (["--wafer-diameter", "40"], "error: --wafer-diameter: a 40 mm wafer holds no whole 800 mm² die, got 40.0"),
    (["--wafer-diameter", "30"], "error: --wafer-diameter: a 30 mm wafer (usable area 452 mm²) is smaller than the "
                                 "800 mm² die, got 30.0"),
    # the die fits this wafer only without its scribe line: the scribe is the slip
    (["--wafer-diameter", "100", "--scribe", "30"],
     "error: --scribe: a 30 mm scribe line around the 800 mm² die leaves no whole die on the 100 mm wafer, got 30.0"),
    # the edge ring swallows the wafer
    (["--wafer-diameter", "40", "--edge-exclusion", "20"],
     "error: --wafer-diameter: must exceed twice the edge exclusion (20 mm), got 40.0"),
    (["--wafer-diameter", "300", "--edge-exclusion", "150"],
     "error: --edge-exclusion: must be 0 or in [0.001, 50] mm, got 150.0"),  # its own range comes first
])
def test_a_die_that_does_not_fit_blames_the_input_that_makes_it_so(extra, message):
    r = run("cost", "die", "--area-mm2", "800", *extra)
    assert r.exit_code == 2 and r.stderr.strip() == message


def test_a_die_too_large_for_any_wafer_blames_its_area():
    r = run("cost", "die", "--area-mm2", "80000", "--wafer-scale")
    assert r.exit_code == 2 and r.stderr.startswith("error: --area-mm2: a die must fit on the 300 mm wafer")
