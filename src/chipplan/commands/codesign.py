"""``chipplan codesign``: parametric chips, sweeps and Pareto fronts, search, claims; ``chipplan db query``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from chipplan.commands._common import (
    Output,
    err_console,
    fmt,
    format_option,
    handle_errors,
    json_option,
    output_format,
    print_json,
    progress,
)
from chipplan.errors import FieldError

codesign_app = typer.Typer(help="Chip-model co-design: parametric accelerators, sweeps, Pareto fronts, claims.",
                           no_args_is_help=True)
db_app = typer.Typer(help="SQL over result files (DuckDB).", no_args_is_help=True)


def _progress(quiet: bool) -> Any:
    if quiet:
        return None, None
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    prog = Progress(TextColumn("designs"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,}"),
                    TimeRemainingColumn(), console=err_console, transient=True)
    state: dict[str, Any] = {}

    def cb(done: int, total: int) -> None:
        if "task" not in state:
            prog.start()
            state["task"] = prog.add_task("sweep", total=total)
        prog.update(state["task"], completed=done)

    return prog, cb


@codesign_app.command("sweep")
@handle_errors
def sweep_command(
    config: Path = typer.Argument(..., help="sweep file (YAML): fixed, space, workloads, objectives"),
    designs: int = typer.Option(..., "--designs", help="number of designs to evaluate"),
    seed: int = typer.Option(None, "--seed", help="random seed (default: the file's)"),
    out: Path = typer.Option(None, "--out", help="directory for designs.parquet and pareto.parquet"),
    ray: bool = typer.Option(False, "--ray", help="run chunks as Ray tasks on a local Ray"),
    ray_address: str = typer.Option(None, "--ray-address", help="address of an existing Ray cluster"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress bar"),
    fmt_: str | None = format_option(),
    as_json: bool = json_option(),
) -> None:
    """Sample designs, evaluate them with the perf and cost engines, write them and their Pareto front
    (``chipplan.codesign.sweep``; ``--json`` prints its ``.to_dict()``)."""
    from chipplan import codesign

    f = output_format(fmt_, as_json)
    if designs < 1:
        raise FieldError("--designs", "must be a positive whole number", designs)
    prog, cb = _progress(quiet or f == "json")
    try:
        res = codesign.sweep(config, designs=designs, seed=seed, out_dir=out, progress=cb, ray=ray,
                             ray_address=ray_address)
    finally:
        if prog is not None:
            prog.stop()
    s = res.to_dict()
    if f == "json":
        print_json(s)
        return
    o = Output(f)
    o.note(f"{s['name']}: {s['designs']:,} designs ({s['sampler']}, seed {s['seed']}), {s['feasible']:,} feasible, "
           f"{s['pareto']:,} on the front, {s['wall_s']:.2f} s ({s['designs_per_s']:,} designs/s)")
    cols = list(s["pareto_front"][0]) if s["pareto_front"] else []
    o.table("Pareto front (first 50)", cols, [[r[c] for c in cols] for r in s["pareto_front"]])
    b = s["baselines"]
    bcols = sorted({k for v in b.values() for k in v})
    o.table("Bought accelerators on the same workloads", ["accelerator", *bcols],
            [[k, *[v.get(c) for c in bcols]] for k, v in b.items()])
    bu = s["best_under_target"]
    o.note(f"{s['designs_under_target']:,} designs give an 8-accelerator server under "
           f"${s['target_server_usd']:,.0f}" + (f"; the best is worth {fmt(bu['h100e_per_unit'])} H100 per "
                                                f"accelerator (design {bu['design_id']})" if bu else ""))
    if s["out_dir"]:
        o.note(f"wrote {s['out_dir']}/designs.parquet and pareto.parquet")
    o.print()


@codesign_app.command("rederive")
@handle_errors
def rederive_command(fmt_: str | None = format_option(), as_json: bool = json_option()) -> None:
    """Catalog chips re-derived from their physical description: area, TDP and peak against the catalog."""
    from chipplan.codesign.catalog_chips import rederive

    f = output_format(fmt_, as_json)
    r = rederive()
    if f == "json":
        print_json(r)
        return
    rows = [[c["id"], c["area_mm2"], c["derived_area_mm2"], c["area_error"], c["tdp_w"], c["derived_tdp_w"],
             c["tdp_error"], c["peak_flops_error"], c["manufacturing_cost_usd"]] for c in r["chips"]]
    o = Output(f)
    o.table("Catalog chips as design points", ["chip", "area mm²", "derived area mm²", "area error", "TDP W",
                                               "derived TDP W", "TDP error", "peak error", "cost $"], rows)
    o.note(f"median |area error| {r['median_abs_area_error']:.1%}, median |TDP error| "
           f"{r['median_abs_tdp_error']:.1%}")
    o.print()


@codesign_app.command("claims")
@handle_errors
def claims_command(
    file: Path = typer.Argument(..., help="claims file (YAML)"),
    fmt_: str | None = format_option(),
    as_json: bool = json_option(),
) -> None:
    """Physics checks of accelerator claims: energy per FLOP, bandwidth × energy per bit, power density, SRAM."""
    from chipplan.codesign.claims import check_file

    f = output_format(fmt_, as_json)
    r = check_file(file)
    if f == "json":
        print_json(r)
        return
    rows = [[c["id"], c["verdict"], c["bound"], c["detail"]] for c in r["claims"]]
    o = Output(f)
    o.table("Claims", ["claim", "verdict", "deciding bound", "numbers"], rows)
    o.print()


@codesign_app.command("search")
@handle_errors
def search_command(
    config: Path = typer.Argument(..., help="sweep file (YAML)"),
    budget: int = typer.Option(500, "--budget", help="evaluations"),
    sampler: str = typer.Option("nsga2", "--sampler", help="nsga2, tpe or random"),
    seed: int = typer.Option(0, "--seed", help="random seed"),
    fmt_: str | None = format_option(),
    as_json: bool = json_option(),
) -> None:
    """Optuna multi-objective search over the sweep's space (ask/tell, same objective function)."""
    from chipplan.codesign.search import search

    f = output_format(fmt_, as_json)
    with progress(f"searching {budget:,} designs ({sampler})"):
        r = search(config, budget=budget, sampler=sampler, seed=seed)
    if f == "json":
        print_json(r.summary)
        return
    o = Output(f)
    front = r.pareto
    show = [c for c in ("design_id", *r.objectives) if c in front.columns]
    o.table(f"Pareto front of the search ({r.summary['sampler']})", show,
            [[row[c] for c in show] for _, row in front.head(50).iterrows()] if show else [])
    o.note(f"{r.summary['sampler']}: {r.summary['evaluations']} evaluations, {len(r.pareto)} on the front")
    o.print()


