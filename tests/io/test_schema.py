"""The column schema is data: it documents the table (docs/columns.md) and drives the reader's checks."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chipplan.cli import app
from chipplan.io import schema
from chipplan.io.schema import COLUMNS, COLUMNS_BY_NAME, markdown

ROOT = Path(__file__).resolve().parents[2]
TABLES = [ROOT.parent / "shared" / "validation" / "training_calibration.csv",
          ROOT.parent / "shared" / "validation" / "inference_calibration.csv",
          ROOT / "benchmarks" / "data" / "extra_training.csv",
          ROOT / "benchmarks" / "data" / "extra_inference.csv"]
runner = CliRunner()


def test_committed_docs_are_generated_from_the_schema():
    committed = (ROOT / "docs" / "columns.md").read_text()
    assert committed == markdown(), "docs/columns.md is stale: python -m chipplan.io > docs/columns.md"


@pytest.mark.parametrize("path", [p for p in TABLES if p.exists()], ids=lambda p: p.name)
def test_every_published_column_is_declared(path):
    with path.open(newline="") as f:
        header = next(csv.reader(f))
    assert [c for c in header if c not in COLUMNS_BY_NAME] == []


def test_declarations_are_complete():
    for c in COLUMNS:
        assert c.description.endswith("."), c.name
        if c.type == "choice":
            assert c.allowed, c.name
        if c.read and c.type in ("integer", "number"):
            assert c.unit, c.name
    assert schema.NUMERIC_COLUMNS[:3] == ("num_layers", "hidden_size", "num_heads")
    assert schema.LAYOUT_COLUMNS["micro_batch_size"] == "micro_batch"


def test_a_bad_choice_names_what_the_schema_allows(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("row_id,hardware_id,model_name,num_accelerators,tp,pp,seq_len,global_batch_seqs,precision,"
                 "mlp_gated\n"
                 "a,h100-sxm-80gb,llama3-8b,8,1,1,4096,64,bf17,\n"
                 "b,h100-sxm-80gb,llama3-8b,8,1,1,4096,64,bf16,maybe\n"
                 "c,h100-sxm-80gb,llama3-8b,8,1,1,0,64,bf16,\n")
    rows = json.loads(runner.invoke(app, ["predict", str(p)]).stdout)["rows"]
    assert rows[0]["reason"] == f"precision: must be one of {', '.join(COLUMNS_BY_NAME['precision'].allowed)}, " \
                                "got 'bf17'"
    assert rows[1]["reason"] == "mlp_gated: must be true or false, got 'maybe'"
    assert rows[2]["reason"] == "seq_len: must be a whole number in [1, 100,000,000] tokens, got 0"
