"""The Python front door to chipplan: one function per question, one typed result per answer.

Every command of the ``chipplan`` command line is a thin layer over a function here, so the two cannot
disagree: ``chipplan train ... --json`` prints ``chipplan.train(...).to_dict()`` for the same arguments.
Keyword arguments mirror the command-line flags (``--global-batch`` is ``global_batch=``, ``--slo-tpot-ms`` is
``slo_tpot_ms=``).

=====================  ==================================================================================
function               question
=====================  ==================================================================================
``train``              how long (``accelerators=``) or how many accelerators (``days=``) for a training run
``compare``            the same training run on several chips, on one cost basis
``serve``              the throughput-latency frontier, the best configuration under an SLO, its cost
``cost_per_token``     USD per million tokens from a throughput and an hourly price
``tco``                owning a system against renting it: total cost, $/accelerator-hour, break-even
``strategy``           a sourcing portfolio under uncertainty, from a scenario file
``predict``            every row of a published-measurement table (a pandas DataFrame), predictions beside it
=====================  ==================================================================================

Results are frozen objects: headline numbers as typed attributes, ``.to_dict()`` (exactly the keys the
command's ``--json`` prints, with ``chipplan_version`` and ``catalog_version``) and ``.to_frame()`` (a
pandas DataFrame of the result's main table). Units are SI or named in the key (``_usd``, ``_gib``,
``_ms``); headline numbers carry an 80 % interval as ``<key>_low`` / ``<key>_high``.

Examples
--------
>>> import chipplan
>>> r = chipplan.train("llama-3.1-8b", "h100-sxm-80gb", tokens=1e12, accelerators=64)
>>> r.n_accelerators, r.layout["tp"] * r.layout["pp"] * r.layout["dp"] * r.layout["cp"]
(64, 64)
>>> r.days_low < r.days < r.days_high
True
>>> sorted(k for k in r.to_dict() if k.endswith("_version"))
['catalog_version', 'chipplan_version']

Bad input raises a ``chipplan.errors.ChipplanError`` whose message names the argument:

>>> chipplan.train("llama-3.1-8b", "h100-sxm-80gb", tokens=-1, accelerators=8)
Traceback (most recent call last):
...
chipplan.errors.FieldError: tokens: must be in [1, 1e+16] tokens, got -1

Sizes, money and physical quantities have plausible ranges (``chipplan.specs.limits``, the same table the
command line and the scenario files use); a value outside is refused with the range.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chipplan import catalog
from chipplan.errors import FieldError, InfeasibleError
from chipplan.specs import limits
from chipplan.units import GB, GIB

if TYPE_CHECKING:  # pandas is imported by the functions that build frames, so `import chipplan` stays fast
    import pandas as pd

    from chipplan.io.write import TablePrediction

__all__ = ["CompareResult", "CostPerTokenResult", "ServeResult", "StrategyResult", "TcoResult", "TrainResult",
           "compare", "cost_per_token", "predict", "serve", "strategy", "tco", "train", "versions"]

# ---------------------------------------------------------------------------------------------------------------
# One output vocabulary. Engines name some outputs after GPUs and in mixed memory units; every result the API
# returns speaks of accelerators and states memory in GiB in the key. (The predict/validate contract keeps its
# historical keys; see ``chipplan.api.contract_aliases``.)
# ---------------------------------------------------------------------------------------------------------------
_RENAME = {
    "tokens_per_s_per_gpu": ("tokens_per_s_per_accelerator", 1.0),
    "output_tokens_per_s_per_gpu": ("output_tokens_per_s_per_accelerator", 1.0),
    "memory_per_gpu_bytes": ("memory_per_accelerator_gib", 1.0 / GIB),
    "memory_per_gpu_gb": ("memory_per_accelerator_gib", GB / GIB),
    "memory_shortfall_bytes": ("memory_shortfall_gib", 1.0 / GIB),
    "memory_shortfall_gb": ("memory_shortfall_gib", GB / GIB),
}


def vocabulary(obj: Any) -> Any:
    """``obj`` with engine keys renamed to the output vocabulary (recursively; values converted).

    >>> vocabulary({"memory_per_gpu_gb": 1.073741824, "best": {"output_tokens_per_s_per_gpu_low": 5.0}})
    {'memory_per_accelerator_gib': 1.0, 'best': {'output_tokens_per_s_per_accelerator_low': 5.0}}
    """
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            key, scale = str(k), 1.0
            for old, (new, s) in _RENAME.items():
                if key == old or key in (f"{old}_low", f"{old}_high"):
                    key, scale = new + key[len(old):], s
                    break
            v = vocabulary(v)
            if scale != 1.0 and isinstance(v, int | float) and not isinstance(v, bool):
                v = float(v) * scale
            out[key] = v
        return out
    if isinstance(obj, list | tuple):
        return [vocabulary(v) for v in obj]
    return obj


# Keys added beside the historical ones in `chipplan predict` rows: the contract is extended, not broken.
_CONTRACT_ALIASES = {
    "tokens_per_s_per_gpu": ("tokens_per_s_per_accelerator", 1.0),
    "output_tokens_per_s_per_gpu": ("output_tokens_per_s_per_accelerator", 1.0),
    "memory_per_gpu_bytes": ("memory_per_accelerator_gib", 1.0 / GIB),
    "ttft_ms": ("ttft_p50_ms", 1.0),
}

#: (historical key, output-vocabulary key, scale) for each value and its interval bounds, in the order added.
_ALIAS_KEYS = tuple((old + suffix, new + suffix, scale) for old, (new, scale) in _CONTRACT_ALIASES.items()
                    for suffix in ("", "_low", "_high"))


def contract_aliases(pred: dict[str, Any] | None) -> dict[str, Any] | None:
    """Add the output-vocabulary names beside a predict row's historical keys (which stay).

    The inference engine's ``ttft_ms`` of a table row is its median time to first token, so it is also
    ``ttft_p50_ms``.

    >>> contract_aliases({"tokens_per_s_per_gpu": 10.0, "tokens_per_s_per_gpu_low": 8.0})
    {'tokens_per_s_per_gpu': 10.0, 'tokens_per_s_per_gpu_low': 8.0, 'tokens_per_s_per_accelerator': 10.0, \
'tokens_per_s_per_accelerator_low': 8.0}
    """
    if not pred:
        return pred
    add = {}
    for old, new, scale in _ALIAS_KEYS:
        v = pred.get(old, ...)
        if v is ...:
            continue
        add[new] = v * scale if isinstance(v, int | float) and v is not None and scale != 1 else v
    pred.update(add)
    return pred


def _in_range(**args: tuple[str, Any]) -> None:
    """Each argument within its quantity's plausible range: ``_in_range(tokens=("training_tokens", tokens))``."""
    for name, (quantity, value) in args.items():
        limits.check(quantity, value, field=name)


