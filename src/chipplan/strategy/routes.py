"""Supply routes, shared bottlenecks and shock events: frozen dataclasses, SI/USD units, quarters as time.

A *route* turns a here-and-now commitment of ``units`` accelerators into capacity online over the coming
quarters. Its delivery per committed unit is uncertain (lead time, allocation, tape-out success, respins,
start-up delivery, shortages of shared wafers/CoWoS/HBM, export controls, forced divestment) and is
sampled by :mod:`chipplan.strategy.montecarlo`. Capacity is counted in *workload H100-equivalents*: one
unit of a route delivers ``perf_per_unit`` times the lab's workload throughput of one H100 SXM, a ratio
that :mod:`chipplan.strategy.demand` takes from the performance engines (for chips in the catalog) or
from a claim with an explicit discount (start-ups).

Kinds: ``buy`` (merchant purchase), ``cloud_reserved`` (reserved/committed cloud capacity),
``custom_asic`` (partner-developed ASIC), ``in_house`` (own chip), ``startup`` (equity investment that
buys a right to the start-up's chips). Spot cloud is recourse and lives in :class:`Spot`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from chipplan.catalog.cost import lognormal_90  # the one reading of a 90 % interval as a lognormal
from chipplan.errors import FieldError
from chipplan.specs._check import fraction, one_of, positive_float

ROUTE_KINDS = ("buy", "cloud_reserved", "custom_asic", "in_house", "startup")
EVENT_KINDS = ("export_control", "divestment", "investor_exit")


@dataclass(frozen=True, kw_only=True, slots=True)
class Triangular:
    """Triangular distribution (low, mode, high); used for lead times and fractions."""

    low: float
    mode: float
    high: float
    name: str = "triangular"

    def __post_init__(self) -> None:
        for k in ("low", "mode", "high"):
            v = getattr(self, k)
            if not (isinstance(v, int | float) and math.isfinite(v)):
                raise FieldError(f"{self.name}.{k}", "must be a finite number", v)
        if not self.low <= self.mode <= self.high:
            raise FieldError(self.name, "needs low <= mode <= high", (self.low, self.mode, self.high))

    def sample(self, rng: np.random.Generator, size: tuple[int, ...]) -> np.ndarray:
        if self.high == self.low:
            return np.full(size, float(self.low))
        return rng.triangular(self.low, self.mode, self.high, size)

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """Inverse CDF at uniforms ``u`` (so quasi-random points map to triangular draws)."""
        a, c, b = self.low, self.mode, self.high
        u = np.asarray(u, dtype=float)
        if b == a:
            return np.full(u.shape, float(a))
        fc = (c - a) / (b - a)
        return np.where(u < fc, a + np.sqrt(u * (b - a) * (c - a)), b - np.sqrt((1 - u) * (b - a) * (b - c)))

    @property
    def mean(self) -> float:
        return (self.low + self.mode + self.high) / 3.0


@dataclass(frozen=True, kw_only=True, slots=True)
class LogNormal90:
    """Lognormal given by its 5th and 95th percentiles (a 90% credible interval), as Epoch and squigglepy do."""

    p5: float
    p95: float
    name: str = "lognormal"

    def __post_init__(self) -> None:
        positive_float(f"{self.name}.p5", self.p5)
        positive_float(f"{self.name}.p95", self.p95)
        if self.p95 < self.p5:
            raise FieldError(f"{self.name}.p95", "must be >= p5", self.p95)

    @property
    def median(self) -> float:
        return lognormal_90(self.p5, self.p95)[0]

    @property
    def sigma(self) -> float:
        return lognormal_90(self.p5, self.p95)[1]

    @property
    def mean(self) -> float:
        return self.median * math.exp(self.sigma**2 / 2)

    def from_normal(self, z: np.ndarray) -> np.ndarray:
        return self.median * np.exp(self.sigma * z)


ONE = LogNormal90(p5=1.0, p95=1.0)


@dataclass(frozen=True, kw_only=True, slots=True)
class Route:
    """One way to get accelerators. Money in USD, time in quarters from the decision (t = 0).

    Cost of a scenario for ``units`` committed (and the programme switched on when ``fixed_cost_usd`` > 0):
    ``fixed_cost_usd − recovered equity + units × [unit_price × price shock × delivered fraction
    + usd_per_hour × hours online − residual value of what was delivered]``.
    """

    id: str
    kind: str
    name: str = ""
    accelerator: str = ""  # catalog id the performance comes from ("" for chips not in the catalog)
    perf_per_unit: float = 1.0  # workload H100-equivalents per unit (engine ratio × any discount)
    serving_perf_per_unit: float = 0.0  # serving capacity per unit in reference accelerators (0: as perf_per_unit)
    perf_uncertainty: LogNormal90 = ONE  # multiplier on perf_per_unit (e.g. a start-up's claims)
    h100e_per_unit: float = 0.0  # Epoch H100e (dense 8-bit peak / the H100 SXM's), for reporting only
    unit_price_usd: float = 0.0  # paid on delivery
    price_shock: LogNormal90 = ONE
    usd_per_hour: float = 0.0  # per online unit-hour: rental price (cloud) or power + hosting (owned)
    fixed_cost_usd: float = 0.0  # NRE of a chip programme, equity ticket of an investment
    lead_time_q: Triangular = field(default_factory=lambda: Triangular(low=0, mode=0, high=0))
    ramp_q: float = 0.0  # quarters from first to full delivery (yield and volume ramp)
    allocation: Triangular = field(default_factory=lambda: Triangular(low=1, mode=1, high=1))
    success_probability: float = 1.0  # first tape-out works / start-up ships
    respin_probability: float = 0.0  # chance each tape-out needs another spin
    respin_delay_q: float = 0.0
    max_respins: int = 0  # more failures than this → the programme fails
    max_units: float = 0.0
    residual_value_fraction: float = 0.0  # resale value at the horizon, fraction of unit price
    exit_multiple: float = 0.0  # start-up equity value at the horizon per $ invested when it delivers
    exposure: dict[str, float] = field(default_factory=dict)  # bottleneck/event id → exposure in [0, 1]
    # chip programmes: stage gates spec → tape-out → bring-up (→ volume at delivery) as fractions of the
    # time to first delivery, and the share of NRE paid at each; a failed programme is killed at bring-up
    gate_fractions: tuple[float, float, float] = (0.0, 0.5, 0.75)
    nre_shares: tuple[float, float, float] = (1.0, 0.0, 0.0)
    # start-up claims, as entered (performance and energy multiples over an H100) and the evidence behind them
    claimed_perf_x: float = 0.0
    claimed_energy_x: float = 0.0
    evidence: str = ""

    def __post_init__(self) -> None:
        p = f"routes.{self.id}"
        if abs(sum(self.nre_shares) - 1.0) > 1e-9 or min(self.nre_shares) < 0:
            raise FieldError(f"{p}.nre_shares", "must be three shares >= 0 summing to 1", self.nre_shares)
        if not 0 <= self.gate_fractions[0] <= self.gate_fractions[1] <= self.gate_fractions[2] <= 1:
            raise FieldError(f"{p}.gate_fractions", "must rise within [0, 1]", self.gate_fractions)
        one_of(f"{p}.kind", self.kind, ROUTE_KINDS)
        positive_float(f"{p}.perf_per_unit", self.perf_per_unit)
        for k in ("h100e_per_unit", "serving_perf_per_unit", "unit_price_usd", "usd_per_hour", "fixed_cost_usd",
                  "ramp_q", "respin_delay_q", "max_units", "exit_multiple"):
            positive_float(f"{p}.{k}", getattr(self, k), allow_zero=True)
        if self.lead_time_q.low < 0:
            raise FieldError(f"{p}.lead_time_q.low", "lead times must be >= 0 quarters", self.lead_time_q.low)
        if self.allocation.low < 0 or self.allocation.high > 1:
            raise FieldError(f"{p}.allocation", "fractions must be in [0, 1]",
                             (self.allocation.low, self.allocation.high))
        fraction(f"{p}.success_probability", self.success_probability)
        fraction(f"{p}.respin_probability", self.respin_probability)
        fraction(f"{p}.residual_value_fraction", self.residual_value_fraction)
        if not (isinstance(self.max_respins, int) and self.max_respins >= 0):
            raise FieldError(f"{p}.max_respins", "must be a non-negative integer", self.max_respins)
        for k, v in self.exposure.items():
            fraction(f"{p}.exposure.{k}", v)

    @property
    def serving_factor(self) -> float:
        """Serving capacity per unit of training capacity (1: the route serves as it trains)."""
        return self.serving_perf_per_unit / self.perf_per_unit if self.serving_perf_per_unit > 0 else 1.0

    @property
    def has_programme(self) -> bool:
        """A fixed cost makes the route a go/no-go decision (binary) plus a volume."""
        return self.fixed_cost_usd > 0


@dataclass(frozen=True, kw_only=True, slots=True)
class Bottleneck:
    """A shared supply constraint (foundry wafers, CoWoS, HBM, a fab). If a shortage happens it starts at
    ``start_q``, lasts ``duration_q`` and slows every exposed route's delivery pipeline by ``severity``
    (1 = stopped) while it lasts; spot prices rise by ``spot_price_uplift`` and spot supply falls by
    ``severity × spot_exposure``."""

    id: str
    probability: float
    start_q: Triangular
    duration_q: Triangular
    severity: Triangular
    spot_price_uplift: float = 0.0
    spot_exposure: float = 0.0

    def __post_init__(self) -> None:
        p = f"bottlenecks.{self.id}"
        fraction(f"{p}.probability", self.probability)
        fraction(f"{p}.spot_exposure", self.spot_exposure)
        positive_float(f"{p}.spot_price_uplift", self.spot_price_uplift, allow_zero=True)
        if self.duration_q.low < 0:
            raise FieldError(f"{p}.duration_q.low", "must be >= 0 quarters", self.duration_q.low)
        if self.start_q.low < 0:
            raise FieldError(f"{p}.start_q.low", "must be >= 0 quarters", self.start_q.low)
        if self.severity.low < 0 or self.severity.high > 1:
            raise FieldError(f"{p}.severity", "must lie in [0, 1]", (self.severity.low, self.severity.high))


@dataclass(frozen=True, kw_only=True, slots=True)
class Event:
    """A regulatory shock at a random time. ``export_control`` stops deliveries of the exposed routes for
    ``duration_quarters`` (installed units keep running); ``divestment`` forces the sale of the lab's stake in
    an exposed start-up for value × (1 − ``discount``), nothing if the start-up failed, and takes its delivered
    chips offline only with ``service_loss``; ``investor_exit`` (a third-party investor forced out, as CFIUS
    did to Rain AI's Saudi investor in 2023) delays the start-up, multiplies its success probability by
    ``success_factor`` and leaves a ``financing_gap_usd`` that the lab covers."""

    id: str
    kind: str
    probability: float
    time_q: Triangular
    discount: float = 0.0  # divestment: the forced seller's discount to the stake's value
    service_loss: bool = False  # divestment: the lab also loses the start-up's delivered chips
    duration_quarters: float = math.inf  # export control: how long deliveries stay blocked
    delay_quarters: float = 0.0  # investor exit: delay to the start-up's first delivery
    success_factor: float = 1.0  # investor exit: multiplier on the start-up's success probability
    financing_gap_usd: float = 0.0  # investor exit: money the lab puts in to close the gap

    def __post_init__(self) -> None:
        p = f"events.{self.id}"
        one_of(f"{p}.kind", self.kind, EVENT_KINDS)
        fraction(f"{p}.probability", self.probability)
        fraction(f"{p}.discount", self.discount)
        fraction(f"{p}.success_factor", self.success_factor)
        positive_float(f"{p}.delay_quarters", self.delay_quarters, allow_zero=True)
        positive_float(f"{p}.financing_gap_usd", self.financing_gap_usd, allow_zero=True)
        if not self.duration_quarters > 0:
            raise FieldError(f"{p}.duration_quarters", "must be > 0 (omit it for a lasting control)",
                             self.duration_quarters)
        if self.time_q.low < 0:
            raise FieldError(f"{p}.time_q.low", "must be >= 0 quarters", self.time_q.low)


@dataclass(frozen=True, kw_only=True, slots=True)
class Spot:
    """On-demand cloud rental, the recourse: price per workload-H100e-hour and how much can be had."""

    usd_per_h100e_hour: float
    price_shock: LogNormal90 = ONE
    available_h100e: float = math.inf
    growth_per_year: float = 0.0  # growth of the spot supply the lab can get

    def __post_init__(self) -> None:
        positive_float("spot.usd_per_h100e_hour", self.usd_per_h100e_hour)
        if not (self.available_h100e >= 0):
            raise FieldError("spot.available_h100e", "must be >= 0", self.available_h100e)
        if not (isinstance(self.growth_per_year, int | float) and self.growth_per_year > -1):
            raise FieldError("spot.growth_per_year", "must be > -1", self.growth_per_year)
