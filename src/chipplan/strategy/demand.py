"""Demand roadmap → accelerator-hours and H100-equivalents per quarter. Every engine call lives here.

Two measures of capacity are kept apart:

- **workload H100-equivalents** (what the optimiser balances): accelerators of the reference chip (H100 SXM)
  busy for the lab's workload, from the training engine (:func:`chipplan.perf.plan.estimate_run`) and the
  serving engine (:func:`chipplan.perf.serving.tokens_per_s_per_accelerator`);
- **H100e** as Epoch AI defines it (reporting): a chip's dense 8-bit peak FLOP/s ÷ the H100 SXM's
  (Epoch AI, "ai-compute-users" / "ai-chip-counts", 2025), both from the catalog.

Engine calls are cached per (model, accelerator, run settings) in the process and on disk
(:func:`disk_cached`): the key is the call's inputs, the catalog version, a digest of the engine sources and of
any model file, so a changed catalog, engine or model is recomputed and an unchanged one is read back.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chipplan import __version__, catalog
from chipplan.errors import FieldError
from chipplan.perf import plan as training_engine
from chipplan.perf import serving as serving_engine
from chipplan.specs import Model
from chipplan.units import DAYS_PER_QUARTER, HOURS_PER_QUARTER  # noqa: F401  (dm.DAYS_PER_QUARTER for callers)

REFERENCE_ACCELERATOR = "h100-sxm-80gb"  # the H100 SXM: Epoch AI's H100e unit and the default workload reference
TRAINING_ENGINE = "chipplan.perf.plan.estimate_run"
SERVING_ENGINE = "chipplan.perf.serving.tokens_per_s_per_accelerator"


def h100e_per_accelerator(accelerator_id: str) -> float:
    """Epoch H100e of one accelerator: dense fp8 (int8 when no fp8) peak FLOP/s ÷ the H100 SXM's dense fp8 peak
    (the catalog's ``REFERENCE_ACCELERATOR``, 1978.9 TFLOP/s).

    >>> h100e_per_accelerator(REFERENCE_ACCELERATOR)
    1.0
    """
    acc = catalog.accelerator(accelerator_id)
    peak = acc.peak_fp8_flops_per_s or acc.peak_int8_flops_per_s
    if not peak:
        raise FieldError(f"accelerators.{acc.id}.peak_tflops", "needs fp8 or int8 for H100e", 0)
    return float(peak) / float(catalog.accelerator(REFERENCE_ACCELERATOR).peak_fp8_flops_per_s)


CACHE_ENV = "CHIPPLAN_CACHE_DIR"  # folder of the engine-rating cache; "off" disables it


def cache_folder() -> Path | None:
    """``$CHIPPLAN_CACHE_DIR`` (``off``: no disk cache), else ``$XDG_CACHE_HOME/chipplan`` or ``~/.cache/chipplan``."""
    v = os.environ.get(CACHE_ENV, "")
    if v.lower() == "off":
        return None
    if v:
        return Path(v) / "strategy"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "chipplan" / "strategy"


@functools.lru_cache(maxsize=1)
def _engine_digest() -> str:
    """Digest of the engine sources (perf/, specs/, catalog/ code, units and this module): a change to any of them
    invalidates every cached rating."""
    h = hashlib.sha256(__version__.encode())
    root = Path(__file__).resolve().parents[1]
    files = [f for sub in ("perf", "specs", "catalog") for f in sorted((root / sub).rglob("*.py"))]
    for f in [*files, root / "units.py", root / "errors.py", Path(__file__).resolve()]:
        h.update(f.read_bytes())
    return h.hexdigest()


def _model_digest(key: str) -> str:
    """A model file's content digest (a catalog id is covered by the catalog version)."""
    if key.endswith((".yaml", ".yml")):
        try:
            return hashlib.sha256(Path(key).read_bytes()).hexdigest()
        except OSError:
            return "missing"
    return key


def disk_cached(name: str, inputs: dict[str, Any], compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``compute()`` (a JSON-able dict), read back from the cache when the same inputs, catalog version, engine
    sources and model file were rated before. Unreadable entries are recomputed; writes are atomic."""
    folder = cache_folder()
    if folder is None:
        return compute()
    blob = json.dumps({"fn": name, "inputs": inputs, "catalog": catalog.load().version, "engine": _engine_digest()},
                      sort_keys=True, default=str)
    path = folder / f"{name}-{hashlib.sha256(blob.encode()).hexdigest()[:32]}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    try:
        text = json.dumps(compute())
    except TypeError:  # not JSON-able: nothing to cache
        return compute()
    try:
        from chipplan.safeio import atomic_write_text

        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, text, fsync=False)
    except OSError:
        pass  # a read-only or full cache only costs the recomputation
    return json.loads(text)  # the same values a later read gives


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


def _estimate(model_key: str, accelerator_id: str, s: RunSettings, n: int | None) -> training_engine.RunEstimate:
    """One training-engine call through the disk cache (engine errors are raised, never cached)."""
    def compute() -> dict[str, Any]:
        return asdict(training_engine.estimate_run(model(model_key), accelerator_id, s.tokens,
                                                   days=None if n else s.days, n_accelerators=n,
                                                   global_batch_tokens=s.global_batch_tokens, seq_len=s.seq_len,
                                                   precision=s.precision))

    got = disk_cached("training_run", {"model": _model_digest(model_key), "accelerator": accelerator_id,
                                       "settings": asdict(s), "n_accelerators": n}, compute)
    return training_engine.RunEstimate(**got)


@functools.lru_cache(maxsize=256)
def training_run(model_key: str, accelerator_id: str, s: RunSettings) -> training_engine.RunEstimate:
    """The training engine's plan for ``s.tokens`` tokens by ``s.days`` (fewest accelerators that meet it).

    Raises :class:`~chipplan.errors.InfeasibleError` when no accelerator count meets the deadline.
    """
    return _estimate(model_key, accelerator_id, s, None)


@functools.lru_cache(maxsize=256)
def training_run_at(model_key: str, accelerator_id: str, s: RunSettings, n_accelerators: int
                    ) -> training_engine.RunEstimate:
    """The training engine's plan for the same run on ``n_accelerators`` of ``accelerator_id`` (its duration)."""
    return _estimate(model_key, accelerator_id, s, int(n_accelerators))


def workload_ratio(model_key: str, accelerator_id: str, s: RunSettings,
                   reference: str = REFERENCE_ACCELERATOR) -> float:
    """Workload H100-equivalents of one ``accelerator_id`` on the lab's run, at equal cluster size: H_ref / H_acc.

    H is the training engine's accelerator-hours for the same run (tokens, batch, precision) on the same number
    of accelerators: the count the reference chip needs to meet the deadline. The ratio is that of effective
    tokens/s per accelerator, tokens ÷ (H × 3600): the best layout's achieved throughput at that cluster size,
    times its goodput. When ``accelerator_id`` cannot run the job at that size (memory), its own deadline-sized
    plan is used. Demand is counted in reference accelerator-hours on the same basis.
    """
    from chipplan.errors import ChipplanError

    ref = training_run(model_key, reference, s)
    try:
        acc = training_run_at(model_key, accelerator_id, s, ref.n_accelerators)
    except ChipplanError:
        acc = training_run(model_key, accelerator_id, s)
    return float(ref.accelerator_hours / acc.accelerator_hours)


@functools.lru_cache(maxsize=64)
def serving_tokens_per_s(model_key: str, accelerator_id: str, *, input_len: int = 2048, output_len: int = 512,
                         slo_ttft_ms: float | None = None, slo_tpot_ms: float | None = None) -> float:
    """Output tokens/s per accelerator of the serving engine's best plan for ``model_key`` on ``accelerator_id``."""
    def compute() -> dict[str, Any]:
        return {"tps": float(np.asarray(serving_engine.tokens_per_s_per_accelerator(
            model_key, accelerator_id, input_len=input_len, output_len=output_len, slo_ttft_ms=slo_ttft_ms,
            slo_tpot_ms=slo_tpot_ms)))}

    got = disk_cached("serving", {"model": _model_digest(model_key), "accelerator": accelerator_id,
                                  "input_len": input_len, "output_len": output_len, "slo_ttft_ms": slo_ttft_ms,
                                  "slo_tpot_ms": slo_tpot_ms}, compute)
    return float(got["tps"])


@dataclass(frozen=True, kw_only=True)
class TrainingRun:
    name: str
    accelerator_hours: float  # on the reference accelerator
    start_q: int
    deadline_q: int


@dataclass(frozen=True, kw_only=True)
class BacklogJob:
    """A training run as a job with a backlog: its work (``need_h100e`` workload H100e busy over [start, deadline))
    may be done in any quarter from its start; what is not done by the deadline carries over, is worked off on the
    run's cluster (at most ``need_h100e`` per quarter) and costs ``delay_usd_per_day`` per day late, where days
    late = backlog at the deadline ÷ the cluster (the days that cluster needs to finish it)."""

    name: str
    start_q: int
    deadline_q: int
    need_h100e: float  # cluster that finishes the run on time at the median training multiplier
    delay_usd_per_day: float

    def __post_init__(self) -> None:
        if not self.delay_usd_per_day > 0:
            raise FieldError(f"demand.training.{self.name}.delay_cost_usd_per_day", "must be > 0",
                             self.delay_usd_per_day)
        if not self.need_h100e > 0:
            raise FieldError(f"demand.training.{self.name}.accelerator_hours", "must be > 0", self.need_h100e)


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