# The training engine's parameter names → the arguments of train and compare that feed them.
_TRAIN_ARGS = {"n_accelerators": "accelerators", "global_batch_tokens": "global_batch"}


@contextlib.contextmanager
def _argument_names(table: Mapping[str, str]) -> Iterator[None]:
    """Re-raise an engine's FieldError under the argument that fed the field (``n_accelerators`` →
    ``accelerators``), so messages speak the caller's words."""
    try:
        yield
    except FieldError as e:
        if e.field not in table:
            raise
        raise FieldError(table[e.field], e.rule, e.got) from None


def _one_of_count_or_days(accelerators: Any, days: Any) -> None:
    if (accelerators is None) == (days is None):
        raise FieldError("accelerators", "give the accelerator count (--accelerators) or the deadline (--days), "
                         "exactly one")


def versions() -> dict[str, str]:
    """The stamps every result carries: ``chipplan_version`` and ``catalog_version`` (a hash of the catalog
    files in use), so a result can be reproduced."""
    from chipplan import __version__

    return {"chipplan_version": __version__, "catalog_version": catalog.load().version}


def _frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """A DataFrame with one column per scalar key; nested dicts flattened as ``parent_child``; lists joined."""
    import pandas as pd

    def flat(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in d.items():
            name = f"{prefix}{k}"
            if isinstance(v, Mapping):
                out.update(flat(v, f"{name}_"))
            elif isinstance(v, list | tuple):
                if all(not isinstance(x, Mapping | list | tuple) for x in v):
                    out[name] = ",".join(str(x) for x in v)
            else:
                out[name] = v
        return out

    return pd.DataFrame([flat(r) for r in rows])


@dataclass(frozen=True, kw_only=True)
class _Result:
    data: Mapping[str, Any] = field(repr=False, compare=True)

    def to_dict(self) -> dict[str, Any]:
        """The result as plain Python data: the same keys and values as the command's ``--json``."""
        return copy.deepcopy(dict(self.data))

    def __getitem__(self, key: str) -> Any:
        return self.data[key]


def _z80() -> float:
    from chipplan.perf.efficiency import Z80

    return float(Z80)


def _log_sd(family: str, *, n_experts: float, n_accelerators: float, precision: str, serving: bool) -> float:
    """Standard deviation of log(measured/predicted) the engines use for this family and regime."""
    import numpy as np

    from chipplan.perf import efficiency

    eff = efficiency.for_families(np.array([family], dtype=object))
    sd = efficiency.interval_log_sd(eff.uncertainty_log_sd, n_experts=n_experts, n_gpu=n_accelerators,
                                    precision=np.array([precision], dtype=object), serving=serving)
    return float(np.asarray(sd).ravel()[0])


def _band(value: float | None, sd: float) -> tuple[float | None, float | None]:
    """80 % interval ``value · exp(∓Z80·sd)``. The band is symmetric in log space, so it is the same for a
    throughput and for the times, counts and costs that scale as its inverse."""
    if value is None or not math.isfinite(value):
        return None, None
    f = math.exp(_z80() * sd)
    return value / f, value * f


def _with_band(out: dict[str, Any], key: str, sd: float) -> None:
    out[f"{key}_low"], out[f"{key}_high"] = _band(out.get(key), sd)


def resolve_hardware(hardware: Any) -> tuple[Any, Any]:
    """An accelerator or system: a catalog id, a spec, or ``(accelerator, system)``."""
    from chipplan.specs import Accelerator, System

    if isinstance(hardware, tuple):
        return hardware
    if isinstance(hardware, Accelerator):
        return hardware, None
    if isinstance(hardware, System):
        return catalog.accelerator(hardware.accelerator), hardware
    return catalog.hardware(str(hardware))


# ---------------------------------------------------------------------------------------------------------------
# train
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class TrainResult(_Result):
    """A planned training run. Times in days, throughput in tokens/s per accelerator, memory in GiB."""

    model: str
    hardware: str
    precision: str
    n_accelerators: int
    layout: Mapping[str, Any]
    tokens_per_s_per_accelerator: float
    mfu: float
    days: float
    days_low: float
    days_high: float
    accelerator_hours: float
    cost_usd: float | None

    def to_frame(self) -> pd.DataFrame:
        """One row: every scalar of the plan, the layout as ``layout_tp`` … (ranked layouts not included)."""
        return _frame([{k: v for k, v in self.data.items() if k not in ("ranked_layouts", "inputs")}])


def train(model: Any, hardware: Any, *, tokens: float, accelerators: int | None = None, days: float | None = None,
          global_batch: float | None = None, seq_len: int | None = None, precision: str = "bf16",
          price: float | None = None, top: int = 0, gpus: int | None = None, framework: str | None = None,
          **layout: int | str | None) -> TrainResult:
    """Plan a training run: the fastest layout that fits, tokens/s, wall-clock days with goodput, cost.

    Parameters
    ----------
    model : str or chipplan.specs.Model
        Catalog id or alias, a YAML file with a ``models:`` section, or a ``Model``.
    hardware : str or chipplan.specs.Accelerator or chipplan.specs.System
        Catalog accelerator or system id, or a spec.
    tokens : float
        Training tokens.
    accelerators : int, optional
        Accelerator count: how long will it take? (``--accelerators``; ``gpus=`` is the old name.)
    days : float, optional
        Deadline: how many accelerators to finish in time? Give exactly one of ``accelerators`` and ``days``.
    global_batch : float, optional
        Global batch in tokens (default 4M, 16M for models of 100B parameters or more).
    seq_len : int, optional
        Sequence length (default ``min(max_seq_len, 8192)``).
    precision : str
        Matmul precision: ``bf16``, ``fp16``, ``fp8``, ``fp4``; MFU is against that precision's dense peak.
    price : float, optional
        USD per accelerator-hour; adds ``cost_usd`` = accelerator-hours × price.
    **layout : int or str, optional
        Fix part of the layout by dimension name (``tp``, ``pp``, ``cp``, ``ep``, ``vpp``, ``micro_batch``,
        ``zero_stage``, ``recompute``: the dimensions of ``chipplan.specs.layout.TRAINING``); the rest is searched.
    top : int
        Also list the ``top`` fastest layouts that fit (``ranked_layouts``).
    framework : str, optional
        Software stack (``--framework``): a profile of catalog/data/stacks.yaml (``chipplan.perf.stacks.names()``)
        or framework text such as ``"NeMo 24.07"``; what it could run limits the layouts searched. An unrecognised
        stack gets the era default and a wider interval, with a note. Default: a stack with every capability.

    Returns
    -------
    TrainResult
        ``days`` is ``tokens / (tokens/s per accelerator × accelerators) / goodput`` in days; ``days_low`` /
        ``days_high`` (and the ``tokens_per_s_per_accelerator``, ``accelerator_hours``, ``cost_usd`` bands) are
        the 80 % interval from the hardware family's out-of-sample error, ``exp(±1.2816·sd)``.

    Examples
    --------
    >>> r = train("llama-3.1-8b", "h100-sxm-80gb", tokens=1e12, accelerators=64, price=2.5)
    >>> round(r.cost_usd / r.accelerator_hours, 2)
    2.5
    >>> bool(r.to_frame().loc[0, "layout_tp"] == r.layout["tp"])
    True
    """
    from chipplan.perf.plan import estimate_run

    if gpus is not None:
        if accelerators is not None and accelerators != gpus:
            raise FieldError("accelerators", "give --accelerators or its old name --gpus, not both", gpus)
        accelerators = gpus
    _in_range(tokens=("training_tokens", tokens), accelerators=("accelerators", accelerators),
              days=("deadline_days", days), global_batch=("batch_tokens", global_batch),
              seq_len=("sequence_tokens", seq_len), price=("usd_per_accelerator_hour", price),
              top=("top_layouts", top))
    _one_of_count_or_days(accelerators, days)
    m = catalog.model(model) if isinstance(model, str) else model
    acc, system = resolve_hardware(hardware)
    from chipplan.specs.layout import TRAINING

    unknown = sorted(set(layout) - {d.name for d in TRAINING})
    if unknown:
        raise FieldError(unknown[0], "is not an argument of train; the layout dimensions are "
                         + ", ".join(d.name for d in TRAINING))
    layout = {d.name: layout.get(d.name) for d in TRAINING}
    notes: list[str] = []
    with _argument_names(_TRAIN_ARGS):
        try:
            r = estimate_run(m, acc, tokens, n_accelerators=accelerators, days=days,
                             global_batch_tokens=global_batch, seq_len=seq_len, precision=precision, system=system,
                             layout=layout, framework=framework)
        except InfeasibleError as e:
            if accelerators is None or not str(e).startswith("layout:"):
                raise
            r, note = _round_count(e, m, acc, tokens, accelerators=int(accelerators), global_batch=global_batch,
                                   seq_len=seq_len, precision=precision, system=system, layout=layout)
            notes.append(note)
    warn = _small_batch_warning(r, m, acc, tokens, precision=precision, system=system, layout=layout,
                                seq_len=seq_len)
    if warn:
        notes.append(warn)
    out = vocabulary(r.to_dict())
    out["notes"] = notes
    sd = _log_sd(acc.family, n_experts=float(m.n_experts or 0), n_accelerators=r.n_accelerators,
                 precision=precision, serving=False)
    if not r.stack_known:
        from chipplan.perf import stacks

        sd = math.hypot(sd, stacks.table().unknown_log_sd)
        notes.append(f"framework: {framework!r} is not a stack profile chipplan recognises; planned with the era "
                     f"default {r.stack!r} and a wider interval")
    lo, hi = _band(r.tokens_per_s_per_accelerator, sd)
    out["tokens_per_s_per_accelerator_low"], out["tokens_per_s_per_accelerator_high"] = lo, hi
    # Time and accelerator-hours scale inversely with throughput: the slow end of the throughput band is the
    # long end of the time band.
    for key in ("days", "days_ideal", "accelerator_hours"):
        _with_band(out, key, sd)
    if days is not None:  # deadline sizing: the count needed scales the same way, rounded up
        lo_n, hi_n = _band(float(r.n_accelerators), sd)
        out["n_accelerators_low"], out["n_accelerators_high"] = math.floor(lo_n), math.ceil(hi_n)
    out["interval"] = f"80 % interval from the hardware family's log error, sd {sd:.3f}"
    out.update(versions())
    out["inputs"] = {"model": model if isinstance(model, str) else m.name,
                     "hardware": hardware if isinstance(hardware, str) else (system or acc).id, "tokens": tokens,
                     "accelerators": accelerators, "days": days, "global_batch_tokens": global_batch,
                     "seq_len": seq_len, "precision": precision, "framework": framework,
                     "layout": {k: v for k, v in layout.items() if v is not None}}
    if top:
        from chipplan.perf.plan import fixed_layout, rank_layouts

        ranked = rank_layouts(m, acc, r.n_accelerators, global_batch_seqs=r.global_batch_seqs,
                              seq_len=r.seq_len, precision=precision, system=system, top=top,
                              fixed=fixed_layout(layout), framework=framework)
        out["ranked_layouts"] = vocabulary([x for x in ranked if x["fits_in_memory"]])
    cost = None
    if price is not None:
        from chipplan.cost.work import training_run_cost

        out["price_usd_per_accelerator_hour"] = price
        cost = float(training_run_cost(r.accelerator_hours, usd_per_accelerator_hour=price)["total_usd"])
        out["cost_usd"] = cost
        _with_band(out, "cost_usd", sd)
    return TrainResult(data=out, model=r.model, hardware=r.hardware, precision=r.precision,
                       n_accelerators=r.n_accelerators, layout=dict(r.layout),
                       tokens_per_s_per_accelerator=r.tokens_per_s_per_accelerator, mfu=r.mfu, days=r.days,
                       days_low=out["days_low"], days_high=out["days_high"],
                       accelerator_hours=r.accelerator_hours, cost_usd=cost)


def _divisors(n: int) -> list[int]:
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))


