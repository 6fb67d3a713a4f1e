"""Cost of work: a training run, and serving cost per million tokens. Vectorised.

Formulas (reference/cost_parameters.md §3):
accelerator-hours = FLOP / (peak FLOP/s · MFU · 3600);
cloud run = accelerator-hours · $/h; owned run = accelerator-hours · amortised $/h + energy (Epoch AI's
"amortised hardware capex + energy" method);
$/M tokens = $/accelerator-hour · 10⁶ / (tokens/s per accelerator · 3600 · utilisation) (InferenceX and
Artificial Analysis definition).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chipplan.cost._arr import arr, fraction, out
from chipplan.errors import FieldError
from chipplan.units import HOURS_PER_YEAR, SECONDS_PER_HOUR

TOKEN_COUNTING = ("output", "input+output")


def accelerator_hours(total_flop: Any, peak_flops_per_s: Any, mfu: Any) -> Any:
    """Accelerator-hours to execute ``total_flop`` at model FLOPs utilisation ``mfu`` of ``peak``."""
    f = arr("total_flop", total_flop)
    pk = arr("peak_flops_per_s", peak_flops_per_s, lo_open=True)
    return out(f / (pk * fraction("mfu", mfu) * SECONDS_PER_HOUR))


def amortised_usd_per_accelerator_hour(hardware_usd_per_accelerator: Any, depreciation_ooms_per_year: Any) -> Any:
    """Epoch AI's amortised hardware rate: value · k·ln(10) / 8766 h, with k the yearly fall in hardware
    value in orders of magnitude (the cost catalog's ``finance.hardware_depreciation_ooms_per_year``;
    0.14 OOM/yr → 0.322/yr, about a 3.1-year effective life)."""
    v = arr("hardware_usd_per_accelerator", hardware_usd_per_accelerator)
    k = arr("depreciation_ooms_per_year", depreciation_ooms_per_year, lo_open=True)
    return out(v * k * np.log(10) / HOURS_PER_YEAR)


def training_run_cost(accelerator_hours: Any, *, usd_per_accelerator_hour: Any = None,
                      amortised_usd_per_accelerator_hour: Any = None, power_w_per_accelerator: Any = 0.0,
                      pue: Any = 1.0, electricity_usd_per_kwh: Any = 0.0) -> dict[str, Any]:
    """Cost of a training run of ``accelerator_hours``.

    Either rented — ``usd_per_accelerator_hour`` (a cloud price; energy is inside it) — or owned —
    ``amortised_usd_per_accelerator_hour`` (capital, facility, staff per hour) plus energy
    = hours · W/1000 · PUE · $/kWh, with W the average all-in draw per accelerator (server share included).
    """
    h = arr("accelerator_hours", accelerator_hours)
    if (usd_per_accelerator_hour is None) == (amortised_usd_per_accelerator_hour is None):
        raise FieldError("price", "give exactly one of usd_per_accelerator_hour (rent) or "
                         "amortised_usd_per_accelerator_hour (own)")
    if usd_per_accelerator_hour is not None:
        c = h * arr("usd_per_accelerator_hour", usd_per_accelerator_hour)
        return {"method": "cloud", "compute_usd": out(c), "energy_usd": out(np.zeros_like(c)), "total_usd": out(c)}
    c = h * arr("amortised_usd_per_accelerator_hour", amortised_usd_per_accelerator_hour)
    e = (h * arr("power_w_per_accelerator", power_w_per_accelerator) / 1e3 * arr("pue", pue, lo=1.0)
         * arr("electricity_usd_per_kwh", electricity_usd_per_kwh))
    return {"method": "owned", "compute_usd": out(c), "energy_usd": out(e), "total_usd": out(c + e)}


def cost_per_million_tokens(usd_per_accelerator_hour: Any, tokens_per_s_per_accelerator: Any,
                            utilisation: Any = 1.0) -> Any:
    """USD per million tokens served: $/h · 10⁶ / (tokens/s · 3600 · utilisation).

    The tokens counted are those in ``tokens_per_s_per_accelerator``: pass output (generated) tokens
    per second for a cost per output token, or input + output for a blended figure; callers state
    which (``TOKEN_COUNTING``). Throughput should be measured at the latency SLO that is sold, not at
    maximum offline batch. ``utilisation`` is the busy fraction of paid hours.
    """
    p = arr("usd_per_accelerator_hour", usd_per_accelerator_hour)
    t = arr("tokens_per_s_per_accelerator", tokens_per_s_per_accelerator, lo_open=True)
    return out(p * 1e6 / (t * SECONDS_PER_HOUR * fraction("utilisation", utilisation)))


def tokens_per_s_from_inference_engine(model: str, hardware: str, **request: Any) -> float:
    """Output tokens/s per accelerator of the best serving plan (``chipplan.perf.serving``) for a model on
    hardware, for a request shape and latency limits (``input_len``, ``output_len``, ``slo_ttft_ms``,
    ``slo_tpot_ms``)."""
    from chipplan.perf.serving import tokens_per_s_per_accelerator

    return tokens_per_s_per_accelerator(model, hardware, **request)