@codesign_app.command("model")
@handle_errors
def model_command(
    config: Path = typer.Argument(..., help="sweep file (YAML) whose chip space is searched jointly"),
    compute: float = typer.Option(None, "--compute-flop", help="training compute budget, FLOP"),
    dollars: float = typer.Option(None, "--budget-usd", help="training budget, USD"),
    law: str = typer.Option("epoch-2024", "--law", help="scaling law: chinchilla or epoch-2024"),
    designs: int = typer.Option(256, "--designs", help="chip designs sampled from the file's space"),
    seed: int = typer.Option(0, "--seed", help="random seed"),
    fmt_: str | None = format_option(),
    as_json: bool = json_option(),
) -> None:
    """Model co-design: parameters and tokens from a scaling law, then model shape jointly with the chip."""
    from chipplan.codesign.modeldesign import codesign_model

    f = output_format(fmt_, as_json)
    with progress(f"model shapes against {designs:,} chip designs"):
        r = codesign_model(config, compute_flop=compute, budget_usd=dollars, law=law, designs=designs, seed=seed)
    if f == "json":
        print_json(r)
        return
    o = Output(f)
    o.note(f"{law}: N = {r['optimal']['params']:.3g} parameters, D = {r['optimal']['tokens']:.3g} tokens, "
           f"loss {r['optimal']['loss']:.3f}")
    rows = [[s["shape"], s["design_id"], s["train_tokens_per_s_per_accelerator"], s["train_run_usd"]]
            for s in r["joint"]]
    o.table("Best chip per model shape", ["shape", "design", "tokens/s/acc", "run $"], rows)
    o.print()


@db_app.command("query")
@handle_errors
def db_query_command(
    sql: str = typer.Argument(..., help="SQL; read results with read_parquet('DIR/designs.parquet')"),
    fmt_: str | None = format_option(),
    as_json: bool = json_option(),
    limit: int = typer.Option(50, "--limit", help="rows to print"),
) -> None:
    """Run SQL over result files with DuckDB (e.g. over a sweep's designs.parquet)."""
    import duckdb

    f = output_format(fmt_, as_json)
    try:
        con = duckdb.connect(":memory:")
        cur = con.execute(sql)
        cols = [d[0] for d in cur.description] if cur.description else []
        rows = cur.fetchmany(limit) if limit > 0 else cur.fetchall()
    except duckdb.Error as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise FieldError("sql", first) from None
    if f == "json":
        print_json({"columns": cols, "rows": [dict(zip(cols, r, strict=True)) for r in rows]})
        return
    o = Output(f)
    o.table("query", cols, [list(r) for r in rows])
    o.print()
