"""Shared plumbing for commands: one-line errors with exit status 2, JSON output, rich tables."""

from __future__ import annotations

import functools
import json
import math
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import typer

from chipplan.errors import ChipplanError, FieldError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

F = TypeVar("F", bound=Callable[..., Any])
EXIT_USAGE = 2


def __getattr__(name: str) -> Any:
    """``console`` and ``err_console`` (rich consoles on stdout and stderr), made on first use: a command that
    prints only JSON or plain text (``chipplan predict``) never loads rich."""
    if name in ("console", "err_console"):
        return _console(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _console(name: str = "console") -> Console:
    """The module's ``console`` or ``err_console`` (one a test may have replaced), made on first use."""
    con = globals().get(name)
    if con is None:
        from rich.console import Console

        con = globals()[name] = Console(stderr=name == "err_console")
    return con


def _err_is_terminal() -> bool:
    """``err_console.is_terminal``, without loading rich for a stderr that plainly is not a terminal (not a tty,
    and neither ``TTY_COMPATIBLE=1`` nor ``FORCE_COLOR`` says otherwise: rich's own rules)."""
    if "err_console" not in globals():
        try:
            tty = sys.stderr.isatty()
        except (AttributeError, ValueError):
            tty = False
        if not tty and os.environ.get("TTY_COMPATIBLE", "") != "1" and "FORCE_COLOR" not in os.environ:
            return False
    return _console("err_console").is_terminal


def debug_enabled() -> bool:
    return os.environ.get("CHIPPLAN_DEBUG", "") not in ("", "0")


def fail(message: str) -> None:
    """Print one line to stderr and exit with status 2."""
    _console("err_console").print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_USAGE)


#: Each command-line flag that carries a size, money or physical quantity → its plausible range
#: (``chipplan.specs.limits.RANGES``). Every command that declares the flag checks it before it runs, and its
#: ``--help`` states the range.
FLAG_LIMITS: dict[str, str] = {
    # sizes
    "--accelerators": "accelerators", "--cluster-accelerators": "accelerators", "--dies": "dies_per_package",
    "--hbm-stacks": "hbm_stacks", "--units": "redundant_units", "--units-required": "redundant_units",
    "--radix": "switch_radix", "--seed": "seed", "--samples": "monte_carlo_samples",
    "--tornado-scenarios": "tornado_scenarios", "--replications": "replications", "--designs": "designs",
    "--budget": "search_evaluations", "--cv-evals": "cv_evaluations", "--top": "top_layouts",
    "--limit": "rows_shown", "--port": "port",
    # workload
    "--tokens": "training_tokens", "--global-batch": "batch_tokens", "--seq-len": "sequence_tokens",
    "--input-len": "sequence_tokens", "--output-len": "sequence_tokens", "--tokens-per-day": "tokens_per_day",
    "--tokens-per-s-per-gpu": "tokens_per_s_per_accelerator", "--qps": "requests_per_s",
    "--slo-ttft-ms": "latency_ms", "--slo-tpot-ms": "latency_ms", "--days": "deadline_days",
    "--compute-flop": "compute_flop", "--prefill-instances": "serving_instances",
    "--decode-instances": "serving_instances", "--prefill-tp": "tensor_parallel", "--spec-draft-len": "draft_tokens",
    "--spec-accept": "fraction",
    # money
    "--price": "usd_per_accelerator_hour", "--price-per-hour": "usd_per_accelerator_hour",
    "--cloud-price": "usd_per_accelerator_hour", "--electricity": "usd_per_kwh",
    "--accelerator-price": "usd_per_accelerator", "--manufacturing-cost": "usd_per_accelerator",
    "--server-price": "usd_per_server", "--target": "usd_per_server", "--alternative": "usd_per_server",
    "--wafer-price": "usd_per_part", "--hbm-price": "usd_per_part", "--packaging-price": "usd_per_part",
    "--test-price": "usd_per_part", "--nre": "usd_nre", "--budget-usd": "usd_budget",
    "--interest": "interest_per_year", "--margin": "margin", "--volume": "lifetime_units",
    # time, use, silicon, power
    "--years": "years", "--life-years": "years", "--utilisation": "utilisation", "--pue": "pue",
    "--area-mm2": "die_area_mm2", "--wafer-diameter": "wafer_diameter_mm", "--edge-exclusion": "wafer_margin_mm",
    "--scribe": "wafer_margin_mm", "--defect-density": "defects_per_cm2", "--alpha": "yield_clustering",
    "--layers": "critical_layers", "--yield": "die_yield", "--unit-fraction": "fraction",
    "--node-power-kw": "node_power_kw",
}
#: A flag that means another quantity in one command: (command module.function, flag) → quantity.
FLAG_LIMITS_IN: dict[tuple[str, str], str] = {
    ("cost.custom_server_command", "--accelerators"): "accelerators_per_server",
    ("codesign.model_command", "--designs"): "designs_in_memory",  # held in memory, unlike a streamed sweep
}


