"""Multi-objective search over a sweep's space behind one ask/tell interface.

``Searcher.ask(n)`` returns ``n`` parameter sets; ``Searcher.tell(params, values, constraints)`` reports their
objective values (minimised, i.e. "max" objectives negated) and "≤ 0" constraint values. Optuna's NSGA-II and
TPE samplers and plain random sampling implement it, so they are interchangeable; the objective function is the
sweep's (``sweep.evaluate_params``: the same perf and cost engines), evaluated on each asked batch at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from chipplan.codesign import design as dz
from chipplan.codesign.pareto import hypervolume_2d, non_dominated, oriented
from chipplan.codesign.sweeps import SweepConfig, baseline_of, evaluate_params, load_config
from chipplan.errors import FieldError

SAMPLERS = ("nsga2", "tpe", "random")
BIG = 1e30  # stands in for infinite objective values (Optuna needs finite numbers)


class Searcher(Protocol):
    def ask(self, n: int) -> list[dict[str, Any]]: ...

    def tell(self, params: list[dict[str, Any]], values: np.ndarray, constraints: np.ndarray) -> None: ...


class OptunaSearcher:
    """Optuna study (NSGA-II or TPE, multi-objective, with constraints) driven by ask/tell."""

    def __init__(self, cfg: SweepConfig, sampler: str, seed: int, population: int = 32):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._optuna = optuna
        # Constraints are reported per trial (Trial.set_constraint); older Optuna takes a constraints_func.
        self._per_trial = hasattr(optuna.trial.Trial, "set_constraint")
        kw = {} if self._per_trial else {"constraints_func": lambda t: t.user_attrs.get("constraints", (0.0,))}
        if sampler == "nsga2":
            s = optuna.samplers.NSGAIISampler(population_size=population, seed=seed, **kw)
        elif sampler == "tpe":
            s = optuna.samplers.TPESampler(seed=seed, n_startup_trials=population, multivariate=True, **kw)
        else:
            raise FieldError("--sampler", f"must be one of {', '.join(SAMPLERS)}", sampler)
        self.study = optuna.create_study(directions=["minimize"] * len(cfg.objectives), sampler=s)
        self.dist = _distributions(cfg)
        self._open: dict[int, Any] = {}

    def ask(self, n: int) -> list[dict[str, Any]]:
        out = []
        for _ in range(n):
            t = self.study.ask(self.dist)
            self._open[t.number] = t
            out.append({**t.params, "_trial": t.number})
        return out

    def tell(self, params: list[dict[str, Any]], values: np.ndarray, constraints: np.ndarray) -> None:
        for p, v, c in zip(params, values, constraints, strict=True):
            t = self._open.pop(p["_trial"])
            if self._per_trial:
                for j, x in enumerate(c):
                    t.set_constraint(f"c{j}", float(x))
            else:
                t.set_user_attr("constraints", tuple(float(x) for x in c))
            self.study.tell(t, [float(x) for x in np.clip(np.nan_to_num(v, nan=BIG, posinf=BIG), -BIG, BIG)])


class RandomSearcher:
    """Uniform random sampling of the space (numpy, seeded) with the same interface."""

    def __init__(self, cfg: SweepConfig, seed: int):
        self.cfg = cfg
        self.rng = np.random.default_rng(seed)

    def ask(self, n: int) -> list[dict[str, Any]]:
        rows = []
        for _ in range(n):
            p = {}
            for name, r in self.cfg.space.items():
                u = float(self.rng.random())
                if r.values is not None:
                    p[name] = r.values[min(int(u * len(r.values)), len(r.values) - 1)]
                elif r.log:
                    p[name] = float(np.exp(np.log(r.low) + u * (np.log(r.high) - np.log(r.low))))
                else:
                    p[name] = r.low + u * (r.high - r.low)
                if r.values is None and r.integer:
                    p[name] = float(np.round(p[name]))
            rows.append(p)
        return rows

    def tell(self, params: list[dict[str, Any]], values: np.ndarray, constraints: np.ndarray) -> None:
        return None


def _distributions(cfg: SweepConfig) -> dict[str, Any]:
    import optuna.distributions as od

    out = {}
    for name, r in cfg.space.items():
        if r.values is not None:
            out[name] = od.CategoricalDistribution(list(r.values))
        elif r.integer:
            out[name] = od.IntDistribution(int(np.ceil(r.low)), int(np.floor(r.high)), log=r.log)
        else:
            out[name] = od.FloatDistribution(r.low, r.high, log=r.log)
    return out


def make_searcher(cfg: SweepConfig, sampler: str, seed: int) -> Searcher:
    if sampler == "random":
        return RandomSearcher(cfg, seed)
    return OptunaSearcher(cfg, sampler, seed)


@dataclass
class SearchResult:
    designs: pd.DataFrame
    pareto: pd.DataFrame
    objectives: dict[str, str]
    summary: dict[str, Any] = field(default_factory=dict)


def _batch_params(cfg: SweepConfig, rows: list[dict[str, Any]]) -> dict[str, Any]:
    params: dict[str, Any] = dict(cfg.fixed)
    for name in cfg.space:
        vals = [r[name] for r in rows]
        cat = dz.PARAM[name].table or name == "family"
        params[name] = np.asarray([str(v) for v in vals], dtype=object) if cat else np.asarray(vals, dtype=float)
    return params


def search(config: Any, *, budget: int, sampler: str = "nsga2", seed: int = 0, batch: int = 32) -> SearchResult:
    """Run ``budget`` evaluations of the sweep's objective with ``sampler`` (nsga2, tpe, random)."""
    cfg = load_config(config)
    if sampler not in SAMPLERS:
        raise FieldError("--sampler", f"must be one of {', '.join(SAMPLERS)}", sampler)
    if budget < 1:
        raise FieldError("--budget", "must be a positive whole number", budget)
    s = make_searcher(cfg, sampler, seed)
    base = baseline_of(cfg)
    frames = []
    done = 0
    while done < budget:
        n = min(batch, budget - done)
        rows = s.ask(n)
        out = evaluate_params(_batch_params(cfg, rows), cfg, n, base)
        F = oriented(out, cfg.objectives)
        C = np.column_stack([np.asarray(v, dtype=float) for k, v in out.items() if k.startswith("constraint_")])
        s.tell(rows, F, C)
        df = pd.DataFrame({k: (dz.names_of(v).astype(str) if isinstance(v, dz.Cat) or v.dtype == object else v)
                           for k, v in out.items()})
        df.insert(0, "design_id", np.arange(done, done + n))
        frames.append(df)
        done += n
    d = pd.concat(frames, ignore_index=True)
    pareto = front(d, cfg.objectives)
    return SearchResult(designs=d, pareto=pareto, objectives=dict(cfg.objectives),
                        summary={"sampler": sampler, "seed": seed, "evaluations": len(d),
                                 "feasible": int(d["feasible"].sum()), "pareto": len(pareto),
                                 "objectives": dict(cfg.objectives)})


def front(d: pd.DataFrame, objectives: dict[str, str]) -> pd.DataFrame:
    F = oriented({c: d[c].to_numpy() for c in objectives}, objectives)
    F[~d["feasible"].to_numpy(dtype=bool)] = np.nan
    F[~np.all(np.isfinite(F), axis=1)] = np.nan
    return d[non_dominated(F)].reset_index(drop=True)


def hypervolume(d: pd.DataFrame, objectives: dict[str, str], ref: np.ndarray) -> float:
    """Hypervolume of the feasible points of ``d`` over its first two objectives (oriented to minimise)."""
    cols = dict(list(objectives.items())[:2])
    F = oriented({c: d[c].to_numpy() for c in cols}, cols)
    F = F[d["feasible"].to_numpy(dtype=bool) & np.all(np.isfinite(F), axis=1)]
    return hypervolume_2d(F, ref)
