"""Scenario YAML for ``chipplan strategy``: pydantic at the file boundary → frozen dataclasses inside.

Route, bottleneck, event and spot defaults come from ``catalog/data/strategy/routes.yaml`` (every number
sourced or a marked estimate); a scenario picks routes with ``uses: <default id>`` and overrides fields.
Numeric rules (probabilities in [0, 1], lead times >= 0) are checked by the dataclasses in
:mod:`chipplan.strategy.routes`, so the YAML and Python paths give the same one-line errors.

Demand and chip ratings come from the engines (:mod:`chipplan.strategy.demand`): a training run's
accelerator-hours from ``estimate_run`` (with its ``global_batch_tokens``, ``seq_len`` and ``precision``), a
serving load's tokens/s per accelerator from the serving engine, and each catalog chip's workload
H100-equivalents from the training engine on the lab's run. ``accelerator_hours``,
``tokens_per_s_per_accelerator`` and ``perf_per_unit`` given in the scenario override the engines. A model is a
catalog id or a YAML file with a ``models:`` section, relative to the scenario file's folder. Engine errors
are re-raised under the scenario field that caused them (``demand.training.<name>.deadline_quarter: ...``).
The ``provenance`` of the inputs names the engine (or override) behind every such number.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from chipplan.catalog import DATA_DIR, pydantic_message, read_yaml
from chipplan.catalog.schema import Sourced
from chipplan.errors import CatalogError, ChipplanError, FieldError, InfeasibleError, InputFileError
from chipplan.strategy import demand as dm
from chipplan.strategy.montecarlo import DemandModel
from chipplan.strategy.routes import ROUTE_KINDS, Bottleneck, Event, LogNormal90, Route, Spot, Triangular
from chipplan.strategy.stochastic import Risk

DEFAULTS = DATA_DIR / "strategy" / "routes.yaml"
Num = Annotated[float, Field(allow_inf_nan=False)]
Tri = tuple[Num, Num, Num]


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CI90(_M):
    p5: Num
    p95: Num


class RouteFields(_M):
    kind: Literal[ROUTE_KINDS]  # type: ignore[valid-type]
    name: str = ""
    accelerator: str = ""
    perf_per_unit: Num | None = None
    claim_discount: Num = 1.0
    perf_uncertainty: CI90 | None = None
    unit_price_usd: Num = 0.0
    price_shock: CI90 | None = None
    usd_per_hour: Num = 0.0
    fixed_cost_usd: Num = 0.0
    lead_time_quarters: Tri = (0.0, 0.0, 0.0)
    ramp_quarters: Num = 0.0
    allocation: Tri = (1.0, 1.0, 1.0)
    success_probability: Num = 1.0
    respin_probability: Num = 0.0
    respin_delay_quarters: Num = 0.0
    max_respins: int = 0
    max_units: Num
    residual_value_fraction: Num = 0.0
    exit_multiple: Num = 0.0
    exposure: dict[str, Num] = Field(default_factory=dict)


class RouteDefault(RouteFields, Sourced):
    pass


class BottleneckFields(_M):
    probability: Num
    start_quarters: Tri
    duration_quarters: Tri
    severity: Tri
    spot_price_uplift: Num = 0.0
    spot_exposure: Num = 0.0


class BottleneckDefault(BottleneckFields, Sourced):
    pass


class EventFields(_M):
    kind: str
    probability: Num
    time_quarters: Tri
    discount: Num = 0.0


class EventDefault(EventFields, Sourced):
    pass


class SpotFields(_M):
    usd_per_h100e_hour: Num
    price_shock: CI90 | None = None
    available_h100e: Num = float("inf")
    growth_per_year: Num = 0.0


class SpotDefault(SpotFields, Sourced):
    pass


class TrainingEntry(_M):
    name: str
    model: str = ""  # catalog id, or a YAML file with a models: section (relative to the scenario's folder)
    tokens: Num | None = None
    global_batch_tokens: Num | None = None  # training engine default: 4M tokens, 16M from 100B parameters
    seq_len: int | None = None  # training engine default: min(model max, 8192)
    precision: str = "bf16"
    accelerator_hours: Num | None = None  # override: reference-accelerator hours; skips the training engine
    start_quarter: int
    deadline_quarter: int


class ServingEntry(_M):
    name: str
    model: str = ""  # catalog id, or a YAML file with a models: section (relative to the scenario's folder)
    users: Num
    tokens_per_user_per_day: Num
    growth_per_year: Num = 0.0
    peak_to_average: Num = 1.5
    input_len: int = 2048  # request shape and latency limits handed to the serving engine
    output_len: int = 512
    slo_ttft_ms: Num | None = None
    slo_tpot_ms: Num | None = None
    tokens_per_s_per_accelerator: Num | None = None  # override: output tokens/s per reference accelerator


class DemandSection(_M):
    training: list[TrainingEntry] = Field(default_factory=list)
    serving: list[ServingEntry] = Field(default_factory=list)
    training_uncertainty: CI90 = CI90(p5=1.0, p95=1.0)
    inference_growth_uncertainty: CI90 = CI90(p5=1.0, p95=1.0)
    performance_model: str = ""  # model whose training throughput sets each chip's workload ratio


class RiskSection(_M):
    weight: Num = 0.0
    alpha: Num = 0.9


class PriceDemandSection(_M):
    elasticity: Num = 1.1
    margin: Num = 0.5
    reference_price_usd_per_mtok: Num | None = None


class ScenarioFile(_M):
    name: str
    description: str = ""
    horizon_quarters: int = Field(ge=1, le=40)
    reference_accelerator: str = dm.REFERENCE_ACCELERATOR
    demand: DemandSection
    routes: dict[str, dict[str, Any]]
    bottlenecks: dict[str, dict[str, Any]] | None = None
    events: dict[str, dict[str, Any]] | None = None
    spot: dict[str, Any] | None = None
    bottleneck_correlation: Num = 0.5
    unmet_penalty_usd_per_h100e_hour: Num
    risk: RiskSection = RiskSection()
    optimisation_scenarios: int = 150
    monte_carlo_scenarios: int = 100_000
    seed: int = 0
    price_demand: PriceDemandSection = PriceDemandSection()
    policies: dict[str, dict[str, Num]] = Field(default_factory=dict)
    _folder: Path | None = PrivateAttr(default=None)  # the scenario file's folder: model paths resolve here


# The Monte Carlo holds every scenario's deliveries in memory (about 17 kB each for examples/frontier_lab.yaml,
# 1.7 GB at its 100,000); far above this is a typo that would exhaust memory rather than a request.
MAX_MONTE_CARLO_SCENARIOS = 500_000


@dataclass(frozen=True, kw_only=True)
class StrategyInputs:
    """Everything the strategy layer needs, validated, in SI/USD and quarters."""

    name: str
    routes: tuple[Route, ...]
    bottlenecks: tuple[Bottleneck, ...]
    events: tuple[Event, ...]
    spot: Spot
    demand: DemandModel
    bottleneck_correlation: float
    penalty_usd_per_h100e_hour: float
    risk: Risk
    optimisation_scenarios: int
    monte_carlo_scenarios: int
    seed: int
    elasticity: float
    margin: float
    reference_price_usd_per_mtok: float | None
    serving_tokens_per_h100e_hour: float
    policies: dict[str, dict[str, float]]
    provenance: dict[str, Any] = field(default_factory=dict)


def _tri(name: str, v: tuple[float, float, float]) -> Triangular:
    return Triangular(low=v[0], mode=v[1], high=v[2], name=name)


def _ln(name: str, v: CI90 | None) -> LogNormal90:
    return LogNormal90(p5=1.0, p95=1.0, name=name) if v is None else LogNormal90(p5=v.p5, p95=v.p95, name=name)


def _validate(cls: type[BaseModel], prefix: str, body: Any) -> Any:
    try:
        return cls.model_validate(body)
    except ValidationError as e:
        raise FieldError(*pydantic_message(prefix, e).split(": ", 1)) from None


@functools.lru_cache(maxsize=1)
def defaults() -> dict[str, dict[str, BaseModel]]:
    """The sourced defaults (routes, bottlenecks, events, spot), validated once."""
    doc = read_yaml(DEFAULTS)
    out: dict[str, dict[str, BaseModel]] = {"routes": {}, "bottlenecks": {}, "events": {}, "spot": {}}
    cls = {"routes": RouteDefault, "bottlenecks": BottleneckDefault, "events": EventDefault}
    for section, c in cls.items():
        for id_, body in (doc.get(section) or {}).items():
            try:
                out[section][id_] = c.model_validate(body)
            except ValidationError as e:
                raise CatalogError(f"{DEFAULTS.name}: " + pydantic_message(f"{section}.{id_}", e)) from None
    try:
        out["spot"]["default"] = SpotDefault.model_validate(doc["spot"])
    except ValidationError as e:
        raise CatalogError(f"{DEFAULTS.name}: " + pydantic_message("spot", e)) from None
    return out


def _strip(m: BaseModel) -> dict[str, Any]:
    return {k: v for k, v in m.model_dump(exclude_unset=True).items() if k not in ("source", "field_sources")}


def _merge(section: str, id_: str, body: dict[str, Any], base_cls: type[BaseModel]) -> Any:
    body = dict(body or {})
    uses = body.pop("uses", None)
    base: dict[str, Any] = {}
    if uses is not None:
        d = defaults()[section]
        if uses not in d:
            raise FieldError(f"{section}.{id_}.uses", f"unknown default; known: {', '.join(sorted(d))}", uses)
        base = _strip(d[uses])
    return _validate(base_cls, f"{section}.{id_}", {**base, **body})


def load(path: str | Path) -> ScenarioFile:
    p = Path(path)
    if not p.is_file():
        raise InputFileError(f"{p}: scenario file not found")
    try:
        doc = read_yaml(p)
    except CatalogError as e:
        raise InputFileError(str(e)) from None
    if not isinstance(doc, dict):
        raise InputFileError(f"{p}: a scenario must be a YAML mapping")
    sf = _validate(ScenarioFile, "scenario", doc)
    sf._folder = p.resolve().parent
    return sf


# Engine error heads (the text before the first ": ") → the scenario field that sets them.
_TRAINING_FIELDS = {"days": "deadline_quarter", "n_accelerators": "deadline_quarter", "tokens": "tokens",
                    "global_batch_tokens": "global_batch_tokens", "seq_len": "seq_len", "precision": "precision",
                    "model": "model", "models": "model"}
_SERVING_FIELDS = {"input_len": "input_len", "output_len": "output_len", "slo_ttft_ms": "slo_ttft_ms",
                   "slo_tpot_ms": "slo_tpot_ms", "model": "model", "models": "model"}


@contextlib.contextmanager
def _engine_errors(prefix: str, fields: dict[str, str]) -> Iterator[None]:
    """Re-raise an engine's one-line error under the scenario field that caused it (same error kind).

    ``fields`` maps the engine's field (the text before the first ": ") to a scenario sub-field of ``prefix``;
    an empty sub-field names ``prefix`` itself.
    """
    try:
        yield
    except ChipplanError as e:
        head, sep, rest = str(e).partition(": ")
        field_, msg = (".".join(filter(None, (prefix, fields[head]))), rest) if sep and head in fields else (
            prefix, str(e))
        if isinstance(e, InfeasibleError):
            raise InfeasibleError(f"{field_}: {msg}") from None
        raise FieldError(field_, msg) from None


def _model_key(sf: ScenarioFile, name: str, field_: str) -> str:
    """A catalog id as given, or a model YAML path resolved against the scenario file's folder."""
    if not name.endswith((".yaml", ".yml")):
        return name
    p = Path(name)
    if not p.is_absolute() and sf._folder is not None:
        p = sf._folder / p
    if not p.is_file():
        raise FieldError(field_, "model file not found (a catalog id, or a YAML file with a models: section "
                                 "relative to the scenario's folder)", name)
    return str(p)


