"""``chipplan serve``: a serving plan (``chipplan.api.serve``; engine in ``chipplan.perf.serving``)."""

from __future__ import annotations

from pathlib import Path

import typer

from chipplan.commands._common import (
    Output,
    as_flags,
    band,
    fmt,
    format_option,
    handle_errors,
    json_option,
    output_format,
    print_json,
    wrote,
)
from chipplan.commands._layout import layout_options
from chipplan.specs.layout import SERVING

QPS_HELP = ("Requests per second to serve: sizes the replicas and accelerators needed (and the cost per day), "
            "and sets the arrival rate per replica, so TTFT (the prefill queue) rises with the load until another "
            "replica is added; TPOT is that of the batch. Without it TTFT is taken at the rate the batch sustains.")


@handle_errors
@layout_options(SERVING, repeatable=True)
def serve_command(
    model: str = typer.Option(..., "--model", help="Catalog model id, or a YAML file with a models: section."),
    hardware: str = typer.Option(None, "--hardware", help="Catalog accelerator or system id, or a YAML file with "
                                 "an accelerators: section (default: the --system's)."),
    input_len: int = typer.Option(..., "--input-len", help="Prompt tokens per request."),
    output_len: int = typer.Option(..., "--output-len", help="Generated tokens per request."),
    precision: list[str] = typer.Option(None, "--precision",
                                        help="Precision to try, repeatable (default: bf16, fp8 and fp4)."),
    slo_ttft_ms: float = typer.Option(None, "--slo-ttft-ms", help="p99 time-to-first-token limit, ms."),
    slo_tpot_ms: float = typer.Option(None, "--slo-tpot-ms", help="p99 time-per-output-token limit, ms."),
    qps: float = typer.Option(None, "--qps", help=QPS_HELP),
    tokens_per_day: float = typer.Option(None, "--tokens-per-day", help="Output tokens per day to serve (sizes "
                                         "replicas like --qps)."),
    price_per_hour: float = typer.Option(None, "--price-per-hour", help="USD per accelerator-hour."),
    system: str = typer.Option(None, "--system", help="Price on owning this catalog system for 3 years (its "
                               "owned $/accelerator-hour, as `chipplan tco`) instead of --price-per-hour."),
    engine: str = typer.Option(None, "--engine",
                               help="Serving engine profile: tensorrt-llm, vllm, vllm-v0, vllm-rocm, vllm-rocm-v0, "
                                    "sglang, deepseek-infer, gaudi (default: an era default with a wider interval)."),
    prefill_instances: int = typer.Option(None, "--prefill-instances", help="Prefill/decode disaggregation: "
                                          "prefill instances per deployment (each the searched layout, or "
                                          "--prefill-tp accelerators); the KV cache crosses the scale-out fabric."),
    decode_instances: int = typer.Option(None, "--decode-instances", help="Prefill/decode disaggregation: decode "
                                         "instances per deployment (each the searched layout)."),
    prefill_tp: int = typer.Option(None, "--prefill-tp", help="Tensor-parallel size of each prefill instance "
                                   "(default: the decode layout)."),
    spec_draft_len: int = typer.Option(None, "--spec-draft-len", help="Speculative decoding / multi-token "
                                       "prediction: draft tokens per step."),
    spec_accept: float = typer.Option(None, "--spec-accept", help="Acceptance rate of each draft token, in [0, 1) "
                                      "(with --spec-draft-len)."),
    fmt_: str | None = format_option(),
    as_json: bool = json_option(),
    plot: Path | None = typer.Option(None, "--plot", help="Also write the frontier chart to this .html (or "
                                     ".png/.svg) file."),
    plot_inline: bool = typer.Option(False, "--plot-inline", help="Embed plotly.js in the --plot file (one "
                                     "self-contained file) instead of one plotly.min.js beside it."),
    **layout: list[int] | None,
) -> None:
    """Serving plan: throughput-latency frontier, best configuration (under the SLO when one is given),
    accelerators for the load and $/M tokens, each with its 80 % interval."""
    from chipplan import api
    from chipplan.perf.serving import TOKENS_COUNTED
    from chipplan.report import check_html_path

    f = output_format(fmt_, as_json)
    if plot is not None:
        check_html_path(plot)
    with as_flags("input_len", "output_len", "slo_ttft_ms", "slo_tpot_ms", "qps", "tokens_per_day",
                  "price_per_hour", "system", "hardware", "precision", "engine", "prefill_instances",
                  "decode_instances", "prefill_tp", "spec_draft_len", "spec_accept",
                  **{d.name: d.flag for d in SERVING}):
        r = api.serve(model, hardware, input_len=input_len, output_len=output_len,
                      **{k: v or None for k, v in layout.items()}, precision=precision or None,
                      slo_ttft_ms=slo_ttft_ms, slo_tpot_ms=slo_tpot_ms, qps=qps, tokens_per_day=tokens_per_day,
                      price_per_hour=price_per_hour, system=system, engine=engine,
                      **{k: v for k, v in (("prefill_instances", prefill_instances),
                                           ("decode_instances", decode_instances), ("prefill_tp", prefill_tp),
                                           ("spec_draft_len", spec_draft_len), ("spec_accept", spec_accept))
                         if v is not None})
    res = r.data
    if plot is not None:
        from chipplan.report.serving import write_frontier_plot

        write_frontier_plot(res, plot, inline=plot_inline)
        wrote(plot)
    if f == "json":
        print_json(res)
        return
    priced = res.get("price_usd_per_accelerator_hour") is not None
    b = res["best"]
    key = ("precision", *(d.key for d in SERVING), "attention_dp", "batch")
    # Every headline number of a frontier row has its 80 % interval beside it (two columns in CSV/TSV); on a
    # narrow terminal the interval columns go before any number is squeezed.
    cols = ["precision", *(d.key for d in SERVING), "attn DP", "batch", "out tok/s/acc", "tok/s 80 %", "p50 TTFT ms",
            "p99 TTFT ms", "p99 TTFT 80 %", "TPOT ms", "TPOT 80 %", "mem GiB"]
    rows = []
    for x in res["frontier"]:
        row = [x["precision"], *(x[d.key] for d in SERVING), x.get("attention_dp"), x["batch"],
               x["output_tokens_per_s_per_accelerator"], band(x, "output_tokens_per_s_per_accelerator"),
               x.get("ttft_p50_ms"), x["ttft_p99_ms"], band(x, "ttft_p99_ms"), x["tpot_ms"], band(x, "tpot_ms"),
               x["memory_per_accelerator_gib"]]
        if priced:
            row += [x.get("usd_per_million_output_tokens"), band(x, "usd_per_million_output_tokens"),
                    x.get("usd_per_million_input_output_tokens")]
        row.append("best" if all(x.get(k) == b.get(k) for k in key) else "")
        rows.append(row)
    if priced:
        cols += ["$/M out", "$/M out 80 %", "$/M in+out"]
    cols.append("chosen")
    out = Output(f)
    out.table(f"Throughput-latency frontier: {res['model']} on {res['hardware']}, {input_len} in / {output_len} out",
              cols, rows, optional=("mem GiB", "p50 TTFT ms", "attn DP", "pp", "ep", "$/M in+out", "p99 TTFT 80 %",
                                    "TPOT 80 %", "tok/s 80 %", "$/M out 80 %"))
    for note in res.get("notes", []):
        out.note(f"Note: {note}")
    if "disaggregation" in res:
        d = res["disaggregation"]
        out.note(f"Disaggregated: {d['prefill_instances']} prefill + {d['decode_instances']} decode instances; best "
                 f"limited by {b.get('bottleneck')}, KV {fmt(b.get('kv_transfer_mb_per_request'))} MB per request "
                 f"({fmt(b.get('kv_transfer_ms'))} ms over the fabric).")
    label = "Best under the SLO" if res["best_under_slo"] else "Fastest configuration (no SLO given)"
    plan_rows = [["output tokens/s per accelerator", b["output_tokens_per_s_per_accelerator"],
                  band(b, "output_tokens_per_s_per_accelerator")],
                 ["p50 TTFT (ms)", b.get("ttft_p50_ms"), band(b, "ttft_p50_ms")],
                 ["p99 TTFT (ms)", b["ttft_p99_ms"], band(b, "ttft_p99_ms")],
                 ["TPOT (ms)", b["tpot_ms"], band(b, "tpot_ms")]]
    if "accelerators_needed" in res:
        plan_rows += [["load (output tokens/s)", res["load_output_tokens_per_s"], None],
                      ["replicas", res["replicas"], None],
                      ["accelerators", res["accelerators_needed"], band(res, "accelerators_needed")]]
    if priced:
        plan_rows += [["$ per accelerator-hour", res["price_usd_per_accelerator_hour"], None],
                      ["$ per million output tokens", b["usd_per_million_output_tokens"],
                       band(b, "usd_per_million_output_tokens")],
                      ["$ per million input+output tokens", b["usd_per_million_input_output_tokens"],
                       band(b, "usd_per_million_input_output_tokens")]]
        if "usd_per_day" in res:
            plan_rows.append(["$ per day", res["usd_per_day"], None])
    out.table(f"{label} ({res.get('engine')}): {b['precision']} tp={b['tp']} pp={b['pp']} ep={b['ep']} "
              f"attention-DP={b.get('attention_dp')} batch={b['batch']}",
              ["quantity", "value", "80 % interval"], plan_rows)
    if priced:
        out.note(f"Price: ${fmt(res['price_usd_per_accelerator_hour'])} per accelerator-hour ({res['price_source']}).")
    out.note(f"Tokens counted: {TOKENS_COUNTED}.")
    out.print()
