"""catalog_version covers every catalog file: top level, cost, strategy routes and the user's own files."""

from __future__ import annotations

import shutil

from chipplan import catalog


def test_the_version_covers_every_shipped_file():
    every = sorted(catalog.DATA_DIR.rglob("*.yaml"))
    assert {p.parent.name for p in every} >= {"data", "cost", "strategy"}
    assert catalog.load().version == catalog.version() == catalog.version(every)
    assert catalog.version() != catalog.version(catalog.data_files())  # not only the top level


def test_a_change_to_cost_or_route_data_changes_the_version(tmp_path):
    for shipped in (catalog.DATA_DIR / "cost" / "silicon.yaml", catalog.DATA_DIR / "strategy" / "routes.yaml"):
        copy = tmp_path / shipped.name
        shutil.copy(shipped, copy)
        others = [p for p in sorted(catalog.DATA_DIR.rglob("*.yaml")) if p != shipped]
        before = catalog.version([*others, copy])
        copy.write_text(copy.read_text() + "\n# edited\n")
        assert catalog.version([*others, copy]) != before


def test_a_user_catalog_file_changes_the_version(tmp_path, monkeypatch):
    extra = tmp_path / "private.yaml"
    extra.write_text("description: a lab's private data\n")
    shipped = catalog.version()
    monkeypatch.setenv(catalog.EXTRA_ENV, str(extra))
    assert catalog.version() != shipped
    assert catalog.user_files() == [extra]