def command_key(fn: Callable[..., Any]) -> str:
    """``cost.custom_server_command``: the key of a command function in ``FLAG_LIMITS_IN``."""
    return f"{fn.__module__.rsplit('.', 1)[-1]}.{fn.__name__}"


def _flag_limits(fn: Callable[..., Any]) -> list[tuple[str, str, str, Any]]:
    """(parameter, flag as the user knows it, quantity, default) for each of ``fn``'s range-checked options;
    each option's help gains its range."""
    import inspect

    from chipplan.specs import limits

    out = []
    for p in inspect.signature(fn).parameters.values():
        decls = [d for d in getattr(p.default, "param_decls", None) or () if d.startswith("--")]
        if not decls:
            continue
        quantity = FLAG_LIMITS_IN.get((command_key(fn), decls[0])) or FLAG_LIMITS.get(decls[0])
        if quantity is None:
            continue
        rule = limits.range_of(quantity).rule.removeprefix("must be ")
        info = p.default
        if info.help is not None and rule not in info.help:
            info.help = f"{info.help.rstrip()} Range: {rule}."
        flag = decls[0] + (f" ({', '.join(decls[1:])})" if len(decls) > 1 else "")
        out.append((p.name, flag, quantity, info.default))
    return out


def check_flags(checks: list[tuple[str, str, str, Any]], kwargs: dict[str, Any]) -> None:
    """Each given flag within its plausible range, else a FieldError naming the flag and the range. A value
    equal to the flag's default is the command's own (``--seq-len 0`` means "the model's") and passes."""
    from chipplan.specs import limits

    for name, flag, quantity, default in checks:
        v = kwargs.get(name)
        if v is None or (v == default and not isinstance(v, list | tuple)):
            continue
        for x in v if isinstance(v, list | tuple) else (v,):
            limits.check(quantity, x, field=flag)


def handle_errors(fn: F) -> F:
    """Check the flags' ranges (``FLAG_LIMITS``) and turn ChipplanError into a one-line message and exit
    status 2, no traceback."""
    checks = _flag_limits(fn)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            check_flags(checks, kwargs)
            return fn(*args, **kwargs)
        except ChipplanError as e:
            if debug_enabled():
                raise
            fail(str(e))
        return None

    return wrapper  # type: ignore[return-value]


def _clean(o: Any) -> Any:
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_clean(v) for v in o]
    if isinstance(o, np.ndarray):
        return _clean(o.tolist())
    if isinstance(o, np.generic):
        return _clean(o.item())
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return o


def to_json(obj: Any, *, compact: bool = False) -> str:
    """Deterministic JSON (sorted keys, NaN/inf → null), so the same inputs give byte-identical output.

    ``compact`` skips indentation so that the C encoder runs (tables of 10⁵ rows print in a fraction of a second);
    objects made only of Python scalars skip the cleaning pass.
    """
    indent = None if compact else 2
    try:
        return json.dumps(obj, indent=indent, sort_keys=not compact, allow_nan=False)
    except (TypeError, ValueError):  # numpy scalars or non-finite floats: clean, then encode
        return json.dumps(_clean(obj), indent=indent, sort_keys=not compact, allow_nan=False)


