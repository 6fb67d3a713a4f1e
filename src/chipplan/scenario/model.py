"""The plan scenario: the strategy scenario's sections plus an optional ``plan:`` section, and ``extends:``.

A plan scenario is a strategy scenario (:class:`chipplan.strategy.scenario.ScenarioFile`, the same file that
``chipplan strategy`` reads) with two more top-level keys: ``extends`` (another scenario this one overrides)
and ``plan`` (what the report compares: chips, ownership horizon, prices, co-design sweep size, validation
tables). Every ``plan`` field has a default, so a plain strategy scenario is a valid plan scenario.

Uncertain inputs are a number, a ``{p5, p50, p95}`` triple, or a named distribution
(``{dist: lognormal, p5, p95}``, ``{dist: normal, mean, sd}``, ``{dist: triangular, low, mode, high}``,
``{dist: uniform, low, high}``); see :class:`Uncertain`.
"""

from __future__ import annotations

import itertools
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from chipplan.catalog.cost import Dist, Triple
from chipplan.cost import uncertainty
from chipplan.specs.limits import bounded
from chipplan.strategy.scenario import ScenarioFile

Num = Annotated[float, Field(allow_inf_nan=False)]


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Uncertain(_M):
    """A quantity known to a range: a number, a p5/p50/p95 triple, or a named distribution.

    This is the file form of the project's one uncertainty vocabulary (``chipplan.catalog.cost.Triple`` and
    ``Dist``): :attr:`param` converts it, and :meth:`sample` and :attr:`median` are those of
    ``chipplan.cost.uncertainty``, the sampler the cost engine uses. So a triple is a two-piece lognormal whose
    5th, 50th and 95th percentiles are exactly the triple (below p50 σ = ln(p50/p5)/1.645, above it
    ln(p95/p50)/1.645), skew kept; with p5 = 0 a two-piece normal clipped at 0. ``lognormal`` takes p5/p95
    (median their geometric mean), ``normal`` mean/sd, ``triangular`` low/mode/high and ``uniform`` low/high.
    """

    dist: Literal["fixed", "triple", "lognormal", "normal", "triangular", "uniform"] = "triple"
    value: Num | None = Field(None, description="fixed value (dist: fixed, or a plain number)")
    p5: Num | None = Field(None, description="5th percentile")
    p50: Num | None = Field(None, description="median")
    p95: Num | None = Field(None, description="95th percentile")
    mean: Num | None = None
    sd: Num | None = Field(None, ge=0)
    low: Num | None = None
    mode: Num | None = None
    high: Num | None = None

    @model_validator(mode="before")
    @classmethod
    def _number(cls, v: Any) -> Any:
        if isinstance(v, int | float) and not isinstance(v, bool):
            return {"dist": "fixed", "value": v}
        if isinstance(v, dict) and "dist" not in v:
            return {"dist": "triple", **v}
        return v

    @model_validator(mode="after")
    def _complete(self) -> Uncertain:
        need = {"fixed": ("value",), "triple": ("p5", "p50", "p95"), "lognormal": ("p5", "p95"),
                "normal": ("mean", "sd"), "triangular": ("low", "mode", "high"), "uniform": ("low", "high")}[self.dist]
        missing = [k for k in need if getattr(self, k) is None]
        if missing:
            raise ValueError(f"a {self.dist} range needs {', '.join(need)}; missing {', '.join(missing)}")
        order = {"triple": ("p5", "p50", "p95"), "lognormal": ("p5", "p95"), "triangular": ("low", "mode", "high"),
                 "uniform": ("low", "high")}.get(self.dist, ())
        vals = [getattr(self, k) for k in order]
        if any(a > b for a, b in itertools.pairwise(vals)):
            raise ValueError(f"needs {' <= '.join(order)}")
        if self.dist == "lognormal" and not self.p5 > 0:
            raise ValueError("a lognormal range needs p5 > 0")
        if self.dist == "triple" and not self.p5 >= 0:
            raise ValueError("a p5/p50/p95 triple needs p5 >= 0 (it is a two-piece lognormal); use "
                             "{dist: normal, mean, sd} for a quantity that may be negative")
        return self

    @property
    def param(self) -> float | Triple | Dist:
        """The same range in the cost catalog's types (a degenerate range is its number)."""
        d = self.dist
        if d == "fixed":
            return float(self.value)  # type: ignore[arg-type]
        if d == "triple":
            return Triple(p5=self.p5, p50=self.p50, p95=self.p95)
        if d == "lognormal":
            return Dist(dist="lognormal", p5=self.p5, p95=self.p95)  # type: ignore[call-arg]
        if d == "normal":
            return Dist(dist="normal", mean=self.mean, sd=self.sd)
        if self.low == self.high:
            return float(self.low)  # type: ignore[arg-type]
        if d == "triangular":
            return Dist(dist="triangular", low=self.low, mode=self.mode, high=self.high)
        return Dist(dist="uniform", low=self.low, high=self.high)

    @property
    def median(self) -> float:
        return uncertainty.median(self.param)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` draws (float64), by the cost engine's sampler."""
        return uncertainty.draws(self.param, n, rng)


class PlanSection(_M):
    """What the plan compares beyond the strategy inputs. Every field has a default."""

    chips: list[str] = Field(
        default_factory=list,
        description="catalog accelerators or systems to plan training and serving on (ids). Default: the "
                    "reference accelerator and every catalog accelerator a route uses.")
    years: Num = Field(3.0, gt=0, le=15, description="ownership horizon for owned-vs-rented, years")
    utilisation: Uncertain = Field(
        default_factory=lambda: Uncertain(dist="fixed", value=1.0),
        description="busy fraction of paid hours, (0, 1]; a range widens the cost intervals")
    price_usd_per_accelerator_hour: dict[str, Uncertain] = Field(
        default_factory=dict,
        description="rental price per chip id, USD per accelerator-hour. Default: the catalog's cloud price "
                    "for the horizon's commitment (3-year reserved for 3 years), median over hyperscalers")
    systems: dict[str, str] = Field(
        default_factory=dict,
        description="catalog system to own for each chip id (TCO). Default: the first catalog system "
                    "built on that accelerator")
    codesign_designs: int = Field(2000, ge=0, le=200_000,
                                  description="designs in the co-design sweep (0 skips the stage)")
    codesign_config: str = Field("", description="co-design config file (relative to this file); default: "
                                                 "the catalog's co-design ranges")
    design_route: str = Field(
        "", max_length=100,
        description="route id whose chip is the co-design stage's designed chip: its perf_per_unit and "
                    "unit_price_usd then come from the perf and cost engines (fields the route states itself "
                    "win). Default: the first in_house route, else the first custom_asic route, that names no "
                    "design; with neither, a route `designed_chip` from the in-house-chip defaults is added. "
                    "`none`: keep the routes as written")
    monte_carlo_scenarios: int | None = Field(None, ge=1, le=500_000, description="sourcing Monte Carlo "
                                              "scenarios (default: the scenario's monte_carlo_scenarios)")
    tornado_scenarios: bounded("tornado_scenarios", int) = Field(  # type: ignore[valid-type]
        30, description="scenarios per re-optimisation in the sensitivity tornado (0 skips it)")
    validation: list[str] | None = Field(
        None, description="published-run CSV tables (chipplan predict format) to check the engines against, "
                          "relative to this file. Default: the project's benchmarks/data tables when present")
    interval_samples: int = Field(4000, ge=100, le=200_000,
                                  description="Monte Carlo draws behind each headline's 80 % interval")


class PlanScenario(ScenarioFile):
    """A strategy scenario plus ``extends`` and ``plan``."""

    extends: str | None = Field(None, description="another scenario file (relative to this one) whose "
                                                   "fields this file overrides")
    plan: PlanSection = Field(default_factory=PlanSection)

    def strategy_dict(self) -> dict[str, Any]:
        """The fields ``chipplan strategy`` reads (without ``extends`` and ``plan``)."""
        return self.model_dump(exclude={"extends", "plan"}, exclude_unset=False)


# Units and meanings of the strategy fields, shown in the JSON Schema and docs/scenario.md (the strategy
# models carry types; this table carries the words).
FIELD_DOCS: dict[str, str] = {
    "name": "scenario name (text), used in run ids and the report title",
    "description": "one line describing the scenario",
    "horizon_quarters": "planning horizon, quarters (1-40)",
    "reference_accelerator": "catalog accelerator every capacity is counted in (workload H100-equivalents)",
    "demand": "training runs and serving loads",
    "routes": "supply routes by id; `uses:` a default from catalog/data/strategy/routes.yaml, then overrides",
    "bottlenecks": "supply bottlenecks (default: the catalog's); `uses:` + overrides",
    "events": "discrete events such as forced divestment (default: the catalog's)",
    "spot": "spot market: usd_per_h100e_hour (USD per workload-H100e-hour), available_h100e, growth_per_year",
    "bottleneck_correlation": "correlation between bottleneck draws, [0, 1]",
    "unmet_penalty_usd_per_h100e_hour": "cost of demand left unmet, USD per workload-H100e-hour (> 0)",
    "risk": "weight on CVaR in the objective, [0, 1], and the CVaR level alpha",
    "optimisation_scenarios": "scenarios in the stochastic programme",
    "monte_carlo_scenarios": "scenarios in the delivery Monte Carlo (1-500,000)",
    "seed": "random seed (non-negative integer)",
    "price_demand": "price elasticity of serving demand and the serving margin",
    "policies": "named mixes {route id: share in [0, 1]} compared with the optimised portfolio",
    "extends": "another scenario (path relative to this file) this file overrides",
    "plan": "what the plan report compares (all optional)",
    "demand.training": "training runs: name, model (catalog id or models YAML), tokens (> 0), precision, "
                       "global_batch_tokens (tokens), seq_len (tokens), start_quarter, deadline_quarter",
    "demand.serving": "serving loads: name, model, users (> 0), tokens_per_user_per_day (output tokens), "
                      "growth_per_year (fraction, 1.0 = doubling), peak_to_average, input_len/output_len (tokens), "
                      "slo_ttft_ms/slo_tpot_ms (milliseconds)",
    "demand.training_uncertainty": "multiplier on training demand, {p5, p95}",
    "demand.inference_growth_uncertainty": "multiplier on serving growth, {p5, p95}",
    "demand.performance_model": "model whose training throughput rates each chip against the reference",
}


def json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a plan scenario, with units in the descriptions."""
    s = PlanScenario.model_json_schema()
    s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    s["title"] = "chipplan scenario"
    s["description"] = ("A chipplan scenario: read by `chipplan plan` (every section) and `chipplan strategy` "
                        "(all but extends and plan). Units are in each field's description.")
    props = s.get("properties", {})
    for key, text in FIELD_DOCS.items():
        head, _, sub = key.partition(".")
        if not sub and head in props:
            props[head].setdefault("description", text)
    dem = s.get("$defs", {}).get("DemandSection", {}).get("properties", {})
    for key, text in FIELD_DOCS.items():
        head, _, sub = key.partition(".")
        if head == "demand" and sub in dem:
            dem[sub].setdefault("description", text)
    return s
