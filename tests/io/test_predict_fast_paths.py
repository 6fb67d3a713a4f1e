"""The paths ``chipplan predict`` takes on large tables give what the plain ones give: the JSON written from the
per-configuration form is byte for byte ``to_json`` of the document, leaving the unread columns out of the read
changes no prediction, the hashed grouping of rows is the exact one (also when two rows share a hash), a table
whose first rows hold every configuration is predicted once and still refused when it is junk, and the command as
a process imports none of the heavy layers and ends with its status after its output and ``atexit`` handlers.
Speed itself is measured by ``benchmarks/bench_training.py``, not here."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import chipplan.io.write as write
from chipplan import api
from chipplan.cli import run
from chipplan.commands._common import to_json
from chipplan.commands.table import predict_json, write_predict_json
from chipplan.io import read_table
from chipplan.io.schema import COLUMNS, JUNK_ROWS, PREDICTION_COLUMNS, UNREAD_BY_PREDICT

CALIBRATION = Path(__file__).resolve().parents[2].parent / "shared" / "validation" / "training_calibration.csv"
INFERENCE = CALIBRATION.with_name("inference_calibration.csv")
HOLDOUT = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "training_holdout.csv"
needs_tables = pytest.mark.skipif(not CALIBRATION.exists(), reason="shared/validation tables not present")


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    """Calibration and serving rows as given, rows that fail, repeated ids, in a shuffled order of 1,500 rows."""
    tr = read_table(CALIBRATION)
    inf = read_table(INFERENCE)
    base = pd.concat([tr.iloc[::7], inf.iloc[::11]], ignore_index=True)
    bad = base.iloc[:2].copy()
    bad["num_layers"] = [0.0, 24.5]
    bad["hardware_id"] = ["no-such-chip", "h100-sxm-80gb"]
    base = pd.concat([base, bad], ignore_index=True)
    rng = np.random.default_rng(1)
    df = base.iloc[rng.integers(0, len(base), 1_500)].reset_index(drop=True)
    df["row_id"] = [f"r{i}" for i in range(len(df))]
    df.loc[[10, 700], "row_id"] = ["r3", "r5"]  # repeated ids: those rows are errors of their own
    df.loc[11, "row_id"] = None  # no id: the row's number
    df.attrs["source"] = "table"
    return df


def _written(tp: write.TablePrediction) -> str:
    buf = io.StringIO()
    write_predict_json(tp, buf, rows_per_write=97)  # blocks that do not divide the table
    return buf.getvalue()


@needs_tables
def test_json_from_the_configurations_is_the_documents_encoding(table):
    tp = api.predict_rows_table(table, source="table")
    doc = tp.document()
    assert {r["status"] for r in doc["rows"]} == {"ok", "error"}
    assert doc["rows"][10]["reason"] == "row_id: 'r3' is already the id of row 4; row ids must be unique"
    assert doc["rows"][11]["row_id"] == "12"
    text = _written(tp)
    assert text == to_json(doc, compact=True) == predict_json(doc)
    assert json.loads(text) == json.loads(to_json(api.predict_rows(table, source="table")))
    empty = api.predict_rows_table(table.iloc[:0], source="table")
    assert _written(empty) == to_json(empty.document(), compact=True)


@needs_tables
def test_command_prints_the_same_json_as_the_api(tmp_path, table):
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert run(["predict", str(path)]) == 0
    assert out.getvalue() == to_json(api.predict_rows(read_table(path), source=str(path)), compact=True) + "\n"


def test_unread_columns_are_the_schemas_unpredicted_ones():
    names = {c.name for c in COLUMNS}
    assert names - set(PREDICTION_COLUMNS) - {"row_id"} == UNREAD_BY_PREDICT
    assert {"notes", "source", "source_group", "target_tokens_per_s_per_gpu"} <= UNREAD_BY_PREDICT
    assert not UNREAD_BY_PREDICT & {"hardware_id", "tp", "framework", "row_id"}


@needs_tables
@pytest.mark.parametrize("path", [CALIBRATION, INFERENCE, HOLDOUT])
def test_leaving_unread_columns_out_changes_no_prediction(path):
    whole = read_table(path)
    part = read_table(path, skip_unread=True)
    assert set(part.columns) == set(whole.columns) - UNREAD_BY_PREDICT
    assert len(part.columns) < len(whole.columns)
    assert to_json(api.predict_rows(part, source=str(path))) == to_json(api.predict_rows(whole, source=str(path)))


def test_unknown_columns_are_still_read_and_named(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("row_id,hardware_id,notes,seq_length\na,h100-sxm-80gb,x,4096\n")
    df = read_table(f, skip_unread=True)
    assert list(df.columns) == ["row_id", "hardware_id", "seq_length"]
    code, out = _run_predict(f)
    assert code == 2 and out == ""


def test_a_header_over_two_lines_is_read_whole(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text('row_id,hardware_id,"no\ntes"\na,h100-sxm-80gb,x\n')
    assert list(read_table(f, skip_unread=True).columns) == ["row_id", "hardware_id", "no\ntes"]


def _run_predict(path: Path, *extra: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(["predict", str(path), *extra])
    return code, out.getvalue()


def test_grouping_rows_is_exact():
    df = pd.DataFrame({"row_id": list("abcdefgh"),
                       "hardware_id": ["h100", "h100", "a100", "h100", None, None, "h100", "h100"],
                       "seq_len": [2048.0, 2048.0, 2048.0, -0.0, np.nan, float("nan"), 0.0, 2048.0],
                       "num_layers": np.array([1, 1, 1, 1, 1, 1, 1, 2], dtype=np.int64),
                       "inf_input_len": pd.Series([None] * 8, dtype=object),
                       "notes": list("xyzwvuts")})
    first, inv = write.distinct_rows(df)
    # a, b equal; c another chip; d (-0) and g (+0) equal, as pandas compares them; e, f two empty cells; h 2 layers
    assert inv.tolist() == [0, 0, 1, 2, 3, 3, 2, 4]
    assert first.tolist() == [0, 2, 3, 4, 7]


@needs_tables
def test_rows_sharing_a_hash_fall_back_to_the_exact_grouping(monkeypatch, table):
    want = write._distinct_exact(table, [c for c in table.columns if c in write.PREDICTION_SET])
    got = write.distinct_rows(table)
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    calls = []
    real_exact = write._distinct_exact

    def exact(*a):
        calls.append(1)
        return real_exact(*a)

    # Every multiplier 0: every row hashes to 0, so the check must catch the collisions.
    monkeypatch.setattr(write, "_multipliers", lambda k: np.zeros(k, dtype=np.uint64))
    monkeypatch.setattr(write, "_distinct_exact", exact)
    forced = write.distinct_rows(table)
    assert calls == [1]
    assert np.array_equal(forced[0], want[0]) and np.array_equal(forced[1], want[1])


def _counting(monkeypatch) -> list[int]:
    sizes: list[int] = []
    real = write._predict_distinct

    def counted(df, rows, **kw):
        sizes.append(len(df))
        return real(df, rows, **kw)

    monkeypatch.setattr(write, "_predict_distinct", counted)
    return sizes


@needs_tables
def test_a_table_whose_first_rows_hold_every_configuration_is_predicted_once(monkeypatch):
    cal = read_table(CALIBRATION)
    df = cal.iloc[np.arange(3 * JUNK_ROWS) % len(cal)].reset_index(drop=True)
    df["row_id"] = [str(i) for i in range(len(df))]
    n_configs = len(write.distinct_rows(df)[0])
    sizes = _counting(monkeypatch)
    res = write.predict_frame(df)
    assert sizes == [n_configs]
    # ... and every row gets what a table of its configuration alone gets
    alone = write._predict_frame(cal)
    by_id = {r["row_id"]: r for r in alone["rows"]}
    for i in (0, 1, len(cal) + 5, 2 * JUNK_ROWS + 17):
        got, ref = res["rows"][i], by_id[cal["row_id"].iloc[i % len(cal)]]
        assert {k: got[k] for k in ("kind", "status", "reason", "prediction")} == \
            {k: ref[k] for k in ("kind", "status", "reason", "prediction")}


def test_junk_repeating_in_its_first_rows_is_refused(tmp_path):
    head = "row_id,hardware_id,model_name,num_layers,hidden_size,seq_len\n"
    lines = [f"{i},chip-{i % 3}x,model-{i % 3},{i % 3}.5,lots,7\n" for i in range(2 * JUNK_ROWS)]
    f = tmp_path / "t.csv"
    f.write_text(head + "".join(lines))
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        assert run(["predict", str(f)]) == 2
    assert err.getvalue().startswith(f"error: {f}: none of the first {JUNK_ROWS:,} rows (of {2 * JUNK_ROWS:,}) can "
                                     "be predicted; the first problems: row '0': num_layers: must be a whole number "
                                     "in [1, 100,000] layers, got 0.5; row '1': ")


@needs_tables
def test_junk_check_on_first_rows_with_part_of_the_configurations(monkeypatch):
    cal = read_table(CALIBRATION)
    df = pd.concat([cal.iloc[np.arange(JUNK_ROWS) % 20], cal.iloc[20:]], ignore_index=True)
    df["row_id"] = [str(i) for i in range(len(df))]
    sizes = _counting(monkeypatch)
    res = write.predict_frame(df)
    n_head = len(write.distinct_rows(df.iloc[:JUNK_ROWS])[0])
    assert sizes == [n_head, len(write.distinct_rows(df)[0])]  # the first rows on their own, then the table
    assert res["rows"][0]["status"] == "ok"


def test_the_collector_is_back_as_it_was(table):
    import gc

    assert gc.isenabled()
    write.predict_table(table.iloc[:5])
    assert gc.isenabled()
    gc.disable()
    try:
        write.predict_table(table.iloc[:5])
        assert not gc.isenabled()
    finally:
        gc.enable()


HEAVY = ("plotly", "fastapi", "starlette", "uvicorn", "scipy", "optuna", "duckdb", "linopy", "highspy", "jinja2",
         "kaleido", "ray", "rich", "chipplan.cost", "chipplan.strategy", "chipplan.codesign", "chipplan.web",
         "chipplan.report", "chipplan.scenario", "chipplan.store")
_CHILD = """
import atexit, sys
from chipplan.commands import entry
def report():
    sys.stderr.write("LOADED " + " ".join(m for m in {heavy!r} if m in sys.modules) + "\\n")
