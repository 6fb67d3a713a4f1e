"""The throughput-latency frontier of a serving plan as an HTML chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chipplan.report import check_html_path, write_html


def write_frontier_plot(res: dict[str, Any], path: str | Path) -> Path:
    """Output tokens/s per accelerator against time per output token, one point per frontier configuration,
    the best one under the SLO highlighted and the TPOT limit drawn. Written atomically to ``path`` (HTML)."""
    import plotly.graph_objects as go

    path = check_html_path(path)
    fr = res["frontier"]
    label = [f"{r['precision']} tp{r['tp']} pp{r['pp']} ep{r['ep']} batch {r['batch']}, p99 TTFT "
             f"{r['ttft_p99_ms']:.0f} ms" for r in fr]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[r["tpot_ms"] for r in fr], y=[r["output_tokens_per_s_per_gpu"] for r in fr],
                             mode="lines+markers", name="frontier", text=label))
    b = res["best"]
    fig.add_trace(go.Scatter(x=[b["tpot_ms"]], y=[b["output_tokens_per_s_per_gpu"]], mode="markers",
                             name="best under the SLO", marker={"size": 14, "symbol": "star"}))
    if res.get("slo_tpot_ms"):
        fig.add_vline(x=res["slo_tpot_ms"], line_dash="dot", annotation_text="TPOT limit")
    fig.update_layout(title=f"{res['model']} on {res['hardware']}: {res['input_len']} in / {res['output_len']} out",
                      xaxis_title="time per output token, ms (p99 TTFT in the hover)", template="plotly_white",
                      yaxis_title="output tokens/s per accelerator", height=520, width=820)
    return write_html(fig, path)
