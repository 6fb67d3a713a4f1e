"""Fuzzing the promise (issue 17): for any flag value, CSV cell or YAML value, the command line answers with exit
status 0 or 2, never a traceback, an error of at most 3 lines, no file left behind, in bounded CPU time.

Every case runs in this process through ``chipplan.cli.run`` (the function ``chipplan`` itself calls), in a
fresh empty folder. Hypothesis is derandomized, so CI sees the same cases every run: 340 cases in all, about
30 s of CPU time (measured with ``time.process_time``; the suite's two workers share them).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chipplan.cli import run

ROOT = Path(__file__).resolve().parents[2]
CPU_LIMIT_S = 20.0  # per case; the slowest valid call below takes well under 1 s of CPU
FUZZ = settings(derandomize=True, deadline=None, database=None, print_blob=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])

# ------------------------------------------------------------------------------------------------ values
# What a hostile or careless user types: numbers at and beyond every range, non-numbers, empty, odd unicode.
EDGE_NUMBERS = ["0", "-0", "1", "-1", "0.5", "1.5", "8", "1e308", "-1e308", "1e-300", "1e400", "nan", "inf",
                "-inf", "1e16", "1e17", "4096", "4097", "9" * 30, "0x10", "1_000", "1,000", "2.5e12", "True", "none"]
JUNK_TEXT = ["", " ", "abc", "--gpus", "-", "'", '"', "\\", "\x00", "\x07", "é", "💥", "1 2", "1;rm -rf /",
             "../../etc/passwd", "%s%n", "{}", "[]", "null", "~", "yes", "no"]
value_text = st.one_of(
    st.sampled_from(EDGE_NUMBERS + JUNK_TEXT),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12),
)


def _call(argv: list[str], folder: Path) -> tuple[int, str, str, float]:
    out, err = io.StringIO(), io.StringIO()
    here = os.getcwd()
    os.chdir(folder)
    t0 = time.process_time()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = run(argv)
    finally:
        cpu = time.process_time() - t0
        os.chdir(here)
    return code, out.getvalue(), err.getvalue(), cpu


def _check(argv: list[str], folder: Path, *, inputs: set[str] = frozenset(), allowed_outputs: set[str] = frozenset()
           ) -> tuple[int, str]:
    """Run ``argv`` in ``folder`` and assert the promise; returns (status, stdout)."""
    code, out, err, cpu = _call(argv, folder)
    shown = f"{argv!r} -> {code}: {err[-600:]!r}"
    assert code in (0, 2), shown
    assert "Traceback" not in err and "Traceback" not in out, shown
    assert "Warning" not in err, shown
    lines = err.strip().splitlines()
    if code == 2:
        assert (1 <= len(lines) <= 3 and lines[0].startswith("error: ")) or not lines, shown
    assert cpu < CPU_LIMIT_S, f"{shown} took {cpu:.1f} s of CPU"
    left = {p.name for p in folder.iterdir()} - set(inputs)
    assert not any(n.endswith((".tmp", ".part")) or ".tmp" in n for n in left), f"{shown} left {left}"
    if code != 0:
        assert not left, f"{shown} left {left} behind after failing"
    else:
        assert left <= set(allowed_outputs), f"{shown} wrote {left}"
    return code, out


@contextlib.contextmanager
def _folder():
    with tempfile.TemporaryDirectory(prefix="chipplan-fuzz-") as d:
        yield Path(d)


# ------------------------------------------------------------------------------------------------ flags
# A valid call of each fast command, and its flags to replace or add.
COMMANDS: dict[str, tuple[list[str], list[str]]] = {
    "train": (["train", "--model", "llama3-8b", "--hardware", "h100-sxm-80gb", "--tokens", "1e12", "--gpus", "8"],
              ["--tokens", "--gpus", "--days", "--global-batch", "--seq-len", "--price", "--top", "--tp", "--pp",
               "--micro-batch", "--zero-stage", "--precision", "--model", "--hardware", "--format"]),
    "serve": (["serve", "--model", "llama3-8b", "--hardware", "h100-sxm-80gb", "--input-len", "128",
               "--output-len", "128", "--tp", "1", "--precision", "fp8"],
              ["--input-len", "--output-len", "--tp", "--slo-ttft-ms", "--slo-tpot-ms", "--qps", "--tokens-per-day",
               "--price-per-hour", "--engine", "--system", "--precision"]),
    "tco": (["tco", "--system", "dgx-h100"],
            ["--years", "--utilisation", "--cloud-price", "--server-price", "--accelerator-price", "--life-years",
             "--interest", "--pue", "--electricity", "--cluster-accelerators", "--samples", "--seed", "--facility",
             "--cloud-term", "--system"]),
    "cost-per-token": (["cost-per-token", "--system", "dgx-h100", "--tokens-per-s-per-gpu", "1000"],
                       ["--tokens-per-s-per-gpu", "--price-per-hour", "--years", "--utilisation", "--counting"]),
    "cost die": (["cost", "die", "--area-mm2", "800"],
                 ["--area-mm2", "--node", "--defect-density", "--yield-model", "--alpha", "--layers", "--wafer-price",
                  "--wafer-diameter", "--edge-exclusion", "--scribe", "--dies", "--yield", "--units",
                  "--units-required", "--unit-fraction"]),
    "cost chip": (["cost", "chip", "--accelerator", "h100-sxm-80gb"],
                  ["--area-mm2", "--dies", "--hbm-stacks", "--hbm-generation", "--packaging", "--wafer-price",
                   "--defect-density", "--hbm-price", "--nre", "--volume", "--margin", "--samples"]),
    "cost custom-server": (["cost", "custom-server"],
                           ["--target", "--accelerators", "--node-power-kw", "--nre", "--volume",
                            "--manufacturing-cost", "--margin", "--alternative", "--host", "--node"]),
    "cost cluster": (["cost", "cluster", "--system", "dgx-h100"], ["--accelerators", "--radix", "--topology",
                                                                   "--accelerator-price"]),
    "model": (["model", "llama3-8b"], ["--seq-len"]),
}
BOGUS_FLAGS = ["--gpu", "--tokens=", "-x", "--", "--json=1", "--help-me"]


@st.composite
def flag_calls(draw: st.DrawFn) -> list[str]:
    name = draw(st.sampled_from(sorted(COMMANDS)))
    base, flags = COMMANDS[name]
    argv = list(base)
    for _ in range(draw(st.integers(1, 3))):
        flag = draw(st.one_of(st.sampled_from(flags), st.sampled_from(BOGUS_FLAGS))) if draw(
            st.integers(0, 9)) == 0 else draw(st.sampled_from(flags))
        value = draw(value_text)
        if flag in argv and flag not in ("--tp", "--precision"):
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag, value]
    return [*argv, "--json"] if draw(st.booleans()) else argv


@settings(FUZZ, max_examples=150)
@given(argv=flag_calls())
def test_fuzz_flags(argv):
    with _folder() as d:
        _check(argv, d)


@settings(FUZZ, max_examples=20)
@given(value=value_text, chart=st.sampled_from(["plot.html", "sub", "plot.txt", "plot.svg"]))
def test_fuzz_plot_output_leaves_nothing_half_written(value, chart):
    # A chart path that is a directory, has the wrong suffix, or follows a failing flag: nothing is left behind.
    with _folder() as d:
        inputs = set()
        if chart == "sub":
            (d / "sub").mkdir()
            inputs.add("sub")
        argv = ["serve", "--model", "llama3-8b", "--hardware", "h100-sxm-80gb", "--input-len", "128",
                "--output-len", "128", "--tp", "1", "--precision", "fp8", "--qps", value, "--plot", chart]
        _check(argv, d, inputs=inputs, allowed_outputs={"plot.html", "plotly.min.js", "plot.svg"})


# ------------------------------------------------------------------------------------------------ CSV cells
TRAIN_COLUMNS = ["row_id", "hardware_id", "model_name", "num_accelerators", "num_layers", "hidden_size", "num_heads",
                 "num_kv_heads", "ffn_hidden_size", "vocab_size", "seq_len", "global_batch_seqs",
                 "global_batch_tokens", "tp", "pp", "dp", "attention", "precision", "inf_input_len",
                 "inf_output_len", "inf_batch_size"]
GOOD_ROW = ["r1", "h100-sxm-80gb", "", "8", "24", "2048", "16", "16", "8192", "32000", "4096", "64", "", "1", "1",
            "8", "", "bf16", "", "", ""]


@st.composite
def tables(draw: st.DrawFn) -> str:
    rows = []
    for i in range(draw(st.integers(1, 3))):
        row = list(GOOD_ROW)
        row[0] = f"r{i}"
        for _ in range(draw(st.integers(1, 4))):
            row[draw(st.integers(0, len(row) - 1))] = draw(value_text)
        rows.append(row)
    head = list(TRAIN_COLUMNS)
    if draw(st.integers(0, 5)) == 0:  # a repeated, unknown or missing column
        j = draw(st.integers(0, len(head) - 1))
        head[j] = draw(st.sampled_from([head[(j + 1) % len(head)], "nonsense_column", ""]))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(head)
    w.writerows(rows)
    return buf.getvalue()


@settings(FUZZ, max_examples=80)
@given(text=tables(), command=st.sampled_from(["predict", "validate"]))
def test_fuzz_csv_cells(text, command):
    with _folder() as d:
        (d / "t.csv").write_text(text, encoding="utf-8", errors="surrogatepass")
        code, out = _check([command, "t.csv", "--json"], d, inputs={"t.csv"})
        if code == 0 and command == "predict":
            doc = json.loads(out)
            assert all(r["status"] in ("ok", "error") for r in doc["rows"])
            assert all(r["reason"] for r in doc["rows"] if r["status"] == "error")


# ------------------------------------------------------------------------------------------------ YAML values
def _yaml_value(v: object) -> str:
    return json.dumps(v, allow_nan=True, ensure_ascii=False)


RAW_YAML = ["", "~", "&a [*a, *a]", "*undefined", "!!python/object/apply:os.system ['true']", "{", "[[[[[[", "'",
            ": :", "- - -", "1e400", "0o17", "0x1F", ".inf", "-.inf", ".nan", "yes", "off", "2026-01-01", "|", ">",
            "!!binary aGk=", "{a: 1, a: 2}", "[" * 200, "\t", "@x", "`x`", "%TAG"]
yaml_value = st.one_of(
    st.sampled_from(RAW_YAML),
    value_text.map(_yaml_value),
    st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-(10**20), 10**20), st.floats(),
                           st.text(max_size=8)),
                 lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=5), kids, max_size=3),
                 max_leaves=6).map(_yaml_value),
)
MY_CHIP = (ROOT / "examples" / "my_chip.yaml").read_text()
CHIP_KEYS = ["family", "peak_tflops", "hbm_gib", "hbm_tb_per_s", "hbm_stacks", "sram_mb", "scale_up",
             "scale_out_gbps", "tdp_w", "process_node", "die_area_mm2", "n_dies", "launch_year", "source"]
SCENARIO = (ROOT / "examples" / "frontier_lab.yaml").read_text()
SCENARIO_KEYS = ["horizon_quarters", "optimisation_scenarios", "monte_carlo_scenarios", "seed", "replications",
                 "tokens", "global_batch_tokens", "users", "tokens_per_user_per_day", "max_units",
                 "unmet_penalty_usd_per_h100e_hour", "weight", "alpha", "reference_accelerator", "model"]


def _replace(text: str, key: str, value: str) -> str:
    """``text`` with the first ``key: ...`` line's value (to the end of the line, comments too) set to ``value``."""
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        stripped = line.lstrip(" -")
        if stripped.startswith(f"{key}:"):
            lines[i] = line[: len(line) - len(stripped)] + f"{key}: {value}\n"
            return "".join(lines)
    return text + f"{key}: {value}\n"


