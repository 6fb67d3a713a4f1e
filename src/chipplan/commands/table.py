"""``chipplan predict`` and ``chipplan validate`` over validation-schema CSV files (``docs/columns.md``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import typer

from chipplan.commands._common import (
    Output,
    format_option,
    handle_errors,
    output_format,
    print_json,
    progress,
    table,
    to_json,
    wrote,
)

if TYPE_CHECKING:
    from chipplan.io.write import TablePrediction

OUT_SUFFIXES = (".csv", ".parquet", ".json")


def _allow_extra_option() -> Any:
    """``--allow-extra-columns`` (predict and validate)."""
    return typer.Option(False, "--allow-extra-columns", help="Carry columns the schema does not know along unread "
                        "(otherwise they are an error listing close matches).")


def _framework_option() -> Any:
    """``--framework`` (predict and validate)."""
    return typer.Option(None, "--framework", help="Training software stack for every training row, overriding its "
                        "framework column: a profile of catalog/data/stacks.yaml (e.g. megatron-core-2024, "
                        "pytorch-fsdp) or framework text such as 'NeMo 24.07'. Unknown: the era default with a "
                        "wider interval.")


@handle_errors
def predict_command(
    path: Path = typer.Argument(..., help="CSV in the column schema of docs/columns.md."),
    as_json: bool = typer.Option(True, "--json/--table", help="JSON (the stable contract, the default) or a table."),
    fmt_: str | None = format_option(),
    detail: bool = typer.Option(False, "--detail", help="Add each training row's step-time breakdown."),
    out_file: Path | None = typer.Option(None, "--out", help="Also write the input table with the predictions "
                                         "beside its columns to FILE.csv, FILE.parquet or FILE.json (records)."),
    allow_extra: bool = _allow_extra_option(),
    framework: str | None = _framework_option(),
) -> None:
    """Predict every row of a CSV: training throughput, or serving throughput and latency. Predictions carry the
    output vocabulary's names (``tokens_per_s_per_accelerator``, ``memory_per_accelerator_gib``, ``ttft_p50_ms``)
    beside the contract's historical ones (``tokens_per_s_per_gpu``, ``memory_per_gpu_bytes``, ``ttft_ms``)."""
    from chipplan import api
    from chipplan.io import read_table

    if out_file is not None and out_file.suffix.lower() not in OUT_SUFFIXES:
        from chipplan.errors import FieldError

        raise FieldError("--out", f"must name a {', '.join(OUT_SUFFIXES)} file", str(out_file))
    f = fmt_.lower() if fmt_ else ("json" if as_json else "table")
    f = output_format(f)
    # Without --out only the columns a prediction reads are converted (the free text of the sources is not).
    df = read_table(path, skip_unread=out_file is None)
    with progress(f"predicting {len(df):,} rows"):
        tp = api.predict_rows_table(df, detail=detail, allow_extra_columns=allow_extra, source=str(path),
                                    framework=framework)
    if out_file is not None:
        _write_frame(api.predictions_beside(df, tp.document()), out_file)
        wrote(out_file, "predictions")
    if f == "json":
        if len(tp) > 200:
            import sys

            write_predict_json(tp, sys.stdout)
            sys.stdout.write("\n")
        else:
            print_json(tp.document())
        return
    res = tp.document()
    rows = []
    for r in res["rows"]:
        p = r["prediction"] or {}
        rows.append([r["row_id"], r["kind"], r["status"], p.get("tokens_per_s_per_accelerator",
                     p.get("output_tokens_per_s_per_accelerator")), p.get("mfu"), p.get("ttft_p50_ms"),
                     p.get("tpot_ms"), r["reason"]])
    out = Output(f)
    out.add(table(f"chipplan predict {path}", ["row", "kind", "status", "tokens/s/acc", "MFU", "TTFT ms",
                                              "TPOT ms", "reason"], rows, optional=("kind", "TTFT ms", "TPOT ms")))
    out.print()


_ROW_KEYS = ("row_id", "kind", "status", "reason", "prediction")