@dataclass(frozen=True)
class _PerfBasis:
    """The run whose engine accelerator-hours rate every catalog accelerator against the reference."""

    model_key: str
    settings: dm.RunSettings
    source: str  # scenario field that set the run, for errors and provenance


def _perf_basis(sf: ScenarioFile) -> _PerfBasis | None:
    """The first engine-estimated training run of the performance model (a probe run when none states tokens)."""
    pm = sf.demand.performance_model
    for t in sf.demand.training:
        if t.accelerator_hours is None and t.model and t.tokens and (not pm or t.model == pm):
            p = f"demand.training.{t.name}"
            return _PerfBasis(_model_key(sf, t.model, f"{p}.model"), _settings(t), p)
    if pm:
        return _PerfBasis(_model_key(sf, pm, "demand.performance_model"),
                          dm.RunSettings(tokens=PROBE_TOKENS, days=PROBE_DAYS), "demand.performance_model")
    return None


# Probe run that rates accelerators when the performance model has no training run with tokens (estimate:
# a short pre-training run, small enough that every catalog chip with the memory for the model meets it).
PROBE_TOKENS = 1e12
PROBE_DAYS = 30.0


def _settings(t: TrainingEntry) -> dm.RunSettings:
    return dm.RunSettings(tokens=t.tokens or 0.0, days=(t.deadline_quarter - t.start_quarter) * dm.DAYS_PER_QUARTER,
                          global_batch_tokens=t.global_batch_tokens, seq_len=t.seq_len, precision=t.precision)