def print_json(obj: Any, *, compact: bool = False, stamp: bool = True) -> None:
    """Print ``obj`` as JSON; a document (dict) gets ``chipplan_version`` and ``catalog_version`` if it lacks them,
    so every JSON chipplan prints says what produced it (``stamp=False`` for documents with a fixed shape, such as
    a JSON Schema)."""
    if stamp and isinstance(obj, dict) and not ("chipplan_version" in obj and "catalog_version" in obj):
        from chipplan import __version__, catalog

        obj = {**obj, "chipplan_version": obj.get("chipplan_version", __version__),
               "catalog_version": obj.get("catalog_version", catalog.load().version)}
    sys.stdout.write(to_json(obj, compact=compact) + "\n")


def table(title: str, columns: list[str], rows: list[list[Any]], *, optional: tuple[str, ...] = ()) -> Block:
    """A table block: ``console.print(table(...))`` prints it with the rules of ``print_table``; ``Output.add``
    collects it for any format."""
    return Block(title, list(columns), [list(r) for r in rows], tuple(optional))


def fmt(v: Any) -> str:
    """Human format: 3 significant digits for floats, thousands separators for big numbers."""
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int | np.integer):
        return f"{int(v):,}"
    if isinstance(v, float | np.floating):
        x = float(v)
        if not math.isfinite(x):
            return "—"
        if x != 0 and (abs(x) >= 1e15 or abs(x) < 1e-3):
            return f"{x:.3g}"
        if abs(x) >= 1000:
            return f"{x:,.0f}"
        return f"{x:.3g}"
    return str(v)


# ---------------------------------------------------------------------------------------------------------------
# Output formats. A command builds its answer as blocks (tables and notes) and ``Output.print`` renders them as a
# rich table for people, CSV/TSV for spreadsheets and pipes, or Markdown for documents; JSON is the result dict.
# ---------------------------------------------------------------------------------------------------------------
FORMATS = ("table", "json", "csv", "tsv", "markdown")
FORMAT_HELP = ("Output: table, json, csv, tsv or markdown (csv/tsv: the main table, raw numbers). Default: "
               "$CHIPPLAN_FORMAT, else table on a terminal and tsv when stdout is piped.")


def format_option() -> Any:
    """The ``--format`` option (every command has it)."""
    return typer.Option(None, "--format", help=FORMAT_HELP, metavar="FORMAT")


def json_option() -> Any:
    return typer.Option(False, "--json", help="Print JSON (same as --format json).")


def output_format(fmt: str | None, as_json: bool = False) -> str:
    """The format to print in: ``--format``, ``--json`` (an alias of ``--format json``), else ``$CHIPPLAN_FORMAT``,
    else table on a terminal and tsv in a pipe (a plain, parseable form)."""
    if fmt is not None:
        f = fmt.lower()
        if f not in FORMATS:
            raise FieldError("--format", f"must be one of {', '.join(FORMATS)}", fmt)
        if as_json and f != "json":
            raise FieldError("--format", "conflicts with --json (an alias of --format json)", fmt)
        return f
    if as_json:
        return "json"
    env = os.environ.get("CHIPPLAN_FORMAT", "").strip().lower()
    if env:
        if env not in FORMATS:
            raise FieldError("CHIPPLAN_FORMAT", f"must be one of {', '.join(FORMATS)}", env)
        return env
    return "table" if sys.stdout.isatty() else "tsv"


@dataclass(frozen=True)
class Band:
    """An 80 % interval shown beside a number: ``low–high`` in tables, two columns in CSV."""

    low: float | None
    high: float | None

    def __str__(self) -> str:
        if self.low is None or self.high is None:
            return "—"
        return f"{fmt(self.low)}–{fmt(self.high)}"