ROUND_COUNT_TRIES = 8  # global batches tried, nearest first, before giving up on an accelerator count


def _round_count(err: InfeasibleError, m: Any, acc: Any, tokens: float, *, accelerators: int,
                 global_batch: float | None, seq_len: int | None, precision: str, system: Any,
                 layout: dict[str, Any]) -> tuple[Any, str]:
    """A plan on exactly ``accelerators`` with the nearest global batch that the data-parallel size divides.

    ``dp`` is ``accelerators / (tp·pp·cp)``, so it is a divisor of the count, and ``dp × micro-batch`` must divide
    the global batch in sequences; the candidates are the multiples of each divisor nearest the requested batch,
    tried nearest first. When none works the original error is raised with the nearest counts that do.
    """
    from chipplan.perf.plan import default_global_batch_tokens, estimate_run

    s = int(seq_len if seq_len is not None else min(m.max_seq_len, 8192))
    gbt = float(global_batch if global_batch is not None else default_global_batch_tokens(m))
    gbs = max(round(gbt / s), 1)
    cands = set()
    for d in _divisors(accelerators):
        if d > 4 * gbs:
            break
        for k in (math.floor(gbs / d), math.ceil(gbs / d)):
            if k >= 1 and k * d != gbs:
                cands.add(k * d)
    for g in sorted(cands, key=lambda g: (abs(g - gbs), g))[:ROUND_COUNT_TRIES]:
        try:
            r = estimate_run(m, acc, tokens, n_accelerators=accelerators, global_batch_tokens=float(g * s),
                             seq_len=s, precision=precision, system=system, layout=layout)
        except InfeasibleError:
            continue
        dp = r.layout["dp"]
        return r, (f"global batch {g:,} sequences ({g * s / 1e6:.3g}M tokens) instead of the requested {gbs:,}: "
                   f"the nearest that data parallelism dp={dp} × micro-batch {r.layout['micro_batch']} divides on "
                   f"{accelerators:,} accelerators (set it with --global-batch)")
    step = 64 if accelerators >= 64 else 8
    near = max(step, round(accelerators / step) * step)
    hint = f"; try another --global-batch, or {near:,} accelerators" if near != accelerators else \
        "; try another --global-batch"
    raise InfeasibleError(f"{err}{hint}") from None


