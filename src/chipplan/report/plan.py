"""The plan report: result tables, plotly figures with a one-line reading each, HTML and Markdown.

``report.html`` is self-contained: plotly.js is embedded once, every figure is a ``<div>`` drawn from inline
JSON, and nothing is fetched from the network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from chipplan import catalog
from chipplan.perf.arithmetic import param_counts
from chipplan.units import BYTES_PER_ELEMENT, GIB

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _f(x: Any, unit: str = "") -> str:
    """Readable number: thousands separators, 3 significant digits, money in $M/$B, probabilities in %."""
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "—"
    x = float(x)
    if unit == "USD":
        return f"${x / 1e9:,.2f}B" if abs(x) >= 1e9 else f"${x / 1e6:,.1f}M" if abs(x) >= 1e6 else f"${x:,.0f}"
    if unit == "probability":
        return f"{100 * x:.1f} %"
    if unit.startswith("USD/"):
        return f"${x:,.3g}"
    if abs(x) >= 1e6:
        return f"{x / 1e6:,.3g}M"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.3g}"


# ------------------------------------------------------------------------------------------------ tables


def tables(res: Any) -> dict[str, pd.DataFrame]:
    """Every result as a flat table (the Parquet/CSV files of the run)."""
    st = res.stages
    out: dict[str, pd.DataFrame] = {"headlines": pd.DataFrame(res.headlines or [],
                                                              columns=["key", "label", "value", "low", "high",
                                                                       "unit"])}
    rows = []
    for x in st.get("training", {}).get("runs", []):
        lay = x.get("layout") or {}
        rows.append({"run": x["run"], "chip": x["chip"], "model": x["model"], "tokens": x["tokens"],
                     "precision": x["precision"], "deadline_days": x["deadline_days"],
                     "n_accelerators": x.get("n_accelerators"), "days": x.get("days"),
                     "days_p10": (x.get("days_interval") or {}).get("p10"),
                     "days_p90": (x.get("days_interval") or {}).get("p90"),
                     "accelerator_hours": x.get("accelerator_hours"),
                     "tokens_per_s_per_accelerator": x.get("tokens_per_s_per_accelerator"), "mfu": x.get("mfu"),
                     "goodput": x.get("goodput"), "step_time_s": x.get("step_time_s"),
                     "layout": " ".join(f"{k}={v}" for k, v in lay.items()),
                     "memory_per_accelerator_gib": (x.get("memory_bytes") or {}).get("total", np.nan) / GIB,
                     "error": x.get("error", "")})
    out["training"] = pd.DataFrame(rows)
    rows, front = [], []
    for x in st.get("serving", {}).get("loads", []):
        b = x.get("best") or {}
        iv = x.get("usd_per_million_output_tokens_interval") or {}
        rows.append({"load": x["load"], "chip": x["chip"], "model": x["model"], "precision": b.get("precision"),
                     "tp": b.get("tp"), "pp": b.get("pp"), "ep": b.get("ep"), "batch": b.get("batch"),
                     "output_tokens_per_s_per_accelerator": b.get("output_tokens_per_s_per_accelerator"),
                     "ttft_p99_ms": b.get("ttft_p99_ms"), "tpot_ms": b.get("tpot_ms"),
                     "usd_per_million_output_tokens": x.get("usd_per_million_output_tokens"),
                     "usd_per_million_output_tokens_p10": iv.get("p10"),
                     "usd_per_million_output_tokens_p90": iv.get("p90"),
                     "price_usd_per_accelerator_hour": x.get("price_usd_per_accelerator_hour"),
                     "price_source": x.get("price_source"), "accelerators_at_peak": x.get("accelerators_at_peak"),
                     "error": x.get("error", "")})
        for f in x.get("frontier") or []:
            front.append({"load": x["load"], "chip": x["chip"], **f})
    out["serving"] = pd.DataFrame(rows)
    out["serving_frontier"] = pd.DataFrame(front)
    rows, over, wf = [], [], []
    for x in st.get("tco", {}).get("chips", []):
        r = {k: v for k, v in x.items() if not isinstance(v, dict | list)}
        for k in ("owned_usd_per_accelerator_hour_interval", "owned_to_cloud_ratio_interval"):
            iv = x.get(k) or {}
            r[k.replace("_interval", "_p10")] = iv.get("p10")
            r[k.replace("_interval", "_p90")] = iv.get("p90")
        r.setdefault("error", "")
        rows.append(r)
        ot = x.get("over_time") or {}
        for y, o, c in zip(ot.get("years", []), ot.get("owned_usd", []), ot.get("cloud_usd", []), strict=False):
            over.append({"chip": x["chip"], "years": y, "owned_usd": o, "cloud_usd": c})
        for w in x.get("waterfall") or []:
            wf.append({"chip": x["chip"], **w})
    out["tco"] = pd.DataFrame(rows)
    out["tco_over_time"] = pd.DataFrame(over)
    out["cost_waterfall"] = pd.DataFrame(wf)
    s = st.get("strategy")
    if s:
        designed = (s.get("design_route") or {}).get("route")
        out["portfolio"] = pd.DataFrame([{"route": k, **v, "designed_chip": k == designed}
                                         for k, v in s["portfolio"].items()]
                                        + [{"route": "spot", "kind": "spot", "share": s["spot_share"],
                                            "designed_chip": False}])
        fan, dem = s["fan_chart_h100e"], s["demand_h100e"]
        out["supply_fan"] = pd.DataFrame({"quarter": np.arange(len(fan["p50"])), **{f"supply_{k}": v for k, v in
                                                                                      fan.items()},
                                          **{f"demand_{k}": v for k, v in dem.items()},
                                          "shortfall_probability": s["shortfall_probability_by_quarter"]})
        out["tornado"] = pd.DataFrame([{k: v for k, v in t.items() if not isinstance(v, dict)}
                                       for t in s["tornado"][1:]])
    cd = st.get("codesign") or {}
    if cd.get("pareto"):
        out["codesign_pareto"] = pd.DataFrame(cd["pareto"])
    if cd.get("sample"):
        out["codesign_sample"] = pd.DataFrame(cd["sample"])
    rows = []
    for t in st.get("validation", {}).get("tables", []):
        rows += [{"file": t["file"], **r} for r in t["rows"]]
    out["validation"] = pd.DataFrame(rows)
    return out


# ------------------------------------------------------------------------------------------------ figures


def _layout(fig: Any, title: str, x: str, y: str, **kw: Any) -> Any:
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, template="plotly_white", height=430,
                      margin={"l": 70, "r": 30, "t": 60, "b": 60}, legend={"orientation": "h", "y": -0.2}, **kw)
    return fig


def fig_roofline(res: Any) -> tuple[Any, str] | None:
    import plotly.graph_objects as go

    runs = [x for x in res.stages.get("training", {}).get("runs", []) if "error" not in x]
    loads = [x for x in res.stages.get("serving", {}).get("loads", []) if "error" not in x]
    accs = list(dict.fromkeys([x["accelerator"] for x in runs] + [catalog.hardware(x["chip"])[0].id for x in loads]))
    if not accs:
        return None
    fig = go.Figure()
    ai = np.logspace(-1, 4, 200)
    notes = []
    for a in accs:
        acc = catalog.accelerator(a)
        prec = next((x["precision"] for x in runs if x["accelerator"] == a), "bf16")
        peak = acc.peak_flops_per_s(prec)
        fig.add_trace(go.Scatter(x=ai, y=np.minimum(peak, acc.hbm_bw_bytes_per_s * ai) / 1e12, mode="lines",
                                 name=f"{a} roof ({prec})"))
        for x in runs:
            if x["accelerator"] != a:
                continue
            lay = x["layout"]
            d = catalog.model(x["model_key"]).d_model
            tokens = lay["micro_batch"] * x["seq_len"] / max(lay["cp"], 1)
            b = BYTES_PER_ELEMENT.get(x["precision"], 2)
            # the largest GEMM of a layer: tokens × d_model by d_model × d_model
            gemm_ai = 2 * tokens * d * d / (b * (tokens * d + d * d + tokens * d))
            fig.add_trace(go.Scatter(x=[gemm_ai], y=[x["mfu"] * x["peak_flops_per_s"] / 1e12], mode="markers",
                                     marker={"size": 11, "symbol": "diamond"},
                                     name=f"training {x['run']} on {a} (achieved, MFU {x['mfu']:.2f})"))
            m = catalog.model(x["model_key"])
            if m.n_experts:
                # a routed expert's GEMM: the ep ranks' tokens spread over n_experts, top_k each
                t_e = tokens * max(lay["ep"], 1) * m.top_k / m.n_experts
                f = m.d_ff
                moe_ai = 2 * t_e * d * f / (b * (t_e * d + d * f + t_e * f))
                fig.add_trace(go.Scatter(x=[moe_ai], y=[min(peak, acc.hbm_bw_bytes_per_s * moe_ai) / 1e12],
                                         mode="markers", marker={"size": 11, "symbol": "diamond-open"},
                                         name=f"MoE expert GEMM of {x['run']} on {a} ({t_e:,.0f} tokens per "
                                              f"expert, on the roof)"))
                notes.append(f"an MoE expert GEMM of {x['run']} on {a} gets {t_e:,.0f} tokens and sits at "
                             f"{moe_ai:.0f} FLOP/byte, {'left' if moe_ai < peak / acc.hbm_bw_bytes_per_s else 'right'}"
                             f" of the ridge")
        for x in loads:
            if catalog.hardware(x["chip"])[0].id != a:
                continue
            b = x["best"]
            # decode reads the weights once per step for the whole batch; an MoE step reads only the experts its
            # batch routes to, 1 - (1 - top_k/n_experts)^batch of them (weights only, KV-cache reads left out)
            m = catalog.model(x["model_key"])
            pc = param_counts(m)
            total, active = float(pc["total"]), float(pc["active"])
            read = total
            if m.n_experts:
                k_e = m.top_k / m.n_experts
                routed = (total - active) / (1 - k_e)
                read = total - routed + routed * (1 - (1 - k_e) ** b["batch"])
            dec_ai = 2 * b["batch"] * active / (BYTES_PER_ELEMENT.get(b["precision"], 2) * read)
            ridge = acc.peak_flops_per_s(b["precision"]) / acc.hbm_bw_bytes_per_s
            achieved = 2 * x["active_params"] * b["output_tokens_per_s_per_accelerator"]  # 2 FLOP per active weight
            fig.add_trace(go.Scatter(x=[dec_ai], y=[achieved / 1e12], mode="markers",
                                     marker={"size": 11, "symbol": "circle"},
                                     name=f"decode {x['load']} on {a} ({b['precision']}, batch {b['batch']})"))
            notes.insert(0, f"decode on {a} at batch {b['batch']} sits at {dec_ai:.0f} FLOP/byte, "
                         f"{'left' if dec_ai < ridge else 'right'} of the ridge at {ridge:.0f}: "
                         f"{'memory' if dec_ai < ridge else 'compute'}-bound")
    fig.update_xaxes(type="log")
    fig.update_yaxes(type="log")
    _layout(fig, "Roofline of the chosen chips", "arithmetic intensity, FLOP per HBM byte",
            "FLOP/s (TFLOP/s)")
    dense = "; training's dense GEMMs sit right of every ridge, so their MFU gap is overheads and communication"
    moe = next((n for n in notes if n.startswith("an MoE")), "")
    reading = (notes[0] + dense + (f"; {moe}" if moe and moe != notes[0] else "") + ".") if notes \
        else "Training GEMMs sit right of every ridge."
    return fig, reading


def fig_step_time(res: Any) -> tuple[Any, str] | None:
    import plotly.graph_objects as go

    runs = [x for x in res.stages.get("training", {}).get("runs", []) if "error" not in x]
    if not runs:
        return None
    labels = [f"{x['run']}<br>{x['chip']}" for x in runs]
    parts = list(dict.fromkeys(k for x in runs for k in x["breakdown_s"]))
    fig = go.Figure([go.Bar(name=p, x=labels, y=[x["breakdown_s"].get(p, 0.0) for x in runs]) for p in parts])
    fig.update_layout(barmode="stack")
    _layout(fig, "Step-time breakdown of each training run", "", "seconds per step")
    x = runs[0]
    tot = sum(x["breakdown_s"].values()) or 1.0
    top = max((k for k in x["breakdown_s"] if k != "compute"), key=lambda k: x["breakdown_s"][k], default="compute")
    reading = (f"On {x['chip']}, {x['run']} spends {100 * x['breakdown_s'].get('compute', 0) / tot:.0f} % of a step "
               f"computing; the largest overhead is {top.replace('_', ' ')} "
               f"({100 * x['breakdown_s'][top] / tot:.0f} %).")
    return fig, reading


def fig_memory(res: Any) -> tuple[Any, str] | None:
    import plotly.graph_objects as go

    runs = [x for x in res.stages.get("training", {}).get("runs", []) if "error" not in x]
    if not runs:
        return None
    labels = [f"{x['run']}<br>{x['chip']}" for x in runs]
    parts = [k for k in ("weights", "gradients", "optimizer", "activations", "logits")]
    fig = go.Figure([go.Bar(name=p, x=labels, y=[x["memory_bytes"].get(p, 0.0) / GIB for x in runs]) for p in parts])
    fig.add_trace(go.Scatter(x=labels, y=[x["memory_capacity_bytes"] / GIB for x in runs], mode="markers",
                             marker={"symbol": "line-ew-open", "size": 40, "color": "black"}, name="HBM capacity"))
    fig.update_layout(barmode="stack")
    _layout(fig, "Memory per accelerator (most loaded pipeline stage)", "", "GiB")
    x = runs[0]
    m = x["memory_bytes"]
    big = max(parts, key=lambda k: m.get(k, 0.0))
    reading = (f"{x['run']} on {x['chip']} uses {m['total'] / GIB:.0f} of {x['memory_capacity_bytes'] / GIB:.0f} GiB; "
               f"{big} dominate ({100 * m[big] / max(m['total'], 1):.0f} %).")
    return fig, reading


def fig_frontier(res: Any) -> tuple[Any, str] | None:
    import plotly.graph_objects as go

    loads = [x for x in res.stages.get("serving", {}).get("loads", []) if "error" not in x]
    if not loads:
        return None
    fig = go.Figure()
    for x in loads:
        fr = x["frontier"]
        price = x["price_usd_per_accelerator_hour"]
        usd = [price / 3600 / f["output_tokens_per_s_per_accelerator"] * 1e6 for f in fr]
        fig.add_trace(go.Scatter(x=[f["tpot_ms"] for f in fr], y=[f["output_tokens_per_s_per_accelerator"] for f in fr],
                                 mode="lines+markers", name=f"{x['load']} on {x['chip']}",
                                 text=[f"{f['precision']} tp{f['tp']} batch {f['batch']}: ${u:.3g}/M output tokens"
                                       for f, u in zip(fr, usd, strict=True)]))
        b = x["best"]
        fig.add_trace(go.Scatter(x=[b["tpot_ms"]], y=[b["output_tokens_per_s_per_accelerator"]], mode="markers",
                                 marker={"symbol": "star", "size": 14}, showlegend=False,
                                 text=[f"best under the SLO: ${x['usd_per_million_output_tokens']:.3g}/M"]))
        if x.get("slo_tpot_ms"):
            fig.add_vline(x=x["slo_tpot_ms"], line_dash="dot")
    fig.update_xaxes(type="log")
    fig.update_yaxes(type="log")
    _layout(fig, "Throughput-latency frontier (hover: $ per million output tokens)", "time per output token, ms",
            "output tokens/s per accelerator")
    best = min(loads, key=lambda x: x["usd_per_million_output_tokens"])
    iv = best["usd_per_million_output_tokens_interval"]
    reading = (f"At the {best['slo_tpot_ms'] or '—'} ms TPOT limit, {best['chip']} serves {best['load']} at "
               f"{best['best']['output_tokens_per_s_per_accelerator']:,.0f} tokens/s per accelerator: "
               f"${best['usd_per_million_output_tokens']:.3g} per million output tokens "
               f"(80 %: ${iv['p10']:.3g}–${iv['p90']:.3g}, {best['price_basis']}).")
    return fig, reading


def fig_waterfall(res: Any) -> tuple[Any, str] | None:
    import plotly.graph_objects as go

    rows = [x for x in res.stages.get("tco", {}).get("chips", []) if "error" not in x
            and x.get("serving_tokens_per_s_per_accelerator")]
    if not rows:
        return None
    x = rows[0]
    steps = x["waterfall"]
    vals = [w["usd_per_million_output_tokens"] for w in steps]
    fig = go.Figure(go.Waterfall(x=[w["step"] for w in steps] + ["$/M output tokens"],
                                 y=[*vals, sum(vals)], measure=["relative"] * len(vals) + ["total"],
                                 text=[f"${v:.3f}" for v in vals] + [f"${sum(vals):.3f}"]))
    _layout(fig, f"Cost waterfall: owning {x['system']}, from the accelerators to $ per million output tokens",
            "", "USD per million output tokens")
    top = max(steps, key=lambda w: w["usd"])
    share = 100 * top["usd"] / sum(w["usd"] for w in steps)
    reading = (f"Owned over {x['years']:g} years at {x['utilisation']:.0%} utilisation, a million output tokens on "
               f"{x['chip']} cost ${sum(vals):.3f}; {top['step']} make up {share:.0f} %.")
    return fig, reading


def fig_owned_rented(res: Any) -> tuple[Any, str] | None:
    import plotly.graph_objects as go

    rows = [x for x in res.stages.get("tco", {}).get("chips", []) if "error" not in x]
    if not rows:
        return None
    fig = go.Figure()
    for x in rows:
        ot = x["over_time"]
        fig.add_trace(go.Scatter(x=ot["years"], y=ot["owned_usd"], mode="lines", name=f"own {x['system']}"))
        fig.add_trace(go.Scatter(x=ot["years"], y=ot["cloud_usd"], mode="lines", line={"dash": "dash"},
                                 name=f"rent {x['accelerator']} at ${x['cloud_usd_per_accelerator_hour']:.2f}/h"))
    _layout(fig, "Owned vs rented: cumulative cost of one server", "years", "USD")
    x = rows[0]
    iv = x["owned_to_cloud_ratio_interval"]
    reading = (f"Over {x['years']:g} years owning {x['system']} costs {x['owned_to_cloud_ratio']:.2f}× renting "
               f"the same accelerators (80 %: {iv['p10']:.2f}–{iv['p90']:.2f}); break-even utilisation "
               f"{x['breakeven_utilisation']:.0%}.")
    return fig, reading


def fig_pareto(res: Any) -> tuple[Any, str] | None:
    import plotly.graph_objects as go

    cd = res.stages.get("codesign") or {}
    if not cd.get("pareto"):
        return None
    xk, yk = cd["axes"]
    fig = go.Figure()
    if cd.get("sample"):
        fig.add_trace(go.Scatter(x=[d[xk] for d in cd["sample"]], y=[d[yk] for d in cd["sample"]], mode="markers",
                                 marker={"size": 4, "color": "lightgrey"}, name="sampled designs"))
    fig.add_trace(go.Scatter(x=[d[xk] for d in cd["pareto"]], y=[d[yk] for d in cd["pareto"]], mode="markers",
                             marker={"size": 8}, name="Pareto front"))
    _layout(fig, "Co-design: Pareto front of designs", xk, yk)
    b = (cd.get("best") or {}).get("design")
    if b and xk in b and yk in b:
        fig.add_trace(go.Scatter(x=[b[xk]], y=[b[yk]], mode="markers", marker={"size": 14, "symbol": "star"},
                                 name="designed chip"))
    for name, base in (cd.get("baselines") or {}).items():
        if xk in base and yk in base:
            fig.add_trace(go.Scatter(x=[base[xk]], y=[base[yk]], mode="markers+text", text=[name],
                                     textposition="top center", marker={"size": 10, "symbol": "x"}, name=name))
    reading = cd.get("reading", f"{len(cd['pareto'])} designs on the front out of {cd.get('designs', '?')}.")
    dr = (res.stages.get("strategy") or {}).get("design_route")
    if dr:
        reading = reading.rstrip(".") + "; in the sourcing portfolio it is " + _design_route_words(dr) + "."
    return fig, reading


def _design_route_words(dr: dict[str, Any]) -> str:
    """The designed chip's route in words: what the engines rate it at and what the portfolio does with it."""
    took = (f"the portfolio orders {dr['units']:,.0f} units ({100 * dr['share']:.0f} % of supply)" if dr["units"] > 0
            else "the portfolio does not order it")
    return (f"route {dr['route']} ({dr['kind'].replace('_', '-')}{', added by the plan' if dr['added'] else ''}): "
            f"{dr['perf_per_unit']:.2f} workload H100e at ${dr['unit_price_usd']:,.0f} a unit before NRE; {took}")


