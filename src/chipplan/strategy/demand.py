"""Demand roadmap → accelerator-hours and H100-equivalents per quarter. Every engine call lives here.

Two measures of capacity are kept apart:

- **workload H100-equivalents** (what the optimiser balances): accelerators of the reference chip (H100 SXM)
  busy for the lab's workload, from the training and inference engines;
- **H100e** as Epoch AI defines it (reporting): a chip's dense 8-bit peak FLOP/s ÷ 1.979e15
  (Epoch AI, "ai-compute-users" / "ai-chip-counts", 2025), from the catalog.

Until an engine function exists the calls raise :class:`ChipplanError`, and callers may pass accelerator-hours
(or throughputs) directly.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from chipplan.errors import ChipplanError, FieldError

H100E_FLOPS_PER_S = 1.979e15  # dense 8-bit peak of an H100 SXM, Epoch AI's unit
HOURS_PER_QUARTER = 365.25 * 24 / 4
DAYS_PER_QUARTER = 365.25 / 4
REFERENCE_ACCELERATOR = "h100-sxm-80gb"


def h100e_per_accelerator(accelerator_id: str) -> float:
    """Epoch H100e of one accelerator: dense fp8 (int8 when no fp8) peak FLOP/s ÷ 1.979e15."""
    from chipplan import catalog

    acc = catalog.accelerator(accelerator_id)
    peak = acc.peak_fp8_flops_per_s or acc.peak_int8_flops_per_s
    if not peak:
        raise FieldError(f"accelerators.{acc.id}.peak_tflops", "needs fp8 or int8 for H100e", 0)
    return float(peak) / H100E_FLOPS_PER_S


def _engine(module: str, name: str) -> Any:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise ChipplanError(f"{module}.{name} is not available in this build; give accelerator-hours "
                            "or throughput directly in the scenario") from None


def engine_available(module: str, name: str) -> bool:
    try:
        _engine(module, name)
        return True
    except ChipplanError:
        return False


def training_run(model_id: str, accelerator_id: str, tokens: float, days: float) -> tuple[float, float]:
    """(accelerator-hours, tokens/s per accelerator) of one training run, from the training engine."""
    from chipplan import catalog

    estimate_run = _engine("chipplan.perf.plan", "estimate_run")
    r = estimate_run(catalog.model(model_id), catalog.accelerator(accelerator_id), tokens, days=days)
    return float(np.asarray(r.accelerator_hours)), float(np.asarray(r.tokens_per_s_per_accelerator))


def serving_tokens_per_s(model_id: str, accelerator_id: str) -> float:
    """Output tokens/s per accelerator for serving ``model_id`` on ``accelerator_id``, from the inference engine."""
    from chipplan import catalog

    fn = _engine("chipplan.perf.serving", "tokens_per_s_per_accelerator")
    return float(np.asarray(fn(catalog.model(model_id), catalog.accelerator(accelerator_id))))


def workload_ratio(model_id: str, accelerator_id: str, tokens: float, days: float,
                   reference: str = REFERENCE_ACCELERATOR) -> float:
    """Workload H100-equivalents of one ``accelerator_id``: engine training throughput ratio to the reference."""
    _, tps = training_run(model_id, accelerator_id, tokens, days)
    _, ref = training_run(model_id, reference, tokens, days)
    return tps / ref


@dataclass(frozen=True, kw_only=True)
class TrainingRun:
    name: str
    accelerator_hours: float  # on the reference accelerator
    start_q: int
    deadline_q: int


@dataclass(frozen=True, kw_only=True)
class Serving:
    name: str
    tokens_per_s: float  # average output tokens/s at t = 0
    growth_per_year: float
    peak_to_average: float
    tokens_per_s_per_accelerator: float  # on the reference accelerator


def training_path(runs: list[TrainingRun], quarters: int) -> np.ndarray:
    """Reference accelerators busy per quarter: each run's hours spread evenly over [start, deadline)."""
    out = np.zeros(quarters)
    for r in runs:
        if not 0 <= r.start_q < r.deadline_q <= quarters:
            raise FieldError(f"demand.training.{r.name}", f"needs 0 <= start_quarter < deadline_quarter <= "
                             f"{quarters}", (r.start_q, r.deadline_q))
        out[r.start_q:r.deadline_q] += r.accelerator_hours / ((r.deadline_q - r.start_q) * HOURS_PER_QUARTER)
    return out


def serving_path(items: list[Serving], quarters: int) -> np.ndarray:
    """Reference accelerators needed per quarter: tokens/s × growth^(t/4) × peak/average ÷ tokens/s per chip."""
    t = np.arange(quarters) + 0.5
    out = np.zeros(quarters)
    for s in items:
        out += (s.tokens_per_s * (1 + s.growth_per_year) ** (t / 4) * s.peak_to_average
                / s.tokens_per_s_per_accelerator)
    return out
