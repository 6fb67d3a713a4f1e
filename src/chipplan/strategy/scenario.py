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
import dataclasses
import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from chipplan.catalog import DATA_DIR, pydantic_message, read_yaml
from chipplan.catalog.schema import Sourced
from chipplan.errors import CatalogError, ChipplanError, FieldError, InfeasibleError, InputFileError
from chipplan.specs.limits import bounded
from chipplan.strategy import demand as dm
from chipplan.strategy.montecarlo import DemandModel
from chipplan.strategy.routes import ROUTE_KINDS, Bottleneck, Event, LogNormal90, Route, Spot, Triangular
from chipplan.strategy.stochastic import Risk

DEFAULTS = DATA_DIR / "strategy" / "routes.yaml"
Num = Annotated[float, Field(allow_inf_nan=False)]


def _triangle(v: Any) -> Any:
    """A (low, mode, high) triangle, also in the shared uncertainty vocabulary: {dist: triangular, low, mode, high}."""
    if isinstance(v, dict):
        if v.get("dist", "triangular") != "triangular" or set(v) - {"dist", "low", "mode", "high"}:
            raise ValueError("a triangle is [low, mode, high] or {dist: triangular, low, mode, high}")
        return (v.get("low"), v.get("mode"), v.get("high"))
    return v


Tri = Annotated[tuple[Num, Num, Num], BeforeValidator(_triangle)]
_Q, _P = bounded("quarters"), bounded("probability")
TriQ = Annotated[tuple[_Q, _Q, _Q], BeforeValidator(_triangle)]  # a triangle of times, in quarters
TriP = Annotated[tuple[_P, _P, _P], BeforeValidator(_triangle)]  # a triangle of shares in [0, 1]


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CI90(_M):
    """A multiplier known to a 90 % interval, read as a lognormal: {p5, p95}, or the shared uncertainty
    vocabulary's {dist: lognormal, p5, p95} (docs/scenario.md, "Uncertain inputs"; the same words the plan
    and cost layers use)."""

    p5: Num
    p95: Num

    @model_validator(mode="before")
    @classmethod
    def _vocabulary(cls, v: Any) -> Any:
        if isinstance(v, dict) and "dist" in v:
            if v["dist"] != "lognormal":
                raise ValueError("a multiplier range is {p5, p95} or {dist: lognormal, p5, p95} (a lognormal)")
            v = {k: x for k, x in v.items() if k != "dist"}
        return v


class RouteFields(_M):
    kind: Literal[ROUTE_KINDS]  # type: ignore[valid-type]
    name: str = ""
    accelerator: str = ""
    system: str = ""  # catalog system whose cost engine TCO prices a buy route (default: the accelerator's)
    perf_per_unit: bounded("h100e_per_unit") | None = None
    # a co-design design for a custom_asic / in_house route: {sweep: FILE, params: {...}} or {sweep: FILE,
    # designs: N, seed: S, pick: COLUMN}; its perf_per_unit and unit_price_usd come from the engines
    design: dict[str, Any] | None = None
    # a start-up's claim, × H100 (perf_per_unit = claim × claim_discount)
    claimed_perf_x: bounded("claim_multiplier") | None = None
    # claimed energy efficiency, × H100 (scales the power share of hosting)
    claimed_energy_x: bounded("claim_multiplier") | None = None
    evidence: Literal["", "none", "paper", "simulation", "silicon", "benchmark", "production"] = ""
    claim_discount: bounded("fraction") | None = None
    claim_node: str = "N5"  # process node the co-design physics checks a claim at
    claim_power_w: bounded("power_w") | None = None  # W per unit (None: unstated)
    perf_uncertainty: CI90 | None = None
    unit_price_usd: bounded("usd_per_accelerator") | None = None  # None: from the cost engine (buy routes)
    price_shock: CI90 | None = None
    # None: from the cost engine (buy) or the cloud price table (cloud_reserved)
    usd_per_hour: bounded("usd_per_accelerator_hour") | None = None
    cloud_term: Literal["on-demand", "1yr", "3yr"] = "1yr"
    cloud_kind: Literal["hyperscaler", "neocloud"] = "neocloud"
    nre_shares: Tri | None = None
    gate_fractions: Tri | None = None
    fixed_cost_usd: bounded("usd_nre") = 0.0
    lead_time_quarters: TriQ = (0.0, 0.0, 0.0)
    ramp_quarters: bounded("quarters") = 0.0
    allocation: TriP = (1.0, 1.0, 1.0)
    success_probability: bounded("probability") = 1.0
    respin_probability: bounded("probability") = 0.0
    respin_delay_quarters: bounded("quarters") = 0.0
    max_respins: bounded("respins", int) = 0
    max_units: bounded("route_units")
    # None: resale by age from the cost engine (buy routes), else 0
    residual_value_fraction: bounded("probability") | None = None
    exit_multiple: bounded("claim_multiplier", zero=True) = 0.0
    exposure: dict[str, bounded("probability")] = Field(default_factory=dict)


