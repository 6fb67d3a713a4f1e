"""Every example command and Python snippet in the README, in ``examples/README.md`` and in the comments of the
files in ``examples/`` runs as written, so none of them can go stale.

Each ``chipplan`` command is one test, run in a scratch directory laid out like a checkout (``examples/`` and
``../shared/validation`` are where the README says). A block in which a command reads what an earlier one left
behind (``> FILE``, ``--out DIR``, a stored plan run) is one test that runs the block in order, so ``catalog
check my_chip.yaml`` sees the template written just before it and ``runs diff latest~1 latest`` sees two runs.
A command passes when it exits 0, its ``--json`` output parses, and the files it says it writes exist.

``make demo`` runs its Makefile recipe. Commands that cannot run in a test are listed in ``SKIP`` with the
reason; the slow ones (a whole plan, the sourcing optimisation, 10⁵-design sweeps) are marked slow.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chipplan import catalog
from chipplan.cli import app

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
EXAMPLES = ROOT / "examples"

# (pattern in the command, reason): commands that are not run here.
SKIP = (
    (r"^chipplan web\b", "starts a web server that runs until stopped (tests/web drive the app)"),
    (r"^make test\b", "the test suite itself"),
    (r"^open\b", "opens a browser on a written report"),
    (r"^pip install\b", "installs the package; tests/surfaces/test_install.py builds and installs the wheel"),
    (r"--ray-address ray://head", "needs a Ray cluster at the README's placeholder address"),
    (r"--designs 1000000 .*--ray\b", "10⁶ designs on Ray take minutes; tests/codesign run the same path on Ray "
                                      "local mode with a small sweep"),
)
# (pattern, reason): commands that take more than a few seconds, run in CI (marked slow).
SLOW = (
    (r"^chipplan plan\b|^make demo\b", "a whole scenario through every engine"),
    (r"^chipplan strategy\b", "the sourcing Monte Carlo and optimisation"),
    (r"codesign sweep .*--designs (\d{5,})", "10⁴-10⁵ designs"),
    (r"codesign search .*--budget", "hundreds of Optuna evaluations"),
    (r"gpt5_class_moe\.yaml.*--days", "deadline sizing of the 1.9T-parameter MoE"),
    (r"^chipplan compare .*--days", "deadline sizing on each of several chips"),
    (r"--cross-validate", "refits the efficiencies once per source group"),
)


@dataclass(frozen=True)
class Command:
    source: str  # "README.md:58" (file and line of the block or comment)
    words: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()

    @property
    def text(self) -> str:
        return shlex.join(self.words)

    def outputs(self) -> tuple[str, ...]:
        """What it leaves behind for later commands: a redirected file, an ``--out`` directory, stored runs."""
        w = self.words
        out = []
        if ">" in w:
            out.append(w[w.index(">") + 1])
        if "--out" in w:
            out.append(w[w.index("--out") + 1].rstrip("/"))
        if w[:2] in (("chipplan", "plan"), ("make", "demo")):
            out.append(STORE)
        return tuple(out)

    def reads(self, path: str) -> bool:
        if path == STORE:
            return self.words[:2] == ("chipplan", "runs")
        mention = re.compile(rf"(?<![\w./-]){re.escape(path)}(?![\w.-])")
        return any(mention.search(word) for word in self.words[2:] if word != ">")


STORE = "chipplan-runs"  # where `chipplan plan` stores its runs (the working directory's)


def _split(lines: list[str]) -> list[list[str]]:
    """Shell words of each command in ``lines``: backslash continuations joined, a quote left open carried
    to the next line (a multi-line SQL string), comments dropped."""
    out, buf = [], ""
    for line in "\n".join(lines).replace("\\\n", " ").splitlines():
        buf = f"{buf}\n{line}" if buf else line
        try:
            words = shlex.split(buf, comments=True)
        except ValueError:  # an open quote: the command goes on
            continue
        buf = ""
        if words:
            out.append(words)
    assert not buf, f"unterminated command: {buf!r}"
    return out


def _command(source: str, words: list[str]) -> Command:
    env = []
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
        k, v = words.pop(0).split("=", 1)
        env.append((k, v))
    return Command(source, tuple(words), tuple(env))


def markdown_blocks(path: Path) -> list[tuple[str, str, str]]:
    """(source, language, body) of every fenced block of ``path``."""
    text = path.read_text()
    return [(f"{path.relative_to(ROOT)}:{text[:m.start()].count(chr(10)) + 1}", m.group(1), m.group(2))
            for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M)]


def comment_blocks(path: Path) -> list[tuple[str, list[str]]]:
    """Commands quoted in a YAML file's comments (``#   chipplan ...``, continuation lines after ``\\``): one
    block per file, so they run in the order the file gives them."""
    lines, first = [], None
    cont = False
    for i, raw in enumerate(path.read_text().splitlines(), 1):
        body = raw.strip()
        if not body.startswith("#"):
            cont = False
            continue
        body = body.lstrip("#").strip()
        if cont or re.match(r"([A-Z_]+=\S+\s+)*chipplan\s", body):
            first = first or i
            lines.append(body)
            cont = body.endswith("\\")
    return [(f"{path.relative_to(ROOT)}:{first}", lines)] if lines else []


def _makefile_recipe(target: str) -> list[list[str]]:
    """The commands of a Makefile target, with ``$(BIN)/`` dropped (the test runs the installed package)."""
    text = (ROOT / "Makefile").read_text()
    m = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", text, re.M)
    assert m, f"no {target} target in the Makefile"
    return [shlex.split(ln.strip().replace("$(BIN)/", "")) for ln in m.group(1).splitlines()]


def blocks() -> list[tuple[str, list[Command]]]:
    out = []
    for path in (README, EXAMPLES / "README.md"):
        for source, lang, body in markdown_blocks(path):
            if lang in ("sh", "bash", "shell", "console"):
                out.append((source, [_command(source, w) for w in _split(body.splitlines())]))
    for path in sorted(EXAMPLES.glob("*.yaml")):
        for source, lines in comment_blocks(path):
            out.append((source, [_command(source, w) for w in _split(lines)]))
    return out


def _reason(table: tuple[tuple[str, str], ...], cmd: Command) -> str | None:
    return next((why for pat, why in table if re.search(pat, cmd.text)), None)


def cases() -> list:
    """One test per command; a block in which a command reads what an earlier one left is one test, run in
    order. A command already run by an earlier block is listed as skipped, naming it."""
    params, seen = [], {}

    def skipped(cmd: Command, source: str, why: str) -> None:
        params.append(pytest.param((cmd,), id=f"{source} {cmd.text[:70]}", marks=pytest.mark.skip(reason=why)))

    for source, cmds in blocks():
        runnable = []
        for cmd in cmds:
            why = _reason(SKIP, cmd)
            if why:
                skipped(cmd, source, why)
            else:
                runnable.append(cmd)
        chained = any(later.reads(path) for i, c in enumerate(runnable) for path in c.outputs()
                      for later in runnable[i + 1:])
        if chained:
            groups = [tuple(runnable)]
        else:
            groups = []
            for cmd in runnable:
                if (cmd.words, cmd.env) in seen:
                    skipped(cmd, source, f"the same command runs as {seen[(cmd.words, cmd.env)]}")
                else:
                    groups.append((cmd,))
        for g in groups:
            name = f"{source} {g[0].text[:70]}" if len(g) == 1 else f"{source} ({len(g)} commands in order)"
            for c in g:
                seen.setdefault((c.words, c.env), name)
            marks = [pytest.mark.slow] if any(_reason(SLOW, c) for c in g) else []
            params.append(pytest.param(g, id=name, marks=marks))
    return params


@pytest.fixture
def checkout(tmp_path, monkeypatch):
    """A scratch directory where ``examples/`` and ``../shared/validation`` resolve as from the repository."""
    work = tmp_path / "repo"
    work.mkdir()
    (work / "examples").symlink_to(EXAMPLES)
    (tmp_path / "shared").mkdir()
    validation = Path(os.environ.get("VALIDATION", ROOT.parent / "shared" / "validation"))
    if validation.is_dir():
        (tmp_path / "shared" / "validation").symlink_to(validation)
    monkeypatch.chdir(work)
    monkeypatch.delenv("CHIPPLAN_FORMAT", raising=False)  # as a user's shell has it
    return work


def run(cmd: Command, work: Path, monkeypatch) -> None:
    if cmd.words[:2] == ("make", "demo"):
        for words in _makefile_recipe("demo"):
            run(Command(cmd.source, tuple(words)), work, monkeypatch)
        return
    assert cmd.words[0] == "chipplan", f"{cmd.source}: not a chipplan command: {cmd.text}"
    if "../shared/validation" in cmd.text and not (work.parent / "shared" / "validation").exists():
        pytest.skip("the published validation tables (../shared/validation or $VALIDATION) are not here")
    args = list(cmd.words[1:])
    target = None
    if ">" in args:
        target = work / args[args.index(">") + 1]
        args = args[: args.index(">")]
    for k, v in cmd.env:
        monkeypatch.setenv(k, v)
    catalog.load.cache_clear()
    try:
        r = CliRunner().invoke(app, args)
    finally:
        for k, _ in cmd.env:
            monkeypatch.delenv(k)
        catalog.load.cache_clear()
    assert r.exit_code == 0, f"{cmd.source}: {cmd.text}\n{r.stderr or r.stdout}"
    if "--json" in args:
        json.loads(r.stdout)
    if target is not None:
        target.write_text(r.stdout)
    for flag in ("--plot", "--out"):
        if flag in args:
            path = work / args[args.index(flag) + 1]
            assert path.exists(), f"{cmd.source}: {cmd.text} did not write {path.name}"


@pytest.mark.parametrize("cmds", cases())
def test_example_commands_run(cmds, checkout, monkeypatch):
    for cmd in cmds:
        run(cmd, checkout, monkeypatch)


def test_every_block_was_found():
    """The readers above see the blocks there are (a changed fence or comment style fails here, not silently)."""
    found = {source.split(":")[0]: 0 for source, _ in blocks()}
    for source, cmds in blocks():
        found[source.split(":")[0]] += len(cmds)
    assert found["README.md"] >= 30 and found["examples/README.md"] >= 4
    assert {"examples/frontier_lab.yaml", "examples/my_chip.yaml", "examples/codesign.yaml"} <= set(found)
    texts = [c.text for _, cmds in blocks() for c in cmds]
    assert any("db query" in t and "\n" in t for t in texts)  # the multi-line SQL string is one command


def test_python_examples_run(checkout):
    snippets = [(source, body) for source, lang, body in markdown_blocks(README) if lang == "python"]
    assert snippets
    for source, code in snippets:
        ns: dict = {}
        exec(compile(code, source, "exec"), ns)
    assert len(ns["frontier"]) == len(ns["plan"].frontier) and ns["run"].n_accelerators == 64


def test_no_other_fenced_language_hides_commands():
    """Blocks in other languages (tables of output, YAML) carry no chipplan command that would go unrun."""
    for path in (README, EXAMPLES / "README.md"):
        for source, lang, body in markdown_blocks(path):
            if lang not in ("sh", "bash", "shell", "console", "python"):
                assert not re.search(r"^\s*chipplan\s", body, re.M), source

