"""``chipplan serve``: a serving plan (engine in ``chipplan.perf.serving``)."""

from __future__ import annotations

from pathlib import Path

import typer

from chipplan.commands._common import console, handle_errors, print_json, table
from chipplan.perf.serving import TOKENS_COUNTED, plan
from chipplan.report import check_html_path


@handle_errors
def serve_command(
    model: str = typer.Option(..., "--model", help="catalog model id"),
    hardware: str = typer.Option(..., "--hardware", help="catalog accelerator or system id"),
    input_len: int = typer.Option(..., "--input-len", help="prompt tokens per request"),
    output_len: int = typer.Option(..., "--output-len", help="generated tokens per request"),
    tp: list[int] = typer.Option(None, "--tp", help="tensor-parallel sizes to try (repeatable)"),
    precision: list[str] = typer.Option(None, "--precision",
                                        help="precision to try, repeatable (default: bf16, fp8 and fp4)"),
    slo_ttft_ms: float = typer.Option(None, "--slo-ttft-ms", help="p99 time to first token limit"),
    slo_tpot_ms: float = typer.Option(None, "--slo-tpot-ms", help="p99 time per output token limit"),
    qps: float = typer.Option(None, "--qps", help="requests per second to serve"),
    tokens_per_day: float = typer.Option(None, "--tokens-per-day", help="output tokens per day to serve"),
    price_per_hour: float = typer.Option(None, "--price-per-hour", help="USD per accelerator-hour"),
    engine: str = typer.Option(None, "--engine",
                               help="serving engine profile: tensorrt-llm, vllm, vllm-v0, vllm-rocm, sglang, gaudi "
                                    "(default: an era default with a wider interval)"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
    plot: Path | None = typer.Option(None, "--plot", help="also write the frontier chart to this .html file"),
) -> None:
    """Serving plan: throughput-latency frontier, best configuration under the SLO, accelerators and cost."""
    if plot is not None:
        check_html_path(plot)
    res = plan(model, hardware, input_len=input_len, output_len=output_len, tp=tp or None,
               precisions=precision or None, slo_ttft_ms=slo_ttft_ms, slo_tpot_ms=slo_tpot_ms, qps=qps,
               tokens_per_day=tokens_per_day, price_per_hour=price_per_hour, engine=engine)
    if plot is not None:
        from chipplan.report.serving import write_frontier_plot

        write_frontier_plot(res, plot)
    if as_json:
        print_json(res)
        return
    cols = {"precision": "precision", "tp": "tp", "pp": "pp", "ep": "ep", "attention_dp": "attn DP", "batch": "batch",
            "output_tokens_per_s_per_gpu": "out tok/s/acc", "ttft_p50_ms": "p50 TTFT ms", "ttft_p99_ms": "p99 TTFT ms",
            "tpot_ms": "TPOT ms",
            "memory_per_gpu_gb": "mem GB"}
    if price_per_hour is not None:
        cols |= {"usd_per_million_output_tokens": "$/M out", "usd_per_million_input_output_tokens": "$/M in+out"}
    console.print(table(f"Throughput-latency frontier: {res['model']} on {res['hardware']}, "
                        f"{input_len} in / {output_len} out", list(cols.values()),
                        [[r[c] for c in cols] for r in res["frontier"]]))
    b = res["best"]
    for note in res["notes"]:
        console.print(f"Note: {note}", highlight=False)
    console.print(f"Best under the SLO ({res['engine']}): {b['precision']} tp={b['tp']} pp={b['pp']} ep={b['ep']} "
                  f"attention-DP={b['attention_dp']} batch={b['batch']}"
                  f": {b['output_tokens_per_s_per_gpu']:.0f} output tokens/s per accelerator, p99 TTFT "
                  f"{b['ttft_p99_ms']:.1f} ms, TPOT {b['tpot_ms']:.2f} ms", highlight=False)
    if "accelerators_needed" in res:
        console.print(f"Load {res['load_output_tokens_per_s']:.0f} output tokens/s: {res['replicas']} replicas, "
                      f"{res['accelerators_needed']} accelerators", highlight=False)
    if price_per_hour is not None:
        console.print(f"Cost: ${b['usd_per_million_output_tokens']:.3f} per million output tokens, "
                      f"${b['usd_per_million_input_output_tokens']:.3f} per million input+output tokens",
                      highlight=False)
    console.print(f"Tokens counted: {TOKENS_COUNTED}.", highlight=False)
