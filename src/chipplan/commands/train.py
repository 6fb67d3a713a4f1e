"""``chipplan train``: best layout, time and accelerators for a training run (``chipplan.api.train``)."""

from __future__ import annotations

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
)
from chipplan.commands._layout import layout_options
from chipplan.specs.layout import TRAINING


@handle_errors
@layout_options(TRAINING)
def train_command(
    model: str = typer.Option(..., "--model", help="Model id or alias (see `chipplan catalog list models`), or a "
                              "YAML file with a models: section."),
    hardware: str = typer.Option(..., "--hardware", help="Accelerator or system id (e.g. h100-sxm-80gb, dgx-b200), "
                                 "or a YAML file with an accelerators: section."),
    tokens: float = typer.Option(..., "--tokens", help="Training tokens, e.g. 15e12."),
    accelerators: int | None = typer.Option(None, "--accelerators", "--gpus", help="Number of accelerators (how "
                                            "long will it take?). Any count works: the global batch is moved to "
                                            "the nearest size the layout divides, and the output says so."),
    days: float | None = typer.Option(None, "--days", help="Deadline in days (how many accelerators?)."),
    global_batch: float | None = typer.Option(None, "--global-batch", help="Global batch in tokens, e.g. 16e6 "
                                              "(default 4M, or 16M for models of 100B parameters or more); "
                                              "rounded to whole sequences."),
    seq_len: int | None = typer.Option(None, "--seq-len", help="Sequence length (default min(max, 8192))."),
    precision: str = typer.Option("bf16", "--precision", help="Matmul precision: bf16, fp16, fp8, fp4."),
    price: float | None = typer.Option(None, "--price", help="USD per accelerator-hour, for the run's cost."),
    top: int = typer.Option(0, "--top", help="Also list the K fastest layouts that fit on the planned "
                            "accelerator count."),
    fmt: str | None = format_option(),
    as_json: bool = json_option(),
    **layout: Any,
) -> None:
    """Plan a training run: layout, tokens/s, wall-clock days with goodput, accelerator-hours (and cost), each
    headline number with its 80 % interval."""
    from chipplan import api
    from chipplan.commands._common import progress

    f = output_format(fmt, as_json)
    with as_flags("price", "top", "tokens", "days", "global_batch", "seq_len", accelerators="--accelerators (--gpus)",
                  **{d.name: d.flag for d in TRAINING}), progress("planning the training run"):
        r = api.train(model, hardware, tokens=tokens, accelerators=accelerators, days=days,
                      global_batch=global_batch, seq_len=seq_len, precision=precision, price=price, top=top,
                      **layout)
    d = r.data
    if f == "json":
        print_json(d)
        return
    out = Output(f)
    lay = d["layout"]
    rows = [
        ["accelerators", d["n_accelerators"], band(d, "n_accelerators") if days is not None else None],
        ["global batch (sequences)", d["global_batch_seqs"], None],
        ["sequence length (tokens)", d["seq_len"], None],
        ["tokens/s per accelerator", d["tokens_per_s_per_accelerator"], band(d, "tokens_per_s_per_accelerator")],
        ["MFU (model FLOPs / dense peak)", d["mfu"], None],
        ["memory per accelerator (GiB)", d["memory_per_accelerator_gib"], None],
        ["step time (s)", d["step_time_s"], None],
        ["goodput (failures, checkpoints)", d["goodput"], None],
        ["optimal checkpoint interval (min)", d["checkpoint_interval_s"] / 60, None],
        ["days without interruptions", d["days_ideal"], band(d, "days_ideal")],
        ["wall-clock days", d["days"], band(d, "days")],
        ["accelerator-hours", d["accelerator_hours"], band(d, "accelerator_hours")],
    ]
    if price is not None:
        rows.append(["cost (USD)", d["cost_usd"], band(d, "cost_usd")])
    out.table(f"{d['model']} on {d['hardware']}, {d['tokens']:.3g} tokens, {d['precision']}",
              ["quantity", "value", "80 % interval"], rows)
    out.table("layout", [d.key.replace("_", " ") for d in TRAINING], [[lay[d.key] for d in TRAINING]])
    for note in d.get("notes", []):
        out.note(note)
    b = d["breakdown_s"]
    total = sum(b.values()) or 1.0
    out.table("step time breakdown", ["part", "seconds", "share %"], [[k, v, 100 * v / total] for k, v in b.items()])
    if top:
        out.table(f"fastest layouts that fit on {d['n_accelerators']} accelerators",
                  ["#", *(d.key.replace("_", " ") for d in TRAINING), "tokens/s/acc", "MFU", "GiB"],
                  [[i + 1, *(x["layout"][d.key] for d in TRAINING), x["tokens_per_s_per_accelerator"], x["mfu"],
                    x["memory_per_accelerator_gib"]] for i, x in enumerate(d["ranked_layouts"])],
                  optional=("vpp", "cp", "ep", "zero stage", "GiB"))
    out.print()