def band(d: dict[str, Any], key: str) -> Band:
    return Band(d.get(f"{key}_low"), d.get(f"{key}_high"))


def _is_number(v: Any) -> bool:
    return (isinstance(v, int | float | np.integer | np.floating | Band) and not isinstance(v, bool | np.bool_))


def _year_column(name: str) -> bool:
    return "year" in name.lower() and "years" not in name.lower()


def cell(v: Any, column: str = "") -> str:
    """A value as text for a table cell (years without thousands separators)."""
    if _year_column(column) and isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool):
        return str(int(v)) if float(v).is_integer() else fmt(v)
    return str(v) if isinstance(v, Band) else fmt(v)


@dataclass
class Block:
    """One table of an answer: a title, column names and rows of raw values (formatted only when shown)."""

    title: str
    columns: list[str]
    rows: list[list[Any]]
    optional: tuple[str, ...] = ()

    def __rich_console__(self, con: Console, options: Any) -> Any:
        yield rich_table(self, options.max_width)[0]


class Output:
    """The blocks of one command's answer, printed in the chosen format.

    Tables: numeric columns right-aligned and never wrapped or cut; text cut with an ellipsis rather than
    folded; ``optional`` columns dropped (last first) when the terminal is too narrow for every column at its
    narrowest. csv/tsv print the first table (the main one) with raw numbers (an interval as ``<col> low`` and
    ``<col> high``) and send notes to stderr; markdown prints every table as a pipe table.
    """

    def __init__(self, fmt: str):
        self.fmt = fmt
        self.blocks: list[Block | str] = []

    def table(self, title: str, columns: list[str], rows: list[list[Any]], *, optional: tuple[str, ...] = ()
              ) -> None:
        self.blocks.append(table(title, columns, rows, optional=optional))

    def add(self, block: Block) -> None:
        self.blocks.append(block)

    def note(self, text: str) -> None:
        self.blocks.append(text)

    def print(self, file: Any = None) -> None:
        out = file or sys.stdout
        if self.fmt in ("csv", "tsv"):
            tables = [b for b in self.blocks if isinstance(b, Block)]
            if tables:
                write_delimited(tables[0], out, "," if self.fmt == "csv" else "\t")
            for b in self.blocks:
                if isinstance(b, str):
                    _console("err_console").print(b, markup=False, highlight=False, soft_wrap=True)
            return
        if self.fmt == "markdown":
            parts = [markdown(b) if isinstance(b, Block) else b for b in self.blocks]
            out.write("\n\n".join(parts) + "\n")
            return
        from rich.console import Console

        con = _console() if file is None else Console(file=file)
        for b in self.blocks:
            if isinstance(b, str):
                con.print(b, markup=False, highlight=False, soft_wrap=True)
            else:
                print_table(con, b)


