"""The numbers that ``examples/`` quotes in prose are recomputed, so a comment cannot go stale.

``tests/strategy/test_examples.py`` recomputes the machine-readable ``engine: <key> = <number>`` lines; this file
covers the rest: the sentences and tables of ``examples/README.md`` and the comments of the YAML files. Each
quote is (file, the words quoted, the number they state, how it is computed, tolerance). The words must still be
in the file (comments are compared with their ``#`` and line breaks removed), so editing a number without
updating this table fails too. Quotes rounded in the text get the tolerance of their rounding.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

import chipplan
from chipplan import catalog
from chipplan.strategy import demand as dm

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MOE = str(EXAMPLES / "gpt5_class_moe.yaml")
QUARTER_DAYS = 365.25 / 4


def prose(name: str) -> str:
    """A file's text with comment markers and line breaks folded away, so a quote may span lines."""
    text = (EXAMPLES / name).read_text()
    if name.endswith(".yaml"):
        text = "\n".join(line.split("#", 1)[1] if "#" in line else "" for line in text.splitlines())
    return re.sub(r"\s+", " ", text)


def check(quotes: list[tuple[str, str, float, float, float]]) -> None:
    for name, words, stated, computed, rel in quotes:
        assert re.sub(r"\s+", " ", words) in prose(name), f"{name} no longer says {words!r}: update this test"
        assert computed == pytest.approx(stated, rel=rel), f"{name}: {words!r} states {stated:g}, now {computed:g}"


def test_model_shape_quotes():
    from chipplan.perf.arithmetic import param_counts

    c = param_counts(catalog.model(MOE))
    total, active = float(c["total"]), float(c["active"])
    check([
        ("README.md", "1.92T parameters", 1.92e12, total, 0.005),
        ("README.md", "0.18T active per token", 0.18e12, active, 0.03),
        ("gpt5_class_moe.yaml", "~1.9T parameters", 1.9e12, total, 0.03),
        ("gpt5_class_moe.yaml", "~0.18T are active per token", 0.18e12, active, 0.03),
        ("frontier_lab.yaml", "About 6 x 0.18e12 x 1e14 = 1.1e26 FLOP", 1.1e26, 6 * active * 1e14, 0.05),
        ("seed_check.yaml", "1.9T-parameter MoE (0.18T active per token)", 1.9e12, total, 0.03),
    ])


def test_arithmetic_and_catalog_quotes():
    b200 = catalog.accelerator("b200-sxm-180gb")
    check([
        # Epoch AI's H100-equivalent: dense 8-bit peak / the H100's
        ("frontier_lab.yaml", "Epoch's peak-based H100e says 2.27", 2.27, dm.h100e_per_accelerator(b200.id), 0.005),
        ("frontier_lab.yaml", "2e8 daily users x 2,000 output tokens = 4.6M tokens/s", 4.6e6, 2e8 * 2000 / 86400,
         0.01),
        # the ratio of the two quoted hour counts is the quoted ratio, to its rounding
        ("frontier_lab.yaml", "(9.34e7 H100-hours); 49,152 B200 take 46.5 days (5.49e7 hours), so a B200 is 1.70",
         1.70, 9.34e7 / 5.49e7, 0.005),
        ("frontier_lab_fleet.yaml", "resold then at 10^(-0.14 x 5) = 20 %", 0.20, 10 ** (-0.14 * 5), 0.01),
        ("frontier_lab_fleet.yaml", "$8 per H100e-hour penalty on run 1's ~42,600 busy H100 is $8.2M a day", 8.2e6,
         8 * 42_600 * 24, 0.01),
        ("seed_check.yaml", "3 years (26,298 h)", 26_298, 3 * 365.25 * 24, 1e-4),
        ("seed_check.yaml", "8 x $30,000 H100 (catalog price)", 30_000,
         catalog.accelerator("h100-sxm-80gb").price_usd, 0.0),
    ])


# ------------------------------------------------------------------------------------------- engine runs (slow)
def run(hardware: str, *, tokens: float, days: float, global_batch: float | None = None) -> chipplan.TrainResult:
    return chipplan.train(MOE, hardware, tokens=tokens, days=days, global_batch=global_batch, precision="fp8")


