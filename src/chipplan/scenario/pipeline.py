"""``chipplan plan``: one scenario through every engine, stage by stage, with a cache of engine results.

Stages, in order: ``training`` (needs and layouts of each training run on each chip), ``serving`` (cost per
token at the SLOs), ``tco`` (owned vs rented), ``codesign`` (design front and the designed chip), ``strategy``
(sourcing Monte Carlo and optimised portfolio, in which the designed chip competes as a route: see
:func:`design_route`) and ``validation`` (the engines against published runs). Each stage's result is a
JSON-able dict; the cache keys it on the stage's inputs, the catalog version and the chipplan version, so a
second run of an unchanged scenario reuses it. Training-engine searches are shared across stages
(:func:`chipplan.perf.plan.memo` over an :class:`EstimateStore`): the sourcing stage's ratings of each chip
reuse the training stage's searches.

Every headline carries an 80 % interval: model error (the engines' out-of-sample log-error,
``chipplan.perf.efficiency.interval_log_sd``), the catalog's cost ranges and the scenario's uncertain inputs,
sampled together (``plan.interval_samples`` draws, seeded).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chipplan import __version__, catalog
from chipplan.errors import ChipplanError, FieldError
from chipplan.scenario import Resolved, engines
from chipplan.units import DAYS_PER_QUARTER, HOURS_PER_YEAR, Z80

STAGES = ("training", "serving", "tco", "codesign", "strategy", "validation")

# progress(stage, done, total, note): called when a stage starts (done 0), advances and ends (done == total)
Progress = Callable[[str, int, int, str], None]


def _quiet(stage: str, done: int, total: int, note: str) -> None:
    return None


def _jsonable(obj: Any) -> Any:
    from chipplan.commands._common import to_json

    return json.loads(to_json(obj, compact=True))


class Cache:
    """Engine results on disk, one JSON file per key (a hex digest: no input text reaches a path)."""

    def __init__(self, folder: Path | None):
        self.folder = folder
        self.hits = 0
        self.misses = 0

    def key(self, stage: str, inputs: Any) -> str:
        blob = json.dumps({"stage": stage, "inputs": inputs, "catalog": catalog.load().version,
                           "chipplan": __version__}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    def get(self, stage: str, inputs: Any, fn: Callable[[], Any]) -> tuple[Any, bool]:
        k = self.key(stage, inputs)
        path = self.folder / f"{stage}-{k[:32]}.json" if self.folder else None
        if path is not None and path.is_file():
            try:
                out = json.loads(path.read_text())
                self.hits += 1
                return out, True
            except (OSError, ValueError):
                pass  # unreadable entry: recompute and overwrite
        self.misses += 1
        res = _jsonable(fn())
        if path is not None:
            from chipplan.safeio import atomic_write_text

            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, json.dumps(res), fsync=False)  # a lost entry is only recomputed
        return res, False


class EstimateStore(MutableMapping):
    """Training-engine answers (``chipplan.perf.plan.estimate_run``) for one plan run, in memory and in the
    cache folder, so the sourcing stage's ratings of each chip reuse the training stage's searches, and a later
    run reuses both (keyed on the call's digest, the catalog version and the chipplan version)."""

    def __init__(self, cache: Cache):
        self.cache = cache
        self.mem: dict[str, Any] = {}

    def _path(self, key: str) -> Path | None:
        f = self.cache.folder
        return f / f"estimate-{self.cache.key('estimate', key)[:32]}.json" if f else None

    def __getitem__(self, key: str) -> Any:
        from chipplan.perf.plan import RunEstimate

        if key in self.mem:
            return self.mem[key]
        path = self._path(key)
        if path is not None and path.is_file():
            try:
                self.mem[key] = RunEstimate(**json.loads(path.read_text()))
                return self.mem[key]
            except (OSError, ValueError, TypeError):
                pass  # unreadable or from another shape of RunEstimate: recompute
        raise KeyError(key)

    def __setitem__(self, key: str, value: Any) -> None:
        self.mem[key] = value
        path = self._path(key)
        if path is not None:
            from chipplan.safeio import atomic_write_text

            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, json.dumps(_jsonable(value.to_dict())), fsync=False)

    def __delitem__(self, key: str) -> None:
        self.mem.pop(key, None)

    def __iter__(self) -> Any:
        return iter(self.mem)

    def __len__(self) -> int:
        return len(self.mem)


@dataclass
class PlanResult:
    scenario: Resolved
    seed: int
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    timings: dict[str, dict[str, Any]] = field(default_factory=dict)
    headlines: list[dict[str, Any]] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------ helpers


def _file_digest(path: str) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    except OSError:
        return "missing"


