"""The README's Python API example and its interface commands run as written."""

import re
import shlex
from pathlib import Path

from typer.testing import CliRunner

from chipplan.cli import app

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = README.read_text().split("## Python API, output formats, custom chips", 1)[1].split("\n## ", 1)[0]


def test_python_example_runs():
    code = re.search(r"```python\n(.*?)```", SECTION, re.S).group(1)
    ns: dict = {}
    exec(compile(code, "README.md", "exec"), ns)
    assert len(ns["frontier"]) == len(ns["plan"].frontier) and ns["run"].n_accelerators == 64


def test_shell_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    block = re.search(r"```sh\n(.*?)```", SECTION, re.S).group(1).replace("\\\n", " ")
    runner = CliRunner()
    for line in block.splitlines():
        cmd = line.split("#", 1)[0].strip()
        if not cmd:
            continue
        args = shlex.split(cmd)
        out = None
        if ">" in args:
            out = tmp_path / args[args.index(">") + 1]
            args = args[: args.index(">")]
        assert args[0] == "chipplan"
        r = runner.invoke(app, args[1:])
        assert r.exit_code == 0, (cmd, r.stderr)
        if out is not None:
            out.write_text(r.stdout)