class RouteDefault(RouteFields, Sourced):
    pass


class BottleneckFields(_M):
    probability: bounded("probability")
    start_quarters: TriQ
    duration_quarters: TriQ
    severity: TriP
    spot_price_uplift: Num = 0.0
    spot_exposure: Num = 0.0


class BottleneckDefault(BottleneckFields, Sourced):
    pass


class EventFields(_M):
    kind: str
    probability: bounded("probability")
    time_quarters: TriQ | None = None
    quarters: tuple[Num, Num] | None = None  # export control: blocked from the first to the second quarter
    routes: list[str] = Field(default_factory=list)  # routes the event hits (exposure 1), beside exposure maps
    discount: bounded("probability") = 0.0
    service_loss: bool = False
    duration_quarters: bounded("quarters") | None = None
    delay_quarters: bounded("quarters") = 0.0
    success_factor: bounded("probability") = 1.0
    financing_gap_usd: bounded("usd_nre") = 0.0


class EventDefault(EventFields, Sourced):
    pass


class SpotFields(_M):
    # None: the cloud table's newest neocloud on-demand price
    usd_per_h100e_hour: bounded("usd_per_accelerator_hour") | None = None
    price_shock: CI90 | None = None
    available_h100e: Num = float("inf")
    growth_per_year: Num = 0.0


class SpotDefault(SpotFields, Sourced):
    pass


class EvidenceDefault(Sourced):
    model_config = ConfigDict(extra="forbid")
    discount: Num


class ProgrammeDefault(Sourced):
    model_config = ConfigDict(extra="forbid")
    gate_fractions: Tri
    nre_shares: Tri


class TrainingEntry(_M):
    name: str
    model: str = ""  # catalog id, or a YAML file with a models: section (relative to the scenario's folder)
    tokens: bounded("training_tokens") | None = None
    global_batch_tokens: bounded("batch_tokens") | None = None  # training engine default: 4M, 16M from 100B params
    seq_len: bounded("sequence_tokens", int) | None = None  # training engine default: min(model max, 8192)
    precision: str = "bf16"
    accelerator_hours: Num | None = None  # override: reference-accelerator hours; skips the training engine
    start_quarter: int
    deadline_quarter: int
    on_time_probability: Num | None = None  # chance constraint: done by the deadline with at least this probability
    # a job with a backlog: work may move between quarters from its start, what is late carries over, and each day
    # late costs this much (days late = backlog at the deadline / the run's cluster); None: a fixed profile
    delay_cost_usd_per_day: bounded("usd_per_day") | None = None


class ServingEntry(_M):
    name: str
    model: str = ""  # catalog id, or a YAML file with a models: section (relative to the scenario's folder)
    users: Num
    tokens_per_user_per_day: Num
    growth_per_year: Num = 0.0
    peak_to_average: Num = 1.5
    input_len: bounded("sequence_tokens", int) = 2048  # request shape and latency limits for the serving engine
    output_len: bounded("sequence_tokens", int) = 512
    slo_ttft_ms: bounded("latency_ms") | None = None
    slo_tpot_ms: bounded("latency_ms") | None = None
    # override: output tokens/s per reference accelerator
    tokens_per_s_per_accelerator: bounded("tokens_per_s_per_accelerator") | None = None


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
    market: Literal["price_taker", "market_power"] = "market_power"
    market_share: Num = 0.3  # with market power: the lab's share of the market its price moves