def _route_perf(id_: str, r: RouteFields, basis: _PerfBasis | None, ref: str, notes: dict[str, str]) -> float:
    """Workload H100-equivalents per unit: training-engine ratio for catalog chips, claim × discount otherwise."""
    f = f"routes.{id_}.perf_per_unit"
    if r.perf_per_unit is not None:
        if not 0 < r.claim_discount <= 1:
            raise FieldError(f"routes.{id_}.claim_discount", "must be in (0, 1]", r.claim_discount)
        notes[f] = ("claimed performance x claim_discount (routes.yaml or the scenario)" if r.claim_discount < 1
                    else "given (routes.yaml or the scenario)")
        return r.perf_per_unit * r.claim_discount
    if not r.accelerator:
        raise FieldError(f"routes.{id_}.accelerator", "needs a catalog accelerator or perf_per_unit")
    if r.accelerator == ref:
        notes[f] = "reference accelerator"
        return 1.0
    if basis is None:
        raise FieldError(f, f"needs a value, or a training run with model and tokens (or demand.performance_model) "
                            f"so the training engine can rate {r.accelerator}")
    with _engine_errors(basis.source, _TRAINING_FIELDS):
        h_ref = dm.training_run(basis.model_key, ref, basis.settings)
    with _engine_errors(f"routes.{id_}.accelerator", dict.fromkeys(_TRAINING_FIELDS, "")):
        h_acc = dm.training_run(basis.model_key, r.accelerator, basis.settings)
    ratio = dm.workload_ratio(basis.model_key, r.accelerator, basis.settings, reference=ref)
    notes[f] = (f"{dm.TRAINING_ENGINE}: {h_ref.model} run of {basis.source} on {r.accelerator} vs {ref}, "
                f"{h_ref.accelerator_hours:.4g} / {h_acc.accelerator_hours:.4g} accelerator-hours = {ratio:.3f}")
    return ratio


