"""``chipplan compare``: one training run on several accelerators, side by side in time and money."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from chipplan import catalog
from chipplan.catalog import cost as cost_catalog
from chipplan.commands._common import console, handle_errors, print_json, table
from chipplan.cost import tco
from chipplan.errors import FieldError, InfeasibleError
from chipplan.perf.plan import estimate_run
from chipplan.report import check_html_path, write_html
from chipplan.units import PRECISIONS

TERMS = ("on-demand", "1yr", "3yr")


def hourly_rate(acc_id: str, basis: str, term: str, system: Any = None) -> tuple[float | None, str]:
    """$/accelerator-hour for ``acc_id`` on one basis for every chip, so runs compare like for like.

    ``owned``: the 3-year ownership rate of ``system`` when it has a price, else of the first catalog system
    built from the chip (servers, network
    share, facility, power, staff, financing; ``chipplan tco``). ``cloud``: the catalog's cloud price for
    ``term`` (hyperscalers, else specialist clouds). None when the catalog has neither.
    """
    cat = cost_catalog.load()
    if basis == "owned":
        acc = catalog.accelerator(acc_id)
        for sys_ in [system] * (system is not None) + list(catalog.load().systems.values()):
            if sys_.accelerator == acc_id and sys_.price_usd:
                # The owned rate does not depend on the cloud price; 1.0 only satisfies the shared parameter set.
                return tco.owned_rate(sys_, acc, cat, years=3.0, cloud_price=1.0), f"owned {sys_.id}, 3 y"
        return None, "no system price in the catalog"
    for kind in ("hyperscaler", "specialist"):
        try:
            rate, _ = tco.cloud_rate(cat, acc_id, term, kind=kind)
            return rate, f"{kind} cloud, {term}"
        except FieldError:
            continue
    return None, f"no {term} cloud price in the catalog"


@handle_errors
def compare_command(
    model: str = typer.Option(..., "--model", help="Model id, alias or YAML file."),
    hardware: list[str] = typer.Option(..., "--hardware", help="Accelerator or system ids (repeat the flag)."),
    tokens: float = typer.Option(..., "--tokens", help="Training tokens, e.g. 15e12."),
    gpus: int | None = typer.Option(None, "--gpus", help="Same accelerator count on every chip."),
    days: float | None = typer.Option(None, "--days", help="Deadline: accelerators each chip needs to meet it."),
    global_batch: float | None = typer.Option(None, "--global-batch", help="Global batch in tokens."),
    precision: str = typer.Option("bf16", "--precision", help="Matmul precision (bf16, fp8, fp4)."),
    basis: str = typer.Option("owned", "--basis", help="Cost basis for every chip: owned (3-year TCO of its "
                              "catalog system) or cloud."),
    term: str = typer.Option("3yr", "--price-term", help="Cloud price term with --basis cloud: on-demand, 1yr, 3yr."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    plot: Path | None = typer.Option(None, "--plot", help="Also write a cost-and-time chart to this .html file."),
) -> None:
    """Compare accelerators for one training run: accelerators, days, accelerator-hours and cost."""
    if term not in TERMS:
        raise FieldError("--price-term", f"must be one of {', '.join(TERMS)}", term)
    if basis not in ("owned", "cloud"):
        raise FieldError("--basis", "must be owned or cloud", basis)
    if plot is not None:
        check_html_path(plot)
    if precision not in PRECISIONS:
        raise FieldError("--precision", f"must be one of {', '.join(PRECISIONS)}", precision)
    resolved = [catalog.hardware(h) for h in hardware]  # unknown ids fail here, before any planning
    keys = [(acc.id, system.id if system else None) for acc, system in resolved]
    if len(set(keys)) != len(keys):  # aliases too: h100 and h100-sxm-80gb are one chip
        raise FieldError("--hardware", "lists the same accelerator twice", hardware)
    m = catalog.model(model)  # an unknown model fails once, not once per chip
    rows: list[dict[str, Any]] = []
    for h, (acc, system) in zip(hardware, resolved, strict=True):
        row: dict[str, Any] = {"hardware": h, "accelerator": acc.id}
        try:
            r = estimate_run(m, acc, tokens, n_accelerators=gpus, days=days, global_batch_tokens=global_batch,
                             precision=precision, system=system)
        except (InfeasibleError, FieldError) as e:
            # Only what depends on the chip (no layout fits, no peak at this precision) is a row; inputs shared
            # by every chip (tokens, --gpus/--days, the batch) are the user's error and stop the command.
            if not isinstance(e, InfeasibleError) and e.field != "precision":
                raise
            rows.append({**row, "status": "infeasible", "reason": str(e)})
            continue
        rate, rate_src = hourly_rate(acc.id, basis, term, system)
        rows.append({**row, "status": "ok", "reason": None, "n_accelerators": r.n_accelerators, "days": r.days,
                     "tokens_per_s_per_accelerator": r.tokens_per_s_per_accelerator, "mfu": r.mfu,
                     "accelerator_hours": r.accelerator_hours, "layout": r.layout,
                     "usd_per_accelerator_hour": rate, "price_source": rate_src,
                     "cost_usd": r.accelerator_hours * rate if rate is not None else None})
    ok = [x for x in rows if x["status"] == "ok"]
    ref = next((x for x in ok if x["accelerator"] == "h100-sxm-80gb"), ok[0] if ok else None)
    for x in ok:  # workload H100-equivalents: accelerator-hours of the reference per accelerator-hour here
        x["relative_throughput"] = ref["accelerator_hours"] / x["accelerator_hours"] if ref else None
    out = {"model": model, "tokens": tokens, "precision": precision, "cost_basis": basis,
           "price_term": term if basis == "cloud" else None,
           "reference": ref["accelerator"] if ref else None, "rows": rows}
    if plot is not None:
        _plot(out, plot)
    if as_json:
        print_json(out)
        return
    console.print(table(f"{model}: {tokens:.3g} tokens, {precision}"
                        + (f", within {days:g} days" if days else f", {gpus} accelerators each"),
                        ["hardware", "accelerators", "days", "tokens/s/acc", "MFU", "acc-hours",
                         f"x {out['reference']}", "$/acc-h", "run cost $", "basis / note"],
                        [[x["hardware"], x.get("n_accelerators"), x.get("days"),
                          x.get("tokens_per_s_per_accelerator"), x.get("mfu"), x.get("accelerator_hours"),
                          x.get("relative_throughput"), x.get("usd_per_accelerator_hour"), x.get("cost_usd"),
                          x.get("price_source") or x.get("reason")] for x in rows]))


def _plot(out: dict[str, Any], path: Path) -> None:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    ok = [x for x in out["rows"] if x["status"] == "ok"]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("wall-clock days", "run cost, USD"))
    names = [x["hardware"] for x in ok]
    fig.add_trace(go.Bar(x=names, y=[x["days"] for x in ok], name="days"), row=1, col=1)
    fig.add_trace(go.Bar(x=names, y=[x["cost_usd"] for x in ok], name="cost"), row=1, col=2)
    fig.update_layout(title=f"{out['model']}: {out['tokens']:.3g} tokens", showlegend=False,
                      template="plotly_white", height=480, width=960)
    write_html(fig, path)