class InstalledEntry(_M):
    accelerator: str
    units: Num
    age_years: Num = 0.0


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
    # scrambled Sobol points (randomised quasi-Monte Carlo); at 512 the committed H100e of the examples varies
    # by 2-3 % (CV over 10 independent batches), under the 5 % the decision needs (tests/strategy/test_examples.py)
    optimisation_scenarios: bounded("optimisation_scenarios", int) = 512
    replications: bounded("replications", int) = 10
    monte_carlo_scenarios: int = 100_000
    seed: int = 0
    cost_of_capital: bounded("interest_per_year") | None = None  # per year; default: the cost catalog's rate
    # capex budget per year of the horizon (one number: every year)
    budget_usd: bounded("usd_budget") | list[bounded("usd_budget")] | None = None
    installed: list[InstalledEntry] = Field(default_factory=list)
    multistage: dict[str, int] | None = None  # {decision_quarter: k, branches: B}: recourse orders at quarter k
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
    discount_rate: float = 0.0
    budget_usd: tuple[float, ...] = ()  # per year of the horizon; () = no budget
    installed_h100e: tuple[float, ...] = ()  # per quarter, workload H100e of the installed fleet
    installed_cost_usd: float = 0.0
    installed: tuple[dict[str, Any], ...] = ()
    runs: tuple[dict[str, Any], ...] = ()  # training runs as jobs: name, start_q, deadline_q, need_h100e, p_on_time
    replications: int = 10
    multistage: dict[str, int] | None = None
    route_costs: dict[str, dict[str, Any]] = field(default_factory=dict)
    market: str = "market_power"
    market_share: float = 0.3
    workloads: dict[str, dict[str, Any]] = field(default_factory=dict)  # per route: serving ratio, goodput
    claims: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # per route: co-design checks of claims


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
    for id_, body in (doc.get("evidence_discounts") or {}).items():
        try:
            out.setdefault("evidence", {})[id_] = EvidenceDefault.model_validate(body)
        except ValidationError as e:
            raise CatalogError(f"{DEFAULTS.name}: " + pydantic_message(f"evidence_discounts.{id_}", e)) from None
    try:
        out["programmes"] = {"default": ProgrammeDefault.model_validate(doc["programme_gates"])}
    except (KeyError, ValidationError) as e:
        raise CatalogError(f"{DEFAULTS.name}: programme_gates: " + (
            pydantic_message("programme_gates", e) if isinstance(e, ValidationError) else "missing")) from None
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
    if r.claimed_perf_x is not None:
        disc = claim_discount(id_, r)
        chk = claim_check(id_, r, "compute_multiple", ref)
        kept = chk["kept_x"]
        notes[f] = (f"claim {r.claimed_perf_x:g}x H100" + (f", capped at the physical bound {kept:.3g}x"
                                                          if kept < r.claimed_perf_x else "")
                    + f" x discount {disc:g} "
                    f"({'given' if r.claim_discount is not None else 'for evidence: ' + (r.evidence or 'none')}); "
                    f"co-design check: {chk['verdict']}")
        return kept * disc
    if r.perf_per_unit is not None:
        d = 1.0 if r.claim_discount is None else r.claim_discount
        if not 0 < d <= 1:
            raise FieldError(f"routes.{id_}.claim_discount", "must be in (0, 1]", d)
        notes[f] = ("claimed performance x claim_discount (routes.yaml or the scenario)" if d < 1
                    else "given (routes.yaml or the scenario)")
        return r.perf_per_unit * d
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
        ratio = dm.workload_ratio(basis.model_key, r.accelerator, basis.settings, reference=ref)
    notes[f] = (f"{dm.TRAINING_ENGINE}: {h_ref.model} run of {basis.source} on {r.accelerator} vs {ref} at equal "
                f"cluster size ({h_ref.n_accelerators:,} accelerators): {h_ref.accelerator_hours:.4g} / "
                f"{h_ref.accelerator_hours / ratio:.4g} accelerator-hours = {ratio:.3f}")
    return ratio


def claim_check(id_: str, r: RouteFields, kind: str, ref: str = dm.REFERENCE_ACCELERATOR) -> dict[str, Any]:
    """A start-up's claimed multiple checked by the co-design layer's physics (:mod:`chipplan.codesign.claims`).

    ``compute_multiple``: the claimed FLOP/s against the MAC area and power it needs at ``claim_node``;
    ``energy_efficiency``: the claimed energy per FLOP against the node's digital arithmetic floor. An
    ``inconsistent`` verdict caps the multiple at the physical bound (a whole wafer of nothing but MACs within the
    stated power; the digital floor's energy per FLOP) before the evidence discount; ``kept_x`` is what is kept."""
    from chipplan.codesign.claims import Claim, check

    factor = r.claimed_perf_x if kind == "compute_multiple" else r.claimed_energy_x
    try:
        c = Claim(id=id_, company=r.name or id_, claim=f"{factor:g}x {ref}", kind=kind, factor=factor,
                  baseline=ref, node=r.claim_node, power_w=r.claim_power_w,
                  source=f"routes.{id_} claim fields of the scenario")
        out = check(c)
    except (ValidationError, ChipplanError) as e:
        raise FieldError(f"routes.{id_}.claim_node", f"cannot check the claim: {e}".split("\n")[0]) from None
    n = out["numbers"]
    bound = float("inf")
    if kind == "energy_efficiency":
        bound = n["baseline_pj_per_flop"] / n["digital_floor_pj_per_flop"]
    else:
        bound = factor * n["wafer_mm2"] / n["mac_area_needed_mm2"]
        if r.claim_power_w:
            bound = min(bound, factor * r.claim_power_w / max(n["power_needed_w"], 1e-9))
    kept = min(factor, bound) if out["verdict"] == "inconsistent" else factor
    return {"kind": kind, "claimed_x": float(factor), "verdict": out["verdict"], "physical_bound_x": float(bound),
            "kept_x": float(kept), "detail": out["detail"]}


