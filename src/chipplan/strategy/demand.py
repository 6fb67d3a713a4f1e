"""Demand roadmap → accelerator-hours and H100-equivalents per quarter. Every engine call lives here.

Two measures of capacity are kept apart:

- **workload H100-equivalents** (what the optimiser balances): accelerators of the reference chip (H100 SXM)
  busy for the lab's workload, from the training engine (:func:`chipplan.perf.plan.estimate_run`) and the
  serving engine (:func:`chipplan.perf.serving.tokens_per_s_per_accelerator`);
- **H100e** as Epoch AI defines it (reporting): a chip's dense 8-bit peak FLOP/s ÷ 1.979e15
  (Epoch AI, "ai-compute-users" / "ai-chip-counts", 2025), from the catalog.

Engine calls are cached per (model, accelerator, run settings): a scenario build calls the training engine
once per training run and once per catalog accelerator to rate, each call a few seconds at most.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from chipplan import catalog
from chipplan.errors import FieldError
from chipplan.perf import plan as training_engine
from chipplan.perf import serving as serving_engine
from chipplan.specs import Model
from chipplan.units import DAYS_PER_QUARTER, HOURS_PER_QUARTER  # noqa: F401  (dm.DAYS_PER_QUARTER for callers)

H100E_FLOPS_PER_S = 1.979e15  # dense 8-bit peak of an H100 SXM, Epoch AI's unit
REFERENCE_ACCELERATOR = "h100-sxm-80gb"
TRAINING_ENGINE = "chipplan.perf.plan.estimate_run"
SERVING_ENGINE = "chipplan.perf.serving.tokens_per_s_per_accelerator"


def h100e_per_accelerator(accelerator_id: str) -> float:
    """Epoch H100e of one accelerator: dense fp8 (int8 when no fp8) peak FLOP/s ÷ 1.979e15."""
    acc = catalog.accelerator(accelerator_id)
    peak = acc.peak_fp8_flops_per_s or acc.peak_int8_flops_per_s
    if not peak:
        raise FieldError(f"accelerators.{acc.id}.peak_tflops", "needs fp8 or int8 for H100e", 0)
    return float(peak) / H100E_FLOPS_PER_S


@functools.lru_cache(maxsize=64)
def model(key: str) -> Model:
    """A catalog model id, or the path of a YAML file with a ``models:`` section (loaded once per process)."""
    return catalog.model(key)


@dataclass(frozen=True, kw_only=True)
class RunSettings:
    """What the training engine needs besides model and accelerator (hashable, so calls can be cached)."""

    tokens: float
    days: float
    global_batch_tokens: float | None = None
    seq_len: int | None = None
    precision: str = "bf16"


@functools.lru_cache(maxsize=256)
def training_run(model_key: str, accelerator_id: str, s: RunSettings) -> training_engine.RunEstimate:
    """The training engine's plan for ``s.tokens`` tokens by ``s.days`` (fewest accelerators that meet it).

    Raises :class:`~chipplan.errors.InfeasibleError` when no accelerator count meets the deadline.
    """
    return training_engine.estimate_run(model(model_key), accelerator_id, s.tokens, days=s.days,
                                        global_batch_tokens=s.global_batch_tokens, seq_len=s.seq_len,
                                        precision=s.precision)


def workload_ratio(model_key: str, accelerator_id: str, s: RunSettings,
                   reference: str = REFERENCE_ACCELERATOR) -> float:
    """Workload H100-equivalents of one ``accelerator_id`` on the lab's run: H_ref / H_acc.

    H is the training engine's accelerator-hours for the same run (tokens, deadline, batch, precision), so the
    ratio is that of effective tokens/s per accelerator, tokens ÷ (H × 3600): achieved throughput of the
    best layout at the accelerator count each chip needs, times its goodput. Demand is counted in reference
    accelerator-hours on the same basis, so demand ÷ ratio is the engine's own estimate on ``accelerator_id``.
    """
    acc = training_run(model_key, accelerator_id, s).accelerator_hours
    ref = training_run(model_key, reference, s).accelerator_hours
    return float(ref / acc)


@functools.lru_cache(maxsize=64)
def serving_tokens_per_s(model_key: str, accelerator_id: str, *, input_len: int = 2048, output_len: int = 512,
                         slo_ttft_ms: float | None = None, slo_tpot_ms: float | None = None) -> float:
    """Output tokens/s per accelerator of the serving engine's best plan for ``model_key`` on ``accelerator_id``."""
    return float(np.asarray(serving_engine.tokens_per_s_per_accelerator(
        model_key, accelerator_id, input_len=input_len, output_len=output_len, slo_ttft_ms=slo_ttft_ms,
        slo_tpot_ms=slo_tpot_ms)))


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