atexit.register(report)
sys.argv = ["chipplan", *sys.argv[1:]]
entry.main()
"""


def _child(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _CHILD.format(heavy=HEAVY), *args], capture_output=True, text=True)


@needs_tables
def test_predict_as_a_process_loads_no_heavy_layer_and_exits_with_its_output(tmp_path):
    cal = read_table(CALIBRATION)
    df = cal.iloc[np.arange(450) % len(cal)].reset_index(drop=True)  # over 200 rows: the block-wise JSON
    df["row_id"] = [f"r{i}" for i in range(len(df))]
    path = tmp_path / "t.csv"
    df.to_csv(path, index=False)
    p = _child("predict", str(path))
    assert p.returncode == 0, p.stderr
    assert p.stderr.strip() == "LOADED", p.stderr  # the atexit handler ran, and found none loaded
    assert p.stdout == to_json(api.predict_rows(read_table(path), source=str(path)), compact=True) + "\n"
    bad = _child("predict", str(tmp_path / "missing.csv"))
    assert bad.returncode == 2 and bad.stdout == ""
    lines = bad.stderr.splitlines()
    assert lines[0] == f"error: {tmp_path / 'missing.csv'}: file not found"
    assert len(lines) == 2 and lines[1].startswith("LOADED")  # (the error line is printed with rich)


@needs_tables
def test_validate_as_a_process_keeps_its_output_and_status():
    p = _child("validate", str(CALIBRATION), "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["overall"]["tokens_per_s_per_gpu"]["n_rows"] > 100
    assert p.stderr.startswith("LOADED")