def fig_fan(res: Any) -> tuple[Any, str] | None:
    import plotly.graph_objects as go

    s = res.stages.get("strategy")
    if not s:
        return None
    fan, dem = s["fan_chart_h100e"], s["demand_h100e"]
    q = list(range(len(fan["p50"])))
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=q + q[::-1], y=list(fan["p95"]) + list(fan["p5"])[::-1], fill="toself",
                             line={"width": 0}, fillcolor="rgba(31,119,180,0.2)", name="supply p5–p95"))
    fig.add_trace(go.Scatter(x=q, y=fan["p50"], mode="lines", name="supply p50"))
    fig.add_trace(go.Scatter(x=q, y=dem["p50"], mode="lines", line={"dash": "dash", "color": "black"},
                             name="demand p50"))
    if "p95" in dem:
        fig.add_trace(go.Scatter(x=q, y=dem["p95"], mode="lines", line={"dash": "dot", "color": "grey"},
                                 name="demand p95"))
    _layout(fig, "Committed supply (fan) against demand", "quarter", "workload H100-equivalents")
    pq = s["shortfall_probability_by_quarter"]
    worst = int(np.argmax(pq))
    reading = (f"Commitments fall short of demand with probability up to {pq[worst]:.0%} (quarter {worst}); spot "
               f"covers {s['spot_share']:.0%} of supply and demand is left unmet in {s['unmet_probability']:.1%} "
               f"of scenarios.")
    return fig, reading