def claim_discount(id_: str, r: RouteFields) -> float:
    """The share of a claimed multiple that is kept: the route's claim_discount, else the default for its evidence."""
    if r.claim_discount is not None:
        d = r.claim_discount
    else:
        ev = defaults().get("evidence", {})
        key = r.evidence or "none"
        d = ev[key].discount if key in ev else 0.1
    if not 0 < d <= 1:
        raise FieldError(f"routes.{id_}.claim_discount", "must be in (0, 1]", d)
    return float(d)


def _system_for(id_: str, r: RouteFields) -> Any:
    """The catalog system that prices a buy route: the route's ``system``, else the first catalog system
    built from its accelerator that has a list price."""
    from chipplan import catalog

    if r.system:
        try:
            return catalog.system(r.system)
        except ChipplanError as e:
            raise FieldError(f"routes.{id_}.system", str(e)) from None
    for sys_ in catalog.load().systems.values():
        if sys_.accelerator == r.accelerator and sys_.price_usd:
            return sys_
    raise FieldError(f"routes.{id_}.unit_price_usd", f"needs a value: no catalog system with a price is built "
                     f"from {r.accelerator}")


def _designed(id_: str, r: RouteFields, body: dict[str, Any], folder: Path | None) -> tuple[RouteFields, str]:
    """A route naming a co-design design takes its perf_per_unit and unit_price_usd from the engines
    (``chipplan.codesign.route.design_figures``) unless the scenario itself gives them."""
    if r.design is None:
        return r, ""
    if r.kind not in ("custom_asic", "in_house"):
        raise FieldError(f"routes.{id_}.design", "only custom_asic and in_house routes take a design", r.kind)
    from chipplan.codesign.route import design_figures

    f = design_figures(r.design, base_dir=folder, field=f"routes.{id_}.design")
    upd: dict[str, Any] = {k: f[k] for k in ("perf_per_unit", "unit_price_usd") if k not in (body or {})}
    if "claim_discount" not in (body or {}):
        upd["claim_discount"] = None  # an engine rating, not a claim
    return r.model_copy(update=upd), f["note"]


