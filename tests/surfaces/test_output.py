"""Output formats, tables that survive 80 columns, one vocabulary, version stamps, progress on stderr."""

import csv
import io
import json
import re
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from chipplan.cli import app
from chipplan.commands import _common
from chipplan.commands._common import Band, Output, fmt, table

runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
COMPARE = ["compare", "--model", "llama-3.1-8b", "--tokens", "1e12", "--accelerators", "64", "--hardware",
           "h100-sxm-80gb", "--hardware", "b200-sxm-180gb", "--hardware", "a100-sxm-80gb"]


def run(*args, env=None):
    r = runner.invoke(app, list(args), env=env)
    return r.exit_code, r.stdout, r.stderr


def test_compare_at_80_columns_keeps_every_number_whole():
    d = json.loads(run(*COMPARE, "--json")[1])
    code, out, _ = run(*COMPARE, "--format", "table")  # the test runner's console is 80 columns wide
    assert code == 0
    assert max(len(line) for line in out.splitlines()) <= 80
    cells = {c.strip() for line in out.splitlines() for c in line.split("│")}
    for r in d["rows"]:
        for key in ("n_accelerators", "days", "cost_usd"):
            assert fmt(r[key]) in cells, (key, fmt(r[key]))
        assert str(Band(r["days_low"], r["days_high"])) in cells
        assert r["hardware"] in cells  # ids are not cut


def test_narrow_table_drops_optional_columns_and_cuts_text_with_an_ellipsis():
    buf = io.StringIO()
    out = Output("table")
    rows = [["an-id-of-a-chip", "a description that cannot fit at all at this width", 123456789.0, 2024, 0.123]]
    out.add(table("t", ["id", "description", "cost $", "year", "share"], rows, optional=("share",)))
    con = Console(file=buf, width=60)
    _common.print_table(con, out.blocks[0])
    text = buf.getvalue()
    assert "123,456,789" in text and "2024" in text and "2,024" not in text
    assert "an-id-of-a-chip" in text and "…" in text
    assert "share" not in text  # dropped before anything numeric is squeezed
    assert all(len(line) <= 60 for line in text.splitlines())