def fig_portfolio(res: Any) -> tuple[Any, str] | None:
    import plotly.graph_objects as go

    s = res.stages.get("strategy")
    if not s:
        return None
    dr = s.get("design_route") or {}
    label = {dr["route"]: f"{dr['route']} (designed chip)"} if dr else {}
    # every route is listed, chosen or not, so a route the optimiser left out (the designed chip's) shows at 0 %
    items = [(label.get(k, k), v["share"], v["units"]) for k, v in s["portfolio"].items()]
    items += [("spot", s["spot_share"], None)]
    fig = go.Figure(go.Bar(x=[i[0] for i in items], y=[100 * i[1] for i in items],
                           text=[f"{i[2]:,.0f} units" if i[2] else "" for i in items]))
    _layout(fig, "Portfolio mix: share of delivered supply", "route", "% of supply")
    top = max(items, key=lambda i: i[1])
    reading = (f"The optimised portfolio takes {100 * top[1]:.0f} % of its supply from {top[0]}; "
               f"{sum(1 for i in items if i[0] != 'spot' and i[1] > 1e-4)} of {len(items) - 1} routes are used"
               + (f"; the designed chip is {_design_route_words(dr)}" if dr else "") + ".")
    return fig, reading


def fig_tornado(res: Any) -> tuple[Any, str] | None:
    import plotly.graph_objects as go

    s = res.stages.get("strategy")
    if not s or len(s.get("tornado") or []) < 2:
        return None
    base = s["tornado"][0]["base_objective_usd"]
    rows = sorted(s["tornado"][1:], key=lambda t: abs(t["objective_high_usd"] - t["objective_low_usd"]))
    fig = go.Figure()
    fig.add_trace(go.Bar(y=[t["parameter"] for t in rows], x=[(t["objective_low_usd"] - base) / 1e6 for t in rows],
                         orientation="h", name="low", text=[t["low"] for t in rows]))
    fig.add_trace(go.Bar(y=[t["parameter"] for t in rows], x=[(t["objective_high_usd"] - base) / 1e6 for t in rows],
                         orientation="h", name="high", text=[t["high"] for t in rows]))
    fig.update_layout(barmode="overlay")
    _layout(fig, "Tornado: change in the risk-adjusted objective", "USD million vs base", "")
    t = rows[-1]
    reading = (f"{t['parameter']} moves the objective most (${(t['objective_low_usd'] - base) / 1e6:,.0f}M to "
               f"${(t['objective_high_usd'] - base) / 1e6:+,.0f}M); the decision changes for "
               f"{sum(1 for r in rows if r.get('decision_changes'))} of {len(rows)} parameters.")
    return fig, reading


