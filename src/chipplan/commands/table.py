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
    cross_validate: bool = typer.Option(False, "--cross-validate", help="Also refit the calibrated families' "
                                        "efficiencies without each source group and predict that group (leave "
                                        "one group out); print it beside the in-sample figures."),
    cv_evals: int = typer.Option(120, "--cv-evals", min=1, help="Fit evaluations per family and fold "
                                 "(--cross-validate)."),
) -> None:
    """Compare predictions with published measurements: median and p90 absolute percentage error."""
    if cross_validate:
        _cross_validate(path, as_json=as_json, evals=cv_evals)
        return
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


def _cross_validate(path: Path, *, as_json: bool, evals: int) -> None:
    from chipplan.io import read_table
    from chipplan.io.crossval import cross_validate, training_logo

    df = read_table(path)
    res = cross_validate(training_logo(df, max_evals=evals))
    if as_json:
        print_json({"cross_validation": res})
        return
    rows = []
    for g, v in [("all rows", res["overall"]), *res["by_group"].items()]:
        i, o = v["in_sample"], v["out_of_sample"]
        rows.append([g, f"{o['n_predicted']}/{o['n_rows']}", _pct(i["median_ape"]), _pct(i["p90_ape"]),
                     _pct(i["interval_coverage"]), _pct(o["median_ape"]), _pct(o["p90_ape"]),
                     _pct(o["interval_coverage"])])
    console.print(table(f"chipplan validate {path} --cross-validate: training tokens/s per accelerator, in "
                        "sample (in) and leave one source group out (LOGO); cov: share inside the 80 % interval",
                        ["source group", "rows", "in median", "in p90", "in cov",
                         "LOGO median", "LOGO p90", "LOGO cov"], rows))


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f} %"
