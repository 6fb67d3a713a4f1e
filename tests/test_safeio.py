"""The input-safety vocabulary: bounded YAML, capped values in messages, range checks, atomic writes."""

import errno
import os
import stat
import time

import pytest

from chipplan import safeio
from chipplan.errors import CatalogError, FieldError, InputFileError, OutputFileError, UnknownIdError


def _laughs(levels: int, width: int = 9) -> str:
    """A 'billion laughs' document: each level lists the previous one ``width`` times."""
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def test_vocabulary_layer_imports_only_the_standard_library_yaml_and_errors():
    import ast
    import sys
    from pathlib import Path

    tree = ast.parse(Path(safeio.__file__).read_text())
    mods = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    mods |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 0}
    assert {m for m in mods if m.split(".")[0] not in sys.stdlib_module_names} == {"yaml", "chipplan.errors"}


# --- YAML: aliases, depth, size, duplicates, booleans, lines ------------------------------------------------------


def test_alias_bomb_fails_fast_with_a_short_message(tmp_path):
    p = tmp_path / "bomb.yaml"
    p.write_text(_laughs(9))  # 9^10 ≈ 3.5e9 strings once expanded, from under 1 kB
    assert p.stat().st_size < 1024
    t = time.process_time()  # CPU time, not wall: the suite runs beside other work
    with pytest.raises(InputFileError) as e:
        safeio.load_yaml(p)
    assert time.process_time() - t < 1.0
    msg = str(e.value)
    # nodes added by aliases: 90, 819, 7,380, 66,429 on levels 1-4; the first alias of level 5 (line 6) adds
    # 66,430 more and passes the 100,000-node budget
    assert msg == (f"{p}:6: malformed YAML (aliases expand to more than 100,000 nodes (nested anchors, "
                   "a 'billion laughs' file?))")


def test_small_alias_expansions_are_fine_and_merge_keys_work():
    doc = safeio.parse_yaml("base: &b {tp: 8, pp: 1}\nrun:\n  <<: *b\n  pp: 4\nsrc: &s paper 2024\nalso: *s\n")
    assert doc.data == {"base": {"tp": 8, "pp": 1}, "run": {"tp": 8, "pp": 4}, "src": "paper 2024",
                        "also": "paper 2024"}


def test_alias_count_is_capped_even_when_each_alias_is_small():
    text = "a: &a x\nb: [" + ", ".join(["*a"] * 12) + "]\n"
    assert safeio.parse_yaml(text, max_aliases=12).data["b"] == ["x"] * 12
    with pytest.raises(InputFileError, match=r"^<yaml>:2: malformed YAML \(more than 11 aliases\)$"):
        safeio.parse_yaml(text, max_aliases=11)


def test_recursive_alias_is_refused():
    with pytest.raises(InputFileError, match=r"recursive alias \*me"):
        safeio.parse_yaml("loop: &me {child: *me}\n")


@pytest.mark.parametrize("text", ["when: 2024-13-45\n", "k: !!python/object:os.system x\n", "k: !!float abc\n"])
def test_scalars_the_constructor_refuses_are_one_line_errors(text):
    with pytest.raises(InputFileError, match=r"^<yaml>(:\d+)?: malformed YAML \("):
        safeio.parse_yaml(text)


@pytest.mark.parametrize("text", ["x: " + "[" * 5000 + "]" * 5000, "x: " + "{a: " * 3000 + "1" + "}" * 3000,
                                  "".join("  " * i + f"k{i}:\n" for i in range(300)) + "  " * 300 + "v\n"])
def test_deep_nesting_is_an_error_not_a_recursion_error(text):
    with pytest.raises(InputFileError, match=r"malformed YAML \(nested deeper than 50 levels\)"):
        safeio.parse_yaml(text, "deep.yaml")


def test_size_cap(tmp_path):
    p = tmp_path / "big.yaml"
    p.write_text("k: " + "9" * 5000 + "\n")
    with pytest.raises(InputFileError, match=r"big\.yaml: malformed YAML \(Exceeds the limit \(4300 digits\)"):
        safeio.load_yaml(p)  # Python refuses to build the integer: an error, not a traceback
    p.write_text("k: '" + "9" * 5000 + "'\n")
    assert safeio.load_yaml(p)["k"] == "9" * 5000
    with pytest.raises(InputFileError, match=r"big\.yaml: larger than 0\.00\d+ MiB"):
        safeio.load_yaml(p, max_bytes=4096)


def test_default_size_cap_is_stated():
    assert safeio.MAX_YAML_BYTES == 4 * 2**20


@pytest.mark.parametrize(("text", "line", "key"), [
    ("models:\n  m:\n    n_layers: 24\n    d_model: 2048\n    n_layers: 32\n", 5, "'n_layers' (first on line 3)"),
    ("a: 1\nb: 2\n'a': 3\n", 3, "'a' (first on line 1)"),  # quoting does not make a new key
    ("1: x\n0x1: y\n", 2, "1 (first on line 1)"),  # nor does writing the same number another way
])
def test_duplicate_keys_are_refused(text, line, key):
    with pytest.raises(InputFileError) as e:
        safeio.parse_yaml(text, "dup.yaml")
    assert str(e.value) == f"dup.yaml:{line}: malformed YAML (duplicate key {key})"