def predict_json(doc: dict[str, Any]) -> str:
    """``to_json(doc, compact=True)`` of a predict document, byte for byte, with each distinct row tail (kind,
    status, reason, prediction) encoded once: rows that repeat a configuration share their prediction object
    (``chipplan.io.predict_frame``), so a table of repeated rows costs one encoding per configuration."""
    from json.encoder import encode_basestring_ascii as enc

    memo: dict[tuple[int, Any, Any, Any], str] = {}
    out = []
    for r in doc["rows"]:
        rid = r["row_id"]
        if tuple(r) != _ROW_KEYS or type(rid) is not str:
            out.append(to_json(r, compact=True))
            continue
        p, reason = r["prediction"], r["reason"]
        key = (id(p), r["kind"], r["status"], reason)
        tail = memo.get(key)
        if tail is None:
            # The encoding of {"row_id": "", ...} from its first value on: what follows every row's id.
            tail = memo[key] = to_json({"row_id": "", "kind": r["kind"], "status": r["status"], "reason": reason,
                                        "prediction": p}, compact=True)[len('{"row_id": ""'):]
        out.append('{"row_id": ' + enc(rid) + tail)
    # One join builds the whole text: a table's JSON runs to tens of MB, and every extra concatenation copies it.
    keys = list(doc)
    if "rows" not in keys:
        return to_json(doc, compact=True)
    at = keys.index("rows")
    head = "{" + "".join(f"{enc(k)}: {to_json(doc[k], compact=True)}, " for k in keys[:at]) + '"rows": ['
    tail = "]" + "".join(f", {enc(k)}: {to_json(doc[k], compact=True)}" for k in keys[at + 1:]) + "}"
    if not out:
        return head + tail
    out[0] = head + out[0]
    out[-1] = out[-1] + tail
    return ", ".join(out)


def write_predict_json(tp: TablePrediction, out: TextIO, *, rows_per_write: int = 8192) -> None:
    """Write ``to_json(tp.document(), compact=True)`` to ``out``, byte for byte, without building a dict per row:
    each configuration's row tail (kind, status, reason, prediction) is encoded once, every row is its encoded
    id and its configuration's tail, and the text goes out a block of rows at a time (every tail is encoded
    before anything is written, so a failure to encode leaves the output empty)."""
    from json.encoder import encode_basestring_ascii as enc

    import numpy as np

    from chipplan import __version__

    start = len('{"row_id": ""')

    def tail(kind: str, status: str, reason: str | None, pred: dict[str, Any] | None) -> str:
        # The encoding of {"row_id": "", ...} from its first value on: what follows a row's id.
        return to_json({"row_id": "", "kind": kind, "status": status, "reason": reason, "prediction": pred},
                       compact=True)[start:]

    tails = np.empty(len(tp.per_config), dtype=object)
    tails[:] = [tail(*c) for c in tp.per_config]
    row_tail = tails[tp.config] if len(tp) else np.empty(0, dtype=object)
    for i, err in tp.row_error.items():  # a repeated row_id: the row's own error, its configuration's kind
        row_tail[i] = tail(tp.per_config[int(tp.config[i])][0], "error", err, None)
    ids, tails_of = tp.ids, row_tail.tolist()
    out.write('{"chipplan_version": ' + to_json(__version__, compact=True) + ', "catalog_version": '
              + to_json(tp.catalog_version, compact=True) + ', "rows": [')
    for a in range(0, len(ids), rows_per_write):
        b = min(a + rows_per_write, len(ids))
        out.write((", " if a else "") + ", ".join(['{"row_id": ' + enc(r) + t
                                                    for r, t in zip(ids[a:b], tails_of[a:b], strict=True)]))
    out.write("]}")


def _write_frame(frame: object, path: Path) -> None:
    """Write a DataFrame as CSV, Parquet or JSON records, atomically."""
    from chipplan.errors import InputFileError, OutputFileError
    from chipplan.safeio import atomic_path

    try:
        with atomic_path(path) as tmp:
            suffix = path.suffix.lower()
            if suffix == ".csv":
                frame.to_csv(tmp, index=False)  # type: ignore[attr-defined]
            elif suffix == ".parquet":
                frame.to_parquet(tmp, index=False)  # type: ignore[attr-defined]
            else:
                frame.to_json(tmp, orient="records", indent=1)  # type: ignore[attr-defined]
    except OutputFileError as e:
        raise InputFileError(f"--out: {e}") from None


