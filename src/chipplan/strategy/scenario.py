"""Scenario YAML for ``chipplan strategy``: pydantic at the file boundary → frozen dataclasses inside.

Route, bottleneck, event and spot defaults come from ``catalog/data/strategy/routes.yaml`` (every number
sourced or a marked estimate); a scenario picks routes with ``uses: <default id>`` and overrides fields.
Numeric rules (probabilities in [0, 1], lead times >= 0) are checked by the dataclasses in
:mod:`chipplan.strategy.routes`, so the YAML and Python paths give the same one-line errors.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chipplan.catalog import pydantic_message, read_yaml
from chipplan.catalog.schema import Sourced
from chipplan.errors import CatalogError, ChipplanError, FieldError, InputFileError
from chipplan.strategy import demand as dm
from chipplan.strategy.montecarlo import DemandModel
from chipplan.strategy.routes import ROUTE_KINDS, Bottleneck, Event, LogNormal90, Route, Spot, Triangular
from chipplan.strategy.stochastic import Risk

DEFAULTS = Path(__file__).resolve().parents[1] / "catalog" / "data" / "strategy" / "routes.yaml"
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
    model: str = ""
    tokens: Num | None = None
    accelerator_hours: Num | None = None  # on the reference accelerator; skips the training engine
    fallback_accelerator_hours: Num | None = None  # used only while the training engine is not built
    start_quarter: int
    deadline_quarter: int


class ServingEntry(_M):
    name: str
    model: str = ""
    users: Num
    tokens_per_user_per_day: Num
    growth_per_year: Num = 0.0
    peak_to_average: Num = 1.5
    tokens_per_s_per_accelerator: Num | None = None  # skips the inference engine when given
    fallback_tokens_per_s_per_accelerator: Num | None = None  # used only while the inference engine is not built


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
    return _validate(ScenarioFile, "scenario", doc)


def _route_perf(id_: str, r: RouteFields, perf_model: str, ref: str, notes: dict[str, str]) -> float:
    """Workload H100-equivalents per unit: engine ratio for catalog chips, claim × discount otherwise."""
    if r.perf_per_unit is not None:
        if not 0 < r.claim_discount <= 1:
            raise FieldError(f"routes.{id_}.claim_discount", "must be in (0, 1]", r.claim_discount)
        notes[id_] = "claimed performance x discount" if r.claim_discount < 1 else "given performance"
        return r.perf_per_unit * r.claim_discount
    if not r.accelerator:
        raise FieldError(f"routes.{id_}.accelerator", "needs a catalog accelerator or perf_per_unit")
    if r.accelerator == ref:
        notes[id_] = "reference accelerator"
        return 1.0
    if perf_model and dm.engine_available("chipplan.perf.plan", "estimate_run"):
        notes[id_] = f"training engine, {perf_model}"
        return dm.workload_ratio(perf_model, r.accelerator, 1e12, 30.0, reference=ref)
    # engine not built yet: dense bf16 peak ratio, flagged in the provenance
    from chipplan import catalog

    notes[id_] = "bf16 peak ratio (training engine unavailable)"
    return catalog.accelerator(r.accelerator).peak_bf16_flops_per_s / catalog.accelerator(ref).peak_bf16_flops_per_s


def build(sf: ScenarioFile, *, seed: int | None = None, scenarios: int | None = None) -> StrategyInputs:
    """Resolve defaults, call the engines for demand and performance, and return validated inputs."""
    T = sf.horizon_quarters
    ref = sf.reference_accelerator
    notes: dict[str, str] = {}
    routes = []
    if not sf.routes:
        raise FieldError("routes", "needs at least one route")
    perf_model = sf.demand.performance_model or (sf.demand.training[0].model if sf.demand.training else "")
    for id_, body in sf.routes.items():
        r = _merge("routes", id_, body, RouteFields)
        h100e = dm.h100e_per_accelerator(r.accelerator) if r.accelerator else 0.0
        routes.append(Route(
            id=id_, kind=r.kind, name=r.name or id_, accelerator=r.accelerator,
            perf_per_unit=_route_perf(id_, r, perf_model, ref, notes),
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

    runs, serving = [], []
    for t in sf.demand.training:
        p = f"demand.training.{t.name}"
        if t.accelerator_hours is not None:
            hours = t.accelerator_hours
        elif t.model and t.tokens and (dm.engine_available("chipplan.perf.plan", "estimate_run")
                                       or t.fallback_accelerator_hours is None):
            days = (t.deadline_quarter - t.start_quarter) * dm.DAYS_PER_QUARTER
            hours, _ = dm.training_run(t.model, ref, t.tokens, days)
            notes[f"demand.training.{t.name}"] = "training engine"
        elif t.fallback_accelerator_hours is not None:
            hours = t.fallback_accelerator_hours
            notes[f"demand.training.{t.name}"] = "fallback accelerator-hours (training engine unavailable)"
        else:
            raise FieldError(p, "needs model and tokens, or accelerator_hours")
        if not hours > 0:
            raise FieldError(f"{p}.accelerator_hours", "must be > 0", hours)
        runs.append(dm.TrainingRun(name=t.name, accelerator_hours=hours, start_q=t.start_quarter,
                                   deadline_q=t.deadline_quarter))
    tps_ref = []
    for s in sf.demand.serving:
        p = f"demand.serving.{s.name}"
        tps = s.tokens_per_s_per_accelerator
        if tps is None and s.fallback_tokens_per_s_per_accelerator is not None and not dm.engine_available(
                "chipplan.perf.serving", "tokens_per_s_per_accelerator"):
            tps = s.fallback_tokens_per_s_per_accelerator
            notes[p] = "fallback tokens/s (inference engine unavailable)"
        if tps is None:
            if not s.model:
                raise FieldError(p, "needs model, or tokens_per_s_per_accelerator")
            tps = dm.serving_tokens_per_s(s.model, ref)
        for k in ("users", "tokens_per_user_per_day", "peak_to_average"):
            if not getattr(s, k) > 0:
                raise FieldError(f"{p}.{k}", "must be > 0", getattr(s, k))
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
    if not sf.unmet_penalty_usd_per_h100e_hour > 0:
        raise FieldError("unmet_penalty_usd_per_h100e_hour", "must be > 0", sf.unmet_penalty_usd_per_h100e_hour)
    if not 0 <= sf.price_demand.elasticity <= 3:
        raise FieldError("price_demand.elasticity", "must be in [0, 3] (documented range 0.5-1.5)",
                         sf.price_demand.elasticity)
    if not sf.price_demand.margin > -1:
        raise FieldError("price_demand.margin", "must be > -1", sf.price_demand.margin)
    n_mc = scenarios if scenarios is not None else sf.monte_carlo_scenarios
    if not (isinstance(n_mc, int) and n_mc >= 1):
        raise FieldError("scenarios", "must be a positive integer", n_mc)
    if not sf.optimisation_scenarios >= 1:
        raise FieldError("optimisation_scenarios", "must be a positive integer", sf.optimisation_scenarios)
    tph = float(np.mean(tps_ref)) * 3600.0 if tps_ref else 0.0
    try:
        risk = Risk(weight=sf.risk.weight, alpha=sf.risk.alpha)
    except ChipplanError:
        raise
    return StrategyInputs(
        name=sf.name, routes=tuple(routes), bottlenecks=tuple(bns), events=tuple(evs), spot=spot, demand=demand,
        bottleneck_correlation=sf.bottleneck_correlation,
        penalty_usd_per_h100e_hour=sf.unmet_penalty_usd_per_h100e_hour, risk=risk,
        optimisation_scenarios=min(sf.optimisation_scenarios, n_mc), monte_carlo_scenarios=n_mc,
        seed=sf.seed if seed is None else seed, elasticity=sf.price_demand.elasticity,
        margin=sf.price_demand.margin, reference_price_usd_per_mtok=sf.price_demand.reference_price_usd_per_mtok,
        serving_tokens_per_h100e_hour=tph, policies=dict(sf.policies),
        provenance={"performance": notes, "reference_accelerator": ref,
                    "training_engine": dm.engine_available("chipplan.perf.plan", "estimate_run")})
