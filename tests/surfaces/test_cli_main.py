"""The entry point: every failure that escapes a command is one line, exit 2 (bad input) or 1 (internal)."""

import contextlib
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import typer

from chipplan import cli

TRAIN = ["train", "--model", "llama3-8b", "--hardware", "h100-sxm-80gb", "--tokens", "1e12", "--gpus", "8"]
VALIDATION = Path(__file__).resolve().parents[2].parent / "shared" / "validation"


def invoke(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.run(list(args))
    return code, out.getvalue(), err.getvalue()


def one_line_error(*args: str, code: int = 2) -> str:
    got, _, err = invoke(*args)
    assert got == code, (got, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize(("args", "message"), [
    (["train", "--model", "x"], "error: Missing option '--hardware'. (see 'chipplan train --help')"),
    ([*TRAIN[:-1], "eight"], "error: Invalid value for '--accelerators' / '--gpus': Input should be a valid integer, "
                             "unable to parse string as an integer (see 'chipplan train --help')"),
    (["--hardware", "h100"], "error: No such option: --hardware (see 'chipplan --help')"),
    (["trian"], "error: No such command 'trian'. Did you mean 'train'? (see 'chipplan --help')"),
    (["cost", "die", "--area-mm2"], "error: Option '--area-mm2' requires an argument."),
])
def test_usage_errors_are_one_line(args, message):
    assert one_line_error(*args) == message


def test_success_and_help_keep_their_status():
    code, out, err = invoke(*TRAIN, "--json")
    assert code == 0 and err == "" and '"n_accelerators": 8' in out
    code, out, _ = invoke("--help")
    assert code == 0 and "train" in out
    code, out, _ = invoke()  # no command: the help, status 2 as before
    assert code == 2 and "Commands" in out


def test_chipplan_errors_escaping_a_command_are_one_line():
    assert one_line_error("catalog", "show", "dgx-b20").startswith("error: ")


def _app_raising(exc: BaseException) -> typer.Typer:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

    @app.command()
    def boom() -> None:
        raise exc

    @app.command()
    def other() -> None:
        pass

    return app


def test_internal_error_is_status_1_with_a_debug_hint(monkeypatch):
    monkeypatch.setattr(cli, "app", _app_raising(KeyError("n_accelerators")))
    assert one_line_error("boom", code=1) == (
        "error: internal error (KeyError: 'n_accelerators'); rerun with --debug for the traceback and please "
        "report it")


def test_debug_shows_the_traceback(monkeypatch):
    monkeypatch.setattr(cli, "app", _app_raising(KeyError("n_accelerators")))
    monkeypatch.setenv("CHIPPLAN_DEBUG", "1")
    with pytest.raises(KeyError):
        invoke("boom")


@pytest.mark.parametrize(("exc", "message"), [
    (MemoryError(), "error: not enough memory for this request; reduce the sizes given (rows, scenarios, samples, "
                    "sweep points)"),
    (OSError(28, "No space left on device"), "error: cannot write the output (No space left on device)"),
    (IsADirectoryError(21, "Is a directory", "out.json"), "error: out.json: Is a directory"),
])
def test_resource_errors_are_bad_input(monkeypatch, exc, message):
    monkeypatch.setattr(cli, "app", _app_raising(exc))
    assert one_line_error("boom") == message


def test_numpy_overflow_is_an_error_not_a_warning_and_a_wrong_answer(monkeypatch):
    app = typer.Typer(add_completion=False)

    @app.command()
    def square(x: float) -> None:
        print(float(np.float64(x) ** 2))

    @app.command()
    def mean() -> None:
        print(float(np.mean(np.array([]))))

    monkeypatch.setattr(cli, "app", app)
    assert invoke("square", "3")[:2] == (0, "9.0\n")
    assert one_line_error("square", "1e200") == (
        "error: a result overflowed or is undefined (overflow encountered in scalar power); an input is far "
        "outside its plausible range")
    assert one_line_error("mean").startswith("error: a result overflowed or is undefined (Mean of empty slice")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_stdout_on_a_full_disk_is_one_line_and_status_2():
    with open("/dev/full", "w") as full:
        r = subprocess.run([sys.executable, "-m", "chipplan.cli", "catalog", "list", "accelerators"], stdout=full,
                           stderr=subprocess.PIPE, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr == "error: cannot write the output (No space left on device)\n"


@pytest.mark.parametrize("command", [
    ["validate", str(VALIDATION / "training_calibration.csv")],
    ["serve", "--model", "llama-3.1-8b", "--hardware", "h100-sxm-80gb", "--input-len", "512", "--output-len", "64"],
    ["compare", "--model", "llama-3.1-8b", "--tokens", "1e12", "--gpus", "64", "--hardware", "h100-sxm-80gb"],
])
def test_plot_onto_a_directory_leaves_nothing(tmp_path, command):
    target = tmp_path / "chart.html"
    target.mkdir()
    msg = one_line_error(*command, "--plot", str(target))
    assert msg == f"error: --plot: '{target}' is a directory; give an .html file name"
    assert [p.name for p in tmp_path.iterdir()] == ["chart.html"] and not list(target.iterdir())


def test_plot_is_written_whole_and_alone(tmp_path):
    target = tmp_path / "chart.html"
    code, _, err = invoke("serve", "--model", "llama-3.1-8b", "--hardware", "h100-sxm-80gb", "--input-len", "512",
                          "--output-len", "64", "--plot", str(target))
    assert code == 0 and err == f"wrote chart to {target}\n"  # the path it wrote, on stderr, and nothing else
    # the chart and the one plotly.js that every chart in the folder shares; no temporary file left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chart.html", "plotly.min.js"]
    assert target.read_text().rstrip().endswith("</html>")