@pytest.mark.slow
def test_frontier_lab_run_quotes():
    """The GPT-5-class run of frontier_lab.yaml (and frontier_lab_fleet) on H100 and, at equal size, on B200."""
    h100 = run("h100-sxm-80gb", tokens=1e14, days=91.3, global_batch=67108864)
    b200 = chipplan.train(MOE, "b200-sxm-180gb", tokens=1e14, accelerators=h100.n_accelerators,
                          global_batch=67108864, precision="fp8")
    busy = h100.accelerator_hours / (QUARTER_DAYS * 24)
    check([
        ("frontier_lab.yaml", "gives 49,152 H100 for 79 days", 49_152, h100.n_accelerators, 0.0),
        ("frontier_lab.yaml", "gives 49,152 H100 for 79 days", 79, h100.days, 0.01),
        ("frontier_lab.yaml", "(396 tokens/s each,", 396, h100.tokens_per_s_per_accelerator, 0.02),
        ("frontier_lab.yaml", "MFU 0.23,", 0.23, h100.mfu, 0.04),
        ("frontier_lab.yaml", "goodput 0.75 at that scale", 0.75, h100.data["goodput"], 0.01),
        ("frontier_lab.yaml", "about 42,600 H100 busy through quarter 4", 42_600, busy, 0.01),
        ("frontier_lab.yaml", "two GPT-5-class training runs (each about 42,600 H100 busy", 42_600, busy, 0.01),
        # run 2: twice the data over two quarters on the same plan (its H100-hours are an engine line)
        ("frontier_lab.yaml", "about 42,600 H100 busy in quarters 9-10", 42_600, busy, 0.01),
        ("frontier_lab.yaml", "49,152 H100 take 79 days (9.34e7 H100-hours)", 79, h100.days, 0.01),
        ("frontier_lab.yaml", "49,152 H100 take 79 days (9.34e7 H100-hours)", 9.34e7, h100.accelerator_hours, 0.005),
        ("frontier_lab.yaml", "49,152 B200 take 46.5 days (5.49e7 hours)", 46.5, b200.days, 0.005),
        ("frontier_lab.yaml", "49,152 B200 take 46.5 days (5.49e7 hours)", 5.49e7, b200.accelerator_hours, 0.005),
        ("frontier_lab_fleet.yaml", "H100-hours (49,152 H100 for 79 days), about 42,600 H100 busy", 49_152,
         h100.n_accelerators, 0.0),
        ("frontier_lab_fleet.yaml", "H100-hours (49,152 H100 for 79 days), about 42,600 H100 busy", 79, h100.days,
         0.01),
        ("frontier_lab_fleet.yaml", "H100-hours (49,152 H100 for 79 days), about 42,600 H100 busy", 42_600, busy,
         0.01),
    ])


@pytest.mark.slow
def test_default_batch_quote():
    """At the default 16 Mi-token batch the cluster cannot meet the quarter: a pipelined replica gets fewer
    micro-batches than stages, so the bubble stays, and the engine says how long the fastest plan takes."""
    from chipplan.errors import InfeasibleError

    with pytest.raises(InfeasibleError, match=r"the fastest plan takes ([\d.]+) days") as e:
        run("h100-sxm-80gb", tokens=1e14, days=91.3)
    days = float(re.search(r"the fastest plan takes ([\d.]+) days", str(e.value)).group(1))
    assert "--global-batch" in str(e.value) or "raise the global batch" in str(e.value)
    check([("frontier_lab.yaml", "the fastest plan takes 136 days", 136, days, 0.01)])


@pytest.mark.slow
def test_serving_demand_quote():
    from chipplan.strategy import scenario as sc

    inp = sc.build(sc.load(EXAMPLES / "frontier_lab.yaml"), scenarios=64)
    first = float(inp.demand.inference_h100e[0])
    check([
        ("frontier_lab.yaml", "about 19,300 H100 at the start, doubling every year", 19_300, first, 0.02),
        ("frontier_lab_fleet.yaml", "so about 19,300 H100 at peak in quarter 0", 19_300, first, 0.02),
    ])
    assert float(inp.demand.inference_h100e[4]) == pytest.approx(2 * first, rel=1e-9)  # doubling every year


@pytest.mark.slow
def test_examples_readme_table():
    """examples/README.md's table of the GPT-5-class shape on 40T tokens within 120 days."""
    text = prose("README.md")
    for hw, name in (("h100-sxm-80gb", "H100 SXM 80GB"), ("b200-sxm-180gb", "B200 SXM 180GB")):
        m = re.search(rf"\| {name} \| ([\d,]+) \| (\d+) \| ([\d,]+) \| (\d+) · (\d+) · (\d+) · (\d+), vpp (\d+), "
                      rf"ZeRO-(\d) \| ([\d.]+) \| ([\d.]+) M \|", text)
        assert m, f"examples/README.md has no row for {name} in the expected shape"
        n, days, tps, tp, pp, dp, ep, vpp, zero, goodput, hours = m.groups()
        r = run(hw, tokens=40e12, days=120)
        assert r.n_accelerators == int(n.replace(",", "")), name
        # each number within one unit of its last printed digit
        assert r.days == pytest.approx(int(days), abs=1), name
        assert r.tokens_per_s_per_accelerator == pytest.approx(float(tps.replace(",", "")), rel=0.005), name
        got = {k: r.layout[k] for k in ("tp", "pp", "dp", "ep", "vpp", "zero_stage")}
        assert got == {"tp": int(tp), "pp": int(pp), "dp": int(dp), "ep": int(ep), "vpp": int(vpp),
                       "zero_stage": int(zero)}, name
        assert r.data["goodput"] == pytest.approx(float(goodput), abs=0.01), name
        assert r.accelerator_hours / 1e6 == pytest.approx(float(hours), abs=0.1), name
        assert math.isfinite(r.days_high)