def test_booleans_stay_booleans_and_are_refused_as_numbers():
    doc = safeio.parse_yaml("n_layers: true\nprice: no\n")
    assert doc.data == {"n_layers": True, "price": False}
    with pytest.raises(FieldError, match=r"^models\.m\.n_layers: must be a whole number >= 1, got True$"):
        safeio.whole_number("models.m.n_layers", doc.data["n_layers"])
    with pytest.raises(FieldError, match=r"^price: must be a number >= 0, got False$"):
        safeio.number("price", doc.data["price"], lo=0)


def test_lines_are_kept_for_messages():
    doc = safeio.parse_yaml("models:\n  m:\n    n_layers: 24\n    shape: [1, 2,\n      3]\n", "m.yaml")
    assert doc.where("models", "m", "n_layers") == "m.yaml:3"
    assert doc.where("models", "m", "shape", 2) == "m.yaml:5"
    assert doc.where("models", "m", "missing") == "m.yaml:2"  # deepest known prefix
    assert doc.where("nothing") == "m.yaml"
    err = doc.error(("models", "m", "n_layers"), "must be a whole number >= 1, got 24.5")
    assert isinstance(err, InputFileError)
    assert str(err) == "m.yaml:3 models.m.n_layers: must be a whole number >= 1, got 24.5"


def test_syntax_errors_are_one_line_with_the_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("a: 1\nb: [1, 2\nc: 3\n")
    with pytest.raises(InputFileError) as e:
        safeio.load_yaml(p)
    assert str(e.value).startswith(f"{p}:3: malformed YAML (") and "\n" not in str(e.value)


def test_file_problems_name_the_file_and_the_error_type_is_chosen(tmp_path):
    with pytest.raises(InputFileError, match=r"nope\.yaml: file not found$"):
        safeio.load_yaml(tmp_path / "nope.yaml")
    with pytest.raises(InputFileError, match=r": is a directory, expected a YAML file$"):
        safeio.load_yaml(tmp_path)
    b = tmp_path / "b.yaml"
    b.write_bytes(b"a: 1\n\xff\xfe")
    with pytest.raises(CatalogError, match=r"b\.yaml: not a UTF-8 text file \(byte 5\); expected YAML$"):
        safeio.load_yaml(b, error=CatalogError)


def test_shipped_catalog_files_load_within_the_caps():
    from pathlib import Path

    data = Path(safeio.__file__).parent / "catalog" / "data"
    files = sorted(data.rglob("*.yaml"))
    assert files
    for f in files:
        assert isinstance(safeio.load_yaml(f), dict), f


# --- values in messages --------------------------------------------------------------------------------------------


def test_shared_lists_are_not_expanded_in_messages():
    level = ["lol"] * 9
    for _ in range(9):
        level = [level] * 9  # what a parsed alias bomb looks like: shared lists
    msg = str(FieldError("models.m.n_layers", "must be a whole number", {"x": level}))
    assert len(msg) < 150 and "\n" not in msg


def test_shown_caps_and_prints_numbers_plainly():
    np = pytest.importorskip("numpy")
    assert safeio.shown(np.float64("inf")) == "inf"
    assert safeio.shown(np.int64(7)) == "7"
    assert safeio.shown(1e308) == "1e+308"
    assert safeio.shown("fp7") == "'fp7'"
    assert len(safeio.shown("x" * 100_000)) <= safeio.MAX_MESSAGE_VALUE
    assert safeio.shown("two\nlines") == "'two\\nlines'"
    assert "\n" not in safeio.shown(type("Odd", (), {"__repr__": lambda s: "a\nb"})())
    assert len(str(UnknownIdError("models", "q" * 10_000, []))) < 120


def test_one_line():
    assert safeio.one_line("a\n  b\tc") == "a b c"
    assert len(safeio.one_line("x" * 10_000)) == 500


# --- numbers and counts --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "ok"), [(24, 24), (24.0, 24), ("24", 24), (24.5, None), (1.5, None),
                                           (0.5, None), (0, None), (-3, None), (float("inf"), None),
                                           (float("nan"), None), (True, None), ("many", None), (None, None),
                                           (10**7, None)])
def test_whole_number(value, ok):
    if ok is None:
        with pytest.raises(FieldError, match=r"^num_layers: must be a whole number in \[1, 1,000,000\]"):
            safeio.whole_number("num_layers", value, hi=1_000_000)
    else:
        assert safeio.whole_number("num_layers", value, hi=1_000_000) == ok


@pytest.mark.parametrize(("value", "ok"), [(2.5, True), (0, False), (1e-300, False), (1e308, False),
                                           (float("nan"), False), ("2.5", True), (True, False), ("cheap", False)])