def _raw(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return ""
    return v


def write_delimited(b: Block, out: Any, sep: str) -> None:
    """One header row and one row per record; intervals as two columns; numbers unformatted."""
    import csv

    w = csv.writer(out, delimiter=sep, lineterminator="\n")
    bands = [any(isinstance(r[j], Band) for r in b.rows) for j in range(len(b.columns))]
    head: list[str] = []
    for c, is_band in zip(b.columns, bands, strict=True):
        head += [f"{c} low", f"{c} high"] if is_band else [c]
    w.writerow(head)
    for r in b.rows:
        row: list[Any] = []
        for v, is_band in zip(r, bands, strict=True):
            if is_band:
                row += [_raw(v.low), _raw(v.high)] if isinstance(v, Band) else ["", ""]
            else:
                row.append(_raw(v))
        w.writerow(row)


def markdown(b: Block) -> str:
    """A GitHub pipe table (numbers right-aligned) under a ``###`` title."""
    def esc(s: str) -> str:
        return s.replace("|", "\\|").replace("\n", " ")

    num = [all(_is_number(r[j]) or r[j] is None for r in b.rows) and b.rows for j in range(len(b.columns))]
    lines = [f"### {esc(b.title)}", "", "| " + " | ".join(esc(c) or " " for c in b.columns) + " |",
             "|" + "|".join("---:" if n else "---" for n in num) + "|"]
    for r in b.rows:
        lines.append("| " + " | ".join(esc(cell(v, c)) for v, c in zip(r, b.columns, strict=True)) + " |")
    return "\n".join(lines)


TEXT_MIN_WIDTH = 12  # a text column is cut to no fewer characters than this (or its longest cell, if shorter)


def print_table(con: Console, b: Block) -> None:
    """Print ``b`` so that it fits ``con.width`` without breaking a number (see ``Output``)."""
    from rich.console import Console

    t, need = rich_table(b, con.width)
    if need > con.width:  # wider than the terminal even at its narrowest: the line runs on, no number breaks
        con = Console(file=con.file, width=need, force_terminal=con.is_terminal, color_system=con.color_system,
                      no_color=con.no_color)
    con.print(t)


def rich_table(b: Block, max_width: int) -> tuple[Table, int]:
    """The rich Table for ``b`` within ``max_width`` columns, and the width it needs."""
    from rich.table import Table

    cells = [[cell(v, c) for v, c in zip(r, b.columns, strict=True)] for r in b.rows]
    numeric = [bool(b.rows) and all(_is_number(r[j]) or r[j] is None for r in b.rows)
               for j in range(len(b.columns))]
    natural, narrow = [], []
    for j, c in enumerate(b.columns):
        longest = max([len(r[j]) for r in cells] or [0])
        word = max((len(w) for w in c.split()), default=0)
        natural.append(max(longest, len(c), 1))
        longest_number = max([len(r[j]) for r, raw in zip(cells, b.rows, strict=True) if _is_number(raw[j])] or [0])
        narrow.append(max(longest if numeric[j] else min(longest, TEXT_MIN_WIDTH), longest_number, word, 1))
    keep = list(range(len(b.columns)))
    drop = [b.columns.index(c) for c in reversed(b.optional) if c in b.columns]

    def overhead(cols: list[int]) -> int:  # borders and one space of padding either side of each column
        return 3 * len(cols) + 1

    # The first column names the row: it is not cut. Optional columns go before any text is cut.
    if b.rows and not numeric[0]:
        narrow[0] = natural[0]
    while drop and sum(natural[j] for j in keep) + overhead(keep) > max_width:
        keep.remove(drop.pop(0))
    width: dict[int, int] = {}
    if sum(natural[j] for j in keep) + overhead(keep) > max_width:
        # Numbers at their full width; text shares what is left, each at least its narrowest; any slack goes
        # back to the columns (numeric headers first) so headers wrap less.
        room = max_width - overhead(keep)
        for j in keep:
            width[j] = narrow[j]
        slack = room - sum(width.values())
        for j in sorted(keep, key=lambda j: (not numeric[j], natural[j] - narrow[j])):
            if slack <= 0:
                break
            add = min(slack, natural[j] - width[j])
            width[j] += add
            slack -= add
    t = Table(title=b.title, title_justify="left")
    for j in keep:
        w = width.get(j)
        if numeric[j]:  # a cell is never narrower than its number, so only headers wrap (between words)
            t.add_column(b.columns[j], justify="right", overflow="fold", min_width=narrow[j], width=w)
        else:
            t.add_column(b.columns[j], overflow="ellipsis", no_wrap=True, min_width=min(narrow[j], w or narrow[j]),
                         width=w)
    for r in cells:
        t.add_row(*[r[j] for j in keep])
    return t, sum(width.get(j, narrow[j]) for j in keep) + overhead(keep)


@contextmanager
def progress(label: str) -> Iterator[Callable[[str], None]]:
    """A status line with a spinner and the elapsed time on stderr while a slow step runs (only when stderr is
    a terminal, so logs and pipes stay clean). Yields ``step(text)`` to say which stage is running."""
    if not _err_is_terminal():
        yield lambda _text: None
        return
    import time

    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    t0 = time.perf_counter()
    err_console = _console("err_console")
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err_console,
                  transient=True) as bar:
        task = bar.add_task(label, total=None)
        yield lambda text: bar.update(task, description=f"{label}: {text}")
    if time.perf_counter() - t0 > 2.0:
        err_console.print(f"{label}: done in {time.perf_counter() - t0:.1f} s", markup=False, highlight=False)