def _small_batch_warning(r: Any, m: Any, acc: Any, tokens: float, *, precision: str, system: Any,
                         layout: dict[str, Any], seq_len: int | None) -> str | None:
    """A warning when the batch per data-parallel replica is so small that the pipeline bubble and exposed
    communication take a large share of each step: the MFU at 4× the global batch, for comparison."""
    from chipplan.perf.plan import estimate_run

    b = r.breakdown_s
    total = sum(b.values()) or 1.0
    idle = (b.get("bubble", 0.0) + b.get("dp_exposed", 0.0) + b.get("pp_p2p", 0.0)) / total
    per_replica = r.global_batch_seqs / max(r.layout["dp"], 1)
    if idle < SMALL_BATCH_IDLE_SHARE:
        return None
    try:
        big = estimate_run(m, acc, tokens, n_accelerators=r.n_accelerators,
                           global_batch_tokens=4.0 * r.global_batch_seqs * r.seq_len, seq_len=r.seq_len,
                           precision=precision, system=system, layout=layout)
    except (InfeasibleError, FieldError):
        return None
    if big.mfu < 1.1 * r.mfu:
        return None
    return (f"warning: {per_replica:g} sequences per data-parallel replica leave {100 * idle:.0f} % of each step to "
            f"the pipeline bubble and exposed communication (MFU {r.mfu:.2f}); a 4x global batch "
            f"({4 * r.global_batch_seqs * r.seq_len / 1e6:.3g}M tokens, --global-batch) gives MFU {big.mfu:.2f}")


# Share of a step spent in the pipeline bubble, pipeline transfers and exposed data-parallel communication above
# which the batch per replica is reported as too small (a usability threshold, not a model parameter).
SMALL_BATCH_IDLE_SHARE = 0.25


# ---------------------------------------------------------------------------------------------------------------
# compare
# ---------------------------------------------------------------------------------------------------------------
PRICE_TERMS = ("on-demand", "1yr", "3yr")  # the cloud terms of catalog/data/cost/cloud.yaml


def hourly_rate(acc: Any, basis: str, term: str, system: Any = None) -> tuple[float | None, str]:
    """$/accelerator-hour for ``acc_id`` on one basis for every chip, so runs compare like for like.

    ``owned``: the 3-year ownership rate of ``system`` when it has a price, else of the first catalog system
    built from the chip (servers, network share, facility, power, staff, financing; ``chipplan tco``).
    ``cloud``: the catalog's cloud price for ``term`` (hyperscalers, else neoclouds). None when the
    catalog has neither.
    """
    from chipplan.catalog import cost as cost_catalog
    from chipplan.cost import tco as tc

    cat = cost_catalog.load()
    if isinstance(acc, str):
        acc = catalog.accelerator(acc)
    acc_id = acc.id
    if basis == "owned":
        for sys_ in [system] * (system is not None) + list(catalog.load().systems.values()):
            if sys_.accelerator == acc_id and sys_.price_usd:
                # The owned rate does not depend on the cloud price; 1.0 only satisfies the shared parameter set.
                return tc.owned_rate(sys_, acc, cat, years=3.0, cloud_price=1.0), f"owned {sys_.id}, 3 y"
        return None, "no system price in the catalog"
    for kind in cost_catalog.CLOUD_KINDS:
        try:
            rate, _ = tc.cloud_rate(cat, acc_id, term, kind=kind)
            return rate, f"{kind} cloud, {term}"
        except FieldError:
            continue
    return None, f"no {term} cloud price in the catalog"


@dataclass(frozen=True, kw_only=True)
class CompareResult(_Result):
    """One training run on several chips. ``rows`` holds one dict per chip (``status`` ok or infeasible)."""

    model: str
    reference: str | None
    rows: tuple[Mapping[str, Any], ...]

    def to_frame(self) -> pd.DataFrame:
        """One row per chip: accelerators, days, accelerator-hours, cost (with 80 % bands), layout columns."""
        return _frame(self.data["rows"])


