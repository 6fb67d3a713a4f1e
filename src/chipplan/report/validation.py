"""Predicted against measured, one point per published row, coloured by source group."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chipplan.report import check_html_path, write_html


def write_validation_plot(result: dict[str, Any], path: str | Path, title: str) -> Path:
    """Write a log-log scatter of predicted vs measured values, with the ±25 % band, to ``path`` (HTML)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    path = check_html_path(path)
    rows = [r for r in result["rows"] if r["predicted"] is not None]
    metrics = sorted({r["metric"] for r in rows})
    fig = make_subplots(rows=1, cols=max(len(metrics), 1), subplot_titles=metrics or ["(no predictions)"])
    groups = sorted({r["group"] for r in rows})
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
    for j, metric in enumerate(metrics, start=1):
        rs = [r for r in rows if r["metric"] == metric]
        lo = min(min(r["target"], r["predicted"]) for r in rs) * 0.8
        hi = max(max(r["target"], r["predicted"]) for r in rs) * 1.25
        for k, f in ((1.0, "solid"), (1.25, "dot"), (0.8, "dot")):
            fig.add_trace(go.Scatter(x=[lo, hi], y=[lo * k, hi * k], mode="lines", showlegend=False,
                                     line={"color": "grey", "dash": f, "width": 1}), row=1, col=j)
        for gi, g in enumerate(groups):
            pts = [r for r in rs if r["group"] == g]
            if not pts:
                continue
            fig.add_trace(go.Scatter(
                x=[r["target"] for r in pts], y=[r["predicted"] for r in pts], mode="markers", name=g,
                legendgroup=g, showlegend=j == 1, marker={"color": palette[gi % len(palette)], "size": 7},
                text=[f"row {r['row_id']}: error {100 * r['ape']:.1f} %" for r in pts]), row=1, col=j)
        fig.update_xaxes(type="log", title_text="measured", row=1, col=j)
        fig.update_yaxes(type="log", title_text="predicted", row=1, col=j)
    fig.update_layout(title=title, template="plotly_white", height=520, width=560 * max(len(metrics), 1) + 200)
    return write_html(fig, path)