def test_csv_tsv_and_markdown_parse():
    d = json.loads(run(*COMPARE, "--json")[1])
    code, out, _ = run(*COMPARE, "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["hardware"] for r in rows] == [r["hardware"] for r in d["rows"]]
    assert float(rows[0]["days"]) == pytest.approx(d["rows"][0]["days"])
    assert float(rows[0]["days 80 % low"]) == pytest.approx(d["rows"][0]["days_low"])
    code, out, _ = run(*COMPARE, "--format", "tsv")
    assert list(csv.DictReader(io.StringIO(out), delimiter="\t"))[1]["accelerators"] == "64"
    code, out, _ = run(*COMPARE, "--format", "markdown")
    assert code == 0
    lines = [ln for ln in out.splitlines() if ln.startswith("|")]
    widths = {ln.count("|") - ln.count("\\|") for ln in lines}
    assert len(widths) == 1 and re.match(r"^\|(-+:?\|)+$", lines[1].replace("---:", "---"))
    assert len(lines) == 2 + len(d["rows"])


def test_piped_output_defaults_to_tsv(monkeypatch):
    monkeypatch.delenv("CHIPPLAN_FORMAT")
    code, out, _ = run("tco", "--system", "dgx-h100")
    assert code == 0 and out.splitlines()[0] == "quantity\tvalue" and "┃" not in out
    code, _, err = run("tco", "--system", "dgx-h100", "--format", "xml")
    assert code == 2 and "--format: must be one of table, json, csv, tsv, markdown" in err
    code, _, err = run("tco", "--system", "dgx-h100", "--format", "csv", "--json")
    assert code == 2 and "--format: conflicts with --json" in err


@pytest.mark.parametrize("args", [
    ["train", "--model", "llama-3.1-8b", "--hardware", "h100-sxm-80gb", "--tokens", "1e12", "--accelerators", "64"],
    COMPARE,
    ["serve", "--model", "llama-3.1-8b", "--hardware", "h100-sxm-80gb", "--input-len", "512", "--output-len", "128"],
    ["tco", "--system", "dgx-h100"],
    ["cost", "die", "--area-mm2", "814", "--node", "N4"],
    ["cost", "server", "--system", "dgx-h100"],
    ["cost-per-token", "--tokens-per-s-per-gpu", "1000", "--price-per-hour", "2"],
    ["catalog", "list", "systems"],
    ["catalog", "show", "h100-sxm-80gb"],
    ["model", "llama-3.1-8b"],
])
def test_every_json_carries_versions_and_every_command_takes_format(args):
    code, out, _ = run(*args, "--json")
    assert code == 0
    d = json.loads(out)
    assert d["chipplan_version"].startswith("0.") and len(d["catalog_version"]) >= 8
    for f in ("csv", "markdown"):
        code, out, err = run(*args, "--format", f)
        assert code == 0, err
        assert out.strip()


def test_one_vocabulary_in_new_outputs():
    for args in (["train", "--model", "llama-3.1-8b", "--hardware", "h100-sxm-80gb", "--tokens", "1e12",
                  "--accelerators", "64", "--top", "2"],
                 ["serve", "--model", "llama-3.1-8b", "--hardware", "h100-sxm-80gb", "--input-len", "512",
                  "--output-len", "128"], COMPARE):
        text = run(*args, "--json")[1]
        assert "_gpu" not in text and "_gb\"" not in text and "memory_per_gpu" not in text
        assert "_gib" in text or "compare" in args
    serve = json.loads(run("serve", "--model", "llama-3.1-8b", "--hardware", "h100-sxm-80gb", "--input-len", "512",
                           "--output-len", "128", "--json")[1])
    assert {"ttft_p99_ms", "tpot_ms", "output_tokens_per_s_per_accelerator"} <= set(serve["best"])


def test_round_counts_move_the_batch_and_say_so():
    code, out, _ = run("train", "--model", "llama-3.1-70b", "--hardware", "h100-sxm-80gb", "--tokens", "1e12",
                       "--accelerators", "1000", "--json")
    assert code == 0
    d = json.loads(out)
    lay = d["layout"]
    assert d["n_accelerators"] == 1000 and lay["tp"] * lay["pp"] * lay["dp"] * lay["cp"] == 1000
    assert d["global_batch_seqs"] % (lay["dp"] * lay["micro_batch"]) == 0
    assert d["global_batch_seqs"] != 512 and "instead of the requested 512" in d["notes"][0]
    code, out, _ = run("train", "--model", "llama-3.1-70b", "--hardware", "h100-sxm-80gb", "--tokens", "1e12",
                       "--accelerators", "1000", "--format", "table")
    assert "--global-batch" in out


def test_small_per_replica_batch_warns_with_the_mfu_a_bigger_batch_gives():
    d = json.loads(run("train", "--model", "llama-3.1-70b", "--hardware", "h100-sxm-80gb", "--tokens", "15e12",
                       "--accelerators", "49152", "--json")[1])
    warn = [n for n in d["notes"] if n.startswith("warning:")]
    assert warn and f"MFU {d['mfu']:.2f}" in warn[0] and "4x global batch" in warn[0]
    big = float(warn[0].rsplit("MFU ", 1)[1])
    assert big > 1.1 * d["mfu"]
    quiet = json.loads(run("train", "--model", "llama-3.1-8b", "--hardware", "h100-sxm-80gb", "--tokens", "1e12",
                           "--accelerators", "64", "--json")[1])
    assert not quiet["notes"]


def test_compare_exits_2_naming_the_rule_when_every_chip_fails():
    code, out, err = run("compare", "--model", "llama-3.1-405b", "--tokens", "15e12", "--days", "20", "--hardware",
                         "h100-sxm-80gb", "--hardware", "v100-sxm-32gb")
    assert code == 2 and out == ""
    assert err.startswith("error: hardware: no chip can run it: h100-sxm-80gb: days:") and "v100-sxm-32gb: days:" in err
    assert "x None" not in err


def test_intervals_beside_headline_numbers_in_tables():
    code, out, _ = run("train", "--model", "llama-3.1-8b", "--hardware", "h100-sxm-80gb", "--tokens", "1e12",
                       "--accelerators", "64", "--price", "2", "--format", "table")
    assert code == 0 and "80 % interval" in out
    d = json.loads(run("train", "--model", "llama-3.1-8b", "--hardware", "h100-sxm-80gb", "--tokens", "1e12",
                       "--accelerators", "64", "--price", "2", "--json")[1])
    assert str(Band(d["days_low"], d["days_high"])) in out and str(Band(d["cost_usd_low"], d["cost_usd_high"])) in out
    # 80 % interval from the family's log error: symmetric in log space around the central value
    assert d["days_low"] * d["days_high"] == pytest.approx(d["days"] ** 2)
    code, out, _ = run("cost-per-token", "--model", "llama-3.1-8b", "--hardware", "h100-sxm-80gb",
                       "--price-per-hour", "2", "--format", "table")
    assert code == 0 and "80 % interval" in out and "configuration behind the number" in out


def test_progress_goes_to_stderr_on_a_terminal_only(monkeypatch):
    buf = io.StringIO()
    monkeypatch.setattr(_common, "err_console", Console(file=buf, force_terminal=True, width=80))
    with _common.progress("sizing") as step:
        step("stage two")
    assert "sizing" in buf.getvalue()
    quiet = io.StringIO()
    monkeypatch.setattr(_common, "err_console", Console(file=quiet, force_terminal=False))
    with _common.progress("sizing") as step:
        step("x")
    assert quiet.getvalue() == ""


# Commands whose output is one document of a fixed format, or no output at all.
NO_FORMAT = {"web": "serves the web app", "catalog template": "writes a YAML file to fill in",
             "scenario schema": "prints a JSON Schema document"}


def test_every_command_takes_format_and_json():
    """Item 2 of issue 13: --format table|json|csv|tsv|markdown on every command, --json as its alias."""
    import typer.main

    def leaves(cmd, prefix=""):
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                yield from leaves(sub, f"{prefix} {name}".strip())
        else:
            yield prefix, cmd

    found = dict(leaves(typer.main.get_command(app)))
    assert {"train", "codesign sweep", "db query", "runs diff", "plan", "scenario check"} <= set(found)
    missing = []
    for name, cmd in found.items():
        opts = {o for p in cmd.params for o in getattr(p, "opts", [])}
        if name not in NO_FORMAT and not {"--format", "--json"} <= opts:
            missing.append(name)
    assert missing == []


def test_codesign_and_db_commands_print_every_format():
    code, out, _ = run("codesign", "rederive", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and rows and {"chip", "area mm²", "derived area mm²"} <= set(rows[0])
    code, out, _ = run("db", "query", "select 1 as one, 'x' as two", "--format", "markdown")
    assert code == 0 and "| one | two |" in out and "| 1 | x |" in out
    code, out, _ = run("scenario", "check", str(EXAMPLES / "frontier_lab.yaml"), "--json")
    assert code == 0 and json.loads(out)["valid"] is True