@handle_errors
def validate_command(
    path: Path = typer.Argument(..., help="CSV with target_* columns (shared/validation/*.csv)."),
    fmt_: str | None = format_option(),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (same as --format json)."),
    by_group: bool = typer.Option(False, "--by-group", help="Also break the errors down by source_group."),
    plot: Path | None = typer.Option(None, "--plot", help="Also write predicted-vs-measured charts to this "
                                     ".html (or .png/.svg) file."),
    plot_inline: bool = typer.Option(False, "--plot-inline", help="Embed plotly.js in the --plot file instead of "
                                     "writing one plotly.min.js beside it."),
    cross_validate: bool = typer.Option(False, "--cross-validate", help="Also refit the calibrated families' "
                                        "efficiencies without each source group and predict that group (leave "
                                        "one group out); print it beside the in-sample figures."),
    cv_evals: int = typer.Option(120, "--cv-evals", help="Fit evaluations per family and fold "
                                 "(--cross-validate)."),
    allow_extra: bool = _allow_extra_option(),
    framework: str | None = _framework_option(),
) -> None:
    """Compare predictions with published measurements: median and p90 absolute percentage error, interval
    coverage, and why each row that could not be predicted failed."""
    from chipplan.io import read_table, validate_table
    from chipplan.io.read import check_columns

    f = output_format(fmt_, as_json)
    if cross_validate:
        with progress("cross-validating (leave one source group out)"):
            _cross_validate(path, fmt_=f, evals=cv_evals)
        return
    with progress(f"validating {path.name}"):
        df = read_table(path)
        check_columns(df.columns, source=str(path), allow_extra=allow_extra)
        from chipplan.io.published import with_framework

        res = validate_table(with_framework(df, framework), source=str(path))
    if plot is not None:
        from chipplan.report.validation import write_validation_plot

        write_validation_plot(res, plot, f"chipplan {res['chipplan_version']} vs {path.name}", inline=plot_inline)
        wrote(plot)
    if f == "json":
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
    out = Output(f)
    out.add(table(f"chipplan validate {path}", ["source group", "metric", "predicted", "median APE %", "p90 APE %",
                                               "80 % interval coverage %"], rows))
    failed = [r for r in res["rows"] if r.get("predicted") is None]
    if failed:
        out.add(table("rows not predicted, and why", ["row", "metric", "reason"],
                      [[r["row_id"], r["metric"], r.get("reason") or r.get("status")] for r in failed]))
    out.print()


def _cross_validate(path: Path, *, fmt_: str, evals: int) -> None:
    from chipplan.io import read_table
    from chipplan.io.crossval import cross_validate, training_logo

    df = read_table(path)
    res = cross_validate(training_logo(df, max_evals=evals))
    if fmt_ == "json":
        print_json({"cross_validation": res})
        return
    rows = []
    for g, v in [("all rows", res["overall"]), *res["by_group"].items()]:
        i, o = v["in_sample"], v["out_of_sample"]
        rows.append([g, f"{o['n_predicted']}/{o['n_rows']}", _pct(i["median_ape"]), _pct(i["p90_ape"]),
                     _pct(i["interval_coverage"]), _pct(o["median_ape"]), _pct(o["p90_ape"]),
                     _pct(o["interval_coverage"])])
    out = Output(fmt_)
    out.add(table(f"chipplan validate {path} --cross-validate: training tokens/s per accelerator, in "
                  "sample (in) and leave one source group out (LOGO), % error; cov: % inside the 80 % interval",
                  ["source group", "rows", "in median", "in p90", "in cov", "LOGO median", "LOGO p90", "LOGO cov"],
                  rows))
    out.print()


def _pct(x: float | None) -> float | None:
    return None if x is None else 100 * x
