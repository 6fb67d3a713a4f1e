"""``chipplan train``: best layout, time and accelerators for a training run."""

from __future__ import annotations

import math
from typing import Any

import typer

from chipplan import catalog
from chipplan.commands._common import console, handle_errors, print_json, table
from chipplan.commands._layout import layout_options
from chipplan.errors import FieldError
from chipplan.perf.plan import estimate_run
from chipplan.specs.layout import TRAINING
from chipplan.units import GIB


@handle_errors
@layout_options(TRAINING)
def train_command(
    model: str = typer.Option(..., "--model", help="Model id or alias (see `chipplan catalog list models`)."),
    hardware: str = typer.Option(..., "--hardware", help="Accelerator or system id (e.g. h100-sxm-80gb, dgx-b200)."),
    tokens: float = typer.Option(..., "--tokens", help="Training tokens, e.g. 15e12."),
    gpus: int | None = typer.Option(None, "--gpus", help="Number of accelerators (how long will it take?)."),
    days: float | None = typer.Option(None, "--days", help="Deadline in days (how many accelerators?)."),
    global_batch: float | None = typer.Option(None, "--global-batch", help="Global batch in tokens "
                                              "(default 4M, or 16M for models of 100B parameters or more)."),
    seq_len: int | None = typer.Option(None, "--seq-len", help="Sequence length (default min(max, 8192))."),
    precision: str = typer.Option("bf16", "--precision", help="Matmul precision: bf16, fp16, fp8, fp4."),
    price: float | None = typer.Option(None, "--price", help="USD per accelerator-hour, for the run's cost."),
    top: int = typer.Option(0, "--top", help="Also list the K fastest layouts that fit on the planned "
                            "accelerator count."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    **layout: Any,
) -> None:
    """Plan a training run: layout, tokens/s, wall-clock days with goodput, accelerator-hours (and cost)."""
    if price is not None and not (math.isfinite(price) and price >= 0):
        raise FieldError("--price", "must be a number >= 0 (USD per accelerator-hour)", price)
    if not 0 <= top <= 100:
        raise FieldError("--top", "must be an integer in [0, 100]", top)
    acc, system = catalog.hardware(hardware)
    r = estimate_run(model, acc, tokens, n_accelerators=gpus, days=days, global_batch_tokens=global_batch,
                     seq_len=seq_len, precision=precision, system=system, layout=layout)
    from chipplan import __version__

    out = {**r.to_dict(), "chipplan_version": __version__, "catalog_version": catalog.load().version,
           "inputs": {"model": model, "hardware": hardware, "tokens": tokens, "gpus": gpus, "days": days,
                      "global_batch_tokens": global_batch, "seq_len": seq_len, "precision": precision,
                      "layout": {k: v for k, v in layout.items() if v is not None}}}
    if top:
        from chipplan.perf.plan import fixed_layout, rank_layouts

        ranked = rank_layouts(catalog.model(model), acc, r.n_accelerators, global_batch_seqs=r.global_batch_seqs,
                              seq_len=r.seq_len, precision=precision, system=system, top=top,
                              fixed=fixed_layout(layout))
        out["ranked_layouts"] = [x for x in ranked if x["fits_in_memory"]]
    if price is not None:
        from chipplan.cost.work import training_run_cost

        out["price_usd_per_accelerator_hour"] = price
        out["cost_usd"] = float(training_run_cost(r.accelerator_hours, usd_per_accelerator_hour=price)["total_usd"])
    if as_json:
        print_json(out)
        return
    lay = r.layout
    rows = [
        ["accelerators", r.n_accelerators],
        ["layout", f"tp {lay['tp']} · pp {lay['pp']} (vpp {lay['vpp']}) · dp {lay['dp']} · cp {lay['cp']} · "
                   f"ep {lay['ep']} · micro-batch {lay['micro_batch']} · ZeRO {lay['zero_stage']} · "
                   f"recompute {lay['recompute']}"],
        ["global batch", f"{r.global_batch_seqs} × {r.seq_len} tokens"],
        ["tokens/s per accelerator", r.tokens_per_s_per_accelerator],
        ["MFU (model FLOPs / dense peak)", r.mfu],
        ["memory per accelerator (GiB)", r.memory_per_gpu_bytes / GIB],
        ["step time (s)", r.step_time_s],
        ["goodput (failures, checkpoints)", r.goodput],
        ["optimal checkpoint interval (min)", r.checkpoint_interval_s / 60],
        ["days without interruptions", r.days_ideal],
        ["wall-clock days", r.days],
        ["accelerator-hours", r.accelerator_hours],
    ]
    if price is not None:
        rows.append(["cost (USD)", out["cost_usd"]])
    console.print(table(f"{r.model} on {r.hardware}, {r.tokens:.3g} tokens, {r.precision}", ["", "value"], rows))
    b = r.breakdown_s
    total = sum(b.values()) or 1.0
    console.print(table("step time breakdown", ["part", "seconds", "share"],
                        [[k, v, f"{100 * v / total:.1f} %"] for k, v in b.items()]))
    if top:
        rows = [[i + 1, x["layout"]["tp"], x["layout"]["pp"], x["layout"]["vpp"], x["layout"]["dp"], x["layout"]["cp"],
                 x["layout"]["ep"], x["layout"]["micro_batch"], x["layout"]["zero_stage"], x["layout"]["recompute"],
                 x["tokens_per_s_per_gpu"], x["mfu"], x["memory_per_gpu_bytes"] / GIB]
                for i, x in enumerate(out["ranked_layouts"])]
        console.print(table(f"fastest layouts that fit on {r.n_accelerators} accelerators",
                            ["#", "tp", "pp", "vpp", "dp", "cp", "ep", "mb", "ZeRO", "recompute", "tokens/s/acc",
                             "MFU", "GiB"], rows))
