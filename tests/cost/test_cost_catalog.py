"""The cost catalog: provenance on every entry, node lookup, bad files."""

from pathlib import Path

import pytest

from chipplan.catalog import cost as cc
from chipplan.catalog.cost import Triple, central
from chipplan.errors import CatalogError, FieldError

CAT = cc.load()


def test_nodes_n16_to_n2_with_sources():
    assert {"N16", "N10", "N7", "N5", "N4", "N3", "N2"} <= set(CAT.nodes)
    prices = [central(CAT.node(n).wafer_price_usd) for n in ("N16", "N10", "N7", "N5", "N3", "N2")]
    assert prices == sorted(prices)
    for name, n in CAT.nodes.items():
        assert n.source, name
        assert len(n.source) > 10, name


def test_aliases_and_unknown_node_lists_known():
    assert CAT.node_name("TSMC 4N") == "N4"
    assert CAT.node_name("n4p") == "N4"
    assert CAT.node_name("TSMC N7") == "N7"
    with pytest.raises(FieldError, match="--node: unknown node; known: N28, N16, N10, N7, N5, N4, N3, N2"):
        CAT.node("N9", "--node")


def test_every_section_has_provenance():
    entries = [CAT.wafer, CAT.test, CAT.nre_breakdown, CAT.chip_defaults, CAT.network, CAT.facility, CAT.finance,
               *CAT.nodes.values(), *CAT.hbm.values(), *CAT.packaging.values(), *CAT.hosts.values(),
               *CAT.cloud.values()]
    for e in entries:
        assert e.source
        assert len(e.source.strip()) >= 10
    assert len(CAT.cloud) >= 15
    for row in CAT.cloud.values():
        assert len(row.date) == 7
        assert row.kind in ("hyperscaler", "neocloud")


def test_triples_are_ordered(tmp_path: Path):
    with pytest.raises(ValueError, match=r"p5 <= p50 <= p95"):
        Triple(p5=3, p50=2, p95=4)
    bad = tmp_path / "bad.yaml"
    files = sorted(cc.COST_DIR.glob("*.yaml"))
    bad.write_text("hbm:\n  HBM9:\n    stack_gb: 8\n    usd_per_gb: {p5: 3, p50: 2, p95: 4}\n"
                   "    source: 'made up for a test, 2026'\n")
    with pytest.raises(CatalogError, match=r"bad\.yaml: hbm\.HBM9"):
        cc.build([*files, bad])


def test_missing_source_is_rejected(tmp_path: Path):
    bad = tmp_path / "nosrc.yaml"
    bad.write_text("hbm:\n  HBM9:\n    stack_gb: 8\n    usd_per_gb: 10\n")
    with pytest.raises(CatalogError, match="source"):
        cc.build([*sorted(cc.COST_DIR.glob("*.yaml")), bad])