def _training_hours(sf: ScenarioFile, t: TrainingEntry, ref: str, T: int, notes: dict[str, str]) -> float:
    p = f"demand.training.{t.name}"
    if t.accelerator_hours is not None:
        notes[f"{p}.accelerator_hours"] = "given in the scenario (override of the training engine)"
        return t.accelerator_hours
    if not (t.model and t.tokens is not None):
        raise FieldError(p, "needs model and tokens, or accelerator_hours")
    if not 0 <= t.start_quarter < t.deadline_quarter <= T:
        raise FieldError(p, f"needs 0 <= start_quarter < deadline_quarter <= {T}", (t.start_quarter,
                                                                                   t.deadline_quarter))
    key = _model_key(sf, t.model, f"{p}.model")
    s = _settings(t)
    with _engine_errors(p, _TRAINING_FIELDS):
        est = dm.training_run(key, ref, s)
    notes[f"{p}.accelerator_hours"] = (
        f"{dm.TRAINING_ENGINE}: {est.model}, {s.tokens:.3g} tokens, {s.precision}, global batch "
        f"{est.global_batch_seqs} x {est.seq_len} tokens, deadline {s.days:.1f} days: {est.n_accelerators:,} x {ref}"
        f" for {est.days:.1f} days at MFU {est.mfu:.2f}, goodput {est.goodput:.2f}")
    return est.accelerator_hours


def _serving_tps(sf: ScenarioFile, s: ServingEntry, ref: str, notes: dict[str, str]) -> float:
    p = f"demand.serving.{s.name}"
    if s.tokens_per_s_per_accelerator is not None:
        notes[f"{p}.tokens_per_s_per_accelerator"] = "given in the scenario (override of the serving engine)"
        return s.tokens_per_s_per_accelerator
    if not s.model:
        raise FieldError(p, "needs model, or tokens_per_s_per_accelerator")
    key = _model_key(sf, s.model, f"{p}.model")
    fields = {**_SERVING_FIELDS, "slo": "slo_tpot_ms" if s.slo_tpot_ms is not None else "slo_ttft_ms"}
    with _engine_errors(p, fields):
        tps = dm.serving_tokens_per_s(key, ref, input_len=s.input_len, output_len=s.output_len,
                                      slo_ttft_ms=s.slo_ttft_ms, slo_tpot_ms=s.slo_tpot_ms)
    slo = ", ".join(f"{k} <= {v:g}" for k, v in (("p99 TTFT ms", s.slo_ttft_ms), ("TPOT ms", s.slo_tpot_ms))
                    if v is not None) or "no latency limit"
    notes[f"{p}.tokens_per_s_per_accelerator"] = (
        f"{dm.SERVING_ENGINE}: {dm.model(key).name} on {ref}, {s.input_len} in / {s.output_len} out tokens, "
        f"{slo}: {tps:.4g} output tokens/s per accelerator")
    return tps