def _check_edited(text: str, edits: list[tuple[str, str]], name: str, argv: list[str]) -> None:
    """Apply the ``key: value`` edits to ``text``, write it as ``name`` and check the command on it."""
    for key, value in edits:
        text = _replace(text, key, value)
    with _folder() as d:
        (d / name).write_text(text, encoding="utf-8", errors="surrogatepass")
        _check(argv, d, inputs={name})


@settings(FUZZ, max_examples=30)  # each check re-reads the shipped catalog (0.2 s of CPU)
@given(edits=st.lists(st.tuples(st.sampled_from(CHIP_KEYS), yaml_value), min_size=1, max_size=2))
def test_fuzz_catalog_yaml_values(edits):
    _check_edited(MY_CHIP, edits, "chip.yaml", ["catalog", "check", "chip.yaml", "--json"])


@settings(FUZZ, max_examples=60)
@given(edits=st.lists(st.tuples(st.sampled_from(SCENARIO_KEYS), yaml_value), min_size=1, max_size=2))
def test_fuzz_scenario_yaml_values(edits):
    _check_edited(SCENARIO, edits, "s.yaml", ["scenario", "check", "s.yaml"])


@pytest.mark.parametrize("argv", [
    ["train", "--model", "llama3-8b", "--hardware", "h100-sxm-80gb", "--tokens", "1e308", "--gpus", "8"],
    ["serve", "--model", "llama3-8b", "--hardware", "h100-sxm-80gb", "--input-len", "128", "--output-len", "128",
     "--qps", "1e308"],
    ["cost", "custom-server", "--node-power-kw", "-5"],
    ["tco", "--system", "dgx-h100", "--interest", "1e-300"],
])
def test_the_checker_itself_sees_a_refusal_as_a_pass(argv, tmp_path):
    assert _check(argv, tmp_path)[0] == 2