def _engine_call(cache: Cache, stage: str, kw: dict[str, Any], fn: Callable[..., Any]) -> Any:
    """``fn(**kw)`` through the cache, keyed on the arguments and, for a model given as a YAML file, its content."""
    key = kw["model"]
    res, _ = cache.get(stage, {**kw, "model_file": _file_digest(key) if key.endswith(".yaml") else None},
                       lambda: fn(**kw))
    return res


def _row_or_error(row: dict[str, Any], rows: list[dict[str, Any]], fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``; when it raises a ChipplanError, ``row`` records the message under ``error``, joins ``rows``,
    and None comes back (the stage goes on with its next row)."""
    try:
        return fn(*args)
    except ChipplanError as e:
        row["error"] = str(e)
        rows.append(row)
        return None


def chips(r: Resolved) -> list[str]:
    """The chips the plan compares: ``plan.chips``, else the reference and every route's catalog accelerator."""
    from chipplan.strategy import scenario as sc

    sf = r.scenario
    if sf.plan.chips:
        return list(dict.fromkeys(sf.plan.chips))
    cat = catalog.load()
    out = [sf.reference_accelerator]
    d = sc.defaults()["routes"]
    for body in sf.routes.values():
        body = body or {}
        acc = body.get("accelerator") or (getattr(d.get(body.get("uses", "")), "accelerator", "") or "")
        if acc and acc in cat.accelerators and acc not in out:
            out.append(acc)
    return out


def _model_key(r: Resolved, name: str, where: str) -> str:
    from chipplan.strategy import scenario as sc

    return sc._model_key(r.scenario, name, where)


def _family_sd(acc_id: str) -> float:
    from chipplan.perf import efficiency

    acc = catalog.accelerator(acc_id)
    return float(efficiency.for_families(np.array([acc.family], dtype=object))["uncertainty_log_sd"][0])


def _interval_sd(acc_id: str, *, n_experts: int, n_gpu: float, precision: str, serving: bool = False) -> float:
    from chipplan.perf import efficiency

    return float(efficiency.interval_log_sd(_family_sd(acc_id), n_experts=n_experts, n_gpu=n_gpu,
                                            precision=np.array([precision], dtype=object), serving=serving)[0])


def _log_sd(res: dict[str, Any], key: str, fallback: float) -> float:
    """The log-normal sd behind an engine answer's 80 % interval (``key_low``/``key_high``), else ``fallback``."""
    lo, hi, v = res.get(f"{key}_low"), res.get(f"{key}_high"), res.get(key)
    if lo and hi and v and lo > 0 and hi > lo:
        return float(np.log(hi / lo) / (2 * Z80))
    return fallback


def _band(res: dict[str, Any], key: str, sd: float) -> dict[str, float]:
    """p10/p50/p90 of an engine answer: its own interval when it gives one."""
    v = float(res[key])
    lo, hi = res.get(f"{key}_low"), res.get(f"{key}_high")
    if lo is None or hi is None:
        lo, hi = v * np.exp(-Z80 * sd), v * np.exp(Z80 * sd)
    return {"p10": float(lo), "p50": v, "p90": float(hi)}


def _pct(x: np.ndarray) -> dict[str, float]:
    p = np.percentile(np.asarray(x, dtype=float), [10, 50, 90])
    return {"p10": float(p[0]), "p50": float(p[1]), "p90": float(p[2])}


def _default_system(acc_id: str) -> str | None:
    for sid, s in catalog.load().systems.items():
        if s.accelerator == acc_id:
            return sid
    return None


def _hardware_acc(c: str) -> str:
    acc, _ = catalog.hardware(c)
    return acc.id


# ------------------------------------------------------------------------------------------------ stages


def stage_training(r: Resolved, chip_ids: list[str], seed: int, cache: Cache) -> dict[str, Any]:
    from chipplan.perf.memory import RECOMPUTE_CODE, training_memory

    sf = r.scenario
    runs = []
    for i, t in enumerate(sf.demand.training):
        if not (t.model and t.tokens):
            continue
        key = _model_key(r, t.model, f"demand.training[{i}].model")
        m = catalog.model(key)
        days = (t.deadline_quarter - t.start_quarter) * DAYS_PER_QUARTER
        for c in chip_ids:
            row: dict[str, Any] = {"run": t.name, "chip": c, "model": m.name, "model_key": key, "tokens": t.tokens,
                                   "precision": t.precision, "deadline_days": days}
            kw = {"model": key, "hardware": c, "tokens": t.tokens, "days": days,
                  "global_batch": t.global_batch_tokens, "seq_len": t.seq_len, "precision": t.precision}
            res = _row_or_error(row, runs, _engine_call, cache, "train", kw, engines.train)
            if res is None:
                continue
            lay = res["layout"]
            n_micro = res["global_batch_seqs"] / (lay["dp"] * lay["micro_batch"])
            mem = training_memory(m, seq_len=res["seq_len"], micro_batch=lay["micro_batch"], n_micro=n_micro,
                                  tp=lay["tp"], pp=lay["pp"], dp=lay["dp"], cp=lay["cp"], ep=lay["ep"],
                                  vpp=lay["vpp"], zero_stage=lay["zero_stage"],
                                  recompute=RECOMPUTE_CODE.get(str(lay["recompute"]), 0),
                                  fp8=t.precision in ("fp8", "fp4"))
            # the engine's own 80 % interval (out-of-sample error of its family, widened for MoE and scale)
            sd = _log_sd(res, "days", _interval_sd(_hardware_acc(c), n_experts=m.n_experts,
                                                    n_gpu=res["n_accelerators"], precision=t.precision))
            acc = catalog.hardware(c)[0]
            row.update({
                "accelerator": acc.id, "n_accelerators": res["n_accelerators"], "days": res["days"],
                "days_interval": _band(res, "days", sd), "accelerator_hours": res["accelerator_hours"],
                "accelerator_hours_interval": _band(res, "accelerator_hours", sd),
                "tokens_per_s_per_accelerator": res["tokens_per_s_per_accelerator"], "mfu": res["mfu"],
                "goodput": res["goodput"], "step_time_s": res["step_time_s"], "layout": lay,
                "global_batch_seqs": res["global_batch_seqs"], "seq_len": res["seq_len"],
                "breakdown_s": res["breakdown_s"], "interval_log_sd": sd,
                "memory_bytes": {k: float(np.asarray(v)) for k, v in mem.items()},
                "memory_capacity_bytes": float(acc.hbm_bytes),
                "peak_flops_per_s": float(acc.peak_flops_per_s(t.precision)),
            })
            runs.append(row)
    return {"runs": runs}


def _price(r: Resolved, chip: str, years: float) -> tuple[Any, str]:
    """(Uncertain-like price, source) for renting ``chip``: the scenario's, else the catalog's cloud median."""
    from chipplan.catalog import cost as cost_catalog
    from chipplan.cost import tco as tc
    from chipplan.scenario.model import Uncertain

    given = r.scenario.plan.price_usd_per_accelerator_hour.get(chip)
    if given is not None:
        return given, "scenario plan.price_usd_per_accelerator_hour"
    cat = cost_catalog.load()
    first = tc.default_term(years)
    # the horizon's commitment first; chips the hyperscalers do not list yet fall back to shorter terms and
    # to specialist clouds, and the source says which was used
    tried = []
    for kind in ("hyperscaler", "specialist"):
        for term in dict.fromkeys((first, "1yr", "on-demand")):
            try:
                rate, rows = tc.cloud_rate(cat, _hardware_acc(chip), term, kind=kind)
            except ChipplanError:
                tried.append(f"{kind} {term}")
                continue
            return Uncertain(dist="fixed", value=rate), f"catalog {kind} cloud price, {term}, median of " \
                                                        f"{', '.join(rows)}"
    raise FieldError(f"plan.price_usd_per_accelerator_hour.{chip}", "the catalog has no cloud price for this chip "
                     f"({', '.join(tried)}); give one (USD per accelerator-hour)")


def _serving_price(r: Resolved, chip: str, years: float) -> tuple[Any, str]:
    """The rental price, or where the catalog has none the owned rate of the chip's catalog system."""
    from chipplan.catalog import cost as cost_catalog
    from chipplan.cost import tco as tc
    from chipplan.scenario.model import Uncertain

    try:
        return _price(r, chip, years)
    except FieldError:
        sid = r.scenario.plan.systems.get(chip) or (chip if chip in catalog.load().systems
                                                    else _default_system(_hardware_acc(chip)))
        if sid is None:
            raise
        sys_ = catalog.system(sid)
        rate = tc.owned_rate(sys_, catalog.accelerator(sys_.accelerator), cost_catalog.load(), years=years,
                             utilisation=1.0, cloud_price=0.0)
        return Uncertain(dist="fixed", value=rate), f"owned {sid} over {years:g} years (no rental price in the catalog)"


def _serve(r: Resolved, cache: Cache, chip: str, s: Any, key: str, load_tps: float) -> tuple[Any, str, Any]:
    """The serving price of ``chip`` (and its source) and the serving engine's answer for load ``s``."""
    price, src = _serving_price(r, chip, r.scenario.plan.years)
    kw = {"model": key, "hardware": chip, "input_len": s.input_len, "output_len": s.output_len,
          "slo_ttft_ms": s.slo_ttft_ms, "slo_tpot_ms": s.slo_tpot_ms,
          "tokens_per_day": load_tps * s.peak_to_average * 86400.0, "price_per_hour": price.median}
    return price, src, _engine_call(cache, "serve", kw, engines.serve)


def stage_serving(r: Resolved, chip_ids: list[str], seed: int, cache: Cache) -> dict[str, Any]:
    from chipplan.perf.arithmetic import param_counts

    sf = r.scenario
    rng = np.random.default_rng(seed + 1)
    out = []
    n = sf.plan.interval_samples
    util = np.clip(sf.plan.utilisation.sample(rng, n), 1e-3, 1.0)
    for i, s in enumerate(sf.demand.serving):
        if not s.model:
            continue
        key = _model_key(r, s.model, f"demand.serving[{i}].model")
        m = catalog.model(key)
        load_tps = s.users * s.tokens_per_user_per_day / 86400.0
        for c in chip_ids:
            row: dict[str, Any] = {"load": s.name, "chip": c, "model": m.name, "model_key": key,
                                   "active_params": float(param_counts(m)["active"]), "input_len": s.input_len,
                                   "output_len": s.output_len, "slo_ttft_ms": s.slo_ttft_ms,
                                   "slo_tpot_ms": s.slo_tpot_ms}
            got = _row_or_error(row, out, _serve, r, cache, c, s, key, load_tps)
            if got is None:
                continue
            price, src, res = got
            b = res["best"]
            sd = _log_sd(b, "output_tokens_per_s_per_accelerator", _interval_sd(
                _hardware_acc(c), n_experts=m.n_experts, n_gpu=b["accelerators_per_replica"],
                precision=b["precision"], serving=True))
            tps = b["output_tokens_per_s_per_accelerator"] * np.exp(sd * rng.standard_normal(n))
            usd_m = price.sample(rng, n) / 3600.0 / (tps * util) * 1e6
            row.update({"best": b, "frontier": res["frontier"], "price_usd_per_accelerator_hour": price.median,
                        "price_source": src,
                        "price_basis": "owned" if src.startswith("owned") else "rented",
                        "usd_per_million_output_tokens": float(np.median(usd_m)),
                        "usd_per_million_output_tokens_interval": _pct(usd_m),
                        "accelerators_at_peak": res.get("accelerators_needed"),
                        "load_output_tokens_per_s": load_tps, "interval_log_sd": sd,
                        "configurations_evaluated": res["configurations_evaluated"]})
            out.append(row)
    return {"loads": out}


def _tco(r: Resolved, chip: str, system: str, cat: Any) -> tuple[Any, str, Any, Any, Any]:
    """The cloud price of ``chip`` (and its source), the TCO engine's answer for ``system`` at the plan's median
    utilisation, the TCO parameters to sample, and the system's accelerator."""
    from chipplan.cost import tco as tc

    years = r.scenario.plan.years
    price, src = _price(r, chip, years)
    util = min(max(r.scenario.plan.utilisation.median, 1e-3), 1.0)
    res = engines.tco(system=system, years=years, utilisation=util, cloud_price=price.median)
    sys_ = catalog.system(system)
    acc = catalog.accelerator(sys_.accelerator)
    p, _ = tc.tco_params(sys_, acc, cat, years=years, utilisation=util, cloud_price=price.median)
    return price, src, res, p, acc


def stage_tco(r: Resolved, chip_ids: list[str], serving: dict[str, Any], seed: int) -> dict[str, Any]:
    from chipplan.catalog import cost as cost_catalog
    from chipplan.cost import tco as tc
    from chipplan.cost import uncertainty as unc

    sf = r.scenario
    years = sf.plan.years
    cat = cost_catalog.load()
    rng = np.random.default_rng(seed + 2)
    n = sf.plan.interval_samples
    out = []
    for c in chip_ids:
        acc_id = _hardware_acc(c)
        sid = sf.plan.systems.get(c) or (c if c in catalog.load().systems else _default_system(acc_id))
        row: dict[str, Any] = {"chip": c, "system": sid}
        if sid is None:
            row["error"] = f"plan.systems.{c}: no catalog system is built on {acc_id}; name one"
            out.append(row)
            continue
        got = _row_or_error(row, out, _tco, r, c, sid, cat)
        if got is None:
            continue
        price, src, res, p, acc = got
        draws = unc.sample_params(p, n, seed + 3, unc.BOUNDS)
        draws["utilisation"] = np.clip(sf.plan.utilisation.sample(rng, n), 1e-3, 1.0)
        draws["cloud_usd_per_accelerator_hour"] = price.sample(rng, n)
        mc = tc.system_tco(**draws)
        # owned vs rented over time: the same server bought at t = 0, costs accumulated quarter by quarter
        t = np.arange(1, round(years * 4) + 1) / 4.0
        cp = unc.central_params(p)
        cp["years"] = t
        cp["life_years"] = years
        over = tc.system_tco(**cp)
        # the serving throughput on this chip turns $/accelerator-hour into $/M output tokens
        tps = next((x["best"]["output_tokens_per_s_per_accelerator"] for x in serving["loads"]
                    if x["chip"] == c and "best" in x), None)
        acc_hours = res["accelerators_per_server"] * years * HOURS_PER_YEAR * res["utilisation"]
        steps = [w for w in res["waterfall"] if w["step"] not in ("owned total", "cloud total")]
        wf = [{"step": w["step"], "usd": w["usd"], "usd_per_accelerator_hour": w["usd"] / acc_hours,
               "usd_per_million_output_tokens": (w["usd"] / acc_hours / 3600.0 / tps * 1e6) if tps else None}
              for w in steps]
        row.update({
            "accelerator": acc.id, "years": years, "utilisation": res["utilisation"], "cloud_price_source": src,
            "server_capex_usd": res["server_capex_usd"], "owned_total_usd": res["owned_total_usd"],
            "cloud_total_usd": res["cloud_total_usd"],
            "owned_usd_per_accelerator_hour": res["owned_usd_per_accelerator_hour"],
            "owned_usd_per_accelerator_hour_interval": _pct(mc["owned_usd_per_accelerator_hour"]),
            "cloud_usd_per_accelerator_hour": res["cloud_usd_per_accelerator_hour"],
            "owned_to_cloud_ratio": res["owned_to_cloud_ratio"],
            "owned_to_cloud_ratio_interval": _pct(np.asarray(mc["owned_total_usd"])
                                                  / np.asarray(mc["cloud_total_usd"])),
            "breakeven_utilisation": res["breakeven_utilisation"],
            "over_time": {"years": t.tolist(), "owned_usd": np.broadcast_to(over["owned_total_usd"], t.shape).tolist(),
                          "cloud_usd": np.broadcast_to(over["cloud_total_usd"], t.shape).tolist()},
            "waterfall": wf, "serving_tokens_per_s_per_accelerator": tps})
        out.append(row)
    return {"chips": out}


def codesign_config(r: Resolved) -> Path | None:
    """``plan.codesign_config`` (relative to the scenario), else the project's examples/codesign.yaml if present."""
    c = r.scenario.plan.codesign_config
    if c:
        return r.folder / c
    p = Path(__file__).resolve().parents[3] / "examples" / "codesign.yaml"
    return p if p.is_file() else None


CODESIGN_SAMPLE = 400  # designs sent beside the Pareto set (a sweep of 10^7 rows never travels whole)
_DESIGN_COLS = ("design_id", "node", "cores", "macs_per_core", "clock_ghz", "hbm_stacks", "cache_mib", "n_dies",
                "unit_cost_usd", "server_price_usd", "tdp_w", "h100e_per_unit")


def stage_codesign(r: Resolved, seed: int, cache: Cache) -> dict[str, Any]:
    """The co-design sweep (``chipplan.codesign.sweep``): the Pareto front, a sample, and the designed chip
    (best on the first objective among designs under the server-price target, else on the front)."""
    from chipplan import codesign
    from chipplan.perf import efficiency

    cfg = codesign_config(r)
    if cfg is None:
        return {"skipped": "no co-design config (plan.codesign_config) and no examples/codesign.yaml"}
    n = r.scenario.plan.codesign_designs

    def sweep() -> dict[str, Any]:
        from chipplan.codesign import design as dz

        res = codesign.sweep(cfg, designs=n, seed=seed)
        objs = dict(res.objectives)
        cols = [c for c in (*_DESIGN_COLS, *objs) if c in res.pareto.columns]
        d = res.designs
        sample = d.sample(min(CODESIGN_SAMPLE, len(d)), random_state=seed) if len(d) else d
        out = {"designs": int(res.summary.get("designs", len(d))), "objectives": objs,
               "pareto": res.pareto[cols].to_dict("records"),
               "sample": sample[[c for c in cols if c in sample.columns]].to_dict("records"),
               "best_under_target": res.summary.get("best_under_target"), "baselines": res.summary.get("baselines"),
               "target_server_usd": res.summary.get("target_server_usd"), "config": cfg.name}
        # every parameter of the designed chip, so its supply route can be costed and rated again
        best = _chosen(out)
        row = d[d["design_id"] == best.get("design_id")]
        if len(row):
            r0 = row.iloc[0]
            out["design_params"] = {p.name: (r0[p.name].item() if hasattr(r0[p.name], "item") else str(r0[p.name]))
                                    for p in dz.PARAMS if p.name in r0.index}
        return out

    out, _ = cache.get("codesign", {"config": _file_digest(str(cfg)), "designs": n, "seed": seed, "v": 2}, sweep)
    key = next(iter(out["objectives"]))
    axes = list(out["objectives"])[:2]
    out["axes"] = axes
    best = _chosen(out)
    # a designed chip is an uncalibrated family: its interval is the widest the engines carry
    sd = float(efficiency.interval_log_sd(efficiency.for_families(np.array(["custom"], dtype=object))
                                          ["uncertainty_log_sd"], n_experts=0, n_gpu=8,
                                          precision=np.array(["fp8"], dtype=object), serving=True)[0])
    v = float(best[key])
    out["best"] = {"label": f"co-design: {key.replace('_', ' ')} of the designed chip (design "
                            f"{best.get('design_id')}, {best.get('node')})",
                   "value": v, "low": v * np.exp(-Z80 * sd), "high": v * np.exp(Z80 * sd),
                   "unit": "USD/M tokens" if "usd_per_mtok" in key else "", "design": best}
    base = out.get("baselines") or {}
    cmp_ = ", ".join(f"{k} {b[key]:.3g}" for k, b in base.items() if key in b)
    out["reading"] = (f"{len(out['pareto'])} of {out['designs']:,} designs are on the front; the designed chip "
                      f"(design {best.get('design_id')}, {best.get('node')}, {best.get('h100e_per_unit', 0):.2f} "
                      f"H100-equivalents, ${best.get('unit_cost_usd', 0):,.0f} a unit) reaches {key} {v:.3g}"
                      + (f" against {cmp_}" if cmp_ else "") + ".")
    return out


def _chosen(cd: dict[str, Any]) -> dict[str, Any]:
    """The designed chip of a co-design result: the best design under the server-price target, else the front's
    best on the first objective."""
    key, sense = next(iter(cd["objectives"].items()))
    return cd.get("best_under_target") or (min if sense == "min" else max)(cd["pareto"], key=lambda x: x[key])


DESIGN_ROUTE_ID = "designed_chip"  # the route added when a scenario has no in-house or partner route
DESIGN_ROUTE_USES = "in-house-chip"


def design_route(r: Resolved, cd: dict[str, Any] | None) -> tuple[str, dict[str, Any]] | None:
    """(route id, route body) that puts the co-design stage's designed chip into the sourcing portfolio.

    The route is ``plan.design_route``, else the scenario's first in_house route, else its first custom_asic
    route, naming no design of its own; without one a ``designed_chip`` route from the in-house-chip defaults is
    added. Its body gains ``design: {sweep, params}``, so the strategy engine rates the chip with the perf
    engines and prices it with the cost engine (``chipplan.codesign.route.design_figures``); fields the route
    states itself (``perf_per_unit``, ``unit_price_usd``) still win. None when there is no designed chip or the
    plan says ``design_route: none``.
    """
    from chipplan.scenario import route_kind

    sf = r.scenario
    cfg = codesign_config(r)
    params = (cd or {}).get("design_params")
    if sf.plan.design_route == "none" or not params or cfg is None:
        return None
    best = (cd.get("best") or {}).get("design") or {}
    if sf.plan.design_route:
        rid = sf.plan.design_route
    else:
        free = [k for k, b in sf.routes.items() if not (b or {}).get("design")]
        rid = next((k for kind in ("in_house", "custom_asic") for k in free if route_kind(sf.routes[k]) == kind),
                   DESIGN_ROUTE_ID)
    body = dict(sf.routes.get(rid) or {"uses": DESIGN_ROUTE_USES})
    body["design"] = {"sweep": str(cfg.resolve()), "params": params}
    if "name" not in body:
        base = "In-house chip" if route_kind(body) == "in_house" else "Partner ASIC"
        body["name"] = f"{base} (designed: design {best.get('design_id')}, {best.get('node', '')})"
    return rid, body


def strategy_scenario(r: Resolved, cd: dict[str, Any] | None = None) -> tuple[Any, tuple[str, dict] | None]:
    """The scenario the sourcing stage runs: the plan's, with the designed chip's route (``design_route``)."""
    sf = r.scenario
    dr = design_route(r, cd)
    if dr is None:
        return sf, None
    rid, body = dr
    out = sf.model_copy(update={"routes": {**sf.routes, rid: body}})
    out._folder = sf._folder
    return out, dr


def stage_strategy(r: Resolved, seed: int, progress: Progress, cd: dict[str, Any] | None = None) -> dict[str, Any]:
    from chipplan.strategy import montecarlo, portfolio
    from chipplan.strategy import scenario as sc

    sf, dr = strategy_scenario(r, cd)
    n_mc = r.scenario.plan.monte_carlo_scenarios
    inp = sc.build(sf, seed=seed, scenarios=n_mc)
    progress("strategy", 1, 3, "engines rated the chips; optimising the portfolio")
    res = portfolio.plan(inp, tornado_scenarios=sf.plan.tornado_scenarios)
    progress("strategy", 2, 3, "portfolio optimised; costing it on every scenario")
    # the 80 % interval of the portfolio's cost: its cost on every Monte Carlo scenario
    d = portfolio.run_monte_carlo(inp)
    ids = list(d.route_ids)
    units = np.array([res["portfolio"][i]["units"] for i in ids])
    go = np.array([res["portfolio"][i]["programme"] for i in ids])
    o = montecarlo.outcome(d, units, go, penalty_usd_per_h100e_hour=inp.penalty_usd_per_h100e_hour)
    res["cost_interval_usd"] = _pct(o.cost_usd)
    if dr is not None:
        rid = dr[0]
        route = next(x for x in inp.routes if x.id == rid)
        p = res["portfolio"][rid]
        res["design_route"] = {
            "route": rid, "name": route.name, "kind": route.kind, "added": rid not in r.scenario.routes,
            "perf_per_unit": route.perf_per_unit, "unit_price_usd": route.unit_price_usd,
            "units": p["units"], "share": p["share"], "programme": p["programme"],
            "source": inp.provenance.get("performance", {}).get(f"routes.{rid}.perf_per_unit", "")}
    return res


def _default_validation() -> list[Path]:
    root = Path(__file__).resolve().parents[3] / "benchmarks" / "data"
    return [p for p in (root / "extra_training.csv", root / "extra_inference.csv") if p.is_file()]


def validation_files(r: Resolved) -> list[Path]:
    v = r.scenario.plan.validation
    if v is None:
        return _default_validation()
    return [(r.folder / p) for p in v]


def stage_validation(r: Resolved) -> dict[str, Any]:
    from chipplan.io.write import validate_file

    out = []
    for p in validation_files(r):
        res = validate_file(p)
        rows = [{"metric": x["metric"], "group": x["group"], "target": x["target"], "predicted": x["predicted"],
                 "ape": x["ape"], "row_id": x["row_id"]} for x in res["rows"] if x.get("predicted") is not None]
        out.append({"file": p.name, "summary": res["overall"], "rows": rows})
    return {"tables": out}


# ------------------------------------------------------------------------------------------------ headlines


def headlines(res: PlanResult) -> list[dict[str, Any]]:
    """The executive summary: one number per question, each with its 80 % interval (p10-p90)."""
    out: list[dict[str, Any]] = []
    tr = [x for x in res.stages.get("training", {}).get("runs", []) if "error" not in x]
    for run in dict.fromkeys(x["run"] for x in tr):
        best = min((x for x in tr if x["run"] == run), key=lambda x: x["accelerator_hours"])
        iv = best["days_interval"]
        out.append({"key": f"training.{run}.days", "label": f"{run}: wall-clock days on {best['n_accelerators']:,} "
                    f"× {best['chip']} (fewest accelerator-hours)", "value": best["days"], "low": iv["p10"],
                    "high": iv["p90"], "unit": "days"})
        ih = best["accelerator_hours_interval"]
        out.append({"key": f"training.{run}.accelerator_hours", "label": f"{run}: accelerator-hours on "
                    f"{best['chip']}", "value": best["accelerator_hours"], "low": ih["p10"], "high": ih["p90"],
                    "unit": "accelerator-hours"})
    sv = [x for x in res.stages.get("serving", {}).get("loads", []) if "error" not in x]
    for load in dict.fromkeys(x["load"] for x in sv):
        best = min((x for x in sv if x["load"] == load), key=lambda x: x["usd_per_million_output_tokens"])
        iv = best["usd_per_million_output_tokens_interval"]
        out.append({"key": f"serving.{load}.usd_per_million_output_tokens",
                    "label": f"{load}: USD per million output tokens at the SLO, cheapest on {best['chip']} "
                             f"({best['price_basis']})",
                    "value": best["usd_per_million_output_tokens"], "low": iv["p10"], "high": iv["p90"],
                    "unit": "USD/M tokens"})
    for x in res.stages.get("tco", {}).get("chips", []):
        if "error" in x:
            continue
        iv = x["owned_to_cloud_ratio_interval"]
        out.append({"key": f"tco.{x['chip']}.owned_to_cloud_ratio",
                    "label": f"owning {x['system']} vs renting over {x['years']:g} years (cost ratio; < 1: own)",
                    "value": x["owned_to_cloud_ratio"], "low": iv["p10"], "high": iv["p90"], "unit": "ratio"})
    st = res.stages.get("strategy")
    if st:
        iv = st["cost_interval_usd"]
        out.append({"key": "strategy.cost_usd", "label": "sourcing portfolio cost over the horizon (median)",
                    "value": iv["p50"], "low": iv["p10"], "high": iv["p90"], "unit": "USD"})
        p = float(st["unmet_probability"])
        n = int(st["monte_carlo_scenarios"])
        half = Z80 * np.sqrt(max(p * (1 - p), 1e-12) / n)
        out.append({"key": "strategy.unmet_probability", "label": "probability some demand is unmet after spot",
                    "value": p, "low": max(0.0, p - half), "high": min(1.0, p + half), "unit": "probability"})
    cd = res.stages.get("codesign", {})
    if cd.get("best"):
        b = cd["best"]
        out.append({"key": "codesign.best", "label": b["label"], "value": b["value"], "low": b["low"],
                    "high": b["high"], "unit": b["unit"]})
    return out


# ------------------------------------------------------------------------------------------------ run


def run(r: Resolved, *, seed: int | None = None, cache: Cache | None = None, progress: Progress | None = None,
        stages: tuple[str, ...] = STAGES) -> PlanResult:
    """Every stage of the plan; ``progress`` hears about each one."""
    from chipplan.perf.plan import memo

    cache = cache or Cache(None)
    with memo(EstimateStore(cache)):
        return _run(r, seed=seed, cache=cache, progress=progress, stages=stages)


def _run(r: Resolved, *, seed: int | None, cache: Cache, progress: Progress | None,
         stages: tuple[str, ...]) -> PlanResult:
    prog = progress or _quiet
    sf = r.scenario
    seed_ = sf.seed if seed is None else seed
    res = PlanResult(scenario=r, seed=seed_)
    chip_ids = chips(r)
    names = [t.model for t in (*sf.demand.training, *sf.demand.serving)] + [sf.demand.performance_model]
    models = sorted({v for v in names if v.endswith((".yaml", ".yml"))})
    model_files = {m: _file_digest(_model_key(r, m, "demand.model")) for m in models}
    base = {"data": {k: v for k, v in r.data.items() if k not in ("plan", "extends", "name", "description")},
            "plan": sf.plan.model_dump(), "models": model_files, "chips": chip_ids, "seed": seed_}

    def stage(name: str, fn: Callable[[], Any], total: int = 1, key: Any = None) -> None:
        """Run one stage; with ``key`` the whole stage is cached, otherwise its engine calls are."""
        if name not in stages:
            return
        prog(name, 0, total, "running")
        t0 = time.perf_counter()
        misses = cache.misses
        if key is not None:
            out, _ = cache.get(name, key, fn)
        else:
            out = _jsonable(fn())
        hit = cache.misses == misses
        res.stages[name] = out
        res.timings[name] = {"seconds": round(time.perf_counter() - t0, 3), "cached": hit}
        prog(name, total, total, "cached" if hit else "done")

    # engine calls (training, serving) are cached one by one on their inputs; the intervals around them are
    # re-drawn with the seed each time, which is cheap
    stage("training", lambda: stage_training(r, chip_ids, seed_, cache))
    stage("serving", lambda: stage_serving(r, chip_ids, seed_, cache))
    stage("tco", lambda: stage_tco(r, chip_ids, res.stages.get("serving", {"loads": []}), seed_))
    if sf.plan.codesign_designs:
        stage("codesign", lambda: stage_codesign(r, seed_, cache))
    cd = res.stages.get("codesign")
    dr = design_route(r, cd)
    stage("strategy", lambda: stage_strategy(r, seed_, prog, cd), total=3,
          key={**base, "design_route": dr and [dr[0], {k: v for k, v in dr[1].items() if k != "design"},
                                               dr[1]["design"]["params"], _file_digest(dr[1]["design"]["sweep"])]})
    vfiles = validation_files(r)
    if vfiles:
        stage("validation", lambda: stage_validation(r), key={p.name: _file_digest(str(p)) for p in vfiles})
    res.headlines = headlines(res)
    return res