def build(sf: ScenarioFile, *, seed: int | None = None, scenarios: int | None = None) -> StrategyInputs:
    """Resolve defaults, call the engines for demand and performance, and return validated inputs."""
    T = sf.horizon_quarters
    ref = sf.reference_accelerator
    notes: dict[str, str] = {}
    if not sf.routes:
        raise FieldError("routes", "needs at least one route")
    # cheap checks first: the engine calls below take seconds
    if not sf.unmet_penalty_usd_per_h100e_hour > 0:
        raise FieldError("unmet_penalty_usd_per_h100e_hour", "must be > 0", sf.unmet_penalty_usd_per_h100e_hour)
    if not 0 <= sf.price_demand.elasticity <= 3:
        raise FieldError("price_demand.elasticity", "must be in [0, 3] (documented range 0.5-1.5)",
                         sf.price_demand.elasticity)
    if not sf.price_demand.margin > -1:
        raise FieldError("price_demand.margin", "must be > -1", sf.price_demand.margin)
    n_mc = scenarios if scenarios is not None else sf.monte_carlo_scenarios
    if not (isinstance(n_mc, int) and 1 <= n_mc <= MAX_MONTE_CARLO_SCENARIOS):
        raise FieldError("monte_carlo_scenarios" if scenarios is None else "scenarios",
                         f"must be an integer in [1, {MAX_MONTE_CARLO_SCENARIOS:,}]", n_mc)
    seed_ = sf.seed if seed is None else seed
    if not seed_ >= 0:
        raise FieldError("seed", "must be a non-negative integer", seed_)
    if not sf.optimisation_scenarios >= 1:
        raise FieldError("optimisation_scenarios", "must be a positive integer", sf.optimisation_scenarios)
    runs = [dm.TrainingRun(name=t.name, accelerator_hours=_training_hours(sf, t, ref, T, notes),
                           start_q=t.start_quarter, deadline_q=t.deadline_quarter) for t in sf.demand.training]
    for r in runs:
        if not r.accelerator_hours > 0:
            raise FieldError(f"demand.training.{r.name}.accelerator_hours", "must be > 0", r.accelerator_hours)
    basis = _perf_basis(sf)
    routes = []
    for id_, body in sf.routes.items():
        r = _merge("routes", id_, body, RouteFields)
        with _engine_errors(f"routes.{id_}.accelerator", {"accelerators": ""}):
            h100e = dm.h100e_per_accelerator(r.accelerator) if r.accelerator else 0.0
        routes.append(Route(
            id=id_, kind=r.kind, name=r.name or id_, accelerator=r.accelerator,
            perf_per_unit=_route_perf(id_, r, basis, ref, notes),
            perf_uncertainty=_ln(f"routes.{id_}.perf_uncertainty", r.perf_uncertainty), h100e_per_unit=h100e,
            unit_price_usd=r.unit_price_usd, price_shock=_ln(f"routes.{id_}.price_shock", r.price_shock),
            usd_per_hour=r.usd_per_hour, fixed_cost_usd=r.fixed_cost_usd,
            lead_time_q=_tri(f"routes.{id_}.lead_time_quarters", r.lead_time_quarters), ramp_q=r.ramp_quarters,
            allocation=_tri(f"routes.{id_}.allocation", r.allocation), success_probability=r.success_probability,
            respin_probability=r.respin_probability, respin_delay_q=r.respin_delay_quarters,
            max_respins=r.max_respins, max_units=r.max_units, residual_value_fraction=r.residual_value_fraction,
            exit_multiple=r.exit_multiple, exposure=dict(r.exposure)))
    d = defaults()
    bsrc = sf.bottlenecks if sf.bottlenecks is not None else {k: {"uses": k} for k in d["bottlenecks"]}
    esrc = sf.events if sf.events is not None else {k: {"uses": k} for k in d["events"]}
    bns = []
    for id_, body in bsrc.items():
        b = _merge("bottlenecks", id_, body, BottleneckFields)
        bns.append(Bottleneck(id=id_, probability=b.probability,
                              start_q=_tri(f"bottlenecks.{id_}.start_quarters", b.start_quarters),
                              duration_q=_tri(f"bottlenecks.{id_}.duration_quarters", b.duration_quarters),
                              severity=_tri(f"bottlenecks.{id_}.severity", b.severity),
                              spot_price_uplift=b.spot_price_uplift, spot_exposure=b.spot_exposure))
    evs = []
    for id_, body in esrc.items():
        e = _merge("events", id_, body, EventFields)
        evs.append(Event(id=id_, kind=e.kind, probability=e.probability,
                         time_q=_tri(f"events.{id_}.time_quarters", e.time_quarters), discount=e.discount))
    known = {b.id for b in bns} | {e.id for e in evs}
    for r in routes:
        for k in r.exposure:
            if k not in known:
                raise FieldError(f"routes.{r.id}.exposure.{k}",
                                 f"unknown bottleneck or event; known: {', '.join(sorted(known)) or 'none'}")
    sp = _validate(SpotFields, "spot", {**_strip(d["spot"]["default"]), **(sf.spot or {})})
    spot = Spot(usd_per_h100e_hour=sp.usd_per_h100e_hour, price_shock=_ln("spot.price_shock", sp.price_shock),
                available_h100e=sp.available_h100e, growth_per_year=sp.growth_per_year)

    serving, tps_ref = [], []
    for s in sf.demand.serving:
        p = f"demand.serving.{s.name}"
        for k in ("users", "tokens_per_user_per_day", "peak_to_average"):
            if not getattr(s, k) > 0:
                raise FieldError(f"{p}.{k}", "must be > 0", getattr(s, k))
        tps = _serving_tps(sf, s, ref, notes)
        if not tps > 0:
            raise FieldError(f"{p}.tokens_per_s_per_accelerator", "must be > 0", tps)
        tps_ref.append(tps)
        serving.append(dm.Serving(name=s.name, tokens_per_s=s.users * s.tokens_per_user_per_day / 86400.0,
                                  growth_per_year=s.growth_per_year, peak_to_average=s.peak_to_average,
                                  tokens_per_s_per_accelerator=tps))
    demand = DemandModel(
        training_h100e=dm.training_path(runs, T), inference_h100e=dm.serving_path(serving, T),
        training_multiplier=_ln("demand.training_uncertainty", sf.demand.training_uncertainty),
        inference_growth_multiplier=_ln("demand.inference_growth_uncertainty", sf.demand.inference_growth_uncertainty))
    if not (demand.training_h100e.sum() + demand.inference_h100e.sum()) > 0:
        raise FieldError("demand", "has no training runs or serving load")
    ids = {r.id for r in routes}
    for pname, mix in sf.policies.items():
        for rid, share in mix.items():
            if rid not in ids:
                raise FieldError(f"policies.{pname}.{rid}", f"unknown route; routes: {', '.join(sorted(ids))}")
            if not 0 <= share <= 1:
                raise FieldError(f"policies.{pname}.{rid}", "share must be in [0, 1]", share)
    tph = float(np.mean(tps_ref)) * 3600.0 if tps_ref else 0.0
    risk = Risk(weight=sf.risk.weight, alpha=sf.risk.alpha)
    return StrategyInputs(
        name=sf.name, routes=tuple(routes), bottlenecks=tuple(bns), events=tuple(evs), spot=spot, demand=demand,
        bottleneck_correlation=sf.bottleneck_correlation,
        penalty_usd_per_h100e_hour=sf.unmet_penalty_usd_per_h100e_hour, risk=risk,
        optimisation_scenarios=min(sf.optimisation_scenarios, n_mc), monte_carlo_scenarios=n_mc,
        seed=seed_, elasticity=sf.price_demand.elasticity,
        margin=sf.price_demand.margin, reference_price_usd_per_mtok=sf.price_demand.reference_price_usd_per_mtok,
        serving_tokens_per_h100e_hour=tph, policies=dict(sf.policies),
        provenance={"reference_accelerator": ref,
                    "engines": {"training": dm.TRAINING_ENGINE, "serving": dm.SERVING_ENGINE},
                    "performance": dict(sorted(notes.items()))})
