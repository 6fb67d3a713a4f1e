"""``chipplan plan SCENARIO.yaml --out DIR``: the whole chain in one report; ``chipplan scenario schema``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from chipplan.commands._common import (
    Output,
    err_console,
    format_option,
    handle_errors,
    json_option,
    output_format,
    print_json,
)
from chipplan.errors import FieldError

scenario_app = typer.Typer(help="Scenario files: the JSON Schema for editors, and checking a file.",
                           no_args_is_help=True)

STAGE_LABELS = {"training": "training needs and layouts", "serving": "serving cost at the SLOs",
                "tco": "owned vs rented", "codesign": "co-design front", "strategy": "sourcing portfolio",
                "validation": "validation against published runs"}


def _jsonl_progress(stage: str, done: int, total: int, note: str) -> None:
    sys.stderr.write(json.dumps({"stage": stage, "done": done, "total": total, "note": note}) + "\n")
    sys.stderr.flush()


@handle_errors
def plan_command(
    scenario: Path = typer.Argument(..., help="Scenario YAML (see examples/frontier_lab.yaml, docs/scenario.md)."),
    out: Path = typer.Option(..., "--out", help="Folder to write report.html, report.md, tables/ and "
                                                "provenance.json into (replaced whole)."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed (default: the scenario's)."),
    store: Path | None = typer.Option(None, "--store", help="Results store folder (default ./chipplan-runs or "
                                                            "$CHIPPLAN_STORE)."),
    scenarios: int | None = typer.Option(None, "--scenarios", help="Sourcing Monte Carlo scenarios (default: "
                                         "plan.monte_carlo_scenarios, else the scenario's monte_carlo_scenarios)."),
    no_store: bool = typer.Option(False, "--no-store", help="Do not add the run to the store (no cache either)."),
    progress: str = typer.Option("bar", "--progress", help="bar (rich, on stderr), jsonl (one JSON line per "
                                                           "event on stderr) or none."),
    fmt_: str | None = format_option(),
    as_json: bool = json_option(),
) -> None:
    """Run a scenario through every engine (training, serving, TCO, co-design, sourcing, validation) and write
    one report with its tables and provenance; the run is added to the results store."""
    from chipplan import scenario as sc
    from chipplan.report import run as rr
    from chipplan.scenario import pipeline as pl
    from chipplan.store import Store, default_path

    f = output_format(fmt_, as_json)
    if seed is not None and seed < 0:
        raise FieldError("--seed", "must be a non-negative integer", seed)
    if progress not in ("bar", "jsonl", "none"):
        raise FieldError("--progress", "must be one of bar, jsonl, none", progress)
    resolved = sc.load(scenario)  # every problem in the file at once, before anything is written
    if scenarios is not None:
        from chipplan.strategy.scenario import MAX_MONTE_CARLO_SCENARIOS

        if not 1 <= scenarios <= MAX_MONTE_CARLO_SCENARIOS:
            raise FieldError("--scenarios", f"must be an integer in [1, {MAX_MONTE_CARLO_SCENARIOS:,}]", scenarios)
        resolved.scenario.plan.monte_carlo_scenarios = scenarios
    st = None if no_store else Store(store or default_path()).ensure()
    if st is not None:
        st.sweep()
    cache = pl.Cache(st.cache_dir if st is not None else None)
    if progress == "bar":
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("{task.description:<38}"), BarColumn(), TextColumn("{task.fields[note]}"),
                      TimeElapsedColumn(), console=err_console, transient=False) as bar:
            tasks: dict[str, int] = {}

            def hook(stage: str, done: int, total: int, note: str) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(STAGE_LABELS.get(stage, stage), total=total, note="")
                bar.update(tasks[stage], completed=done, total=total, note=note)

            res = pl.run(resolved, seed=seed, cache=cache, progress=hook)
    else:
        res = pl.run(resolved, seed=seed, cache=cache, progress=_jsonl_progress if progress == "jsonl" else None)
    run_id, stored = rr.write(res, out, store=st)
    if progress == "jsonl":
        _jsonl_progress("done", 1, 1, run_id)
    if f == "json":  # the run id, folder and headlines
        print_json({"run_id": run_id, "out": str(out), "stored": str(stored) if stored else None,
                    "headlines": res.headlines, "timings": res.timings})
        return
    from chipplan.commands.runs import headlines

    o = Output(f)
    headlines(o, f"{resolved.scenario.name}: executive summary", res.headlines)
    o.note(f"report: {out / 'report.html'}  (run {run_id}" + (f", stored in {st.root})" if st is not None else ")"))
    o.print()


@scenario_app.command("schema")
@handle_errors
def schema_command() -> None:
    """Print the JSON Schema of scenario files (for editors: yaml-language-server, VS Code)."""
    from chipplan.scenario import json_schema

    print_json(json_schema(), stamp=False)


@scenario_app.command("check")
@handle_errors
def check_command(scenario: Path = typer.Argument(..., help="Scenario YAML."), fmt_: str | None = format_option(),
                  as_json: bool = json_option()) -> None:
    """Validate a scenario (following extends:) and print every problem, one line each."""
    from chipplan import scenario as sc

    f = output_format(fmt_, as_json)
    r = sc.load(scenario)
    if f == "json":
        print_json({"scenario": str(scenario), "valid": True, "files": list(r.files), "digest": r.digest()})
        return
    o = Output(f)
    if f == "table":
        o.note(f"{scenario}: valid ({' → '.join(r.files)}), digest {r.digest()}")
    else:
        o.table("scenario check", ["scenario", "valid", "files", "digest"],
                [[str(scenario), True, " → ".join(r.files), r.digest()]])
    o.print()
