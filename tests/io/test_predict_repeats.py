"""``predict`` on real tables: a configuration that repeats is predicted once and every row gets what it would get
alone; the JSON of a table is byte for byte the plain encoding; no row is ``ok`` with a number that is not one."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from chipplan import api, catalog
from chipplan.commands._common import to_json
from chipplan.commands.table import predict_json
from chipplan.errors import FieldError
from chipplan.io import read_table
from chipplan.io.write import _predict_frame, distinct_rows
from chipplan.units import PRECISIONS

CALIBRATION = Path(__file__).resolve().parents[2].parent / "shared" / "validation" / "training_calibration.csv"
INFERENCE = CALIBRATION.with_name("inference_calibration.csv")
needs_tables = pytest.mark.skipif(not CALIBRATION.exists(), reason="shared/validation tables not present")


def _strict(text: str) -> object:
    """json.loads that refuses NaN and Infinity (invalid JSON)."""
    def refuse(c: str) -> None:
        raise ValueError(f"invalid JSON constant {c}")
    return json.loads(text, parse_constant=refuse)


def _numbers(x: object, path: str = ""):
    if isinstance(x, dict):
        for k, v in x.items():
            yield from _numbers(v, f"{path}.{k}")
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from _numbers(v, f"{path}[{i}]")
    elif isinstance(x, float | int) and not isinstance(x, bool):
        yield path, float(x)


@pytest.fixture(scope="module")
def mixed() -> pd.DataFrame:
    """Calibration rows as given (empty layout fields and all), serving rows, and rows that fail, repeated and
    shuffled, each with its own row_id and notes (which no prediction reads)."""
    tr = read_table(CALIBRATION)
    inf = read_table(INFERENCE)
    base = pd.concat([tr.iloc[::9], inf.iloc[::15]], ignore_index=True)
    bad = base.iloc[:3].copy()
    bad["num_layers"] = [0.0, np.nan, 24.5]  # > 0 required; a gap filled from the catalog; not a whole number
    bad["hardware_id"] = ["a100-sxm-80gb", "no-such-chip", "h100-sxm-80gb"]
    bad["precision"] = ["int8", "bf16", "int4"]  # no 8-bit training path on A100; H100 has no int4 peak
    base = pd.concat([base, bad], ignore_index=True)
    rng = np.random.default_rng(0)
    df = base.iloc[rng.integers(0, len(base), 3 * len(base))].reset_index(drop=True)
    df["row_id"] = [f"r{i}" for i in range(len(df))]
    df["notes"] = [f"copy {i}" for i in range(len(df))]
    df.attrs["source"] = "mixed"
    return df


@needs_tables
def test_repeated_rows_get_what_each_gets_alone(mixed):
    whole = _predict_frame(mixed)
    assert len(distinct_rows(mixed)[0]) < len(mixed) / 2  # the table does repeat itself
    statuses = {r["status"] for r in whole["rows"]}
    assert statuses == {"ok", "error"}
    # Every distinct configuration, predicted in a table of its own, is what its rows got in the whole table.
    first, inv = distinct_rows(mixed)
    for u, i in enumerate(first.tolist()):
        alone = _predict_frame(mixed.iloc[[i]])["rows"][0]
        for j in np.nonzero(inv == u)[0].tolist():
            got = whole["rows"][j]
            assert got["row_id"] == f"r{j}"
            assert {k: got[k] for k in ("kind", "status", "reason", "prediction")} == \
                {k: alone[k] for k in ("kind", "status", "reason", "prediction")}


@needs_tables
def test_predicting_once_changes_nothing_in_the_output(mixed):
    once = api.predict_rows(mixed, source="mixed")
    each = _predict_frame(mixed, dedup=False, each=api.contract_aliases)
    assert to_json(once, compact=True) == to_json(each, compact=True)
    assert predict_json(once) == to_json(once, compact=True)


def test_distinct_rows_compare_every_prediction_cell_and_no_other():
    df = pd.DataFrame({"row_id": ["a", "b", "c", "d", "e"], "notes": ["x", "y", "z", "w", "v"],
                       "source_group": ["g1", "g2", "g1", "g1", "g1"],
                       "hardware_id": ["h100", "h100", "h100", "a100", "h100"],
                       "seq_len": [2048.0, 2048.0, np.nan, 2048.0, np.nan],
                       "tp": [np.nan, np.nan, np.nan, np.nan, np.nan]})
    first, inv = distinct_rows(df)
    # a and b differ only in id, notes and source group; c and e share an empty seq_len; d is another chip.
    assert first.tolist() == [0, 2, 3]
    assert inv.tolist() == [0, 0, 1, 2, 1]


@needs_tables
def test_rows_of_one_configuration_share_one_prediction(mixed):
    res = api.predict_rows(mixed, source="mixed")
    _, inv = distinct_rows(mixed)
    by_config: dict[int, int] = {}
    for r, u in zip(res["rows"], inv.tolist(), strict=True):
        if r["prediction"] is not None:
            assert by_config.setdefault(u, id(r["prediction"])) == id(r["prediction"])
            # the output names are added once per configuration, not once per row
            assert r["prediction"]["tokens_per_s_per_accelerator" if r["kind"] == "training"
                                   else "output_tokens_per_s_per_accelerator"] is not None


def test_predict_json_is_the_plain_encoding():
    pred = {"tokens_per_s_per_gpu": 1.5, "layout": {"tp": 2}, "filled": ["cp"], "nan": float("nan")}
    doc = {"chipplan_version": "x", "catalog_version": "y",
           "rows": [{"row_id": "a", "kind": "training", "status": "ok", "reason": None, "prediction": pred},
                    {"row_id": "b\u00e9\"", "kind": "training", "status": "ok", "reason": "note ✓", "prediction": pred},
                    {"row_id": "c", "kind": "inference", "status": "error", "reason": "x: bad", "prediction": None},
                    {"row_id": 7, "kind": "training", "status": "ok", "reason": None, "prediction": pred},
                    {"kind": "training", "row_id": "d", "status": "ok", "reason": None, "prediction": pred}]}
    assert predict_json(doc) == to_json(doc, compact=True)
    assert predict_json({**doc, "rows": []}) == to_json({**doc, "rows": []}, compact=True)


ACCELERATORS = ("a100-sxm-80gb", "v100-sxm2-32gb", "h100-sxm-80gb", "mi300x", "b200-sxm-180gb", "gaudi3")


@needs_tables
def test_no_prediction_is_ok_with_a_number_that_is_not_one(tmp_path):
    """Every precision on several accelerators, over calibration rows as given: a row is an error with a reason
    naming a column, or ok with every number finite (and the JSON valid, without NaN or Infinity)."""
    cal = read_table(CALIBRATION).iloc[::20]
    known = [a for a in ACCELERATORS if catalog.load().find("accelerators", a) is not None]
    assert len(known) >= 4
    parts = []
    for p in PRECISIONS:
        for a in known:
            t = cal.copy()
            t["precision"], t["hardware_id"] = p, a
            parts.append(t)
    df = pd.concat(parts, ignore_index=True)
    df["row_id"] = [f"r{i}" for i in range(len(df))]
    path = tmp_path / "sweep.csv"
    df.to_csv(path, index=False)
    res = _strict(predict_json(api.predict_rows(read_table(path), source=str(path))))
    n_ok = 0
    for r in res["rows"]:
        if r["status"] == "ok":
            n_ok += 1
            bad = [(k, v) for k, v in _numbers(r["prediction"]) if not math.isfinite(v)]
            assert not bad, (r["row_id"], bad)
        else:
            assert r["reason"] and ":" in r["reason"]
    assert n_ok > len(res["rows"]) / 4
    reasons = {r["reason"] for r in res["rows"] if r["status"] == "error"}
    assert any(x.startswith("precision: a100-sxm-80gb has an int8 matrix peak but no int8 training path")
               for x in reasons)


@pytest.mark.parametrize("precision", ["int8", "int4"])
def test_int8_and_int4_on_a100_are_a_precision_error_not_nan(precision):
    with pytest.raises(FieldError) as e:
        api.train("llama-3-8b", "a100-sxm-80gb", tokens=1e12, accelerators=64, precision=precision)
    assert e.value.field == "precision"
    assert "train at bf16 or fp16" in str(e.value)


@pytest.mark.parametrize("hardware", ["a100-sxm-80gb", "h100-sxm-80gb", "mi300x"])
def test_train_is_finite_or_refuses_for_every_precision(hardware):
    for p in PRECISIONS:
        try:
            res = api.train("llama-3-8b", hardware, tokens=1e12, accelerators=64, precision=p)
        except FieldError as e:
            refused = e
        else:
            refused = None
        if refused is not None:
            assert refused.field == "precision"
            continue
        bad = [(k, v) for k, v in _numbers(res.to_dict()) if not math.isfinite(v)]
        assert not bad, (p, bad)


def test_predict_loads_only_its_own_command(tmp_path):
    """``chipplan predict`` imports neither the cost, strategy, codesign nor web modules (their import alone costs
    more than predicting 10⁵ repeated rows)."""
    f = tmp_path / "t.csv"
    f.write_text("row_id,hardware_id,model_name,num_accelerators,seq_len,global_batch_seqs\n"
                 "a,h100-sxm-80gb,llama3-8b,8,4096,64\n")
    code = ("import sys, contextlib, io; from chipplan.cli import run\n"
            "with contextlib.redirect_stdout(io.StringIO()): rc = run(['predict', sys.argv[1]])\n"
            "print(rc, sorted({m.split('.')[1] for m in sys.modules if m.startswith('chipplan.')}))")
    out = subprocess.run([sys.executable, "-c", code, str(f)], capture_output=True, text=True, check=True).stdout
    rc, loaded = out.split(" ", 1)
    assert rc == "0"
    for heavy in ("cost", "strategy", "codesign", "web", "scenario", "store"):
        assert f"'{heavy}'" not in loaded, loaded
