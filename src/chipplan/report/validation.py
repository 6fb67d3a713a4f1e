"""Predicted against measured, one point per published row, coloured by source group."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chipplan.report import check_html_path, style, write_html

UNITS = {"tokens_per_s_per_gpu": "tokens/s per accelerator", "output_tokens_per_s_per_gpu":
         "output tokens/s per accelerator", "ttft_ms": "time to first token, ms",
         "tpot_ms": "time per output token, ms"}


def write_validation_plot(result: dict[str, Any], path: str | Path, title: str, *, inline: bool = False) -> Path:
    """Write a log-log scatter of predicted vs measured values, with the parity line and the ±25 % band
    (labelled in the legend), one panel per metric; hover names the row's model, hardware, source group and
    error. Written atomically to ``path``."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    path = check_html_path(path)
    rows = [r for r in result["rows"] if r["predicted"] is not None]
    metrics = sorted({r["metric"] for r in rows})
    fig = make_subplots(rows=1, cols=max(len(metrics), 1),
                        subplot_titles=[UNITS.get(m, m) for m in metrics] or ["(no predictions)"])
    groups = sorted({r["group"] for r in rows})
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
    for j, metric in enumerate(metrics, start=1):
        rs = [r for r in rows if r["metric"] == metric]
        lo = min(min(r["target"], r["predicted"]) for r in rs) * 0.8
        hi = max(max(r["target"], r["predicted"]) for r in rs) * 1.25
        for k, dash, name in ((1.0, "solid", "predicted = measured"), (1.25, "dot", "±25 % band"),
                              (0.8, "dot", "±25 % band")):
            fig.add_trace(go.Scatter(x=[lo, hi], y=[lo * k, hi * k], mode="lines", name=name, legendgroup=name,
                                     showlegend=j == 1 and k != 0.8, hoverinfo="skip",
                                     line={"color": "grey", "dash": dash, "width": 1}), row=1, col=j)
        for gi, g in enumerate(groups):
            pts = [r for r in rs if r["group"] == g]
            if not pts:
                continue
            fig.add_trace(go.Scatter(
                x=[r["target"] for r in pts], y=[r["predicted"] for r in pts], mode="markers", name=g,
                legendgroup=g, showlegend=j == 1, marker={"color": palette[gi % len(palette)], "size": 7},
                hovertext=[f"{r.get('model') or '?'} on {r.get('hardware') or '?'}<br>source: {g}<br>row "
                           f"{r['row_id']}: measured {r['target']:.4g}, predicted {r['predicted']:.4g} "
                           f"({100 * r['ape']:.1f} % off)" for r in pts], hoverinfo="text"), row=1, col=j)
        unit = UNITS.get(metric, metric)
        fig.update_xaxes(type="log", title_text=f"measured ({unit})", row=1, col=j)
        fig.update_yaxes(type="log", title_text=f"predicted ({unit})", row=1, col=j)
    style(fig, title=title, height=560, width=560 * max(len(metrics), 1) + 220)
    return write_html(fig, path, inline=inline)
