"""The engine calls behind ``chipplan plan`` and the web app, in one place.

Each function takes the same fields as the command-line flags (``model``, ``hardware``, ``tokens``, ``gpus`` or
``days``, ...) and answers the same keys as the command's ``--json``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chipplan import __version__, catalog
from chipplan.errors import FieldError

Z80 = 1.2816  # standard-normal quantile of 0.90: an 80 % interval is exp(±Z80·sd) around the prediction


def train(*, model: str, hardware: str, tokens: float, gpus: int | None = None, days: float | None = None,
          global_batch: float | None = None, seq_len: int | None = None, precision: str = "bf16",
          price: float | None = None, tp: int | None = None, pp: int | None = None, cp: int | None = None,
          ep: int | None = None, vpp: int | None = None, micro_batch: int | None = None,
          zero_stage: int | None = None, recompute: str | None = None) -> dict[str, Any]:
    """``chipplan train --json``: the planned run (layout, tokens/s, days with goodput, accelerator-hours)."""
    from chipplan.perf.plan import estimate_run

    if price is not None and not (math.isfinite(price) and price >= 0):
        raise FieldError("price", "must be a number >= 0 (USD per accelerator-hour)", price)
    acc, system = catalog.hardware(hardware)
    layout = {"tp": tp, "pp": pp, "cp": cp, "ep": ep, "vpp": vpp, "micro_batch": micro_batch,
              "zero_stage": zero_stage, "recompute": recompute}
    r = estimate_run(model, acc, tokens, n_accelerators=gpus, days=days, global_batch_tokens=global_batch,
                     seq_len=seq_len, precision=precision, system=system, layout=layout)
    out = {**r.to_dict(), "chipplan_version": __version__, "catalog_version": catalog.load().version,
           "inputs": {"model": model, "hardware": hardware, "tokens": tokens, "gpus": gpus, "days": days,
                      "global_batch_tokens": global_batch, "seq_len": seq_len, "precision": precision,
                      "layout": {k: v for k, v in layout.items() if v is not None}}}
    if price is not None:
        from chipplan.cost.work import training_run_cost

        out["price_usd_per_accelerator_hour"] = price
        out["cost_usd"] = float(training_run_cost(r.accelerator_hours, usd_per_accelerator_hour=price)["total_usd"])
    return out


def serve(*, model: str, hardware: str, input_len: int, output_len: int, tp: list[int] | None = None,
          precision: list[str] | None = None, slo_ttft_ms: float | None = None, slo_tpot_ms: float | None = None,
          qps: float | None = None, tokens_per_day: float | None = None,
          price_per_hour: float | None = None) -> dict[str, Any]:
    """``chipplan serve --json``: frontier, best configuration under the SLO, accelerators and cost."""
    from chipplan.perf.serving import plan

    return plan(model, hardware, input_len=input_len, output_len=output_len, tp=tp or None,
                precisions=precision or None, slo_ttft_ms=slo_ttft_ms, slo_tpot_ms=slo_tpot_ms, qps=qps,
                tokens_per_day=tokens_per_day, price_per_hour=price_per_hour)


def tco(*, system: str, years: float = 3.0, utilisation: float = 1.0, cloud_price: float | None = None,
        facility: str = "colo", samples: int = 0, seed: int = 0) -> dict[str, Any]:
    """``chipplan tco --json`` (main fields): owned vs rented, break-even, the cost waterfall, optional bands."""
    from chipplan.catalog import cost as cost_catalog
    from chipplan.cost import tco as tc
    from chipplan.cost import uncertainty as unc

    if not (math.isfinite(years) and 0 < years <= 100):
        raise FieldError("years", "must be a number in (0, 100]", years)
    if not 0 < utilisation <= 1:
        raise FieldError("utilisation", "must be in (0, 1]", utilisation)
    cat = cost_catalog.load()
    sys_ = catalog.system(system)
    acc = catalog.accelerator(sys_.accelerator)
    p, meta = tc.tco_params(sys_, acc, cat, years=years, utilisation=utilisation, cloud_price=cloud_price,
                            facility=facility)
    r = tc.system_tco(**unc.central_params(p))
    res = {**{k: float(v) if isinstance(v, np.generic | float | int) and not isinstance(v, bool) else v
              for k, v in r.items()}, **meta, "years": years, "utilisation": utilisation,
           "accelerators_per_server": sys_.accelerators_per_node,
           "waterfall": [{"step": s, "usd": v, "running_usd": t} for s, v, t in tc.waterfall(r)]}
    if samples:
        res["uncertainty"] = {"samples": samples, "seed": seed, "bands": unc.monte_carlo(
            tc.system_tco, p, n=samples, seed=seed,
            outputs=("server_capex_usd", "owned_total_usd", "owned_usd_per_accelerator_hour",
                     "breakeven_utilisation", "breakeven_years"))}
    return res
