"""Catalog files from users: bounded YAML, booleans and fractions refused, wrong-type sections, near matches."""

import time

import pytest

from chipplan import catalog
from chipplan.catalog import build, load
from chipplan.cli import run
from chipplan.errors import CatalogError, UnknownIdError

MODEL = """\
models:
  tiny:
    name: Tiny
    n_layers: 12
    d_model: 768
    n_heads: 12
    d_ff: 3072
    vocab_size: 50257
    source: "Hand-written test model, 2026"
"""


def _shipped():
    return sorted(catalog.DATA_DIR.glob("*.yaml"))


def _build_with(tmp_path, text):
    f = tmp_path / "mine.yaml"
    f.write_text(text)
    return build([*_shipped(), f])


@pytest.mark.parametrize(("old", "new", "message"), [
    ("n_layers: 12", "n_layers: true", "mine.yaml:4: models.tiny.n_layers: must be a number, not true/false, "
                                       "got True"),
    ("n_layers: 12", "n_layers: on", "mine.yaml:4: models.tiny.n_layers: must be a number, not true/false"),
    ("n_heads: 12", "n_heads: 1.5", "mine.yaml:6: models.tiny.n_heads: must be a whole number, got 1.5"),
    ("d_model: 768", "d_model: 2304.5", "mine.yaml:5: models.tiny.d_model: must be a whole number, got 2304.5"),
    ("    d_ff: 3072\n", "    d_ff: 3072\n    n_layers: 24\n", "mine.yaml:8: malformed YAML (duplicate key "
                                                              "'n_layers' (first on line 4))"),
])
def test_model_file_mistakes_name_file_line_and_field(tmp_path, old, new, message):
    with pytest.raises(CatalogError) as e:
        _build_with(tmp_path, MODEL.replace(old, new))
    assert str(e.value).replace(str(tmp_path) + "/", "").startswith(message)


@pytest.mark.parametrize(("text", "message"), [
    ("efficiency: [1, 2]\n", "mine.yaml:1 efficiency: must be a mapping, got [1, 2]"),
    ("reliability: lots\n", "mine.yaml:1 reliability: must be a mapping, got 'lots'"),
    ("accelerators: [h100]\n", "mine.yaml:1 accelerators: must map ids to entries, got ['h100']"),
    ("models:\n  m: 5\n", "mine.yaml:2: models.m: Input should be a valid dictionary"),
    ("- just\n- a list\n", "mine.yaml: must be a mapping"),
])
def test_sections_of_the_wrong_type_are_one_line(tmp_path, text, message):
    with pytest.raises(CatalogError) as e:
        _build_with(tmp_path, text)
    assert str(e.value).replace(str(tmp_path) + "/", "").startswith(message)


def test_alias_bomb_as_a_model_file_fails_at_once(tmp_path):
    f = tmp_path / "bomb.yaml"
    f.write_text("models:\n  m: &a [x, x, x, x, x, x, x, x]\n"
                 + "".join(f"  m{i}: &a{i} [{', '.join([f'*a{i - 1}' if i > 1 else '*a'] * 8)}]\n"
                           for i in range(1, 10)))
    t = time.process_time()  # CPU time of this process: a loaded machine does not inflate it
    code = run(["model", str(f)])
    assert code == 2 and time.process_time() - t < 2  # milliseconds for the YAML; expanding it takes > 20 s


def test_user_catalog_with_a_broken_section_is_exit_2_via_the_cli(tmp_path, monkeypatch, capsys):
    f = tmp_path / "lab.yaml"
    f.write_text("efficiency:\n  - hopper\n")
    monkeypatch.setenv(catalog.EXTRA_ENV, str(f))
    load.cache_clear()
    try:
        assert run(["catalog", "list", "accelerators"]) == 2
    finally:
        monkeypatch.delenv(catalog.EXTRA_ENV)
        load.cache_clear()
    err = capsys.readouterr().err
    assert err == f"error: {f}:1 efficiency: must be a mapping, got ['hopper']\n"


@pytest.mark.parametrize(("given", "first"), [
    ("dgx-h1000", "dgx-h100"),  # a system, though accelerators are tried first
    ("dgx-b20", "dgx-b200"),
    ("h100-sxm-80", "h100-sxm-80gb"),
    ("b200-sxm-180", "b200-sxm-180gb"),
])
def test_hardware_near_matches_span_accelerators_and_systems(given, first):
    with pytest.raises(UnknownIdError) as e:
        catalog.hardware(given)
    assert e.value.kind == "hardware" and e.value.suggestions[0] == first
    assert len(e.value.suggestions) == len(set(e.value.suggestions)) <= catalog.NEAR_MATCHES


@pytest.mark.parametrize(("given", "kind", "expected"), [
    ("dgx-b20", "systems", ["dgx-b200"]),
    ("llama-3.1-7b", "models", ["llama-3.1-70b", "llama-3.1-8b"]),
    ("deepsek-v3", "models", ["deepseek-v3"]),
    ("mi300", "accelerators", ["mi300a", "mi300x"]),  # both MI300 parts
])
def test_catalog_show_suggests_from_every_kind_best_first(given, kind, expected, capsys):
    assert run(["catalog", "show", given]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {kind}: unknown id '{given}'; did you mean {', '.join(expected)}")
    assert len(err.splitlines()) == 1


def test_nothing_alike_suggests_nothing():
    cat = load()
    assert cat.near("zzzzqqqq") == []
    assert str(cat.unknown("zzzzqqqq")) == "catalog: unknown id 'zzzzqqqq'"


def test_near_match_search_is_quick():
    cat = load()
    t = time.process_time()  # CPU time, not wall: the suite runs beside other work
    for i in range(50):
        cat.near(f"unknown-chip-{i}")
    assert (time.process_time() - t) / 50 < 0.05