def _route_costs(id_: str, r: RouteFields, T: int, notes: dict[str, str]) -> dict[str, Any]:
    """Unit price, hosting per hour and resale of a route from the cost engine and the cloud price table.

    buy: unit price = the system's TCO capex (list price + network and storage share) per accelerator; hosting
    = (facility + energy + maintenance + staff) per accelerator-hour over the horizon; resale = the cost
    engine's resale fraction at the age the units reach by the horizon (delivered at the lead time's mode).
    cloud_reserved: the newest catalog price of the route's cloud kind and term. Fields given in the scenario
    or routes.yaml win."""
    from chipplan import catalog
    from chipplan.catalog import cost as cost_catalog
    from chipplan.cost import tco
    from chipplan.cost.uncertainty import central_params

    cat = cost_catalog.load()
    out: dict[str, Any] = {"unit_price_usd": r.unit_price_usd or 0.0, "usd_per_hour": r.usd_per_hour or 0.0,
                           "residual_value_fraction": r.residual_value_fraction or 0.0}
    p = f"routes.{id_}"
    years = T / 4.0
    if r.kind == "buy" and r.accelerator and (r.unit_price_usd is None or r.usd_per_hour is None
                                              or r.residual_value_fraction is None):
        sys_ = _system_for(id_, r)
        acc = catalog.accelerator(sys_.accelerator)
        params, meta = tco.tco_params(sys_, acc, cat, years=years, cloud_price=1.0)
        res = tco.system_tco(**central_params(params))
        n = sys_.accelerators_per_node
        hours = float(res["hours"]) * n
        hosting = (res["facility_usd"] + res["energy_usd"] + res["maintenance_usd"] + res["staff_usd"]) / hours
        age = max(years - r.lead_time_quarters[1] / 4.0, 0.0)
        resale = float(tco.resale_fraction(age, meta["life_years"], cat.finance.hardware_depreciation_ooms_per_year))
        src = f"cost engine system_tco for {sys_.id} over {years:g} years"
        if r.unit_price_usd is None:
            out["unit_price_usd"] = float(res["capex_usd"]) / n
            notes[f"{p}.unit_price_usd"] = (f"{src}: capex ${res['capex_usd']:,.0f} ({meta['server_price_basis']}, "
                                            f"network and storage share) / {n} accelerators")
        if r.usd_per_hour is None:
            out["usd_per_hour"] = float(hosting)
            notes[f"{p}.usd_per_hour"] = f"{src}: facility + energy + maintenance + staff per accelerator-hour"
        if r.residual_value_fraction is None:
            out["residual_value_fraction"] = resale
            notes[f"{p}.residual_value_fraction"] = (f"cost engine resale_fraction at age {age:g} years "
                                                     f"({meta['life_years']:g}-year life)")
        out["system_tco"] = {"system": sys_.id, "years": years,
                             "owned_usd_per_accelerator_hour": float(res["owned_usd_per_accelerator_hour"])}
    elif r.kind == "cloud_reserved" and r.accelerator and r.usd_per_hour is None:
        found = tco.resolve_cloud_rate(cat, r.accelerator, r.cloud_term, kind=r.cloud_kind)
        if not np.isfinite(found["rate"]):
            raise FieldError(f"{p}.usd_per_hour", f"needs a value: {found['note']}")
        out["usd_per_hour"] = float(found["rate"])
        notes[f"{p}.usd_per_hour"] = (f"cost catalog cloud table: {found['kind']} {found['term']} "
                                      f"{', '.join(found['rows'])} ({', '.join(found['dates'])})"
                                      + (f"; {found['note']}" if found["note"] else ""))
        out["system_tco"] = {"cloud_rows": found["rows"], "owned_usd_per_accelerator_hour": float(found["rate"])}
    if r.claimed_energy_x is not None and r.claimed_energy_x > 0:
        chk = claim_check(id_, r, "energy_efficiency")
        kept = chk["kept_x"]
        gain = 1.0 + (kept - 1.0) * claim_discount(id_, r)
        out["usd_per_hour"] = out["usd_per_hour"] / max(gain, 1e-9)
        notes[f"{p}.usd_per_hour"] = (
            f"hosting / {gain:.3g} (claimed energy {r.claimed_energy_x:g}x"
            + (f", capped at the physical bound {kept:.3g}x" if kept < r.claimed_energy_x else "")
            + f" at the claim discount; hosting scales with power); co-design check: {chk['verdict']}")
    return out


def _installed(sf: ScenarioFile, basis: _PerfBasis | None, ref: str, T: int, df: np.ndarray, rate: float,
               notes: dict[str, str]) -> tuple[np.ndarray, float, list[dict[str, Any]]]:
    """The installed fleet: workload H100e per quarter until each group retires at the end of its life, the
    present cost of running it (cost-engine hosting per accelerator-hour) less its resale at the horizon (or
    at retirement), and a row per group for the output."""
    from chipplan import catalog
    from chipplan.catalog import cost as cost_catalog
    from chipplan.cost import tco

    cat = cost_catalog.load()
    life = cat.finance.server_life_years
    k = cat.finance.hardware_depreciation_ooms_per_year
    cap = np.zeros(T)
    cost = 0.0
    rows = []
    t_mid = (np.arange(T) + 0.5) / 4.0
    for i, g in enumerate(sf.installed):
        p = f"installed[{i}]"
        if not g.units > 0 or g.age_years < 0:
            raise FieldError(f"{p}.units" if not g.units > 0 else f"{p}.age_years", "must be > 0 (age >= 0)",
                             g.units if not g.units > 0 else g.age_years)
        rf = RouteFields(kind="buy", accelerator=g.accelerator, max_units=g.units)
        with _engine_errors(f"{p}.accelerator", {"accelerators": ""}):
            perf = _route_perf(f"installed.{g.accelerator}", rf, basis, ref, notes)
            costs = _route_costs(f"installed.{g.accelerator}", rf, T, notes)
        alive = g.age_years + t_mid < life
        cap += g.units * perf * alive
        hosting = costs["usd_per_hour"] * dm.HOURS_PER_QUARTER * g.units * float((df * alive).sum())
        retire_q = int(alive.sum())
        new_price = costs["unit_price_usd"]
        resale_age = g.age_years + retire_q / 4.0
        resale = g.units * new_price * float(tco.resale_fraction(resale_age if retire_q == T else life - 1e-9,
                                                                  life, k)) * (1 + rate) ** (-retire_q / 4.0)
        cost += hosting - resale
        rows.append({"accelerator": catalog.accelerator(g.accelerator).id, "units": g.units,
                     "age_years": g.age_years, "workload_h100e_per_unit": perf,
                     "retires_quarter": retire_q if retire_q < T else None,
                     "hosting_pv_usd": hosting, "resale_pv_usd": resale})
    return cap, cost, rows


