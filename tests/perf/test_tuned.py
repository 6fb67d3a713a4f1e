"""The engine-wide tuned numbers live in the catalog (efficiency.yaml ``engine_constants:``) and nowhere else: the
engines answer what the catalog says, a user catalog file can change them, and a broken entry is a one-line
CatalogError naming it. Standard-normal quantiles and calendar constants are defined once, in chipplan.units."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from chipplan import catalog, units
from chipplan.errors import CatalogError
from chipplan.perf import efficiency, inference, plan, training, tuned

SRC = Path(__file__).resolve().parents[2] / "src" / "chipplan"
SHIPPED = yaml.safe_load((catalog.DATA_DIR / "efficiency.yaml").read_text())["engine_constants"]


@pytest.fixture
def user_constants(monkeypatch, tmp_path):
    """Load the catalog with a user file whose ``engine_constants`` groups replace the shipped ones."""

    def use(**groups: dict[str, float]) -> None:
        body = {g: {k: {"value": v, "source": "test override, not a measurement"} for k, v in vals.items()}
                for g, vals in groups.items()}
        f = tmp_path / "constants.yaml"
        f.write_text(yaml.safe_dump({"engine_constants": body}))
        monkeypatch.setenv(catalog.EXTRA_ENV, str(f))
        catalog.load.cache_clear()

    yield use
    monkeypatch.delenv(catalog.EXTRA_ENV, raising=False)
    catalog.load.cache_clear()


def test_table_is_the_shipped_file_and_every_name_has_a_source():
    t = tuned.table()
    assert set(t) == set(tuned.NAMES) == set(SHIPPED)
    for group, names in tuned.NAMES.items():
        assert set(SHIPPED[group]) == set(names)
        for name in names:
            assert t[group][name] == float(SHIPPED[group][name]["value"])
            assert len(SHIPPED[group][name]["source"]) > 30


def test_old_module_names_answer_the_catalog_values():
    assert training.ATTN_BWD_FACTOR == tuned.value("training", "attention_backward_factor") == 3.0
    assert training.MEMORY_RESERVED_BYTES == inference.MEMORY_RESERVED_BYTES == 1.5e9
    assert inference.STEP_OVERHEAD_S == 2.0e-4 and inference.PREFILL_LAYER_OVERHEAD_S == 1.5e-4
    assert inference.ENGINE_DEFAULTS["max_num_seqs"] == 2048.0
    assert efficiency.WIDEN_LOG_SD == {"moe": 0.20, "scale": 0.10, "fp4": 0.15, "serving": 0.15}
    with pytest.raises(AttributeError):
        _ = training.NOT_A_CONSTANT


def _memory_capacity(hbm_bytes: float) -> float:
    from chipplan.perf.columns import Columns

    m = Columns(catalog.model("llama-3.1-8b").to_columns())
    lay = Columns({"tp": 1.0, "pp": 1.0, "dp": 8.0, "cp": 1.0, "ep": 1.0, "vpp": 1.0, "micro_batch": 1.0,
                   "zero_stage": 1.0, "recompute": 0.0, "sequence_parallel": 1.0})
    hw = Columns({"hbm_bytes": hbm_bytes, "fp8": 0.0})
    return float(training.memory_and_fit(m, hw, lay, global_batch_seqs=64, seq_len=4096)["memory_capacity_bytes"])


def test_engines_read_the_catalog_values(user_constants):
    hbm = 80e9
    assert _memory_capacity(hbm) == pytest.approx(hbm * 0.92 - 1.5e9, rel=1e-15)
    llama405 = catalog.model("llama-3.1-405b")
    assert plan.default_global_batch_tokens(llama405) == 16 * 2**20
    user_constants(training={"memory_usable_fraction": 0.5, "memory_reserved_bytes": 0.0,
                             "attention_backward_factor": 2.5, "memory_model_slack_fraction": 0.05,
                             "host_offload_bw_bytes_per_s": 5e10},
                   plan={"global_batch_tokens_small": 1e6, "global_batch_tokens_large": 2e6,
                         "large_model_params": 1e15})
    assert tuned.value("training", "memory_usable_fraction") == 0.5
    assert _memory_capacity(hbm) == pytest.approx(hbm * 0.5, rel=1e-15)
    assert plan.default_global_batch_tokens(llama405) == 1_000_000  # 405B is now below the large threshold
    assert tuned.value("serving", "max_num_tokens") == 8192.0  # groups the file leaves alone stay shipped


def test_interval_widening_follows_the_catalog(user_constants):
    sd = efficiency.interval_log_sd(0.1, n_experts=8, n_gpu=10_000, precision="fp4", serving=True)
    assert float(sd) == pytest.approx(np.sqrt(0.1**2 + 0.2**2 + 0.15**2 + 0.1**2 + 0.15**2), rel=1e-12)
    user_constants(intervals={"widen_log_sd_moe": 0.0, "widen_log_sd_scale": 0.3, "widen_log_sd_fp4": 0.0,
                              "widen_log_sd_serving": 0.0, "scale_widen_above_accelerators": 20_000})
    sd = efficiency.interval_log_sd(0.1, n_experts=8, n_gpu=10_000, precision="fp4", serving=True)
    assert float(sd) == pytest.approx(0.1, rel=1e-12)  # 10,000 is no longer above the scale threshold


def test_a_broken_entry_is_one_line_naming_it(user_constants):
    user_constants(serving={"step_overhead_s": 1e-4})
    with pytest.raises(CatalogError, match=r"engine_constants\.serving\.allreduce_latency_steps: missing"):
        tuned.table()
    user_constants(training={"memory_usable_fraction": -1.0, "memory_reserved_bytes": 0.0,
                             "attention_backward_factor": 3.0, "memory_model_slack_fraction": 0.05,
                             "host_offload_bw_bytes_per_s": 5e10})
    with pytest.raises(CatalogError, match=r"engine_constants\.training\.memory_usable_fraction\.value"):
        tuned.table()
    user_constants(training={"memory_usable_fraction": 0.9, "memory_reserved_bytes": 0.0,
                             "attention_backward_factor": 3.0, "memory_model_slack_fraction": 0.05,
                             "memory_reserve_bytes": 1.0})
    with pytest.raises(CatalogError, match=r"unknown key\(s\) memory_reserve_bytes"):
        tuned.table()


@pytest.mark.parametrize("name", ["Z80", "Z90", "Z95", "HOURS_PER_YEAR", "HOURS_PER_QUARTER", "DAYS_PER_QUARTER",
                                  "DAYS_PER_YEAR", "GIB", "MIB"])
def test_shared_constants_are_defined_once(name):
    """A module-level assignment ``NAME = ...`` of a shared constant appears at most once in the package (in
    chipplan.units); everyone else imports it."""
    pattern = re.compile(rf"^\s*{name}\s*(:[^=]+)?=[^=]", re.M)
    where = [str(f.relative_to(SRC)) for f in SRC.rglob("*.py") if pattern.search(f.read_text())]
    assert where == ([] if name == "Z95" else ["units.py"]), where


def test_quantiles_are_the_normal_ones():
    from scipy import stats

    assert abs(units.Z80 - stats.norm.ppf(0.90)) < 5e-5  # 4 decimals, as intervals were reported
    assert abs(units.Z90 - stats.norm.ppf(0.95)) < 1e-15
    assert units.DAYS_PER_QUARTER * 24 == units.HOURS_PER_QUARTER == 2191.5
