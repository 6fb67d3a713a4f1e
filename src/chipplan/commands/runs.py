"""``chipplan runs list|show|diff``: the results store of ``chipplan plan``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from chipplan.commands._common import (
    Band,
    Output,
    format_option,
    handle_errors,
    json_option,
    output_format,
    print_json,
)

runs_app = typer.Typer(help="Stored runs of `chipplan plan`: list them, show one, diff two.", no_args_is_help=True)

STORE_OPT = typer.Option(None, "--store", help="Results store folder (default ./chipplan-runs or $CHIPPLAN_STORE).")
JSON_OPT = json_option()
FORMAT_OPT = format_option()


def _store(path: Path | None) -> Any:
    from chipplan.store import Store, default_path

    return Store(path or default_path())


def _num(v: Any, unit: str = "") -> str:
    from chipplan.report.plan import _f

    return _f(v, unit)


@runs_app.command("list")
@handle_errors
def list_command(store: Path | None = STORE_OPT, fmt_: str | None = FORMAT_OPT, as_json: bool = JSON_OPT) -> None:
    """Every stored run, newest first (``--json``: a list of runs, each with its chipplan and catalog version)."""
    f = output_format(fmt_, as_json)
    rows = _store(store).list()
    if f == "json":
        print_json(rows)
        return
    o = Output(f)
    o.table("Stored runs", ["run", "scenario", "created (UTC)", "seed", "catalog"],
            [[r["run_id"], r["scenario"], r["created_utc"], str(r["seed"]), r["catalog_version"]] for r in rows])
    o.print()


def headlines(o: Output, title: str, heads: list[dict[str, Any]]) -> None:
    """Headline numbers with their units in the table; raw numbers and a unit column in CSV/TSV/Markdown."""
    if o.fmt == "table":
        o.table(title, ["question", "answer", "80 % interval"],
                [[h["label"], _num(h["value"], h["unit"]),
                  f"{_num(h['low'], h['unit'])} – {_num(h['high'], h['unit'])}"] for h in heads])
    else:
        o.table(title, ["question", "value", "unit", "80 % interval"],
                [[h["label"], h["value"], h["unit"], Band(h.get("low"), h.get("high"))] for h in heads])


@runs_app.command("show")
@handle_errors
def show_command(run: str = typer.Argument("latest", help="Run id, a unique prefix, or latest / latest~N."),
                 store: Path | None = STORE_OPT, fmt_: str | None = FORMAT_OPT, as_json: bool = JSON_OPT) -> None:
    """One run: provenance and headline numbers."""
    f = output_format(fmt_, as_json)
    st = _store(store)
    rid = st.resolve(run)
    prov = st.provenance(rid)
    heads = st.headlines(rid)
    if f == "json":
        print_json({"run_id": rid, "provenance": prov, "headlines": heads,
                    "report": str(st.path(rid) / "report.html")})
        return
    o = Output(f)
    o.note(f"{rid}: {prov['scenario_name']} ({' → '.join(prov['scenario_files'])}), seed {prov['seed']}, catalog "
           f"{prov['catalog_version']}, chipplan {prov['chipplan_version']}, {prov['created_utc']}")
    headlines(o, "Headlines", heads)
    o.note(f"report: {st.path(rid) / 'report.html'}")
    o.print()


def _short(v: Any) -> str:
    s = repr(v) if not isinstance(v, str) else v
    return s if len(s) <= 60 else s[:57] + "..."


@runs_app.command("diff")
@handle_errors
def diff_command(a: str = typer.Argument(..., help="First run (id, prefix, latest~N)."),
                 b: str = typer.Argument(..., help="Second run."), store: Path | None = STORE_OPT,
                 fmt_: str | None = FORMAT_OPT, as_json: bool = JSON_OPT) -> None:
    """The inputs that changed between two runs and how the headline numbers moved."""
    f = output_format(fmt_, as_json)
    d = _store(store).diff(a, b)
    if f == "json":
        print_json(d)
        return
    o = Output(f)
    o.note(f"{d['a']} → {d['b']}")
    inputs = [[c["field"], _short(c["a"]), _short(c["b"])] for c in d["inputs_changed"]] or [["(none)", "", ""]]
    if f == "table":
        o.table("Inputs changed", ["field", "a", "b"], inputs)
        o.table("Headlines", ["question", "a", "b", "change"],
                [[h["label"], _num(h["a"], h["unit"]), _num(h["b"], h["unit"]),
                  "—" if h["relative_change"] is None else f"{100 * h['relative_change']:+.1f} %"]
                 for h in d["headlines"]])
    else:  # raw numbers for spreadsheets, the headlines first (the table CSV/TSV print)
        o.table("Headlines", ["question", "unit", "a", "b", "relative change"],
                [[h["label"], h["unit"], h["a"], h["b"], h["relative_change"]] for h in d["headlines"]])
        o.table("Inputs changed", ["field", "a", "b"], inputs)
    o.print()