def compare(model: Any, hardware: Sequence[Any], *, tokens: float, accelerators: int | None = None,
            days: float | None = None, global_batch: float | None = None, precision: str = "bf16",
            basis: str = "owned", price_term: str = "3yr", gpus: int | None = None) -> CompareResult:
    """The same training run on several chips: accelerators, days, accelerator-hours and cost on one basis.

    Parameters
    ----------
    model : str or Model
        As for :func:`train`.
    hardware : list of str
        Accelerator or system ids (``--hardware`` repeated).
    tokens, accelerators, days, global_batch, precision
        As for :func:`train`; ``accelerators`` is the same count on every chip, ``days`` sizes each chip.
    basis : {"owned", "cloud"}
        ``owned``: 3-year TCO rate of the chip's catalog system; ``cloud``: the catalog's cloud price.
    price_term : {"on-demand", "1yr", "3yr"}
        Cloud price term with ``basis="cloud"``.

    Returns
    -------
    CompareResult
        ``relative_throughput`` is reference accelerator-hours / this chip's (workload H100-equivalents when
        the H100 is in the list). A chip on which no layout fits is a row with ``status: infeasible`` and the
        rule; when every chip fails, an ``InfeasibleError`` names each chip's rule.

    Examples
    --------
    >>> r = compare("llama-3.1-8b", ["h100-sxm-80gb", "b200-sxm-180gb"], tokens=1e12, accelerators=64)
    >>> [row["accelerator"] for row in r.rows], r.reference
    (['h100-sxm-80gb', 'b200-sxm-180gb'], 'h100-sxm-80gb')
    >>> r.rows[1]["days"] < r.rows[0]["days"]
    True
    """
    from chipplan.perf.plan import estimate_run
    from chipplan.units import PRECISIONS

    if gpus is not None:
        accelerators = gpus if accelerators is None else accelerators
    _in_range(tokens=("training_tokens", tokens), accelerators=("accelerators", accelerators),
              days=("deadline_days", days), global_batch=("batch_tokens", global_batch))
    _one_of_count_or_days(accelerators, days)
    if price_term not in PRICE_TERMS:
        raise FieldError("price_term", f"must be one of {', '.join(PRICE_TERMS)}", price_term)
    if basis not in ("owned", "cloud"):
        raise FieldError("basis", "must be owned or cloud", basis)
    if precision not in PRECISIONS:
        raise FieldError("precision", f"must be one of {', '.join(PRECISIONS)}", precision)
    if isinstance(hardware, str | bytes):
        hardware = [hardware]
    if not hardware:
        raise FieldError("hardware", "give at least one accelerator or system id")
    resolved = [resolve_hardware(h) for h in hardware]  # unknown ids fail here, before any planning
    keys = [(acc.id, system.id if system else None) for acc, system in resolved]
    if len(set(keys)) != len(keys):  # aliases too: h100 and h100-sxm-80gb are one chip
        raise FieldError("hardware", "lists the same accelerator twice", list(map(str, hardware)))
    m = catalog.model(model) if isinstance(model, str) else model  # an unknown model fails once
    rows: list[dict[str, Any]] = []
    for h, (acc, system) in zip(hardware, resolved, strict=True):
        row: dict[str, Any] = {"hardware": h if isinstance(h, str) else (system or acc).id, "accelerator": acc.id}
        try:
            with _argument_names(_TRAIN_ARGS):
                r = estimate_run(m, acc, tokens, n_accelerators=accelerators, days=days,
                                 global_batch_tokens=global_batch, precision=precision, system=system)
        except (InfeasibleError, FieldError) as e:
            # Only what depends on the chip (no layout fits, no peak at this precision) is a row; inputs shared
            # by every chip (tokens, --accelerators/--days, the batch) are the user's error and stop the command.
            if not isinstance(e, InfeasibleError) and e.field != "precision":
                raise
            rows.append({**row, "status": "infeasible", "reason": str(e)})
            continue
        rate, rate_src = hourly_rate(acc, basis, price_term, system)
        sd = _log_sd(acc.family, n_experts=float(m.n_experts or 0), n_accelerators=r.n_accelerators,
                     precision=precision, serving=False)
        x = {**row, "status": "ok", "reason": None, "n_accelerators": r.n_accelerators, "days": r.days,
             "tokens_per_s_per_accelerator": r.tokens_per_s_per_accelerator, "mfu": r.mfu,
             "accelerator_hours": r.accelerator_hours, "layout": r.layout,
             "usd_per_accelerator_hour": rate, "price_source": rate_src,
             "cost_usd": r.accelerator_hours * rate if rate is not None else None}
        for key in ("days", "tokens_per_s_per_accelerator", "accelerator_hours", "cost_usd"):
            _with_band(x, key, sd)
        if days is not None:
            lo_n, hi_n = _band(float(r.n_accelerators), sd)
            x["n_accelerators_low"], x["n_accelerators_high"] = math.floor(lo_n), math.ceil(hi_n)
        rows.append(x)
    ok = [x for x in rows if x["status"] == "ok"]
    if not ok:
        raise InfeasibleError("hardware: no chip can run it: " + "; ".join(f"{x['hardware']}: {x['reason']}"
                                                                           for x in rows))
    ref = next((x for x in ok if x["accelerator"] == "h100-sxm-80gb"), ok[0])
    for x in ok:  # workload H100-equivalents: accelerator-hours of the reference per accelerator-hour here
        x["relative_throughput"] = ref["accelerator_hours"] / x["accelerator_hours"]
    out = {"model": model if isinstance(model, str) else m.name, "tokens": tokens, "precision": precision,
           "cost_basis": basis, "price_term": price_term if basis == "cloud" else None,
           "accelerators": accelerators, "days": days, "reference": ref["accelerator"], "rows": rows,
           **versions()}
    out = vocabulary(out)
    return CompareResult(data=out, model=out["model"], reference=out["reference"], rows=tuple(out["rows"]))


# ---------------------------------------------------------------------------------------------------------------
# serve
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class ServeResult(_Result):
    """A serving plan: the frontier, the best configuration (under the SLO when one is given), the load."""

    model: str
    hardware: str
    best: Mapping[str, Any]
    frontier: tuple[Mapping[str, Any], ...]
    accelerators_needed: int | None

    def to_frame(self) -> pd.DataFrame:
        """The throughput-latency frontier, one row per configuration."""
        return _frame(self.data["frontier"])


def serve(model: str, hardware: str | None = None, *, input_len: int, output_len: int,
          tp: Sequence[int] | None = None, precision: Sequence[str] | str | None = None,
          slo_ttft_ms: float | None = None, slo_tpot_ms: float | None = None, qps: float | None = None,
          tokens_per_day: float | None = None, price_per_hour: float | None = None, system: str | None = None,
          years: float = 3.0, **engine_options: Any) -> ServeResult:
    """Serving plan: every (precision, tp, pp, ep, batch) evaluated, the frontier, the best one, its cost.

    Parameters
    ----------
    model, hardware : str
        Catalog ids (or YAML files).
    input_len, output_len : int
        Prompt and generated tokens per request.
    tp : list of int, optional
        Tensor-parallel sizes to try (default: those dividing the heads, up to the scale-up domain).
    precision : str or list of str, optional
        Precisions to try (default bf16, fp8 and fp4 where the chip has them).
    slo_ttft_ms, slo_tpot_ms : float, optional
        p99 time-to-first-token and time-per-output-token limits; ``best`` is the fastest configuration
        under them (the fastest of all without them, and ``best_under_slo`` is then false).
    qps, tokens_per_day : float, optional
        Load to serve: sizes replicas and ``accelerators_needed``.
    price_per_hour : float, optional
        USD per accelerator-hour: adds $ per million output and input+output tokens.
    system : str, optional
        A catalog system: without ``price_per_hour``, price on owning it for ``years`` (the owned
        $/accelerator-hour of :func:`tco`); ``hardware`` defaults to it.
    **engine_options
        Passed to the serving engine (``chipplan.perf.serving.plan``).

    Returns
    -------
    ServeResult
        ``best`` and every ``frontier`` row carry 80 % bands (``_low``/``_high``) on throughput, latencies and
        cost (``SERVE_BANDED``).

    Examples
    --------
    >>> r = serve("llama-3.1-8b", "h100-sxm-80gb", input_len=1024, output_len=256, slo_tpot_ms=30)
    >>> r.best["tpot_ms"] <= 30, r.data["best_under_slo"]
    (True, True)
    >>> len(r.to_frame()) == len(r.frontier)
    True
    """
    from chipplan.perf import serving

    if isinstance(precision, str):
        precision = [precision]
    _in_range(input_len=("sequence_tokens", input_len), output_len=("sequence_tokens", output_len),
              slo_ttft_ms=("latency_ms", slo_ttft_ms), slo_tpot_ms=("latency_ms", slo_tpot_ms),
              qps=("requests_per_s", qps), tokens_per_day=("tokens_per_day", tokens_per_day),
              price_per_hour=("usd_per_accelerator_hour", price_per_hour), years=("years", years))
    if hardware is None and system is None:
        raise FieldError("hardware", "give an accelerator or system id (or --system)")
    hardware = hardware or system
    price_source = "given" if price_per_hour is not None else None
    if system is not None and price_per_hour is None:
        from chipplan.catalog import cost as cost_catalog
        from chipplan.cost import tco as tc

        s_sys, s_acc = resolve_system(system)
        price_per_hour = float(tc.owned_rate(s_sys, s_acc, cost_catalog.load(), years=years, utilisation=1.0))
        price_source = f"owned {s_sys.id}, {years:g} years (chipplan tco)"
    res = serving.plan(model, hardware, input_len=input_len, output_len=output_len, tp=list(tp) if tp else None,
                       precisions=list(precision) if precision else None, slo_ttft_ms=slo_ttft_ms,
                       slo_tpot_ms=slo_tpot_ms, qps=qps, tokens_per_day=tokens_per_day,
                       price_per_hour=price_per_hour, **engine_options)
    out = vocabulary(res)
    out["best_under_slo"] = slo_ttft_ms is not None or slo_tpot_ms is not None
    out["price_usd_per_accelerator_hour"] = price_per_hour
    out["price_source"] = price_source
    acc, system = resolve_hardware(hardware)
    m = catalog.model(model) if isinstance(model, str) else model
    b = out["best"]
    sds: dict[tuple[int, str], float] = {}

    def banded(x: dict[str, Any]) -> float:
        """Put the 80 % band beside each headline number of a configuration; its log sd."""
        k = (int(x.get("accelerators_per_replica", 1)), str(x["precision"]))
        if k not in sds:
            sds[k] = _log_sd(acc.family, n_experts=float(m.n_experts or 0), n_accelerators=k[0], precision=k[1],
                             serving=True)
        for key in SERVE_BANDED:
            if key in x:
                _with_band(x, key, sds[k])
        return sds[k]

    sd = banded(b)
    for x in out["frontier"]:
        banded(x)
    if "accelerators_needed" in out:
        lo, hi = _band(float(out["accelerators_needed"]), sd)
        out["accelerators_needed_low"], out["accelerators_needed_high"] = math.floor(lo), math.ceil(hi)
    out["interval"] = f"80 % interval from the hardware family's log error, sd {sd:.3f}"
    out.update(versions())
    return ServeResult(data=out, model=out["model"], hardware=out["hardware"], best=b,
                       frontier=tuple(out["frontier"]), accelerators_needed=out.get("accelerators_needed"))


