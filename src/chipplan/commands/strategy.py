"""``chipplan strategy SCENARIO.yaml``: sourcing portfolio under uncertainty (Monte Carlo + stochastic program)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from chipplan.commands._common import (
    Output,
    as_flags,
    fmt,
    format_option,
    handle_errors,
    json_option,
    output_format,
    print_json,
    progress,
    table,
)


def _musd(v: float | None) -> str:
    return "—" if v is None else f"${v / 1e6:,.0f}M"


def _summary(r: dict[str, Any], out: Output) -> None:
    out.note(f"{r['scenario']}: {r['monte_carlo_scenarios']:,} Monte Carlo scenarios, "
                  f"optimised on {r['optimisation_scenarios']}, seed {r['seed']}, "
                  f"risk weight {r['risk']['weight']} on CVaR{int(r['risk']['alpha'] * 100)}")
    rows = [[rid, p["kind"], round(p["units"]), "yes" if p["programme"] else "no", f"{p['share']:.1%}",
             p["workload_h100e_per_unit"]] for rid, p in r["portfolio"].items()]
    rows.append(["spot (recourse)", "cloud", "—", "—", f"{r['spot_share']:.1%}", 1.0])
    out.add(table("Recommended portfolio", ["route", "kind", "units", "programme", "share of supply",
                                                  "workload H100e/unit"], rows))
    if r.get("installed"):
        out.add(table("Installed fleet", ["accelerator", "units", "age (years)", "retires (quarter)"],
                      [[g["accelerator"], g["units"], g["age_years"], g["retires_quarter"] or "after horizon"]
                       for g in r["installed"]]))
    cp = r["cost_percentiles_usd"]
    out.add(table("Cost and risk", ["measure", "value"], [
        ["expected cost", _musd(r["expected_cost_usd"])], ["CVaR", _musd(r["cvar_cost_usd"])],
        *[[f"cost {k}", _musd(v)] for k, v in cp.items()],
        ["P(commitments short in some quarter)", f"{r['shortfall_probability']:.1%}"],
        ["P(demand unmet after spot)", f"{r['unmet_probability']:.1%}"],
        ["quarters until demand met (p50 / p95)", f"{r['quarters_until_demand_met']['p50']:.0f} / "
                                                  f"{r['quarters_until_demand_met']['p95']:.0f}"],
        ["EVPI (out of sample)", _musd(r["evpi_usd"])], ["VSS (out of sample)", _musd(r["vss_usd"])]]))
    fan = r["fan_chart_h100e"]
    T = len(fan["p50"])
    out.add(table("Committed capacity vs demand (workload H100e)", ["quarter", "p5", "p50", "p95",
                                                                           "demand p50", "P(short)"],
                        [[t, fan["p5"][t], fan["p50"][t], fan["p95"][t], r["demand_h100e"]["p50"][t],
                          f"{r['shortfall_probability_by_quarter'][t]:.0%}"] for t in range(T)]))
    out.add(table("Policies on the same scenarios", ["policy", "expected", "CVaR", "P(unmet)"], [
        ["recommended", _musd(r["expected_cost_usd"]), _musd(r["cvar_cost_usd"]), f"{r['unmet_probability']:.1%}"],
        *[[k, _musd(v["expected_cost_usd"]), _musd(v["cvar_cost_usd"]), f"{v['unmet_probability']:.1%}"]
          for k, v in r["policies"].items()]]))
    st = r.get("stability")
    if st:
        g = st["optimality_gap_usd"]
        ci = g["ci95"]
        out.add(table(f"Sampling error ({st['replications']} replications of {st['scenarios_per_replication']} "
                      "scenarios)", ["measure", "value"], [
            ["optimality gap, 95 % CI (Mak-Morton-Wood)",
             f"{_musd(ci[0])} - {_musd(ci[1])}" if ci else _musd(g["mean"])],
            ["committed workload H100e across replications (spread)",
             f"{st['committed_workload_h100e']['relative_spread']:.1%}"],
            ["EVPI (out of sample)", f"{_musd(st['evpi_usd'])} ± {_musd(st['evpi_usd_se'])}"],
            ["VSS (out of sample)", f"{_musd(st['vss_usd'])} ± {_musd(st['vss_usd_se'])}"]]))
    if r.get("training_runs"):
        out.add(table("Training runs on one accelerator kind (chance constraints)",
                      ["run", "route", "quarters", "target", "out of sample"],
                      [[t["run"], t["route"] or "—", f"{t['start_quarter']}-{t['deadline_quarter']}",
                        f"{t['target_probability']:.0%}",
                        f"{t['on_time_probability_out_of_sample']:.1%}"
                        if t.get("on_time_probability_out_of_sample") is not None else "—"]
                       for t in r["training_runs"]]))
    if r["tornado"]:
        base = r["tornado"][0]
        out.add(table(f"Sensitivity (tornado), base objective {_musd(base['base_objective_usd'])}; {base['note']}",
                            ["parameter", "low", "high", "objective low", "objective high", "decision changes",
                             "units at low", "units at high"],
                            [[t["parameter"], t["low"], t["high"], _musd(t["objective_low_usd"]),
                              _musd(t["objective_high_usd"]), t["decision_changes"],
                              ", ".join(f"{k} {v:,.0f}" for k, v in t["units_low"].items()),
                              ", ".join(f"{k} {v:,.0f}" for k, v in t["units_high"].items())]
                             for t in r["tornado"][1:]]))
    pdl = r.get("price_demand")
    if pdl:
        out.note(f"Price–demand equilibrium ({pdl['market']}, share {pdl['market_share']:g}, elasticity "
                 f"{pdl['elasticity']}, documented range {pdl['elasticity_range'][0]}–{pdl['elasticity_range'][1]}):"
                 f" serving demand ×{fmt(pdl['demand_multipliers'][-1])} by the last quarter at "
                 f"${fmt(pdl['prices_usd_per_mtok'][-1])}/M tokens; "
                 + ("converged" if pdl["converged"] else pdl["note"]) + f" after {pdl['passes']} passes.")
    ms = r.get("multistage")
    if ms:
        out.note(f"Multi-stage ({ms['method']}): EVPI {_musd(ms['evpi_usd'])} vs two-stage "
                 f"{_musd(ms['two_stage_evpi_usd'])} on the same {ms['scenarios']} scenarios.")


@handle_errors
def strategy_command(
    scenario: Path = typer.Argument(..., help="Scenario YAML (see examples/frontier_lab.yaml)."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed (default: the scenario's)."),
    scenarios: int | None = typer.Option(None, "--scenarios", help="Monte Carlo scenarios (default: the scenario's)."),
    tornado_scenarios: int | None = typer.Option(
        None, "--tornado-scenarios", help="Scenarios per re-optimisation in the sensitivity table (default: the "
        "optimisation scenarios themselves; 0: skip)."),
    replications: int | None = typer.Option(None, "--replications",
                                            help="Replication batches for the optimality gap (default: the "
                                            "scenario's 10; 0: skip)."),
    fmt_: str | None = format_option(),
    json_out: bool = json_option(),
) -> None:
    """Recommend a sourcing portfolio: Monte Carlo of deliveries, stochastic optimisation with CVaR (HiGHS),
    its sampling error (optimality gap, out-of-sample EVPI/VSS), policy comparison, price–demand equilibrium
    and a sensitivity tornado. Demand and chip ratings come from the training and serving engines, route
    prices from the cost engine, unless the scenario overrides them. Progress shows on stderr."""
    from chipplan import api

    out = Output(output_format(fmt_, json_out))
    with as_flags("scenarios", "seed", "tornado_scenarios", "replications"), progress("strategy") as step:
        result = api.strategy(scenario, seed=seed, scenarios=scenarios, tornado_scenarios=tornado_scenarios,
                              replications=replications, progress=step).data
    if out.fmt == "json":
        print_json(result)
        return
    _summary(result, out)
    out.print()