def wrote(path: Any, what: str = "chart") -> None:
    """Tell the user (on stderr) where a file went."""
    _console("err_console").print(f"wrote {what} to {path}", markup=False, highlight=False, soft_wrap=True)


@contextmanager
def as_flags(*names: str, **renames: str) -> Iterator[None]:
    """Re-raise a FieldError about an API argument (``price_term``) under its command-line flag
    (``--price-term``): ``names`` map by the usual rule, ``renames`` spell out the others."""
    table = {n: "--" + n.replace("_", "-") for n in names} | renames
    try:
        yield
    except FieldError as e:
        flag = table.get(e.field)
        if flag is None:
            raise
        raise FieldError(flag, e.rule, e.got) from None


def _scenario_quantities() -> list[tuple[str, str]]:
    """(field path, quantity) for each range-checked field of the scenario's JSON Schema."""
    from chipplan.scenario.model import json_schema

    s = json_schema()
    defs = s.get("$defs", {})
    out: list[tuple[str, str]] = []
    seen: set[str] = set()

    def walk(node: dict[str, Any], path: str) -> None:
        for key, prop in node.get("properties", {}).items():
            here = f"{path}.{key}" if path else key
            for p in [prop, *prop.get("anyOf", []), prop.get("items", {})]:
                if "x-quantity" in p:
                    out.append((here, p["x-quantity"]))
                    break
                ref = p.get("$ref") or p.get("items", {}).get("$ref")
                if ref and ref not in seen:
                    seen.add(ref)
                    walk(defs.get(ref.rsplit("/", 1)[-1], {}), here)

    walk(s, "")
    return sorted(set(out))


def limits_markdown() -> str:
    """``docs/limits.md``: every plausible range and the flags that use it (``python -m chipplan.commands``)."""
    from chipplan.specs import limits

    users: dict[str, list[str]] = {}
    for flag, q in FLAG_LIMITS.items():
        users.setdefault(q, []).append(f"`{flag}`")
    for (cmd, flag), q in FLAG_LIMITS_IN.items():
        words = cmd.removesuffix("_command").replace(".", " ").replace("_", "-")
        users.setdefault(q, []).append(f"`{flag}` ({words})")
    for path, q in _scenario_quantities():
        users.setdefault(q, []).append(f"scenario `{path}`")
    from chipplan.catalog.schema import ModelEntry
    from chipplan.io.schema import COLUMNS

    for key, prop in ModelEntry.model_json_schema()["properties"].items():
        if "x-quantity" in prop:
            users.setdefault(prop["x-quantity"], []).append(f"model file `{key}`")
    for c in COLUMNS:
        if c.quantity:
            users.setdefault(c.quantity, []).append(f"column `{c.name}`")
    lines = ["# Plausible ranges", "",
             "Generated from `chipplan.specs.limits.RANGES` and `chipplan.commands._common.FLAG_LIMITS` by "
             "`python -m chipplan.commands > docs/limits.md`; do not edit by hand.", "",
             "A flag, API argument or scenario field outside its range is refused with one line naming it and the "
             "range (exit status 2). `0 or` marks a quantity where exactly zero is meaningful (free, unused) but a "
             "tiny non-zero value is a slip.", "",
             "| quantity | allowed | flags |", "|---|---|---|"]
    for q, r in limits.RANGES.items():
        lines.append(f"| `{q}` | {r.rule.removeprefix('must be ')} | {', '.join(users.get(q, [])) or '—'} |")
    return "\n".join(lines) + "\n"