# The headline numbers of a serving configuration that carry an 80 % band (``<key>_low`` / ``<key>_high``), in
# ``best`` and in every frontier row.
SERVE_BANDED = ("output_tokens_per_s_per_accelerator", "ttft_p50_ms", "ttft_p99_ms", "tpot_ms",
                "usd_per_million_output_tokens", "usd_per_million_input_output_tokens")


# ---------------------------------------------------------------------------------------------------------------
# cost per token
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class CostPerTokenResult(_Result):
    """USD per million tokens, with the price and throughput behind it."""

    usd_per_million_tokens: float
    usd_per_accelerator_hour: float
    tokens_per_s_per_accelerator: float

    def to_frame(self) -> pd.DataFrame:
        """One row."""
        return _frame([self.data])


def cost_per_token(*, tokens_per_s_per_accelerator: float | None = None, price_per_hour: float | None = None,
                   system: str | None = None, years: float = 3.0, utilisation: float = 1.0,
                   counting: str = "output", model: str | None = None, hardware: str | None = None,
                   input_len: int = 2048, output_len: int = 512, slo_ttft_ms: float | None = None,
                   slo_tpot_ms: float | None = None, tokens_per_s_per_gpu: float | None = None
                   ) -> CostPerTokenResult:
    """USD per million tokens = USD per accelerator-hour / (3600 × tokens/s per accelerator × utilisation) × 1e6.

    Give the throughput (``tokens_per_s_per_accelerator``), or ``model`` with ``hardware`` (or ``system``) to
    take it from the serving engine's best configuration, which is then reported in ``configuration``
    with an 80 % band on the cost. Give exactly one of ``price_per_hour`` (rent) and ``system`` (own it for
    ``years``).

    Examples
    --------
    >>> r = cost_per_token(tokens_per_s_per_accelerator=1000, price_per_hour=3.6)
    >>> round(r.usd_per_million_tokens, 6)
    1.0
    """
    from chipplan.catalog import cost as cost_catalog
    from chipplan.cost import tco as tc
    from chipplan.cost import work

    tps = tokens_per_s_per_accelerator if tokens_per_s_per_accelerator is not None else tokens_per_s_per_gpu
    _in_range(tokens_per_s_per_accelerator=("tokens_per_s_per_accelerator", tps),
              price_per_hour=("usd_per_accelerator_hour", price_per_hour), utilisation=("utilisation", utilisation),
              years=("years", years), input_len=("sequence_tokens", input_len),
              output_len=("sequence_tokens", output_len), slo_ttft_ms=("latency_ms", slo_ttft_ms),
              slo_tpot_ms=("latency_ms", slo_tpot_ms))
    if counting not in work.TOKEN_COUNTING:
        raise FieldError("counting", f"must be one of {', '.join(work.TOKEN_COUNTING)}", counting)
    if (price_per_hour is None) == (system is None):
        raise FieldError("price_per_hour", "give exactly one of --price-per-hour or --system")
    source = "given"
    config = None
    sd = None
    if tps is None:
        if not (model and (hardware or system)):
            raise FieldError("tokens_per_s_per_accelerator", "is required (or --model with --hardware or --system)")
        plan = serve(model, hardware or system or "", input_len=input_len, output_len=output_len,
                     slo_ttft_ms=slo_ttft_ms, slo_tpot_ms=slo_tpot_ms)
        b = plan.best
        config = {k: b[k] for k in ("precision", "tp", "pp", "ep", "batch", "accelerators_per_replica",
                                    "ttft_p99_ms", "tpot_ms") if k in b}
        tps = float(b["output_tokens_per_s_per_accelerator"])
        lo, hi = b.get("output_tokens_per_s_per_accelerator_low"), b.get("output_tokens_per_s_per_accelerator_high")
        sd = math.log(hi / lo) / (2 * _z80()) if lo and hi else None
        if counting == "input+output":  # the engine reports generated tokens; prompts are served too
            tps *= (input_len + output_len) / output_len
        source = f"serving engine, best configuration, {input_len} in / {output_len} out"
    if system is not None:
        sys_, acc = resolve_system(system)
        rate = tc.owned_rate(sys_, acc, cost_catalog.load(), years=years, utilisation=1.0)
        price_src = f"owned {sys_.id}, {years:g} years"
    else:
        rate, price_src = float(price_per_hour), "given"
    usd_m = float(work.cost_per_million_tokens(rate, tps, utilisation))
    out: dict[str, Any] = {"usd_per_million_tokens": usd_m, "usd_per_accelerator_hour": rate,
                           "price_source": price_src, "tokens_per_s_per_accelerator": tps,
                           "throughput_source": source, "utilisation": utilisation, "tokens_counted": counting,
                           "configuration": config}
    if sd is not None:
        _with_band(out, "usd_per_million_tokens", sd)
        _with_band(out, "tokens_per_s_per_accelerator", sd)
    out.update(versions())
    return CostPerTokenResult(data=out, usd_per_million_tokens=usd_m, usd_per_accelerator_hour=rate,
                              tokens_per_s_per_accelerator=tps)


