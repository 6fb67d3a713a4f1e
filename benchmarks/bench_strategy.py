"""Strategy benchmark: Monte Carlo of 10^5 scenarios × the example's routes × 12 quarters (target < 5 s),
portfolio outcome evaluation, and one stochastic-program solve with EVPI/VSS."""

from __future__ import annotations

import time
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "frontier_lab.yaml"


def run() -> dict[str, float]:
    import numpy as np

    from chipplan.strategy import portfolio
    from chipplan.strategy import scenario as sc
    from chipplan.strategy.montecarlo import outcome, summarise

    inp = sc.build(sc.load(EXAMPLE), scenarios=100_000)
    t0 = time.perf_counter()
    d = portfolio.run_monte_carlo(inp)
    t1 = time.perf_counter()
    units = np.array([r.max_units / 4 for r in inp.routes])
    summarise(outcome(d, units, penalty_usd_per_h100e_hour=inp.penalty_usd_per_h100e_hour), d.demand_h100e)
    t2 = time.perf_counter()
    portfolio.optimise(inp, d.take(slice(0, inp.optimisation_scenarios)))
    t3 = time.perf_counter()
    return {"mc_scenarios": float(d.n), "mc_routes": float(len(inp.routes)), "mc_quarters": float(d.online.shape[2]),
            "monte_carlo_s": t1 - t0, "evaluate_portfolio_s": t2 - t1,
            "optimise_with_evpi_vss_s": t3 - t2, "lp_scenarios": float(inp.optimisation_scenarios)}


if __name__ == "__main__":
    for k, v in run().items():
        print(f"{k}: {v:.3f}")