def fig_validation(res: Any) -> tuple[Any, str] | None:
    import plotly.graph_objects as go

    tabs = res.stages.get("validation", {}).get("tables", [])
    rows = [(t["file"], r) for t in tabs for r in t["rows"] if r["predicted"] and r["target"]]
    if not rows:
        return None
    fig = go.Figure()
    for key in dict.fromkeys((f, r["metric"]) for f, r in rows):
        pts = [r for f, r in rows if (f, r["metric"]) == key]
        fig.add_trace(go.Scatter(x=[r["target"] for r in pts],
                                 y=[r["predicted"] for r in pts], mode="markers", name=f"{key[0]}: {key[1]}",
                                 text=[f"{r['group']}: {100 * r['ape']:.0f} %" for r in pts]))
    lo = min(min(r["target"], r["predicted"]) for _, r in rows) * 0.8
    hi = max(max(r["target"], r["predicted"]) for _, r in rows) * 1.25
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", line={"color": "grey"}, name="exact"))
    fig.update_xaxes(type="log")
    fig.update_yaxes(type="log")
    _layout(fig, "Validation: predicted vs published measurements", "measured", "predicted")
    parts = []
    for t in tabs:
        for metric, s in (t["summary"] or {}).items():
            if s.get("median_ape") is not None:
                cov = s.get("interval_coverage")
                parts.append(f"{t['file']} {metric}: median error {100 * s['median_ape']:.1f} % over "
                             f"{s['n_predicted']} rows" + (f", 80 % interval covers {100 * cov:.0f} %" if cov else ""))
    return fig, "; ".join(parts[:3]) + "."