# ---------------------------------------------------------------------------------------------------------------
# tco
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class TcoResult(_Result):
    """Owning one server of a system against renting the same accelerators, over ``years``."""

    system: str
    owned_total_usd: float
    cloud_total_usd: float | None
    owned_usd_per_accelerator_hour: float
    cloud_usd_per_accelerator_hour: float | None
    breakeven_utilisation: float | None

    def to_frame(self) -> pd.DataFrame:
        """The cost waterfall: one row per step with its amount and running total (USD)."""
        import pandas as pd

        return pd.DataFrame(self.data["waterfall"])


# Engine parameter names → the argument (and flag) that fed them.
_TCO_ARGS = {"interest_rate": "interest", "electricity_usd_per_kwh": "electricity"} | {
    k: k for k in ("cloud_term", "cloud_kind", "cloud_provider", "cloud_price", "facility", "accelerator_price",
                   "host", "years", "utilisation", "pue", "life_years", "server_price")}
_CLOUD_FIELDS = ("cloud_total_usd", "cloud_usd_per_accelerator_hour", "owned_to_cloud_ratio",
                 "breakeven_utilisation", "breakeven_years")


def resolve_system(system: Any) -> tuple[Any, Any]:
    """A catalog system and its accelerator. Systems are looked up first, so a rack whose id is also its
    accelerator's (gb200-nvl72) resolves to the rack; an accelerator id is an error naming ``system``."""
    from chipplan.errors import UnknownIdError
    from chipplan.specs import System

    if isinstance(system, System):
        return system, catalog.accelerator(system.accelerator)
    try:
        sys_ = catalog.system(str(system))
        return sys_, catalog.accelerator(sys_.accelerator)
    except UnknownIdError:
        pass
    acc, sys_ = catalog.hardware(str(system))
    if sys_ is None:
        raise FieldError("system", "is an accelerator id; give a system id (e.g. dgx-h100)", system)
    return sys_, acc


def tco(system: Any, *, years: float = 3.0, utilisation: float = 1.0, cloud_term: str | None = None,
        cloud_kind: str | None = None, cloud_provider: str | None = None, cloud_price: float | None = None,
        facility: str = "colo", server_price: float | None = None, parts_price: bool = False,
        accelerator_price: float | None = None, life_years: float | None = None, interest: float | None = None,
        pue: float | None = None, electricity: float | None = None, cluster_accelerators: int | None = None,
        samples: int = 0, seed: int = 0) -> TcoResult:
    """Total cost of owning one server of ``system`` for ``years`` against renting it; break-even utilisation.

    Owning counts the server (the catalog list price, else parts; ``parts_price`` forces parts), financing over
    its life and the resale value at the horizon, power × PUE × electricity, facility, staff and the network
    share; renting uses the newest dated price of the catalog's cloud table (or ``cloud_price``). ``samples``
    > 0 adds Monte Carlo p5/p50/p95 bands over the catalog's ranges (``uncertainty``). Without a cloud price
    the cloud fields are None.

    Examples
    --------
    >>> r = tco("dgx-h100", years=3)
    >>> r.owned_usd_per_accelerator_hour < r.cloud_usd_per_accelerator_hour
    True
    >>> f = r.to_frame().set_index("step")
    >>> round(f.loc["owned total", "usd"]) == round(r.owned_total_usd)
    True
    """
    from chipplan.catalog import cost as cost_catalog
    from chipplan.cost import tco as tc
    from chipplan.cost import uncertainty as unc

    _in_range(years=("years", years), life_years=("years", life_years), utilisation=("utilisation", utilisation),
              cloud_price=("usd_per_accelerator_hour", cloud_price), server_price=("usd_per_server", server_price),
              accelerator_price=("usd_per_accelerator", accelerator_price),
              interest=("interest_per_year", interest), electricity=("usd_per_kwh", electricity), pue=("pue", pue),
              cluster_accelerators=("accelerators", cluster_accelerators), samples=("monte_carlo_samples", samples),
              seed=("seed", seed))
    if cloud_kind is not None and cloud_kind not in cost_catalog.CLOUD_KINDS:
        raise FieldError("cloud_kind", f"must be one of {', '.join(cost_catalog.CLOUD_KINDS)}", cloud_kind)
    cat = cost_catalog.load()
    sys_, acc = resolve_system(system)
    try:
        p, meta = tc.tco_params(sys_, acc, cat, years=years, utilisation=utilisation, life_years=life_years,
                                cloud_term=cloud_term, cloud_provider=cloud_provider, cloud_price=cloud_price,
                                cloud_kind=cloud_kind, facility=facility, cluster_accelerators=cluster_accelerators,
                                server_price=server_price, accelerator_price=accelerator_price,
                                list_price=not parts_price)
        for key, v in (("interest_rate", interest), ("pue", pue), ("electricity_usd_per_kwh", electricity)):
            if v is not None:
                p[key] = v
        r = tc.system_tco(**unc.central_params(p))
        bands = None
        if samples:
            bands = unc.monte_carlo(tc.system_tco, p, n=samples, seed=seed,
                                    outputs=("server_capex_usd", "owned_total_usd", "owned_usd_per_accelerator_hour",
                                             "breakeven_utilisation", "breakeven_years"))
    except FieldError as e:  # engine parameter names → the arguments that fed them
        name = _TCO_ARGS.get(e.field)
        if name is None:
            raise
        raise FieldError(name, e.rule, e.got) from None
    if not meta["cloud_priced"]:
        r = {**r, **dict.fromkeys(_CLOUD_FIELDS)}
        if bands:
            bands = {k: v for k, v in bands.items() if k not in _CLOUD_FIELDS}
    res: dict[str, Any] = {**r, **meta, "years": years, "utilisation": utilisation,
                           "accelerators_per_server": sys_.accelerators_per_node,
                           "waterfall": [{"step": s_, "usd": v, "running_usd": t} for s_, v, t in tc.waterfall(r)],
                           "breakeven_note": "utilisation above which owning beats renting the same hours at the "
                                             "cloud rate; > 1 means never"}
    if bands:
        res["uncertainty"] = {"samples": samples, "seed": seed, "bands": bands}
    res.update(versions())

    def num(k: str) -> float | None:
        return None if r.get(k) is None else float(r[k])

    return TcoResult(data=res, system=sys_.id, owned_total_usd=float(r["owned_total_usd"]),
                     cloud_total_usd=num("cloud_total_usd"),
                     owned_usd_per_accelerator_hour=float(r["owned_usd_per_accelerator_hour"]),
                     cloud_usd_per_accelerator_hour=num("cloud_usd_per_accelerator_hour"),
                     breakeven_utilisation=num("breakeven_utilisation"))


