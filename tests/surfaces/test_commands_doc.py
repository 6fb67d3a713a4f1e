"""docs/commands.md names every command and subcommand, and its quick examples run as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
import typer
from typer.testing import CliRunner

from chipplan.cli import app

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "commands.md").read_text()
# examples that run in a second or two; the rest (plan, web, strategy, sweeps, tables) run in their own tests
QUICK = ("scenario check", "model", "catalog list", "catalog show", "catalog check", "cost die", "cost chip",
         "cost server", "cost cluster", "cost custom-server", "tco", "cost-per-token", "train", "serve")


def _commands() -> list[str]:
    root = typer.main.get_command(app)
    out = []
    for name, cmd in root.commands.items():
        out.append(name)
        if isinstance(cmd, click.Group):
            out += [f"{name} {sub}" for sub in cmd.commands]
    return out


def _examples() -> list[str]:
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", DOC, re.S):
        lines += [ln.split(" > ", 1)[0].strip() for ln in block.splitlines() if ln.strip()]
    return lines


def test_every_command_has_a_section_and_an_example():
    examples = _examples()
    for name in _commands():
        top, _, sub = name.partition(" ")
        if sub:
            assert f"`{name}`" in DOC or f"`chipplan {name}`" in DOC, f"docs/commands.md lacks {name}"
            if f"{top} {sub}" not in ("cost tco", "cost cost-per-token"):  # documented as the top-level commands
                assert any(e.startswith(f"chipplan {name} ") or e == f"chipplan {name}" for e in examples), name
        else:
            assert f"### `chipplan {name}`" in DOC, f"docs/commands.md lacks a section for {name}"
            assert any(e.startswith(f"chipplan {name}") for e in examples), f"no example of {name}"


@pytest.mark.parametrize("line", [e for e in _examples() if any(e.startswith(f"chipplan {q} ") for q in QUICK)])
def test_quick_examples_run(line, monkeypatch):
    monkeypatch.chdir(ROOT)
    args = shlex.split(line)
    r = CliRunner().invoke(app, args[1:])
    assert r.exit_code == 0, (line, r.stderr)
    assert r.stdout.strip()
