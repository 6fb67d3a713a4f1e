"""``chipplan compare``: one training run on several accelerators, side by side in time and money
(``chipplan.api.compare``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from chipplan.commands._common import (
    Output,
    as_flags,
    band,
    format_option,
    handle_errors,
    json_option,
    output_format,
    print_json,
    progress,
    wrote,
)


@handle_errors
def compare_command(
    model: str = typer.Option(..., "--model", help="Model id, alias or YAML file."),
    hardware: list[str] = typer.Option(..., "--hardware", help="Accelerator or system ids, or YAML files with an "
                                       "accelerators: section (repeat the flag)."),
    tokens: float = typer.Option(..., "--tokens", help="Training tokens, e.g. 15e12."),
    accelerators: int | None = typer.Option(None, "--accelerators", "--gpus", help="Same accelerator count on "
                                            "every chip (any count: the global batch moves to one it divides)."),
    days: float | None = typer.Option(None, "--days", help="Deadline: accelerators each chip needs to meet it."),
    global_batch: float | None = typer.Option(None, "--global-batch", help="Global batch in tokens (default 4M, "
                                              "16M from 100B parameters)."),
    precision: str = typer.Option("bf16", "--precision", help="Matmul precision (bf16, fp8, fp4)."),
    basis: str = typer.Option("owned", "--basis", help="Cost basis for every chip: owned (3-year TCO of its "
                              "catalog system) or cloud."),
    term: str = typer.Option("3yr", "--price-term", help="Cloud price term with --basis cloud: on-demand, 1yr, 3yr."),
    fmt: str | None = format_option(),
    as_json: bool = json_option(),
    plot: Path | None = typer.Option(None, "--plot", help="Also write a cost-and-time chart to this .html (or "
                                     ".png/.svg) file."),
    plot_inline: bool = typer.Option(False, "--plot-inline", help="Embed plotly.js in the --plot file (one "
                                     "self-contained file) instead of one plotly.min.js beside it."),
) -> None:
    """Compare accelerators for one training run: accelerators, days, accelerator-hours and cost (80 % intervals).
    Exits 2 when no chip can run it, naming each chip's rule."""
    from chipplan import api
    from chipplan.report import check_html_path

    f = output_format(fmt, as_json)
    if plot is not None:
        check_html_path(plot)
    with as_flags("basis", "precision", "hardware", "tokens", "days", "global_batch", price_term="--price-term",
                  accelerators="--accelerators (--gpus)"), \
            progress(f"planning the run on {len(hardware)} chips"):
        r = api.compare(model, hardware, tokens=tokens, accelerators=accelerators, days=days,
                        global_batch=global_batch, precision=precision, basis=basis, price_term=term)
    d = r.data
    if plot is not None:
        _plot(d, plot, plot_inline)
        wrote(plot)
    if f == "json":
        print_json(d)
        return
    out = Output(f)
    out.table(f"{model}: {tokens:.3g} tokens, {precision}"
              + (f", within {days:g} days" if days else f", {accelerators} accelerators each"),
              ["hardware", "accelerators", "days", "days 80 %", "tokens/s/acc", "MFU", "acc-hours",
               f"x {d['reference']}", "$/acc-h", "run cost $", "cost 80 %", "basis / note"],
              [[x["hardware"], x.get("n_accelerators"), x.get("days"), band(x, "days"),
                x.get("tokens_per_s_per_accelerator"), x.get("mfu"), x.get("accelerator_hours"),
                x.get("relative_throughput"), x.get("usd_per_accelerator_hour"), x.get("cost_usd"),
                band(x, "cost_usd"), x.get("price_source") or x.get("reason")] for x in d["rows"]],
              optional=("basis / note", "MFU", "tokens/s/acc", "$/acc-h", f"x {d['reference']}", "acc-hours"))
    for x in d["rows"]:
        if x["status"] != "ok":
            out.note(f"{x['hardware']}: {x['reason']}")
    out.print()


def _plot(out: dict[str, Any], path: Path, inline: bool) -> None:
    from chipplan.report.compare import write_compare_plot

    write_compare_plot(out, path, inline=inline)
