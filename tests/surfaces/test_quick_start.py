"""`chipplan --version` and `chipplan --help` answer at once, and the help lists exactly the commands there are."""

import subprocess
import sys
import time

from chipplan import __version__
from chipplan.commands.entry import REGISTRY, top_help


def _best_of(args, n=3):
    best, out = float("inf"), None
    for _ in range(n):  # the machine is shared: the fastest of a few runs is the start-up cost
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "chipplan", *args], capture_output=True, text=True, check=True)
        best = min(best, time.perf_counter() - t)
    return best, out.stdout


def test_version_and_help_under_0_3_s():
    t, out = _best_of(["--version"])
    assert out == f"chipplan {__version__}\n" and t < 0.3, t
    t, out = _best_of(["--help"])
    assert out == top_help() and t < 0.3, t


def test_fast_path_imports_nothing_heavy():
    code = ("import sys; from chipplan.commands import entry; "
            "print(sorted(m for m in ('typer', 'click', 'rich', 'numpy', 'pandas') if m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "[]"


def test_help_lists_every_registered_command():
    from chipplan.cli import app

    registered = {c.name for c in app.registered_commands} | {g.name for g in app.registered_groups}
    assert registered == {name for name, *_ in REGISTRY}
    text = top_help()
    for name, _, _, _, summary in REGISTRY:
        assert f"  {name} " in text and summary in text


def test_other_calls_reach_the_full_command_line():
    out = subprocess.run([sys.executable, "-m", "chipplan", "catalog", "list", "systems", "--format", "csv"],
                         capture_output=True, text=True, check=True).stdout
    assert out.startswith("id,") and "dgx-h100" in out
