import json

import pytest
from typer.testing import CliRunner

from chipplan.cli import app

runner = CliRunner()


def run(*args):
    r = runner.invoke(app, list(args))
    return r.exit_code, r.stdout, r.stderr


def test_compare_puts_chips_side_by_side_on_one_cost_basis():
    code, out, _ = run("compare", "--model", "llama-3.1-8b", "--tokens", "1e12", "--gpus", "64", "--hardware",
                       "h100-sxm-80gb", "--hardware", "b200-sxm-180gb", "--hardware", "a100-sxm-80gb", "--json")
    assert code == 0
    d = json.loads(out)
    rows = {r["accelerator"]: r for r in d["rows"]}
    assert d["reference"] == "h100-sxm-80gb" and rows["h100-sxm-80gb"]["relative_throughput"] == 1.0
    assert rows["b200-sxm-180gb"]["relative_throughput"] > 1.5 > 1.0 > rows["a100-sxm-80gb"]["relative_throughput"]
    for r in rows.values():
        assert r["cost_usd"] == pytest.approx(r["accelerator_hours"] * r["usd_per_accelerator_hour"])
        assert r["price_source"].startswith("owned ")


def test_compare_keeps_going_when_one_chip_cannot_meet_the_deadline():
    code, out, _ = run("compare", "--model", "llama-3.1-405b", "--tokens", "15e12", "--days", "45", "--hardware",
                       "h100-sxm-80gb", "--hardware", "v100-sxm-32gb", "--json")
    assert code == 0
    rows = {r["accelerator"]: r for r in json.loads(out)["rows"]}
    assert rows["v100-sxm-32gb"]["status"] == "infeasible" and "days" in rows["v100-sxm-32gb"]["reason"]


@pytest.mark.parametrize(("flags", "message"), [
    (["--basis", "leased"], "--basis: must be owned or cloud"),
    (["--price-term", "5yr"], "--price-term: must be one of on-demand, 1yr, 3yr"),
    (["--plot", "x.txt"], "--plot: must name an .html, .png or .svg file"),
    (["--hardware", "h100-sxm-80gb"], "--hardware: lists the same accelerator twice"),
])
def test_compare_bad_flags(flags, message):
    code, _, err = run("compare", "--model", "llama-3.1-8b", "--tokens", "1e12", "--gpus", "8", "--hardware",
                       "h100-sxm-80gb", *flags)
    assert code == 2 and message in err


def test_compare_unknown_chip_fails_before_planning():
    code, _, err = run("compare", "--model", "llama-3.1-8b", "--tokens", "1e12", "--gpus", "8", "--hardware", "h1000")
    assert code == 2 and "unknown id 'h1000'" in err


@pytest.mark.parametrize(("flags", "message"), [
    (["--gpus", "8", "--precision", "fp9"], "--precision: must be one of fp32"),
    (["--gpus", "8", "--model", "llama-9"], "models: unknown id 'llama-9'"),
    ([], "--accelerators (--gpus): give the accelerator count (--accelerators) or the deadline (--days), exactly one"),
    (["--gpus", "0"], "--accelerators (--gpus): must be a whole number in [1, 10,000,000] accelerators, got 0"),
    (["--gpus", "8", "--hardware", "h100"], "--hardware: lists the same accelerator twice"),  # an alias of it
])
def test_compare_inputs_shared_by_every_chip_are_errors_not_rows(flags, message):
    # A bad model, precision or count is the user's error (exit 2, one line), not an 'infeasible' row per chip.
    args = ["compare", "--model", "llama-3.1-8b", "--tokens", "1e12", "--hardware", "h100-sxm-80gb", "--hardware",
            "a100-sxm-80gb"]
    if "--model" in flags:
        args[1:3] = []
    code, _, err = run(*args, *flags)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_compare_chip_without_the_precision_is_a_row_and_a_system_is_costed_as_itself():
    code, out, _ = run("compare", "--model", "llama-3.1-8b", "--tokens", "1e12", "--gpus", "64", "--precision", "fp8",
                       "--hardware", "hgx-h100", "--hardware", "a100-sxm-80gb", "--json")
    assert code == 0
    rows = {r["hardware"]: r for r in json.loads(out)["rows"]}
    assert rows["a100-sxm-80gb"]["status"] == "infeasible" and "has no fp8 peak" in rows["a100-sxm-80gb"]["reason"]
    assert rows["hgx-h100"]["price_source"] == "owned hgx-h100, 3 y"  # not the first H100 system (dgx-h100)


def test_compare_where_no_chip_can_run_it_exits_2_naming_each_chip():
    # 70B in bf16 on one accelerator fits neither an H100 nor an A100: nothing to compare is an error, not exit 0.
    code, out, err = run("compare", "--model", "llama-3.1-70b", "--tokens", "1e12", "--gpus", "1", "--hardware",
                         "h100-sxm-80gb", "--hardware", "a100-sxm-80gb", "--json")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert err.startswith("error: hardware: no chip can run it: h100-sxm-80gb: memory: ")
    assert "a100-sxm-80gb: memory: " in err and "n_accelerators" not in err