def test_number(value, ok):
    kw = {"lo": 1e-4, "hi": 1e4, "what": "USD per accelerator-hour"}
    if ok:
        assert safeio.number("--price", value, **kw) == float(value)
    else:
        with pytest.raises(FieldError, match=r"^--price: must be a number in \[0\.0001, 10000\] \(USD per "):
            safeio.number("--price", value, **kw)


def test_range_rules():
    assert safeio.range_rule(0, None, lo_open=True) == "must be a number > 0"
    assert safeio.range_rule(None, 5) == "must be a number <= 5"
    assert safeio.range_rule(0, 1, lo_open=True, what="share") == "must be a number in (0, 1] (share)"


# --- atomic writes -------------------------------------------------------------------------------------------------


def _leftovers(d):
    return sorted(p.name for p in d.iterdir() if ".tmp" in p.name)


def test_atomic_write_text_and_bytes(tmp_path):
    p = tmp_path / "out.json"
    assert safeio.atomic_write_text(p, '{"a": 1}\n') == p
    assert p.read_text() == '{"a": 1}\n'
    safeio.atomic_write_bytes(p, b"\x00\x01")
    assert p.read_bytes() == b"\x00\x01"
    assert _leftovers(tmp_path) == []
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask  # not mkstemp's 0600


def test_atomic_write_keeps_an_existing_files_mode(tmp_path):
    p = tmp_path / "report.md"
    p.write_text("old")
    p.chmod(0o640)
    safeio.atomic_write_text(p, "new")
    assert p.read_text() == "new" and stat.S_IMODE(p.stat().st_mode) == 0o640


def test_directory_as_target_leaves_nothing(tmp_path):
    d = tmp_path / "plot.html"
    d.mkdir()
    with pytest.raises(OutputFileError, match=r"plot\.html: is a directory; give a file name to write$"):
        safeio.atomic_write_text(d, "<html>" * 1000)
    assert _leftovers(tmp_path) == [] and list(d.iterdir()) == []


def test_directory_appearing_during_the_write_leaves_nothing(tmp_path):
    p = tmp_path / "chart.html"

    def write():
        with safeio.atomic_path(p) as tmp:
            tmp.write_text("x" * 10_000)
            p.mkdir()  # os.replace of a file onto a directory fails

    with pytest.raises(OutputFileError, match=r"chart\.html: cannot write \("):
        write()
    assert _leftovers(tmp_path) == []


def test_writer_failure_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    p = tmp_path / "table.parquet"
    p.write_bytes(b"old")

    def write():
        with safeio.atomic_path(p) as tmp:
            tmp.write_bytes(b"half")
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        write()
    assert p.read_bytes() == b"old" and _leftovers(tmp_path) == []


def test_full_disk_is_an_output_error_naming_the_file(tmp_path):
    p = tmp_path / "out.csv"

    def write():
        with safeio.atomic_open(p) as f:
            f.write("a,b\n")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(OutputFileError, match=r"out\.csv: cannot write \(No space left on device\)$"):
        write()
    assert not p.exists() and _leftovers(tmp_path) == []


def test_missing_directory(tmp_path):
    with pytest.raises(OutputFileError, match=r"does not exist$"):
        safeio.atomic_write_text(tmp_path / "no" / "such" / "out.txt", "x")


def test_temporary_keeps_the_suffix_for_writers_that_infer_the_format(tmp_path):
    p = tmp_path / "fig.png"
    with safeio.atomic_path(p) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".png" and tmp.name.startswith(".fig.png.")
        tmp.write_bytes(b"png")
    assert p.read_bytes() == b"png"


def test_writer_that_writes_nothing(tmp_path):
    p = tmp_path / "x.html"

    def write():
        with safeio.atomic_path(p) as tmp:
            tmp.unlink()

    with pytest.raises(OutputFileError, match="the writer produced no file"):
        write()
    assert not p.exists()


@pytest.mark.parametrize(("text", "where", "char"), [
    ("a: 1\nb: \x01x\n", "f.yaml:2", "U+0001"),
    ("\x07", "f.yaml:1", "U+0007"),
    ("x: 1\ny: 2\nz: [1, 2\x1b]\n", "f.yaml:3", "U+001B"),
])
def test_control_characters_are_one_line_with_file_and_line(text, where, char):
    # PyYAML's reader refuses them as it is built, before parsing: that error too is one line naming the line.
    with pytest.raises(InputFileError) as e:
        safeio.parse_yaml(text, "f.yaml")
    msg = str(e.value)
    assert msg.startswith(f"{where}: malformed YAML (character {char}") and "\n" not in msg


def test_control_character_in_a_scenario_file_exits_2(tmp_path):
    import contextlib
    import io

    from chipplan.cli import run

    p = tmp_path / "s.yaml"
    p.write_text("name: x\n\x00horizon_quarters: 4\n")
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        assert run(["strategy", str(p)]) == 2
    assert err.getvalue() == f"error: {p}:2: malformed YAML (character U+0000 at column 1 is not allowed in YAML)\n"
