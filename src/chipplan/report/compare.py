"""The chips of ``chipplan compare`` side by side: accelerators × days and run cost, on the stated cost basis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chipplan.report import check_html_path, style, write_html


def write_compare_plot(out: dict[str, Any], path: str | Path, *, inline: bool = False) -> Path:
    """Two panels: accelerators (bars) with wall-clock days (markers, 80 % interval), and run cost in USD
    (bars with the 80 % interval), one chip each; the cost basis is in the title."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    path = check_html_path(path)
    ok = [x for x in out["rows"] if x["status"] == "ok"]
    names = [x["hardware"] for x in ok]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("accelerators and wall-clock days", "run cost, USD"),
                        specs=[[{"secondary_y": True}, {}]])
    fig.add_trace(go.Bar(x=names, y=[x["n_accelerators"] for x in ok], name="accelerators"), row=1, col=1)
    fig.add_trace(go.Scatter(
        x=names, y=[x["days"] for x in ok], mode="markers", name="days", marker={"size": 12, "symbol": "diamond"},
        error_y={"type": "data", "symmetric": False, "array": [x["days_high"] - x["days"] for x in ok],
                 "arrayminus": [x["days"] - x["days_low"] for x in ok]}), row=1, col=1, secondary_y=True)
    cost = [x["cost_usd"] if x["cost_usd"] is not None else 0.0 for x in ok]
    fig.add_trace(go.Bar(
        x=names, y=cost, name="cost", hovertext=[f"{out['model']} on {x['hardware']}: ${x['cost_usd'] or 0:,.0f}"
                                                 f"<br>{x['n_accelerators']:,} accelerators × {x['days']:.1f} days"
                                                 f"<br>price: {x['price_source']}" for x in ok], hoverinfo="text",
        error_y={"type": "data", "symmetric": False,
                 "array": [(x["cost_usd_high"] or 0) - (x["cost_usd"] or 0) for x in ok],
                 "arrayminus": [(x["cost_usd"] or 0) - (x["cost_usd_low"] or 0) for x in ok]}), row=1, col=2)
    fig.update_yaxes(title_text="accelerators", row=1, col=1)
    fig.update_yaxes(title_text="wall-clock days", row=1, col=1, secondary_y=True)
    fig.update_yaxes(title_text="USD", row=1, col=2)
    basis = out["cost_basis"] + (f", {out['price_term']}" if out.get("price_term") else "")
    style(fig, title=f"{out['model']}: {out['tokens']:.3g} tokens, {out['precision']} (cost basis: {basis}; "
                     "error bars: 80 % interval)", height=500, width=1080)
    return write_html(fig, path, inline=inline)
