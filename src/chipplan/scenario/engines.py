"""The engine calls behind ``chipplan plan`` and the web app: thin keyword adapters over :mod:`chipplan.api`.

Each function takes the same fields as the command-line flags (``model``, ``hardware``, ``tokens``, ``gpus`` or
``days``, ...) and answers ``chipplan.api.<command>(...).to_dict()``, the keys of the command's ``--json``.
"""

from __future__ import annotations

from typing import Any


def train(*, model: str, hardware: str, tokens: float, gpus: int | None = None, days: float | None = None,
          global_batch: float | None = None, seq_len: int | None = None, precision: str = "bf16",
          price: float | None = None, **layout: Any) -> dict[str, Any]:
    """``chipplan train --json``: the planned run (layout, tokens/s, days with goodput, accelerator-hours)."""
    from chipplan import api
    from chipplan.errors import FieldError

    try:
        return api.train(model, hardware, tokens=tokens, accelerators=gpus, days=days, global_batch=global_batch,
                         seq_len=seq_len, precision=precision, price=price,
                         **{k: v for k, v in layout.items() if v is not None}).to_dict()
    except FieldError as e:  # the accelerator count is ``gpus`` here
        if e.field != "accelerators":
            raise
        raise FieldError("gpus", e.rule, e.got) from None


def serve(*, model: str, hardware: str, input_len: int, output_len: int, tp: list[int] | None = None,
          precision: list[str] | None = None, slo_ttft_ms: float | None = None, slo_tpot_ms: float | None = None,
          qps: float | None = None, tokens_per_day: float | None = None,
          price_per_hour: float | None = None) -> dict[str, Any]:
    """``chipplan serve --json``: frontier, best configuration under the SLO, accelerators and cost."""
    from chipplan import api

    return api.serve(model, hardware, input_len=input_len, output_len=output_len, tp=tp or None,
                     precision=precision or None, slo_ttft_ms=slo_ttft_ms, slo_tpot_ms=slo_tpot_ms, qps=qps,
                     tokens_per_day=tokens_per_day, price_per_hour=price_per_hour).to_dict()


def tco(*, system: str, years: float = 3.0, utilisation: float = 1.0, cloud_price: float | None = None,
        facility: str = "colo", samples: int = 0, seed: int = 0) -> dict[str, Any]:
    """``chipplan tco --json``: owned vs rented, break-even, the cost waterfall, optional bands."""
    from chipplan import api

    return api.tco(system, years=years, utilisation=utilisation, cloud_price=cloud_price, facility=facility,
                   samples=samples, seed=seed).to_dict()
