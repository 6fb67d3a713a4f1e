"""Training runs end to end: best layout, throughput, wall-clock time with goodput, accelerators needed.

``estimate_run`` is what the cost and strategy layers call: a model, an accelerator, a token budget and
either an accelerator count or a deadline.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import math
from collections.abc import Iterator, MutableMapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from chipplan import catalog
from chipplan.errors import FieldError, InfeasibleError
from chipplan.perf import efficiency, stacks, tuned
from chipplan.perf.arithmetic import param_counts
from chipplan.perf.candidates import LAYOUT_FIELDS, expand, layout_error
from chipplan.perf.columns import Columns
from chipplan.perf.hardware_cols import hardware_row
from chipplan.perf.layout import evaluate, search
from chipplan.perf.run import restart_time_s
from chipplan.specs import Accelerator, Model, System
from chipplan.specs.layout import TRAINING, stated_layout
from chipplan.units import GIB, SECONDS_PER_DAY, SECONDS_PER_HOUR


def _reliability(name: str) -> float:
    return float(catalog.load().reliability[name]["value"])


def goodput(n_accelerators: Any, params: Any, *, failures_per_accelerator_hour: float | None = None,
            checkpoint_bytes_per_param: float | None = None, storage_write_bytes_per_s: float | None = None,
            restart_s: float | None = None) -> dict[str, Any]:
    """Share of wall-clock time spent on useful steps, with the checkpoint interval chosen optimally.

    Job mean time between failures ``M = 1 / (N·λ)``; checkpoint write time ``δ = bytes / storage BW``;
    Young's optimal interval ``τ = √(2·δ·M)`` (Young 1974; Daly 2006 to first order); wasted share
    ``δ/τ + (τ/2 + R)/M`` (checkpoints, lost work since the last checkpoint, restart ``R``). ``R`` is
    ``restart_s`` when given, else the restart-time model ``chipplan.perf.run.restart_time_s`` (job restart latency
    plus loading the checkpoint). Defaults come from catalog/data/reliability.yaml (Llama 3: 419 interruptions in
    54 days on 16,384 H100).
    """
    lam = failures_per_accelerator_hour if failures_per_accelerator_hour is not None else _reliability(
        "failures_per_accelerator_hour")
    cbp = checkpoint_bytes_per_param if checkpoint_bytes_per_param is not None else _reliability(
        "checkpoint_bytes_per_param")
    bw = storage_write_bytes_per_s if storage_write_bytes_per_s is not None else _reliability(
        "storage_write_bytes_per_s")
    r = restart_s if restart_s is not None else restart_time_s(params, checkpoint_bytes_per_param=cbp)
    n = np.asarray(n_accelerators, dtype=float)
    mtbf_s = SECONDS_PER_HOUR / np.maximum(n * lam, 1e-30)
    delta = np.asarray(params, dtype=float) * cbp / bw
    tau = np.sqrt(2 * delta * mtbf_s)
    waste = delta / tau + (tau / 2 + r) / mtbf_s
    return {"goodput": np.clip(1 - waste, 0.0, 1.0), "checkpoint_interval_s": tau, "checkpoint_write_s": delta,
            "job_mtbf_s": mtbf_s, "interruptions_per_day": SECONDS_PER_DAY / mtbf_s,
            "restart_s": np.broadcast_to(np.asarray(r, dtype=float), np.shape(mtbf_s))}


def fixed_layout(layout: dict[str, Any] | None) -> dict[str, float]:
    """Validate user-stated layout fields (``--tp`` …) into the numeric form of the layout search."""
    return stated_layout(layout, TRAINING)


def default_global_batch_tokens(model: Model) -> int:
    """4M tokens below 100B parameters, 16M above (Llama 3 405B trained at 16M; Meta 2024, Table 4): the catalog's
    ``engine_constants.plan`` values (efficiency.yaml)."""
    t = tuned.table()["plan"]
    large = float(param_counts(model)["total"]) >= t["large_model_params"]
    return int(t["global_batch_tokens_large"] if large else t["global_batch_tokens_small"])


def stack_profile(framework: str | None) -> tuple[str | None, bool]:
    """(profile name, recognised) for a ``--framework`` value: a profile of catalog/data/stacks.yaml or framework
    text its patterns match; an unknown stack gets the era default (and the caller a wider interval); None: no
    stack (every capability)."""
    if framework is None:
        return None, True
    return stacks.resolve_one(str(framework), float("nan"))


def _base(model: Model, acc: Accelerator, system: System | None, precision: str, n_gpu: Any, gbs: float,
          seq_len: int, fixed: dict[str, Any] | None = None, stack: str | None = None
          ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    n_gpu = np.atleast_1d(np.asarray(n_gpu, dtype=float))
    k = len(n_gpu)
    hw = hardware_row(acc, precision, system)
    efficiency.check_training_precision(acc, precision)  # a peak the family has no training share of: NaN otherwise
    base = {key: np.full(k, float(v)) for key, v in {**model.to_columns(), **{h: hw[h] for h in hw
                                                                          if h != "family"}}.items()}
    fixed = dict(fixed or {})
    if stack is not None:
        caps = stacks.columns(np.full(k, stack, dtype=object), np.full(k, acc.family, dtype=object))
        rec = stacks.recipe_columns(np.full(k, stack, dtype=object), precision)
        rec.pop("recipe")
        caps.update(rec)
        # A stated field is kept whatever the stack.
        stacks.release_stated(caps, {f: np.ones(k, dtype=bool) for f in fixed})
        # The stack's own fills of the fields left open (the same as a table row's), then the search.
        for f, where, value, _ in stacks.layout_fills(caps, {f: np.full(k, f not in fixed) for f in LAYOUT_FIELDS}):
            if where[0]:
                fixed[f] = value
        base.update(caps)
    for f in LAYOUT_FIELDS:  # open fields: 1, or none for ZeRO and recompute (which every stack can run)
        base[f] = np.full(k, float(fixed.get(f, 0 if f in ("zero_stage", "recompute") else 1)))
    base.setdefault("sequence_parallel", np.ones(k))
    base.update(n_gpu=n_gpu, global_batch_seqs=np.full(k, float(gbs)),
                seq_len=np.full(k, float(seq_len)), dp_stated=np.full(k, float(fixed.get("dp", 0))))
    if not model.is_moe:
        if fixed.get("ep", 1) != 1:
            raise FieldError("ep", f"must be 1 for {model.name}, a dense model without experts", int(fixed["ep"]))
        fixed = {**fixed, "ep": 1}
        base["ep"] = np.ones(k)
    missing = {f: np.full(k, f not in fixed) for f in LAYOUT_FIELDS}
    return base, missing


def rank_layouts(model: Model, acc: Accelerator, n_accelerators: int, *, global_batch_seqs: int, seq_len: int,
                 precision: str = "bf16", system: System | None = None, top: int = 10,
                 fixed: dict[str, Any] | None = None, framework: str | None = None) -> list[dict[str, Any]]:
    """Every valid layout for one configuration, fastest first among those that fit (then the others)."""
    base, missing = _base(model, acc, system, precision, n_accelerators, global_batch_seqs, seq_len, fixed,
                          stack_profile(framework)[0])
    cols, _ = expand(base, missing)
    eff = efficiency.for_families(np.full(len(cols.tp), acc.family, dtype=object), engine="training")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        res = evaluate(cols, eff)
    # Stated fields are not expanded (``missing`` is False for them), so every candidate keeps them.
    valid = res["invalid_code"] == 0
    idx = np.nonzero(valid)[0]
    order = idx[np.lexsort((-res["tokens_per_s_per_gpu"][idx], ~res["fits_in_memory"][idx]))][:top]
    return [_describe(res, cols, i) for i in order]


def _describe(res: dict[str, np.ndarray], lay: Columns, i: int) -> dict[str, Any]:
    layout = {d.key: d.name_of(lay[d.name][i]) for d in TRAINING}
    keys = ("step_time_s", "tokens_per_s_per_gpu", "mfu", "hfu", "memory_per_gpu_bytes", "fits_in_memory",
            "memory_shortfall_bytes", "compute_s", "recompute_s", "tp_exposed_s", "cp_exposed_s", "ep_exposed_s",
            "pp_p2p_s", "bubble_s", "dp_exposed_s", "optimizer_s")
    out = {k: float(res[k][i]) for k in keys}
    out["fits_in_memory"] = bool(res["fits_in_memory"][i])
    out["layout"] = layout
    return out


@dataclass(frozen=True, kw_only=True)
class RunEstimate:
    """A planned training run (SI units)."""

    model: str
    hardware: str
    precision: str
    n_accelerators: int
    tokens: float
    seq_len: int
    global_batch_seqs: int
    layout: dict[str, Any]
    tokens_per_s_per_accelerator: float
    step_time_s: float
    mfu: float
    memory_per_gpu_bytes: float
    fits_in_memory: bool
    goodput: float
    checkpoint_interval_s: float
    interruptions_per_day: float
    days_ideal: float
    days: float
    accelerator_hours: float
    breakdown_s: dict[str, float] = field(default_factory=dict)
    restart_s: float = 0.0
    stack: str | None = None
    stack_known: bool = True

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


N_GRID = np.unique(np.round(np.outer(2.0 ** np.arange(0, 21), [1, 1.5]).ravel()))


# Inside ``with memo(store):`` a repeated estimate_run call is answered from ``store`` (a plan run asks the same
# question in its training stage and again when the sourcing stage rates each chip); outside it, nothing is kept.
_MEMO: contextvars.ContextVar[MutableMapping[str, RunEstimate] | None] = contextvars.ContextVar("estimate_memo",
                                                                                               default=None)


@contextlib.contextmanager
def memo(store: MutableMapping[str, RunEstimate] | None = None) -> Iterator[MutableMapping[str, RunEstimate]]:
    """Answer repeated :func:`estimate_run` calls from ``store`` (a new dict by default) within the block.

    The key is a digest of the resolved model, accelerator and system specs and every other argument, so two
    spellings of one question (an id or its spec) share an answer. Efficiencies are read from the catalog, which
    is fixed while a block runs; a caller that changes them mid-block must not use one.
    """
    store = {} if store is None else store
    token = _MEMO.set(store)
    try:
        yield store
    finally:
        _MEMO.reset(token)


def _memo_key(m: Model, acc: Accelerator, system: System | None, args: dict[str, Any]) -> str:
    blob = json.dumps({"model": asdict(m), "accelerator": asdict(acc), "system": asdict(system) if system else None,
                       **args}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def estimate_run(model: Model | str, accelerator: Accelerator | str, tokens: float, *,
                 n_accelerators: int | None = None, days: float | None = None,
                 global_batch_tokens: float | None = None, seq_len: int | None = None, precision: str = "bf16",
                 system: System | None = None, layout: dict[str, Any] | None = None,
                 framework: str | None = None) -> RunEstimate:
    """Plan a training run of ``tokens`` tokens (answered from the :func:`memo` store inside one).

    Give ``n_accelerators`` (how long will it take?) or ``days`` (how many accelerators to finish in time?).
    The best layout that fits memory is searched for every candidate accelerator count, keeping any field
    ``layout`` states (``tp``, ``pp``, ``cp``, ``ep``, ``vpp``, ``micro_batch``, ``zero_stage``, ``recompute``
    as 0/1/2 or none/selective/full); wall-clock time includes goodput (failures, checkpoints, restarts).
    With ``n_accelerators``, a layout that breaks a rule or does not fit memory is an error that says which
    rule, or by how many GB. ``framework`` selects a software-stack profile (catalog/data/stacks.yaml): what the
    stack could run limits the layouts searched and sets its kernels and overlaps; an unrecognised stack gets the
    era default (``stack_known`` false). Without it the stack has every capability.
    """
    m = catalog.model(model) if isinstance(model, str) else model
    if isinstance(accelerator, str):
        acc, sys_ = catalog.hardware(accelerator)
        system = system or sys_
    else:
        acc = accelerator
    store = _MEMO.get()
    if store is None:
        return _estimate_run(m, acc, tokens, n_accelerators=n_accelerators, days=days,
                             global_batch_tokens=global_batch_tokens, seq_len=seq_len, precision=precision,
                             system=system, layout=layout, framework=framework)
    stated = sorted(((k, v) for k, v in (layout or {}).items() if v is not None), key=str)  # None: not stated
    key = _memo_key(m, acc, system, {"tokens": tokens, "n_accelerators": n_accelerators, "days": days,
                                     "global_batch_tokens": global_batch_tokens, "seq_len": seq_len,
                                     "precision": precision, "layout": stated, "framework": framework})
    hit = store.get(key)
    if hit is None:
        hit = _estimate_run(m, acc, tokens, n_accelerators=n_accelerators, days=days,
                            global_batch_tokens=global_batch_tokens, seq_len=seq_len, precision=precision,
                            system=system, layout=layout, framework=framework)
        store[key] = hit
    return replace(hit, layout=dict(hit.layout), breakdown_s=dict(hit.breakdown_s))  # callers own their dicts


def _estimate_run(m: Model, acc: Accelerator, tokens: float, *, n_accelerators: int | None, days: float | None,
                  global_batch_tokens: float | None, seq_len: int | None, precision: str, system: System | None,
                  layout: dict[str, Any] | None, framework: str | None = None) -> RunEstimate:
    fixed = fixed_layout(layout)
    if not (np.isfinite(tokens) and tokens > 0):
        raise FieldError("tokens", "must be a finite number > 0", tokens)
    if (n_accelerators is None) == (days is None):
        raise FieldError("n_accelerators", "give exactly one of n_accelerators or days")
    if seq_len is not None and not (seq_len >= 1 and float(seq_len).is_integer()):
        raise FieldError("seq_len", "must be a positive integer", seq_len)
    if global_batch_tokens is not None and not (np.isfinite(global_batch_tokens) and global_batch_tokens > 0):
        raise FieldError("global_batch_tokens", "must be a finite number > 0", global_batch_tokens)
    stack, stack_known = stack_profile(framework)
    s = int(seq_len if seq_len is not None else min(m.max_seq_len, 8192))
    gbt = float(global_batch_tokens if global_batch_tokens is not None else default_global_batch_tokens(m))
    gbs = round(gbt / s)
    if gbs < 1:
        raise FieldError("global_batch_tokens", f"must hold at least one sequence of {s} tokens", gbt)
    if n_accelerators is not None:
        if not (n_accelerators >= 1 and float(n_accelerators).is_integer()):
            raise FieldError("n_accelerators", "must be a positive integer", n_accelerators)
        grid = np.array([float(n_accelerators)])
    else:
        if not (days is not None and np.isfinite(days) and days > 0):
            raise FieldError("days", "must be a finite number > 0", days)
        node = system.accelerators_per_node if system else min(acc.scale_up_domain, 8)
        # Counts are whole nodes and whole multiples of the stated sizes (a stated pp = 35 needs 35·k).
        unit = math.lcm(int(node), *(int(fixed.get(d.name, 1)) for d in TRAINING if d.divides_accelerators))
        grid = N_GRID[N_GRID >= 1] * unit
    # Chunks of a few accelerator counts keep the candidate arrays small (they are ~1e5 per count).
    parts = []
    for lo in range(0, len(grid), 4):
        g = grid[lo:lo + 4]
        base, missing = _base(m, acc, system, precision, g, gbs, s, fixed, stack)
        eff = efficiency.for_families(np.full(len(g), acc.family, dtype=object), engine="training")
        parts.append(search(base, missing, eff))
    chosen = {k: np.concatenate([p[0][k] for p in parts]) for k in parts[0][0]}
    lay = Columns({k: np.concatenate([p[1][k] for p in parts]) for k in parts[0][1]})
    best = np.concatenate([p[2] for p in parts])
    params = float(param_counts(m)["total"])
    gp = goodput(grid, params)
    tps = chosen["tokens_per_s_per_gpu"]
    ok = (best >= 0) & chosen["fits_in_memory"].astype(bool)
    d_ideal = tokens / (tps * grid) / SECONDS_PER_DAY
    d_real = d_ideal / np.maximum(gp["goodput"], 1e-9)
    stated = all(f in fixed for f in LAYOUT_FIELDS if not (f == "ep" and not m.is_moe))
    if n_accelerators is not None:
        i = 0
        if best[0] < 0:
            raise InfeasibleError(f"{layout_error(base, 0, stated)}; {m.name} on {n_accelerators} x {acc.id}, "
                                  f"global batch {gbs} sequences of {s}")
        if not chosen["fits_in_memory"][0]:
            need = float(chosen["memory_shortfall_bytes"][0]) / GIB
            raise InfeasibleError(f"memory: {m.name} does not fit on {n_accelerators} x {acc.id} with "
                                  f"{'the stated' if fixed else 'any searched'} layout: the best needs {need:.1f} GiB "
                                  "more per accelerator (add accelerators, or allow ZeRO-3 / recompute)")
    else:
        meets = ok & (d_real <= days)
        if fixed and not (best >= 0).any():  # the stated layout breaks a rule at every candidate count
            raise InfeasibleError(f"{layout_error(base, 0, stated)}; {m.name} on {acc.id} at {grid[0]:.0f} to "
                                  f"{grid[-1]:.0f} accelerators, global batch {gbs} sequences of {s}")
        if not meets.any():
            fastest = np.nanmin(np.where(ok, d_real, np.inf))
            raise InfeasibleError(f"days: {m.name} on {acc.id} cannot finish {tokens:.3g} tokens in {days:g} days "
                                  f"at a global batch of {gbt:.3g} tokens; the fastest plan takes {fastest:.1f} days"
                                  " (raise the global batch or the deadline)")
        i = int(np.nonzero(meets)[0][0])
    res = {k: np.asarray(v)[i:i + 1] for k, v in chosen.items()}
    desc = _describe(res, lay.take(slice(i, i + 1)), 0)
    n = int(grid[i])
    return RunEstimate(
        model=m.name, hardware=(system.id if system else acc.id), precision=precision, n_accelerators=n,
        tokens=float(tokens), seq_len=s, global_batch_seqs=gbs, layout=desc["layout"],
        tokens_per_s_per_accelerator=desc["tokens_per_s_per_gpu"], step_time_s=desc["step_time_s"],
        mfu=desc["mfu"], memory_per_gpu_bytes=desc["memory_per_gpu_bytes"], fits_in_memory=desc["fits_in_memory"],
        goodput=float(gp["goodput"][i]), checkpoint_interval_s=float(gp["checkpoint_interval_s"][i]),
        interruptions_per_day=float(gp["interruptions_per_day"][i]), days_ideal=float(d_ideal[i]),
        days=float(d_real[i]), accelerator_hours=float(d_real[i] * SECONDS_PER_DAY / SECONDS_PER_HOUR * n),
        restart_s=float(gp["restart_s"][i]), stack=stack, stack_known=bool(stack_known),
        breakdown_s={k[:-2]: desc[k] for k in ("compute_s", "recompute_s", "tp_exposed_s", "cp_exposed_s",
                                               "ep_exposed_s", "pp_p2p_s", "bubble_s", "dp_exposed_s",
                                               "optimizer_s")},
    )