# ---------------------------------------------------------------------------------------------------------------
# strategy
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class StrategyResult(_Result):
    """A sourcing portfolio: units per route, expected cost, CVaR, shortfall risk, EVPI/VSS, sensitivity."""

    scenario: str
    expected_cost_usd: float
    cvar_cost_usd: float
    portfolio: Mapping[str, Mapping[str, Any]]

    def to_frame(self) -> pd.DataFrame:
        """The recommended portfolio, one row per supply route (``route`` column)."""
        return _frame([{"route": k, **v} for k, v in self.data["portfolio"].items()])


def strategy(scenario: str | Path, *, seed: int | None = None, scenarios: int | None = None,
             tornado_scenarios: int | None = 0, replications: int | None = None,
             progress: Any = None) -> StrategyResult:
    """Sourcing strategy for a scenario file: Monte Carlo of deliveries and a stochastic portfolio.

    ``seed`` and ``scenarios`` override the file; the same seed gives the same result, and ``scenarios`` (the
    evaluation sample) never changes the recommended units. ``tornado_scenarios`` > 0 adds a one-at-a-time
    sensitivity on that many scenarios per bar (None: on the optimisation scenarios themselves).
    ``replications`` overrides the scenario's replication batches for the optimality gap (0: no stability
    section). ``progress`` is an optional callable ``progress(step: str)`` told of each stage (the command
    line shows it on stderr).
    """
    from chipplan.strategy import portfolio
    from chipplan.strategy import scenario as sc

    if scenarios is not None and not 1 <= scenarios <= sc.MAX_MONTE_CARLO_SCENARIOS:
        raise FieldError("scenarios", f"must be an integer in [1, {sc.MAX_MONTE_CARLO_SCENARIOS:,}]", scenarios)
    if seed is not None and seed < 0:
        raise FieldError("seed", "must be a non-negative integer", seed)
    _in_range(tornado_scenarios=("tornado_scenarios", tornado_scenarios), replications=("replications", replications))
    if progress:
        progress("reading the scenario and sizing demand with the training and serving engines")
    inp = sc.build(sc.load(scenario), seed=seed, scenarios=scenarios)
    if replications:
        inp = dataclasses.replace(inp, replications=replications)
    result = portfolio.plan(inp, tornado_scenarios=tornado_scenarios, with_stability=replications != 0,
                            progress=(lambda step, _done: progress(step)) if progress else None)
    out = {**result, **versions()}
    return StrategyResult(data=out, scenario=str(out["scenario"]), expected_cost_usd=float(out["expected_cost_usd"]),
                          cvar_cost_usd=float(out["cvar_cost_usd"]), portfolio=out["portfolio"])


# ---------------------------------------------------------------------------------------------------------------
# predict
# ---------------------------------------------------------------------------------------------------------------
def predict_rows(df: pd.DataFrame, *, detail: bool = False, allow_extra_columns: bool = False,
                 source: str = "df", framework: str | None = None) -> dict[str, Any]:
    """The ``chipplan predict --json`` document for a DataFrame (rows keyed by ``row_id``), with the output
    vocabulary's names added beside the contract's historical ones. A column the schema does not know is an
    error listing its close matches, unless ``allow_extra_columns``. ``framework`` (``--framework``) sets every
    training row's software stack (``chipplan.io.published.with_framework``)."""
    return predict_rows_table(df, detail=detail, allow_extra_columns=allow_extra_columns, source=source,
                              framework=framework).document()


def predict_rows_table(df: pd.DataFrame, *, detail: bool = False, allow_extra_columns: bool = False,
                       source: str = "df", framework: str | None = None) -> TablePrediction:
    """:func:`predict_rows` before its rows are laid out one dict each (``.document()`` is ``predict_rows``):
    ``chipplan predict`` prints a large table's JSON from it, one encoding per distinct configuration."""
    from chipplan.io.published import with_framework
    from chipplan.io.read import check_columns
    from chipplan.io.write import predict_table

    check_columns(df.columns, source=source, allow_extra=allow_extra_columns)
    return predict_table(with_framework(df, framework), detail=detail, each=contract_aliases)


def predict(df: pd.DataFrame, *, detail: bool = False, allow_extra_columns: bool = False) -> pd.DataFrame:
    """Predict every row of a published-measurement table; the input columns are kept, predictions beside.

    ``df`` follows the column schema of ``chipplan predict`` (``docs/columns.md``): training rows need the
    model shape, hardware, accelerator count and batch; serving rows the request shape. Added columns:
    ``status`` (ok/error), ``reason`` (why a row failed, naming the column), ``kind`` (training/inference) and
    every prediction field (``tokens_per_s_per_accelerator`` with ``_low``/``_high`` 80 % bounds, ``mfu``,
    ``ttft_p50_ms``, the chosen ``layout_tp`` …). A name the input already uses gets the suffix
    ``_predicted``. Columns outside the schema are an error (a misspelt name would be silently ignored) unless
    ``allow_extra_columns`` carries them along.

    Examples
    --------
    >>> import pandas as pd
    >>> row = {"hardware_id": "a100-sxm-80gb", "model_name": "GPT-3.6B", "num_accelerators": 64,
    ...        "num_layers": 30, "hidden_size": 3072, "num_heads": 32, "ffn_hidden_size": 12288,
    ...        "vocab_size": 51200, "seq_len": 2048, "global_batch_seqs": 512, "tp": 2, "pp": 1, "dp": 32,
    ...        "micro_batch_size": 4, "precision": "bf16", "activation_recompute": "full", "note": "mine"}
    >>> out = predict(pd.DataFrame([row]), allow_extra_columns=True)  # "note" is the user's own column
    >>> out.loc[0, "note"], out.loc[0, "status"], int(out.loc[0, "tp"]), int(out.loc[0, "layout_tp"])
    ('mine', 'ok', 2, 2)
    >>> bool(out.loc[0, "tokens_per_s_per_accelerator_low"] < out.loc[0, "tokens_per_s_per_accelerator"])
    True
    """
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise FieldError("df", "must be a pandas DataFrame in the predict column schema", type(df).__name__)
    res = predict_rows(df, detail=detail, allow_extra_columns=allow_extra_columns)
    return predictions_beside(df, res)


def predictions_beside(df: pd.DataFrame, res: Mapping[str, Any]) -> pd.DataFrame:
    """``df`` with the predict document's rows flattened into columns beside the input (same order)."""
    import pandas as pd

    flat = _frame([{"status": r["status"], "reason": r["reason"], "kind": r["kind"], **(r["prediction"] or {})}
                   for r in res["rows"]])
    flat.index = df.index
    taken = set(map(str, df.columns))
    flat.columns = [f"{c}_predicted" if c in taken else c for c in flat.columns]
    return pd.concat([df, flat], axis=1)