FIGURES = (("roofline", fig_roofline), ("step_time", fig_step_time), ("memory", fig_memory),
           ("frontier", fig_frontier), ("waterfall", fig_waterfall), ("owned_rented", fig_owned_rented),
           ("pareto", fig_pareto), ("supply_fan", fig_fan), ("portfolio", fig_portfolio), ("tornado", fig_tornado),
           ("validation", fig_validation))


def figures(res: Any) -> list[dict[str, Any]]:
    out = []
    for fid, fn in FIGURES:
        got = fn(res)
        if got is None:
            continue
        fig, reading = got
        out.append({"id": fid, "title": fig.layout.title.text, "reading": reading, "fig": fig})
    return out


# ------------------------------------------------------------------------------------------------ documents


def _env() -> Any:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=jinja2.select_autoescape(
        ["html.j2"], default_for_string=False), trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters["num"] = _f
    return env


def context(res: Any, run_id: str, provenance: dict[str, Any]) -> dict[str, Any]:
    sf = res.scenario.scenario
    notes = []
    for stage, data in res.stages.items():
        if isinstance(data, dict) and data.get("skipped"):
            notes.append(f"{stage}: {data['skipped']}")
        for key in ("runs", "loads", "chips"):
            for x in (data.get(key) or []) if isinstance(data, dict) else []:
                if x.get("error"):
                    notes.append(f"{stage} on {x.get('chip')}: {x['error']}")
    return {"name": sf.name, "description": sf.description, "run_id": run_id, "headlines": res.headlines,
            "provenance": provenance, "notes": notes, "timings": res.timings}


def write_html(res: Any, path: Path, run_id: str, provenance: dict[str, Any],
               figs: list[dict[str, Any]] | None = None) -> None:
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    figs = figures(res) if figs is None else figs
    for f in figs:
        f["html"] = pio.to_html(f["fig"], include_plotlyjs=False, full_html=False, div_id=f"fig-{f['id']}",
                                config={"displaylogo": False, "responsive": True})
    html = _env().get_template("plan.html.j2").render(**context(res, run_id, provenance), figures=figs,
                                                     plotly_js=get_plotlyjs())
    path.write_text(html, encoding="utf-8")


def write_markdown(res: Any, path: Path, run_id: str, provenance: dict[str, Any],
                   figs: list[dict[str, Any]] | None = None) -> None:
    figs = figures(res) if figs is None else figs
    text = _env().get_template("plan.md.j2").render(**context(res, run_id, provenance), figures=figs)
    path.write_text(text, encoding="utf-8")
