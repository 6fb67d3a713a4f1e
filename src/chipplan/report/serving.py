"""The throughput-latency frontier of a serving plan as a chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chipplan.report import check_html_path, style, write_html


def write_frontier_plot(res: dict[str, Any], path: str | Path, *, inline: bool = False) -> Path:
    """Output tokens/s per accelerator against time per output token, one point per frontier configuration,
    the chosen one marked with its 80 % interval, the TPOT limit drawn when there is one; hover shows the
    configuration, p99 TTFT and $/M output tokens (when priced). Written atomically to ``path``."""
    import plotly.graph_objects as go

    path = check_html_path(path)
    fr = res["frontier"]
    priced = res.get("price_usd_per_accelerator_hour") is not None

    def label(r: dict[str, Any]) -> str:
        s = (f"{res['model']} on {res['hardware']}<br>{r['precision']} tp{r['tp']} pp{r['pp']} ep{r['ep']} "
             f"batch {r['batch']}<br>p99 TTFT {r['ttft_p99_ms']:.0f} ms")
        if priced:
            s += f"<br>${r['usd_per_million_output_tokens']:.3f} per M output tokens"
        return s + "<br>source: chipplan serving engine"

    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[r["tpot_ms"] for r in fr], y=[r["output_tokens_per_s_per_accelerator"] for r in fr],
                             mode="lines+markers+text" if priced else "lines+markers", name="frontier",
                             text=[f"${r['usd_per_million_output_tokens']:.2f}/M" for r in fr] if priced else None,
                             textposition="top left", hovertext=[label(r) for r in fr], hoverinfo="text"))
    b = res["best"]
    y = "output_tokens_per_s_per_accelerator"
    name = "best under the SLO" if res.get("best_under_slo") else "fastest (no SLO)"
    fig.add_trace(go.Scatter(
        x=[b["tpot_ms"]], y=[b["output_tokens_per_s_per_accelerator"]], mode="markers", name=name + " (80 % interval)",
        marker={"size": 14, "symbol": "star"}, hovertext=[label(b)], hoverinfo="text",
        error_y={"type": "data", "symmetric": False,
                 "array": [b[f"{y}_high"] - b[y]], "arrayminus": [b[y] - b[f"{y}_low"]]}))
    if res.get("slo_tpot_ms"):
        fig.add_vline(x=res["slo_tpot_ms"], line_dash="dot", annotation_text=f"TPOT limit {res['slo_tpot_ms']:g} ms")
    fig.update_xaxes(title_text="time per output token (ms)")
    fig.update_yaxes(title_text="output tokens/s per accelerator")
    title = f"{res['model']} on {res['hardware']}: {res['input_len']} in / {res['output_len']} out"
    if priced:
        title += f" (labels: $ per million output tokens at ${res['price_usd_per_accelerator_hour']:g}/acc-h)"
    style(fig, title=title, width=900)
    return write_html(fig, path, inline=inline)
