"""``chipplan predict`` and ``chipplan validate`` over validation-schema CSV files."""

from __future__ import annotations

from pathlib import Path

import typer

from chipplan.commands._common import console, handle_errors, print_json, table
from chipplan.io import predict_file, validate_file


@handle_errors
def predict_command(
    path: Path = typer.Argument(..., help="CSV in the column schema of docs/columns.md."),
    as_json: bool = typer.Option(True, "--json/--table", help="JSON (the stable contract) or a table."),
    detail: bool = typer.Option(False, "--detail", help="Add each training row's step-time breakdown."),
) -> None:
    """Predict every row of a CSV: training throughput, or serving throughput and latency."""
    res = predict_file(path, detail=detail)
    if as_json:
        print_json(res, compact=len(res["rows"]) > 200)
        return
    rows = []
    for r in res["rows"]:
        p = r["prediction"] or {}
        rows.append([r["row_id"], r["kind"], r["status"], p.get("tokens_per_s_per_gpu",
                     p.get("output_tokens_per_s_per_gpu")), p.get("mfu"), p.get("ttft_ms"), p.get("tpot_ms"),
                     r["reason"]])
    console.print(table(f"chipplan predict {path}", ["row", "kind", "status", "tokens/s/GPU", "MFU", "TTFT ms",
                                                    "TPOT ms", "reason"], rows))


@handle_errors
def validate_command(
    path: Path = typer.Argument(..., help="CSV with target_* columns (shared/validation/*.csv)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    by_group: bool = typer.Option(False, "--by-group", help="Also break the errors down by source_group."),
    plot: Path | None = typer.Option(None, "--plot", help="Also write predicted-vs-measured charts to this "
                                     ".html file."),
) -> None:
    """Compare predictions with published measurements: median and p90 absolute percentage error."""
    res = validate_file(path)
    if plot is not None:
        from chipplan.report.validation import write_validation_plot

        write_validation_plot(res, plot, f"chipplan {res['chipplan_version']} vs {path.name}")
    if as_json:
        if not by_group:
            res = {k: v for k, v in res.items() if k != "by_group"}
        print_json(res)
        return
    rows = []
    groups = [("all rows", res["overall"])] + (list(res["by_group"].items()) if by_group else [])
    for g, summ in groups:
        for metric, s in summ.items():
            rows.append([g, metric, f"{s['n_predicted']}/{s['n_rows']}", _pct(s["median_ape"]), _pct(s["p90_ape"]),
                         _pct(s["interval_coverage"])])
    console.print(table(f"chipplan validate {path}", ["source group", "metric", "predicted", "median APE",
                                                     "p90 APE", "80% interval coverage"], rows))


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f} %"
