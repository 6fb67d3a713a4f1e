"""Design-space sweeps: sample designs, evaluate them in chunks, stream them to Parquet, keep the Pareto front.

A sweep file (YAML, validated here) names fixed design parameters, a search ``space`` (each parameter a list
of ``values`` or a ``low``/``high`` range, ``log`` and ``integer`` optional), the ``workloads``, the
``objectives`` and their directions, ``constraints`` (``column: {max: v}`` / ``{min: v}``, stored as
"≤ 0" columns) and the money assumptions (``economics``). Samplers: ``random`` (numpy PCG64), ``sobol``
(scipy.stats.qmc, scrambled) and ``grid`` (every combination of ``values``; ranges take ``steps``).

Chunks are fixed by (seed, chunk index), so the rows do not depend on how chunks are scheduled: in process,
on Ray, or resumed. Each chunk is evaluated with arrays (no Python loop per design) and appended to
``designs.parquet``; the running front is merged chunk by chunk, so memory stays bounded by the chunk size
plus the front.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from chipplan import catalog
from chipplan.catalog import pydantic_message
from chipplan.codesign import design as dz
from chipplan.codesign.costing import Economics, server_economics, unit_cost
from chipplan.codesign.objectives import DIRECTIONS, ServeWorkload, TrainWorkload, Workloads, objectives
from chipplan.codesign.pareto import non_dominated, oriented
from chipplan.errors import FieldError, InputFileError

DEFAULT_CHUNK = 1 << 17


def PARQUET_OPTS(tab: pa.Table) -> dict[str, Any]:
    """Dictionary-encode only the categorical columns (trying it on floats costs 3x the write time)."""
    return {"compression": "snappy",
            "use_dictionary": [f.name for f in tab.schema if pa.types.is_dictionary(f.type)] or False}


class Range(BaseModel):
    model_config = ConfigDict(extra="forbid")
    values: list[Any] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    steps: int = Field(default=5, ge=1, le=10_000)

    @model_validator(mode="after")
    def _one(self) -> Range:
        if self.values is None and (self.low is None or self.high is None):
            raise ValueError("give values: [...] or low: and high:")
        if self.values is not None and len(self.values) == 0:
            raise ValueError("values must not be empty")
        if self.low is not None and self.high is not None:
            if self.high < self.low:
                raise ValueError("high must be >= low")
            if self.log and self.low <= 0:
                raise ValueError("log ranges need low > 0")
        return self


class WorkloadSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    train: TrainWorkload | None = None
    serve: ServeWorkload | None = None
    mix: dict[str, float] = Field(default_factory=dict)


class EconomicsSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    gross_margin: float = Field(default=0.0, ge=0, lt=1)
    volume_units: float | None = Field(default=None, gt=0)
    nre_usd: float | None = Field(default=None, ge=0)
    accelerators_per_server: int = Field(default=8, ge=1)
    host: str = "generic-8acc"
    years: float = Field(default=3.0, gt=0)
    utilisation: float = Field(default=1.0, gt=0, le=1)
    cluster_accelerators: int | None = Field(default=None, ge=1)
    target_server_usd: float = Field(default=100_000.0, gt=0)


class Bound(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max: float | None = None
    min: float | None = None


class SweepConfig(BaseModel):
    """A sweep file (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")
    name: str = "sweep"
    description: str = ""
    sampler: Literal["random", "sobol", "grid"] = "sobol"
    seed: int = 0
    chunk_size: int = Field(default=DEFAULT_CHUNK, ge=1, le=1 << 22)
    fixed: dict[str, Any] = Field(default_factory=dict)
    space: dict[str, Range] = Field(default_factory=dict)
    workloads: WorkloadSpec
    objectives: dict[str, Literal["min", "max"]] = Field(min_length=1)
    constraints: dict[str, Bound] = Field(default_factory=dict)
    economics: EconomicsSpec = Field(default_factory=EconomicsSpec)
    baselines: list[str] = Field(default_factory=lambda: ["h100-sxm-80gb"])


def load_config(source: str | Path | dict[str, Any]) -> SweepConfig:
    """A sweep config from a YAML path or a dict; errors name the key."""
    if isinstance(source, SweepConfig):
        return source
    if isinstance(source, dict):
        doc, where = source, "sweep"
    else:
        path = Path(source)
        if not path.is_file():
            raise InputFileError(f"{path}: file not found (a co-design sweep file)")
        doc, where = catalog.read_yaml(path), path.name
        if isinstance(doc, dict) and "codesign" in doc and isinstance(doc["codesign"], dict):
            doc = doc["codesign"]
    if not isinstance(doc, dict):
        raise InputFileError(f"{where}: must be a mapping with workloads: and objectives:")
    try:
        cfg = SweepConfig.model_validate(doc)
    except ValidationError as e:
        raise InputFileError(pydantic_message(where, e)) from None
    for k_ in (*cfg.fixed, *cfg.space):
        if k_ not in dz.PARAM:
            raise FieldError(f"{where}.{'space' if k_ in cfg.space else 'fixed'}.{k_}",
                             f"unknown design parameter; allowed: {', '.join(dz.PARAM)}")
    both = set(cfg.fixed) & set(cfg.space)
    if both:
        raise FieldError(f"{where}.space.{sorted(both)[0]}", "is also in fixed:; give it in one place")
    # validate the fixed values and the ends of every range through the design checks
    probe = {**cfg.fixed}
    for k_, r in cfg.space.items():
        vals = r.values if r.values is not None else [r.low, r.high]
        probe[k_] = np.asarray(vals, dtype=object if dz.PARAM[k_].table or k_ == "family" else float)
    for k_, v in probe.items():
        dz.columns({k_: v, **({"node": cfg.fixed.get("node", "N5")} if k_ == "base_node" else {})},
                   prefix=f"{where}.{'space' if k_ in cfg.space else 'fixed'}")
    return cfg


class SweepResult:
    """Designs and Pareto front of a sweep (pandas DataFrames), the objectives and a summary.

    When the sweep streamed to Parquet, ``designs`` is read from ``designs.parquet`` on first access (a sweep of
    10⁷ designs does not have to fit in memory to be run)."""

    def __init__(self, *, designs: pd.DataFrame | None, pareto: pd.DataFrame, objectives: dict[str, str],
                 summary: dict[str, Any], path: Path | None = None):
        self._designs = designs
        self.pareto = pareto
        self.objectives = objectives
        self.summary = summary
        self.path = path

    @property
    def designs(self) -> pd.DataFrame:
        if self._designs is None:
            self._designs = pd.read_parquet(self.path)
        return self._designs

    def to_dict(self) -> dict[str, Any]:
        """The summary as plain data: what ``chipplan codesign sweep --json`` prints (with ``chipplan_version``
        and ``catalog_version``). ``wall_s`` and ``designs_per_s`` are timings; everything else depends on the
        sweep file, ``designs`` and the seed only."""
        import copy

        from chipplan import __version__

        return {**copy.deepcopy(self.summary), "chipplan_version": __version__}

    def to_frame(self) -> pd.DataFrame:
        """The Pareto front, one row per non-dominated design (``designs`` holds every design)."""
        return self.pareto.copy()


# ---------------------------------------------------------------------------------------------- sampling
def _dims(cfg: SweepConfig) -> list[tuple[str, Range]]:
    return list(cfg.space.items())


def grid_size(cfg: SweepConfig) -> int:
    n = 1
    for _, r in _dims(cfg):
        n *= len(r.values) if r.values is not None else r.steps
    return n


def _unit_samples(cfg: SweepConfig, start: int, count: int) -> np.ndarray:
    """``count`` points of the unit cube for rows ``start ..``, independent of chunking."""
    d = max(len(cfg.space), 1)
    if cfg.sampler == "sobol":
        import warnings

        from scipy.stats import qmc

        eng = qmc.Sobol(d, scramble=True, seed=cfg.seed)
        if start:
            eng.fast_forward(start)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # balance warning for counts that are not powers of two
            return eng.random(count)
    if cfg.sampler == "random":
        chunk = start // cfg.chunk_size
        rng = np.random.default_rng([cfg.seed, chunk])
        u = rng.random((cfg.chunk_size, d))
        off = start - chunk * cfg.chunk_size
        return u[off:off + count]
    raise AssertionError("grid has no unit samples")


def _values_from_unit(r: Range, u: np.ndarray) -> tuple[Any, Any]:
    """(values, index) for a list, or the numeric column for a range."""
    if r.values is not None:
        idx = np.minimum((u * len(r.values)).astype(np.int64), len(r.values) - 1)
        return r.values, idx
    if r.log:
        x = np.exp(np.log(r.low) + u * (np.log(r.high) - np.log(r.low)))
    else:
        x = r.low + u * (r.high - r.low)
    if r.integer:
        x = np.clip(np.round(x), math.ceil(r.low), math.floor(r.high))
    return None, x


def _grid_values(r: Range) -> list[Any]:
    if r.values is not None:
        return list(r.values)
    if r.log:
        x = np.geomspace(r.low, r.high, r.steps)
    else:
        x = np.linspace(r.low, r.high, r.steps)
    if r.integer:
        x = np.unique(np.round(x))
    return [float(v) for v in x]


def sample(cfg: SweepConfig, start: int, count: int) -> dict[str, Any]:
    """Design parameters of rows ``start .. start+count`` (values or arrays; categorical as name arrays)."""
    params: dict[str, Any] = dict(cfg.fixed)
    dims = _dims(cfg)
    if not dims:
        return params
    if cfg.sampler == "grid":
        lists = [_grid_values(r) for _, r in dims]
        shape = tuple(len(v) for v in lists)
        rows = np.arange(start, start + count)
        idx = np.unravel_index(rows, shape)
        for (name, _), vals, ix in zip(dims, lists, idx, strict=True):
            params[name] = _take(name, vals, ix)
        return params
    u = _unit_samples(cfg, start, count)
    for j, (name, r) in enumerate(dims):
        vals, x = _values_from_unit(r, u[:, j])
        params[name] = _take(name, vals, x) if vals is not None else x
    return params


def _take(name: str, vals: list[Any], idx: np.ndarray) -> Any:
    if dz.PARAM[name].table or name == "family":
        return dz.Cat(tuple(str(v) for v in vals), np.asarray(idx, dtype=np.int32))
    return np.asarray(vals, dtype=float)[idx]


# ---------------------------------------------------------------------------------------------- evaluation
def workloads_of(cfg: SweepConfig) -> Workloads:
    w = cfg.workloads
    tr, sv = w.train, w.serve
    for wl, _key in ((tr, "train"), (sv, "serve")):
        if wl is not None:
            catalog.model(wl.model) if not wl.model.endswith((".yaml", ".yml")) else None
    return Workloads(train=tr, serve=sv, mix=w.mix)


def economics_of(cfg: SweepConfig) -> Economics:
    e = cfg.economics.model_dump()
    e.pop("target_server_usd")
    return Economics(**e)


def catalog_columns(acc_id: str) -> dict[str, Any]:
    """A catalog accelerator as the same hardware columns a design derives."""
    acc = catalog.accelerator(acc_id)
    # every numeric field of the spec under its own name (a hand-kept list of them dropped fields the engines
    # read); the 16-bit peak falls back to FP16 as the engines' does
    return {**acc.to_columns(), "peak_bf16_flops_per_s": acc.peak_flops_per_s("bf16")}


def evaluate_catalog(acc_id: str, cfg: SweepConfig, *, baseline: dict[str, float] | None = None
                     ) -> dict[str, float]:
    """Objectives of a catalog accelerator bought at its catalog price, through the same engines."""
    acc = catalog.accelerator(acc_id)
    hw = {k_: np.asarray([v], dtype=float) for k_, v in catalog_columns(acc_id).items()}
    money = server_economics(np.asarray([acc.price_usd]), np.asarray([acc.tdp_w]), economics_of(cfg))
    res = objectives(hw, {**money, "tdp_w": np.asarray([acc.tdp_w])}, workloads_of(cfg),
                     families=np.asarray([acc.family], dtype=object), baseline=baseline)
    out = {"id": acc.id, "price_usd": acc.price_usd, "unit_cost_usd": acc.price_usd, "tdp_w": acc.tdp_w,
           "peak_bf16_flops_per_s": acc.peak_flops_per_s("bf16"), "hbm_bytes": acc.hbm_bytes,
           "hbm_bw_bytes_per_s": acc.hbm_bw_bytes_per_s, **{k_: float(v[0]) for k_, v in money.items()}}
    out.update({k_: float(np.asarray(v, dtype=float)[0]) for k_, v in res.items()})
    return out


def baseline_of(cfg: SweepConfig) -> dict[str, float]:
    return evaluate_catalog("h100-sxm-80gb", cfg)


KEEP_DERIVED = ("clock_eff_ghz", "peak_bf16_flops_per_s", "peak_fp8_flops_per_s", "peak_fp4_flops_per_s",
                "hbm_bytes", "hbm_bw_bytes_per_s", "sram_bytes", "scale_up_bw_bytes_per_s", "die_area_mm2",
                "base_die_area_mm2", "silicon_area_mm2", "n_dies", "tdp_w", "power_full_w", "power_density_w_per_mm2")


def price_designs(params: dict[str, Any], cfg: SweepConfig, n: int) -> tuple[dict[str, Any], ...]:
    """``n`` designs given as parameter arrays, derived and priced: (columns, derived quantities, unit cost, server
    economics, the hardware columns the perf engines read)."""
    c = dz.columns(params, n=n, prefix="space")
    d = dz.derive(c)
    econ = economics_of(cfg)
    money = unit_cost(c, d, econ)
    srv = server_economics(money["price_usd"], d["tdp_w"], econ)
    return c, d, money, srv, {**d, **{k_: c[k_] for k_ in ("scale_up_domain", "matrix_unit_width")}}


def evaluate_params(params: dict[str, Any], cfg: SweepConfig, n: int, baseline: dict[str, float] | None
                    ) -> dict[str, np.ndarray]:
    """Every output column for ``n`` designs given as parameter arrays."""
    c, d, money, srv, hw = price_designs(params, cfg, n)
    obj = objectives(hw, {**srv, "tdp_w": d["tdp_w"]}, workloads_of(cfg), families=c["family"], baseline=baseline)
    out: dict[str, np.ndarray] = {}
    for p in dz.PARAMS:
        out[p.name] = c[p.name] if isinstance(c[p.name], dz.Cat) else np.asarray(c[p.name])
    for k_ in KEEP_DERIVED:
        out[k_] = d[k_]
    for k_ in ("manufacturing_cost_usd", "unit_cost_usd", "price_usd", "die_yield"):
        out[k_] = money[k_]
    out.update(srv)
    out.update({k_: v for k_, v in obj.items()})
    if baseline and "h100e_per_unit" in out:
        out["h100e_per_usd"] = out["h100e_per_unit"] / out["price_usd"]
    out["constraint_reticle_mm2"] = d["reticle_excess_mm2"]
    out["constraint_power_w"] = d["power_excess_w"]
    out["constraint_area_budget_mm2"] = d["area_budget_excess_mm2"]
    out["constraint_matrix_unit_macs"] = d["matrix_unit_excess_macs"]
    for col, b in cfg.constraints.items():
        if col not in out:
            raise FieldError(f"constraints.{col}", f"unknown column; known: {', '.join(sorted(out))}")
        v = np.asarray(out[col], dtype=float)
        if b.max is not None:
            out[f"constraint_{col}_max"] = v - b.max
        if b.min is not None:
            out[f"constraint_{col}_min"] = b.min - v
    for col in cfg.objectives:
        if col not in out:
            raise FieldError(f"objectives.{col}", f"unknown column; known: {', '.join(sorted(out))}")
    cons = [np.asarray(v, dtype=float) for k_, v in out.items() if k_.startswith("constraint_")]
    out["feasible"] = np.all(np.stack([np.broadcast_to(x, (n,)) for x in cons]) <= 0, axis=0)
    return {k_: v if isinstance(v, dz.Cat) else np.broadcast_to(np.asarray(v), (n,)) for k_, v in out.items()}


def _arrow(cols: dict[str, np.ndarray], start: int) -> pa.Table:
    n = len(cols["feasible"])
    arrays, names = [pa.array(np.arange(start, start + n, dtype=np.int64))], ["design_id"]
    for k_, v in cols.items():
        if isinstance(v, dz.Cat):
            arrays.append(pa.DictionaryArray.from_arrays(pa.array(np.asarray(v.idx, dtype=np.int32)),
                                                         pa.array(list(v.values), type=pa.string())))
        elif v.dtype == object:
            arrays.append(pa.array(v.astype(str)).dictionary_encode())
        elif v.dtype == bool:
            arrays.append(pa.array(v))
        else:
            arrays.append(pa.array(np.asarray(v, dtype=float)))
        names.append(k_)
    return pa.Table.from_arrays(arrays, names=names)


def evaluate_chunk(cfg_dict: dict[str, Any], start: int, count: int, baseline: dict[str, float] | None
                   ) -> pa.Table:
    """One chunk as an Arrow table (the unit of work for in-process and Ray execution)."""
    cfg = load_config(cfg_dict)
    params = sample(cfg, start, count)
    return _arrow(evaluate_params(params, cfg, count, baseline), start)


def _front_of(tab: pa.Table, objectives_: dict[str, str]) -> pa.Table:
    feas = tab.column("feasible").to_numpy(zero_copy_only=False)
    vals = {c: tab.column(c).to_numpy(zero_copy_only=False) for c in objectives_}
    F = oriented(vals, objectives_)
    F[~feas] = np.nan
    F[~np.all(np.isfinite(F), axis=1)] = np.nan
    keep = non_dominated(F)
    return tab.filter(pa.array(keep))


def chunks(cfg: SweepConfig, designs: int) -> list[tuple[int, int]]:
    n = min(designs, grid_size(cfg)) if cfg.sampler == "grid" else designs
    return [(s, min(cfg.chunk_size, n - s)) for s in range(0, n, cfg.chunk_size)]


def sweep(config: Any, *, designs: int, seed: int | None = None, out_dir: str | Path | None = None,
          progress: Callable[[int, int], None] | None = None, ray: bool = False, ray_address: str | None = None
          ) -> SweepResult:
    """Evaluate ``designs`` designs of ``config`` (path, dict or SweepConfig); see the module docstring.

    With ``out_dir`` the rows stream to ``out_dir/designs.parquet`` and the front to ``pareto.parquet``
    (written to a temporary directory and moved into place, so a failure leaves no partial directory); the
    returned ``designs`` frame is then read back from the file. ``progress(done, total)`` is called per chunk.
    """
    cfg = load_config(config)
    if seed is not None:
        cfg = cfg.model_copy(update={"seed": int(seed)})
    if designs < 1:
        raise FieldError("designs", "must be a positive whole number", designs)
    work = chunks(cfg, designs)
    total = sum(c for _, c in work)
    baseline = baseline_of(cfg)
    cfg_dict = cfg.model_dump()
    t0 = time.perf_counter()
    tmp = None
    writer = None
    front: pa.Table | None = None
    kept: list[pa.Table] = []
    final = Path(out_dir) if out_dir is not None else None
    if final is not None:
        if final.exists() and any(final.iterdir()):
            raise FieldError("--out", "directory exists and is not empty", str(final))
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".codesign-", dir=final.parent))
    stats = _Stats(cfg)
    try:
        done = 0
        for tab in _run_chunks(cfg_dict, work, baseline, ray=ray, ray_address=ray_address):
            if tmp is not None:
                if writer is None:
                    writer = pq.ParquetWriter(tmp / "designs.parquet", tab.schema, **PARQUET_OPTS(tab))
                writer.write_table(tab)
            else:
                kept.append(tab)
            stats.add(tab)
            f = _front_of(tab, cfg.objectives)
            front = f if front is None else _front_of(pa.concat_tables([front, f], promote_options="permissive"),
                                                      cfg.objectives)
            done += tab.num_rows
            if progress:
                progress(done, total)
        if writer is not None:
            writer.close()
            writer = None
        front = front.sort_by("design_id")
        designs_df = None
        path = None
        if tmp is not None:
            pq.write_table(front, tmp / "pareto.parquet", **PARQUET_OPTS(front))
            if final.exists():
                final.rmdir()
            os.replace(tmp, final)
            tmp = None
            path = final / "designs.parquet"
        else:
            designs_df = pa.concat_tables(kept, promote_options="permissive").to_pandas()
    finally:
        if writer is not None:
            writer.close()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    pareto_df = front.to_pandas()
    wall = time.perf_counter() - t0
    summary = summarise(cfg, stats, pareto_df, baseline, wall, out_dir=final)
    return SweepResult(designs=designs_df, pareto=pareto_df, objectives=dict(cfg.objectives), summary=summary,
                       path=path)


