"""Shared fixtures: where the published validation tables are (../shared/validation, or $VALIDATION)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def validation_dir() -> Path:
    d = Path(os.environ.get("VALIDATION", ROOT.parent / "shared" / "validation"))
    if not (d / "training_calibration.csv").exists():
        pytest.skip(f"validation tables not found at {d}")
    return d


@pytest.fixture(autouse=True)
def _human_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands run under the test runner print to a pipe, which defaults to TSV; tests read the human tables
    unless they ask for a format (tests of the pipe default remove this)."""
    monkeypatch.setenv("CHIPPLAN_FORMAT", "table")