def _workloads(sf: ScenarioFile, routes: list[Route], basis: _PerfBasis | None, ref: str) -> dict[str, dict]:
    """Per route with a catalog chip: its serving capacity in reference accelerators (the serving engine's
    tokens/s per accelerator for the first serving load at its SLO, against the reference chip's) beside the
    training ratio the optimiser uses, and the training engine's goodput on the performance run (reported
    apart: the ratio already includes it)."""
    out: dict[str, dict] = {}
    sv = next((s for s in sf.demand.serving if s.model and s.tokens_per_s_per_accelerator is None), None)
    for r in routes:
        if not r.accelerator:
            continue
        row: dict[str, Any] = {"training_h100e_per_unit": r.perf_per_unit}
        if sv is not None:
            try:
                key = _model_key(sf, sv.model, "model")
                kw = {"input_len": sv.input_len, "output_len": sv.output_len, "slo_ttft_ms": sv.slo_ttft_ms,
                      "slo_tpot_ms": sv.slo_tpot_ms}
                row["serving_h100e_per_unit"] = (dm.serving_tokens_per_s(key, r.accelerator, **kw)
                                                 / dm.serving_tokens_per_s(key, ref, **kw))
            except ChipplanError:
                row["serving_h100e_per_unit"] = None
        if basis is not None:
            try:
                row["training_goodput"] = dm.training_run(basis.model_key, r.accelerator, basis.settings).goodput
            except ChipplanError:
                row["training_goodput"] = None
        out[r.id] = row
    return out