TOP = 10


class _Stats:
    """Counts and the best design under the server-price target, accumulated chunk by chunk."""

    def __init__(self, cfg: SweepConfig):
        self.target = cfg.economics.target_server_usd
        self.n = self.feasible = self.under = 0
        self.best: pd.Series | None = None
        self.top: pd.DataFrame | None = None  # the TOP best designs under the target

    def add(self, tab: pa.Table) -> None:
        feas = tab.column("feasible").to_numpy(zero_copy_only=False)
        price = tab.column("server_price_usd").to_numpy()
        self.n += tab.num_rows
        self.feasible += int(feas.sum())
        ok = feas & (price <= self.target)
        self.under += int(ok.sum())
        if ok.any() and "h100e_per_unit" in tab.column_names:
            h = np.where(ok, tab.column("h100e_per_unit").to_numpy(), -np.inf)
            i = int(np.argmax(h))  # first maximum: the lowest design_id among ties within the chunk
            if self.best is None or h[i] > self.best["h100e_per_unit"]:
                self.best = tab.slice(i, 1).to_pandas().iloc[0]
            idx = np.flatnonzero(ok)
            idx = idx[np.lexsort((idx, -h[idx]))][:TOP]
            cand = tab.take(pa.array(idx)).to_pandas()
            both = cand if self.top is None else pd.concat([self.top, cand], ignore_index=True)
            self.top = both.sort_values(["h100e_per_unit", "design_id"], ascending=[False, True]).head(TOP)


