"""Plausible ranges (issue 17): every size, money and physics flag of every command refuses 1e308 and 1e-300 with
one line naming the flag and the range, exit 2; the API and the scenario files use the same table."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
import typer

from chipplan.cli import app, run
from chipplan.commands._common import FLAG_LIMITS, FLAG_LIMITS_IN, command_key, limits_markdown
from chipplan.errors import FieldError
from chipplan.specs import limits

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = str(ROOT / "examples" / "frontier_lab.yaml")
SWEEP = str(ROOT / "examples" / "codesign.yaml")

# A valid call of each command; each range-checked flag is then set to an absurd value on top of it.
BASE = {
    "model": ["model", "llama3-8b"],
    "validate": ["validate", "missing.csv"],
    "train": ["train", "--model", "llama3-8b", "--hardware", "h100-sxm-80gb", "--tokens", "1e12", "--gpus", "8"],
    "serve": ["serve", "--model", "llama3-8b", "--hardware", "h100-sxm-80gb", "--input-len", "128", "--output-len",
              "128"],
    "compare": ["compare", "--model", "llama3-8b", "--hardware", "h100-sxm-80gb", "--tokens", "1e12", "--gpus", "8"],
    "tco": ["tco", "--system", "dgx-h100"],
    "cost-per-token": ["cost-per-token", "--system", "dgx-h100", "--tokens-per-s-per-gpu", "1000"],
    "strategy": ["strategy", SCENARIO],
    "plan": ["plan", SCENARIO, "--out", "never-written"],
    "web": ["web"],
    "cost die": ["cost", "die", "--area-mm2", "800"],
    "cost chip": ["cost", "chip", "--accelerator", "h100-sxm-80gb"],
    "cost server": ["cost", "server", "--system", "dgx-h100"],
    "cost cluster": ["cost", "cluster", "--system", "dgx-h100"],
    "cost tco": ["cost", "tco", "--system", "dgx-h100"],
    "cost cost-per-token": ["cost", "cost-per-token", "--system", "dgx-h100", "--tokens-per-s-per-gpu", "1000"],
    "cost custom-server": ["cost", "custom-server"],
    "codesign sweep": ["codesign", "sweep", SWEEP, "--designs", "8"],
    "codesign search": ["codesign", "search", SWEEP],
    "codesign model": ["codesign", "model", SWEEP, "--compute-flop", "1e24"],
    "db query": ["db", "query", "select 1"],
}
# Numeric options that are not a quantity with a range: layout sizes (checked by the layout declaration), serve's
# list of tensor-parallel sizes (each must divide the heads) and the Monte Carlo size (its own cap).
NOT_RANGED = {"--tp", "--pp", "--dp", "--cp", "--ep", "--vpp", "--micro-batch", "--zero-stage", "--scenarios"}


def _commands() -> dict[str, object]:
    out: dict[str, object] = {}

    def walk(c: object, path: list[str]) -> None:
        subs = getattr(c, "commands", None)
        if subs:
            for n, sub in subs.items():
                walk(sub, [*path, n])
        else:
            out[" ".join(path)] = c

    walk(typer.main.get_command(app), [])
    return out


def _numeric_flags() -> list[tuple[str, str, str, bool]]:
    """(command, first flag, quantity or '', integer?) for every int/float option of every command."""
    rows = []
    for name, cmd in _commands().items():
        fn = command_key(cmd.callback)  # type: ignore[attr-defined]
        for p in cmd.params:  # type: ignore[attr-defined]
            ann = str(p.type_descriptor.annotation)
            if "float" not in ann and "int" not in ann:
                continue
            flag = p.opts[0]
            q = FLAG_LIMITS_IN.get((fn, flag)) or FLAG_LIMITS.get(flag, "")
            rows.append((name, flag, q, "float" not in ann))
    return rows


FLAGS = _numeric_flags()


def test_every_numeric_flag_of_every_command_has_a_range():
    missing = sorted({f"{c} {f}" for c, f, q, _ in FLAGS if not q and f not in NOT_RANGED})
    assert not missing, f"numeric flags without a plausible range in FLAG_LIMITS: {missing}"
    assert set(BASE) >= {c for c, f, q, _ in FLAGS if q}, "a command with ranged flags lacks a BASE call here"
    used = {f for _, f, _, _ in FLAGS}
    assert set(FLAG_LIMITS) <= used, f"FLAG_LIMITS names flags no command has: {set(FLAG_LIMITS) - used}"
    assert all(q in limits.RANGES for q in [*FLAG_LIMITS.values(), *FLAG_LIMITS_IN.values()])


def call(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(argv)
    return code, out.getvalue(), err.getvalue()


def _with(base: list[str], flag: str, value: str) -> list[str]:
    argv = list(base)
    for alias in (flag, "--gpus" if flag == "--accelerators" else flag):
        if alias in argv:
            argv[argv.index(alias) + 1] = value
            return argv
    return [*argv, flag, value]


CASES = [(c, f, q, v) for c, f, q, integer in FLAGS if q for v in (("1e308", "1e-300") if not integer
                                                                     else ("1000000000000000000", "-1"))]


@pytest.mark.parametrize(("command", "flag", "quantity", "value"), CASES,
                         ids=[f"{c}{f}={v}" for c, f, _, v in CASES])
def test_absurd_values_are_refused_naming_the_flag_and_the_range(command, flag, quantity, value):
    code, out, err = call(_with(BASE[command], flag, value))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and out == "", (code, out, err)
    rule = limits.range_of(quantity).rule
    assert lines[0].startswith(f"error: {flag}") and rule in lines[0], lines[0]
    assert "Traceback" not in err and "Warning" not in err


@pytest.mark.parametrize(("argv", "message"), [
    # the user's words: the flag (and its alias), never the engine's field, never a converted unit
    ([*BASE["train"][:-1], "0"],
     "error: --accelerators (--gpus): must be a whole number in [1, 10,000,000] accelerators, got 0"),
    (["cost", "custom-server", "--node-power-kw", "-5"],
     "error: --node-power-kw: must be in [0.01, 2,000] kW, got -5.0"),
    (["codesign", "model", SWEEP, "--compute-flop", "1e24", "--designs", "1000000"],
     "error: --designs: must be a whole number in [1, 100,000] designs, got 1000000"),
    (["cost", "custom-server", "--accelerators", "4096"],
     "error: --accelerators: must be a whole number in [1, 1,024] accelerators per server, got 4096"),
    (["cost", "die", "--area-mm2", "800", "--scribe", "1e308"], "error: --scribe: must be 0 or in [0.001, 50] mm, "
                                                                "got 1e+308"),
    ([*BASE["train"][:-2], "--days", "30", "--gpus", "8"],
     "error: --accelerators (--gpus): give the accelerator count (--accelerators) or the deadline (--days), "
     "exactly one"),
    (BASE["train"] + ["--global-batch", "100"],
     "error: --global-batch: must hold at least one sequence of 8192 tokens, got 100.0"),
    (BASE["train"] + ["--pp", "0"], "error: --pp: must be an integer in [1, 1e+06], got 0"),
    ([*BASE["train"][:-1], "1"], None),  # 8B does not fit one H100: a memory message, not n_accelerators
])
def test_messages_speak_the_users_words(argv, message):
    code, _, err = call(argv)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    if message is not None:
        assert err.strip() == message
    assert not re.search(r"\b(n_accelerators|node_power_w|global_batch_tokens|seq_len)\b", err), err


def test_zero_is_allowed_where_it_means_free_and_tiny_is_not():
    assert call([*BASE["train"], "--price", "0", "--json"])[0] == 0
    code, _, err = call([*BASE["train"], "--price", "1e-300"])
    assert code == 2 and "--price: must be 0 or in [0.0001, 10,000]" in err


def test_help_states_the_range():
    code, out, _ = call(["cost", "custom-server", "--help"])
    assert code == 0 and "Range: in [0.01, 2,000] kW." in " ".join(out.replace("│", " ").split())


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"tokens": 1e308}, "tokens: must be in [1, 1e+16] tokens, got 1e+308"),
    ({"tokens": 1e12, "price": 1e308}, "price: must be 0 or in [0.0001, 10,000] USD per accelerator-hour, got 1e+308"),
    ({"tokens": 1e12, "global_batch": 1e-300}, "global_batch: must be in [1, 1e+10] tokens, got 1e-300"),
    ({"tokens": 1e12, "accelerators": 0}, "accelerators: must be a whole number in [1, 10,000,000] accelerators, "
                                          "got 0"),
])
def test_the_api_checks_the_same_ranges(kwargs, message):
    import chipplan

    kwargs = {"accelerators": 8, **kwargs}
    with pytest.raises(FieldError) as e:
        chipplan.train("llama3-8b", "h100-sxm-80gb", **kwargs)
    assert str(e.value) == message


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"interest": 1e-300}, "interest: must be 0 or in [0.0001, 1] per year, got 1e-300"),
    ({"electricity": 1e308}, "electricity: must be 0 or in [0.0001, 10] USD per kWh, got 1e+308"),
    ({"accelerator_price": 1e308}, "accelerator_price: must be 0 or in [0.01, 100,000,000] USD per accelerator, "
                                   "got 1e+308"),
])
def test_api_tco_ranges(kwargs, message):
    import chipplan

    with pytest.raises(FieldError) as e:
        chipplan.tco("dgx-h100", **kwargs)
    assert str(e.value) == message


def test_scenario_sizes_are_capped_and_stated_in_the_schema(tmp_path):
    from chipplan.scenario.model import json_schema
    from chipplan.strategy import scenario as sc

    text = Path(SCENARIO).read_text()
    p = tmp_path / "s.yaml"
    assert "optimisation_scenarios: 512" in text
    p.write_text(text.replace("optimisation_scenarios: 512", "optimisation_scenarios: 100000000"))
    with pytest.raises(FieldError, match=r"optimisation_scenarios: must be a whole number in \[1, 4,096\] "
                                         r"scenarios, got 100000000$"):
        sc.load(p)
    code, _, err = call(["strategy", str(p)])
    assert code == 2 and len(err.strip().splitlines()) == 1 and "optimisation_scenarios" in err
    p.write_text(text.replace("tokens: 1.0e14", "tokens: 1.0e+308", 1))
    with pytest.raises(FieldError, match=r"demand.training.0.tokens: must be in \[1, 1e\+16\] tokens, got 1e\+308$"):
        sc.load(p)
    prop = json_schema()["properties"]["optimisation_scenarios"]
    assert prop["maximum"] == 4096 and prop["minimum"] == 1 and "4,096" in prop["x-range"]
    assert json_schema()["$defs"]["PlanSection"]["properties"]["tornado_scenarios"]["maximum"] == 4096


def test_limits_doc_is_current():
    committed = (ROOT / "docs" / "limits.md").read_text()
    assert committed == limits_markdown(), "docs/limits.md is stale: python -m chipplan.commands > docs/limits.md"


@pytest.mark.parametrize("kwargs", [
    {"interest": 1e-4, "years": 100, "life_years": 100, "electricity": 10, "cloud_price": 1e4, "utilisation": 1e-3},
    {"interest": 1.0, "years": 0.01, "accelerator_price": 1e8, "server_price": 1e9, "pue": 5},
    {"interest": 0, "electricity": 0, "cloud_price": 0, "cluster_accelerators": 10_000_000},
])
def test_tco_at_the_edges_of_its_ranges_is_finite_without_numpy_warnings(kwargs):
    # The ranges make the engines' overflow and divide-by-zero warnings impossible: every value in range gives
    # a finite answer, even with numpy's warnings raised as errors.
    import math
    import warnings

    import numpy as np

    import chipplan

    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        r = chipplan.tco("dgx-h100", **kwargs)
    assert math.isfinite(r.owned_total_usd) and r.owned_total_usd > 0
    assert math.isfinite(r.owned_usd_per_accelerator_hour)


@pytest.mark.parametrize("kwargs", [
    {"qps": 1e-6, "price_per_hour": 1e4}, {"qps": 1e9, "price_per_hour": 1e-4},
    {"tokens_per_day": 1e17, "price_per_hour": 1e4}, {"tokens_per_day": 1, "slo_ttft_ms": 1e8, "slo_tpot_ms": 1e8},
])
def test_serve_at_the_edges_of_its_ranges_is_finite_without_numpy_warnings(kwargs):
    import math
    import warnings

    import numpy as np

    import chipplan

    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        r = chipplan.serve("llama3-8b", "h100-sxm-80gb", input_len=128, output_len=128, tp=[1], precision="fp8",
                           **kwargs)
    assert r.accelerators_needed is not None and r.accelerators_needed >= 1
    assert all(math.isfinite(v) for k, v in r.best.items() if k.startswith("usd_") and v is not None)