def _values(runs: list[Any], routes: list[Route], sf: ScenarioFile, tps: list[float],
            installed: np.ndarray) -> dict[str, float]:
    """The engine-made numbers of a scenario by the field they fill (what example comments may quote)."""
    out: dict[str, float] = {f"demand.training.{r.name}.accelerator_hours": float(r.accelerator_hours) for r in runs}
    out.update({f"demand.serving.{s.name}.tokens_per_s_per_accelerator": float(v)
                for s, v in zip(sf.demand.serving, tps, strict=True)})
    for r in routes:
        out[f"routes.{r.id}.perf_per_unit"] = float(r.perf_per_unit)
        out[f"routes.{r.id}.unit_price_usd"] = float(r.unit_price_usd)
        out[f"routes.{r.id}.usd_per_hour"] = float(r.usd_per_hour)
        if r.serving_perf_per_unit:
            out[f"routes.{r.id}.serving_perf_per_unit"] = float(r.serving_perf_per_unit)
    for t, v in enumerate(installed):
        out[f"installed_h100e.q{t}"] = float(v)
    return out


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
    backlog = tuple(
        dm.BacklogJob(name=r.name, start_q=r.start_q, deadline_q=r.deadline_q,
                      need_h100e=r.accelerator_hours / ((r.deadline_q - r.start_q) * dm.HOURS_PER_QUARTER),
                      delay_usd_per_day=t.delay_cost_usd_per_day)
        for t, r in zip(sf.demand.training, runs, strict=True) if t.delay_cost_usd_per_day is not None)
    basis = _perf_basis(sf)
    routes = []
    route_costs: dict[str, dict[str, Any]] = {}
    for id_, body in sf.routes.items():
        r = _merge("routes", id_, body, RouteFields)
        r, design_note = _designed(id_, r, body, sf._folder)
        with _engine_errors(f"routes.{id_}.accelerator", {"accelerators": ""}):
            h100e = dm.h100e_per_accelerator(r.accelerator) if r.accelerator else 0.0
        costs = _route_costs(id_, r, T, notes)
        if "system_tco" in costs:
            route_costs[id_] = costs["system_tco"]
        gates = defaults()["programmes"]["default"]
        routes.append(Route(
            id=id_, kind=r.kind, name=r.name or id_, accelerator=r.accelerator,
            perf_per_unit=_route_perf(id_, r, basis, ref, notes),
            perf_uncertainty=_ln(f"routes.{id_}.perf_uncertainty", r.perf_uncertainty), h100e_per_unit=h100e,
            unit_price_usd=costs["unit_price_usd"], price_shock=_ln(f"routes.{id_}.price_shock", r.price_shock),
            usd_per_hour=costs["usd_per_hour"], fixed_cost_usd=r.fixed_cost_usd,
            gate_fractions=tuple(r.gate_fractions or gates.gate_fractions),
            nre_shares=tuple(r.nre_shares or gates.nre_shares), claimed_perf_x=r.claimed_perf_x or 0.0,
            claimed_energy_x=r.claimed_energy_x or 0.0, evidence=r.evidence,
            lead_time_q=_tri(f"routes.{id_}.lead_time_quarters", r.lead_time_quarters), ramp_q=r.ramp_quarters,
            allocation=_tri(f"routes.{id_}.allocation", r.allocation), success_probability=r.success_probability,
            respin_probability=r.respin_probability, respin_delay_q=r.respin_delay_quarters,
            max_respins=r.max_respins, max_units=r.max_units,
            residual_value_fraction=costs["residual_value_fraction"], exit_multiple=r.exit_multiple,
            exposure=dict(r.exposure)))
        if design_note:
            notes[f"routes.{id_}.perf_per_unit"] = notes[f"routes.{id_}.unit_price_usd"] = design_note
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
    by_id = {r.id: r for r in routes}
    for id_, body in esrc.items():
        e = _merge("events", id_, body, EventFields)
        dur = e.duration_quarters
        if e.quarters is not None:
            a, b_ = e.quarters
            if not 0 <= a < b_:
                raise FieldError(f"events.{id_}.quarters", "needs 0 <= first < last", e.quarters)
            time_q = Triangular(low=a, mode=a, high=a, name=f"events.{id_}.quarters")
            dur = b_ - a
        elif e.time_quarters is not None:
            time_q = _tri(f"events.{id_}.time_quarters", e.time_quarters)
        else:
            raise FieldError(f"events.{id_}", "needs time_quarters or quarters")
        for rid in e.routes:
            if rid not in by_id:
                raise FieldError(f"events.{id_}.routes", f"unknown route; routes: {', '.join(sorted(by_id))}", rid)
            by_id[rid].exposure[id_] = 1.0
        evs.append(Event(id=id_, kind=e.kind, probability=e.probability, time_q=time_q, discount=e.discount,
                         service_loss=e.service_loss, duration_quarters=float("inf") if dur is None else dur,
                         delay_quarters=e.delay_quarters, success_factor=e.success_factor,
                         financing_gap_usd=e.financing_gap_usd))
    known = {b.id for b in bns} | {e.id for e in evs}
    for r in routes:
        for k in r.exposure:
            if k not in known:
                raise FieldError(f"routes.{r.id}.exposure.{k}",
                                 f"unknown bottleneck or event; known: {', '.join(sorted(known)) or 'none'}")
    sp = _validate(SpotFields, "spot", {**_strip(d["spot"]["default"]), **(sf.spot or {})})
    spot_price = sp.usd_per_h100e_hour
    if spot_price is None:
        from chipplan.catalog import cost as cost_catalog
        from chipplan.cost import tco

        found = tco.resolve_cloud_rate(cost_catalog.load(), ref, "on-demand", kind="neocloud", fallback=False)
        if not np.isfinite(found["rate"]):
            raise FieldError("spot.usd_per_h100e_hour", f"needs a value: {found['note']}")
        spot_price = float(found["rate"])
        notes["spot.usd_per_h100e_hour"] = (f"cost catalog cloud table: neocloud on-demand "
                                            f"{', '.join(found['rows'])} ({', '.join(found['dates'])})")
    spot = Spot(usd_per_h100e_hour=spot_price, price_shock=_ln("spot.price_shock", sp.price_shock),
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
        inference_growth_multiplier=_ln("demand.inference_growth_uncertainty", sf.demand.inference_growth_uncertainty),
        jobs=backlog)
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
    from chipplan.catalog import cost as cost_catalog

    cat = cost_catalog.load()
    rate = sf.cost_of_capital if sf.cost_of_capital is not None else cost_catalog.central(cat.finance.interest_rate)
    if not 0 <= rate <= 1:
        raise FieldError("cost_of_capital", "must be in [0, 1] per year", rate)
    df = (1.0 + rate) ** (-(np.arange(T) + 0.5) / 4.0)
    inst_cap, inst_cost, inst_rows = _installed(sf, basis, ref, T, df, rate, notes)
    Y = (T + 3) // 4
    budget: tuple[float, ...] = ()
    if sf.budget_usd is not None:
        b = [sf.budget_usd] * Y if isinstance(sf.budget_usd, int | float) else list(sf.budget_usd)
        if len(b) != Y or any(not v > 0 for v in b):
            raise FieldError("budget_usd", f"needs one number > 0, or {Y} (one per year of the horizon)",
                             sf.budget_usd)
        budget = tuple(float(v) for v in b)
    jobs = []
    for t, r in zip(sf.demand.training, runs, strict=True):
        if t.on_time_probability is not None and not 0 < t.on_time_probability < 1:
            raise FieldError(f"demand.training.{t.name}.on_time_probability", "must be in (0, 1)",
                             t.on_time_probability)
        jobs.append({"name": r.name, "start_q": r.start_q, "deadline_q": r.deadline_q,
                     "accelerator_hours": r.accelerator_hours,
                     "need_h100e": r.accelerator_hours / ((r.deadline_q - r.start_q) * dm.HOURS_PER_QUARTER),
                     "on_time_probability": t.on_time_probability})
    if not 1 <= sf.replications <= 100:
        raise FieldError("replications", "must be an integer in [1, 100] (10 or more for a gap interval)",
                         sf.replications)
    ms = None
    if sf.multistage is not None:
        k = sf.multistage.get("decision_quarter", 4)
        nb = sf.multistage.get("branches", 10)
        if not 0 < k < T or not 2 <= nb <= sf.optimisation_scenarios:
            raise FieldError("multistage", f"needs 0 < decision_quarter < {T} and 2 <= branches <= "
                                           "optimisation_scenarios", sf.multistage)
        ms = {"decision_quarter": int(k), "branches": int(nb)}
    if not 0 <= sf.price_demand.market_share <= 1:
        raise FieldError("price_demand.market_share", "must be in [0, 1]", sf.price_demand.market_share)
    workloads = _workloads(sf, routes, basis, ref)
    # serving capacity per unit from the serving engine (routes without a catalog chip serve at their training
    # rating); the optimiser splits each quarter's capacity between serving and training
    routes = [dataclasses.replace(r, serving_perf_per_unit=float(workloads.get(r.id, {}).get("serving_h100e_per_unit")
                                                                 or r.perf_per_unit)) for r in routes]
    for r in routes:
        v = workloads.get(r.id, {}).get("serving_h100e_per_unit")
        if v:
            notes[f"routes.{r.id}.serving_perf_per_unit"] = (
                f"{dm.SERVING_ENGINE}: serving tokens/s per accelerator of the first serving load against "
                f"{ref}'s = {v:.3f}")
    claims = {}
    for id_, body in sf.routes.items():
        rf = _merge("routes", id_, body, RouteFields)
        rows = [claim_check(id_, rf, k, ref) for k, x in (("compute_multiple", rf.claimed_perf_x),
                                                          ("energy_efficiency", rf.claimed_energy_x)) if x]
        if rows:
            claims[id_] = rows
    return StrategyInputs(
        name=sf.name, routes=tuple(routes), bottlenecks=tuple(bns), events=tuple(evs), spot=spot, demand=demand,
        bottleneck_correlation=sf.bottleneck_correlation,
        penalty_usd_per_h100e_hour=sf.unmet_penalty_usd_per_h100e_hour, risk=risk,
        optimisation_scenarios=min(sf.optimisation_scenarios, n_mc), monte_carlo_scenarios=n_mc,
        seed=seed_, elasticity=sf.price_demand.elasticity,
        margin=sf.price_demand.margin, reference_price_usd_per_mtok=sf.price_demand.reference_price_usd_per_mtok,
        serving_tokens_per_h100e_hour=tph, policies=dict(sf.policies), discount_rate=float(rate),
        budget_usd=budget, installed_h100e=tuple(inst_cap), installed_cost_usd=inst_cost, installed=tuple(inst_rows),
        runs=tuple(jobs), replications=sf.replications, multistage=ms, route_costs=route_costs,
        market=sf.price_demand.market, market_share=sf.price_demand.market_share,
        workloads=workloads, claims=claims,
        provenance={"reference_accelerator": ref,
                    "engines": {"training": dm.TRAINING_ENGINE, "serving": dm.SERVING_ENGINE},
                    "performance": dict(sorted(notes.items())),
                    "values": _values(runs, routes, sf, tps_ref, inst_cap)})