def _run_chunks(cfg_dict: dict[str, Any], work: list[tuple[int, int]], baseline: dict[str, float],
                *, ray: bool, ray_address: str | None) -> Any:
    if ray or ray_address:
        from chipplan.codesign.distributed import run_on_ray

        yield from run_on_ray(evaluate_chunk, cfg_dict, work, baseline, address=ray_address)
        return
    for start, count in work:
        yield evaluate_chunk(cfg_dict, start, count, baseline)


def summarise(cfg: SweepConfig, stats: _Stats, pareto: pd.DataFrame, baseline: dict[str, float],
              wall_s: float, out_dir: Path | None = None) -> dict[str, Any]:
    """The ``--json`` summary: objectives and directions, counts, the front, baselines, servers under target."""
    show = [c for c in ("design_id", "node", "cores", "macs_per_core", "clock_ghz", "hbm_stacks", "cache_mib",
                        "n_dies", "unit_cost_usd", "server_price_usd", "tdp_w", "h100e_per_unit") if c in pareto]
    front_rows = [_row(r, cfg, show) for _, r in pareto.head(50).iterrows()]
    return {
        "name": cfg.name, "sampler": cfg.sampler, "seed": cfg.seed, "designs": int(stats.n),
        "feasible": int(stats.feasible), "pareto": len(pareto),
        "objectives": dict(cfg.objectives),
        "constraints": sorted(c for c in pareto.columns if c.startswith("constraint_")),
        "wall_s": round(wall_s, 3), "designs_per_s": round(stats.n / max(wall_s, 1e-9)),
        "catalog_version": catalog.load().version,
        "out_dir": str(out_dir) if out_dir else None,
        "target_server_usd": stats.target,
        "designs_under_target": int(stats.under),
        "best_under_target": _row(stats.best, cfg) if stats.best is not None else None,
        "top_under_target": [] if stats.top is None else [_row(r, cfg) for _, r in stats.top.iterrows()],
        "baselines": {b: {k_: v for k_, v in evaluate_catalog(b, cfg, baseline=baseline).items()
                          if k_ in (*cfg.objectives, "price_usd", "server_price_usd", "h100e_per_unit", "tdp_w",
                                    "owned_usd_per_accelerator_hour")}
                      for b in cfg.baselines},
        "pareto_front": front_rows,
    }


def _row(r: pd.Series, cfg: SweepConfig, cols: list[str] | None = None) -> dict[str, Any]:
    cols = cols or [c for c in ("design_id", *cfg.space, *cfg.objectives, "unit_cost_usd", "server_price_usd",
                                "h100e_per_unit", "tdp_w", "silicon_area_mm2", "n_dies") if c in r.index]
    out = {}
    for c in dict.fromkeys([*cols, *cfg.objectives]):
        v = r[c]
        out[c] = v.item() if hasattr(v, "item") else (str(v) if not isinstance(v, int | float) else v)
    return out


__all__ = ["DIRECTIONS", "SweepConfig", "SweepResult", "evaluate_params", "load_config", "sweep"]
