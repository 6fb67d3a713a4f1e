"""The shipped catalog files are parsed with libyaml's C parser (fast start-up); they must read exactly as the
bounded loader reads them, so its checks (duplicate keys, depth, aliases) hold for them."""

import time

import pytest
import yaml

from chipplan import catalog, safeio
from chipplan.errors import CatalogError

SHIPPED = sorted(catalog.DATA_DIR.rglob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.relative_to(catalog.DATA_DIR).as_posix())
def test_shipped_file_reads_the_same_with_both_parsers(path):
    text = path.read_text(encoding="utf-8")
    bounded = safeio.parse_yaml(text, str(path), error=CatalogError)  # refuses duplicate keys and bombs
    assert safeio.parse_trusted_yaml(text, str(path), error=CatalogError).data == bounded.data


def test_trusted_parse_finds_lines_on_demand_and_falls_back_on_bad_yaml():
    doc = safeio.parse_trusted_yaml("a: 1\nb:\n  c: [x, y]\n", "f.yaml")
    assert doc.data == {"a": 1, "b": {"c": ["x", "y"]}}
    assert doc.where("b", "c") == "f.yaml:3" and doc.where("a") == "f.yaml:1"
    with pytest.raises(CatalogError, match=r"^f.yaml:2: malformed YAML"):
        safeio.parse_trusted_yaml("a: [1\nb: 2\n", "f.yaml", error=CatalogError)


@pytest.mark.skipif(not getattr(yaml, "__with_libyaml__", False), reason="PyYAML built without libyaml")
def test_shipped_catalog_parses_fast():
    files = catalog.data_files()

    def cpu_s(read) -> float:
        # this thread's CPU time, best of three: a web server or Ray thread of an earlier test in the same worker
        # must not be counted against the parse
        best = float("inf")
        for _ in range(3):
            t = time.thread_time()
            for f in files:
                read(f)
            best = min(best, time.thread_time() - t)
        return best

    fast = cpu_s(catalog.read_yaml_doc)
    slow = cpu_s(lambda f: safeio.load_yaml_doc(f, error=CatalogError))
    assert fast < 0.5 * slow, (fast, slow)


def test_user_catalog_files_still_use_the_bounded_loader(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("models:\n  m:\n    n_layers: 1\n    n_layers: 2\n")
    with pytest.raises(CatalogError, match="duplicate key"):
        catalog.read_yaml_doc(f)
