"""Cost parameters: YAML under ``catalog/data/cost/``, validated with pydantic, loaded once.

Friendly units at the edge (USD, mm, mm², /cm², kW, $/kWh); the cost engines take them as they are,
since they are already the units the formulas are written in (SI lengths would only add conversions).

Any numeric cost parameter may be uncertain: a plain number, a ``{p5, p50, p95}`` triple, or a named
distribution (``{dist: uniform, low, high}``, ``{dist: triangular, low, mode, high}``,
``{dist: lognormal, median, sigma}`` or ``{dist: lognormal, p5, p95}``, ``{dist: normal, mean, sd}``). This is the
project's one uncertainty vocabulary: the plan scenario's uncertain inputs are read into these same types and
drawn by the same sampler (``chipplan.cost.uncertainty``). Deterministic results use ``central(x)`` (the p50,
median, mode or mean).

>>> from chipplan.catalog import cost
>>> cost.load().node_name("TSMC 4N")
'N4'
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from chipplan.catalog import DATA_DIR, data_files, read_yaml
from chipplan.catalog import pydantic_message as _pydantic_message
from chipplan.catalog.schema import Sourced
from chipplan.errors import CatalogError, FieldError
from chipplan.units import Z90  # standard-normal 95th percentile

COST_DIR = DATA_DIR / "cost"

NonNegF = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class Triple(BaseModel):
    """An uncertain quantity given by its 5th, 50th and 95th percentiles."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    p5: NonNegF
    p50: NonNegF
    p95: NonNegF

    @model_validator(mode="after")
    def _ordered(self) -> Triple:
        if not self.p5 <= self.p50 <= self.p95:
            raise ValueError(f"must satisfy p5 <= p50 <= p95, got {self.p5}, {self.p50}, {self.p95}")
        return self


def lognormal_90(p5: float, p95: float) -> tuple[float, float]:
    """(median, sigma) of the lognormal whose 5th and 95th percentiles are ``p5`` and ``p95``: the one reading of
    a 90 % interval as a lognormal (cost ranges, plan inputs, the strategy's multipliers)."""
    return math.sqrt(p5 * p95), math.log(p95 / p5) / (2 * Z90)


class Dist(BaseModel):
    """A named distribution: uniform(low, high), triangular(low, mode, high), lognormal(median, sigma) or
    lognormal(p5, p95) (median √(p5·p95), sigma ln(p95/p5)/(2·1.645)), normal(mean, sd)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    dist: Literal["uniform", "triangular", "lognormal", "normal"]
    low: float | None = None
    mode: float | None = None
    high: float | None = None
    median: float | None = None
    sigma: float | None = None
    mean: float | None = None
    sd: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _lognormal_90(cls, v: Any) -> Any:
        """``{dist: lognormal, p5, p95}`` (a 90 % interval) is stored as its median and sigma."""
        if isinstance(v, dict) and v.get("dist") == "lognormal" and ("p5" in v or "p95" in v):
            v = dict(v)
            p5, p95 = v.pop("p5", None), v.pop("p95", None)
            if p5 is None or p95 is None or "median" in v or "sigma" in v:
                raise ValueError("a lognormal is {median, sigma} or {p5, p95}")
            if not (isinstance(p5, int | float) and isinstance(p95, int | float) and 0 < p5 <= p95):
                raise ValueError("a lognormal range needs 0 < p5 <= p95")
            v["median"], v["sigma"] = lognormal_90(p5, p95)
        return v

    @model_validator(mode="after")
    def _params(self) -> Dist:
        need = {"uniform": ("low", "high"), "triangular": ("low", "mode", "high"),
                "lognormal": ("median", "sigma"), "normal": ("mean", "sd")}[self.dist]
        missing = [k for k in need if getattr(self, k) is None]
        if missing:
            raise ValueError(f"{self.dist} needs {', '.join(need)}; missing {', '.join(missing)}")
        if self.dist in ("uniform", "triangular"):
            lo, hi = self.low, self.high
            mode = self.mode if self.mode is not None else lo
            if not lo <= mode <= hi or lo == hi:  # type: ignore[operator]
                raise ValueError("must satisfy low <= mode <= high and low < high")
        if self.dist == "lognormal" and not (self.median > 0 and self.sigma >= 0):  # type: ignore[operator]
            raise ValueError("lognormal needs median > 0 and sigma >= 0")
        if self.dist == "normal" and not self.sd >= 0:  # type: ignore[operator]
            raise ValueError("normal needs sd >= 0")
        return self


Num = NonNegF | Triple | Dist
Frac = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] | Triple | Dist
Share = Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)] | Triple | Dist


def central(x: Num | float) -> float:
    """The deterministic value of a (possibly uncertain) parameter: p50, median, mode or mean."""
    if isinstance(x, Triple):
        return x.p50
    if isinstance(x, Dist):
        if x.dist == "uniform":
            return (x.low + x.high) / 2  # type: ignore[operator]
        if x.dist == "triangular":
            return float(x.mode)  # type: ignore[arg-type]
        if x.dist == "lognormal":
            return float(x.median)  # type: ignore[arg-type]
        return float(x.mean)  # type: ignore[arg-type]
    return float(x)


class _E(Sourced):
    model_config = ConfigDict(extra="forbid")


class WaferGeometry(_E):
    diameter_mm: NonNegF = 300.0
    edge_exclusion_mm: NonNegF = 3.0
    scribe_mm: NonNegF = 0.2
    reticle_w_mm: NonNegF = 26.0
    reticle_h_mm: NonNegF = 33.0

    @property
    def reticle_limit_mm2(self) -> float:
        return self.reticle_w_mm * self.reticle_h_mm


class NodeCost(_E):
    aliases: list[str] = Field(default_factory=list)
    wafer_price_usd: Num
    defect_density_per_cm2: Num
    mask_set_usd: Num
    design_nre_usd: Num
    year: int = 0


class HbmCost(_E):
    """HBM priced per GB by generation; a stack costs usd_per_gb × its capacity (GB per stack)."""

    aliases: list[str] = Field(default_factory=list)
    usd_per_gb: Num
    stack_gb: NonNegF  # typical capacity per stack, for recipes that give no capacity
    year: int = 0


class Harvest(_E):
    """A catalog part sold with some identical units disabled (SMs, CUs): the die works when
    ``units_enabled`` of its ``units`` are good. ``unit_area_fraction`` is the share of die area in units."""

    units: Annotated[int, Field(ge=1)]
    units_enabled: Annotated[int, Field(ge=1)]
    unit_area_fraction: Share

    @model_validator(mode="after")
    def _enabled(self) -> Harvest:
        if self.units_enabled > self.units:
            raise ValueError(f"units_enabled ({self.units_enabled}) must not exceed units ({self.units})")
        return self


class PackagingCost(_E):
    cost_usd: Num
    bond_yield_per_die: Frac
    description: str = ""


class TestCost(_E):
    final_test_usd: Num
    wafer_probe_usd_per_die: Num = 0.0


class NreBreakdown(_E):
    """Shares of a full design NRE; the remainder goes to architecture, physical design, IP and masks."""

    software: NonNegF
    verification: NonNegF


class ChipDefaults(_E):
    gross_margin: Share
    volume_units: NonNegF
    yield_model: str = "negative-binomial"
    alpha: NonNegF = 10.0
    critical_layers: NonNegF = 10.0
    # Wafer-scale parts survive defects by routing around spare cores (see silicon.redundant_yield).
    wafer_scale_units: NonNegF = 0.0
    wafer_scale_spare_fraction: Share = 0.0
    wafer_scale_unit_area_fraction: Share = 0.0


class HostBom(_E):
    """Non-accelerator parts of one server node."""

    description: str = ""
    cpus: int = 2
    cpu_usd: Num
    dram_gb: NonNegF
    dram_usd_per_gb: Num
    nics: int = 8
    nic_usd: Num
    scale_up_fabric_usd: Num = 0.0
    storage_tb: NonNegF = 0.0
    storage_usd_per_tb: Num = 0.0
    psu_usd_per_w: Num
    chassis_usd: Num
    integrator_margin: Share = 0.0


class NetworkPrices(_E):
    switch_radix: int = 64
    switch_usd: Num
    transceiver_usd: Num
    cable_usd: Num
    storage_usd_per_accelerator: Num = 0.0
    default_cluster_accelerators: int = 1024
    topology: Literal["fat-tree", "rail-optimised"] = "rail-optimised"


class Facility(_E):
    colocation_usd_per_kw_month: Num
    build_usd_per_w: Num
    build_life_years: NonNegF = 15.0
    build_opex_usd_per_kw_month: Num = 0.0
    pue: Num
    electricity_usd_per_kwh: Num
    busy_power_fraction: Frac
    idle_power_fraction: Frac
    server_power_factor: NonNegF = 1.82  # server watts per accelerator TDP watt when a system has no node power


class Finance(_E):
    interest_rate: Num
    maintenance_fraction_per_year: Num
    staff_usd_per_accelerator_year: Num
    hardware_depreciation_ooms_per_year: NonNegF
    server_life_years: Annotated[float, Field(gt=0, allow_inf_nan=False)]


class CloudPrice(_E):
    accelerator: str
    provider: str
    offering: str = ""
    kind: Literal["hyperscaler", "neocloud"]
    date: str
    on_demand: NonNegF | None = None
    reserved_1yr: NonNegF | None = None
    reserved_3yr: NonNegF | None = None


_SECTION_TYPES: dict[str, Any] = {
    "wafer": WaferGeometry,
    "nodes": NodeCost,
    "hbm": HbmCost,
    "packaging": PackagingCost,
    "test": TestCost,
    "nre_breakdown": NreBreakdown,
    "chip_defaults": ChipDefaults,
    "hosts": HostBom,
    "network": NetworkPrices,
    "facility": Facility,
    "finance": Finance,
    "cloud": CloudPrice,
    "harvest": Harvest,
}
_SINGLE = {"wafer", "test", "nre_breakdown", "chip_defaults", "network", "facility", "finance"}
CLOUD_TERMS = ("on-demand", "1yr", "3yr")
CLOUD_KINDS = ("hyperscaler", "neocloud")


def _norm(s: str) -> str:
    s = re.sub(r"^tsmc\s*", "", s.strip().lower())
    return re.sub(r"[^a-z0-9.]+", "", s)


@dataclass(frozen=True)
class CostCatalog:
    """Validated cost parameters. Mapping sections are dicts id → entry; single sections are entries."""

    wafer: WaferGeometry
    nodes: dict[str, NodeCost]
    hbm: dict[str, HbmCost]
    packaging: dict[str, PackagingCost]
    test: TestCost
    nre_breakdown: NreBreakdown
    chip_defaults: ChipDefaults
    hosts: dict[str, HostBom]
    network: NetworkPrices
    facility: Facility
    finance: Finance
    cloud: dict[str, CloudPrice]
    harvest: dict[str, Harvest]

    def node(self, key: str, field: str | None = None) -> NodeCost:
        """A process node by name or alias (``N4``, ``4N``, ``TSMC 4N``, ``N4P``)."""
        return _pick("node", self.nodes, key, field)

    def node_name(self, key: str, field: str | None = None) -> str:
        """The node id for ``key``; a description naming several nodes ("TSMC N5 (XCD) + N6 (IOD)") resolves
        to the first node it names (the compute dies' node)."""
        n = _norm(key)
        for k, v in self.nodes.items():
            if n == _norm(k) or n in {_norm(a) for a in v.aliases}:
                return k
        for token in re.findall(r"[A-Za-z0-9]+", key):
            t = _norm(token)
            for k, v in self.nodes.items():
                if t == _norm(k) or t in {_norm(a) for a in v.aliases}:
                    return k
        _pick("node", self.nodes, key, field)  # raises the one-line error listing the known nodes
        raise AssertionError("unreachable")

    def hbm_generation(self, key: str, field: str | None = None) -> HbmCost:
        """An HBM generation by name; a stack-height note is ignored ("HBM3e (12-high)" is HBM3e)."""
        return _pick("HBM generation", self.hbm, re.sub(r"\(.*?\)", "", key), field)

    def packaging_kind(self, key: str, field: str | None = None) -> PackagingCost:
        return _pick("packaging", self.packaging, key, field)

    def host(self, key: str, field: str | None = None) -> HostBom:
        return _pick("host", self.hosts, key, field)

    def cloud_prices(self, accelerator: str) -> dict[str, CloudPrice]:
        """Cloud price rows for one accelerator id, newest first."""
        rows = {k: v for k, v in self.cloud.items() if v.accelerator == accelerator}
        return dict(sorted(rows.items(), key=lambda kv: kv[1].date, reverse=True))


def _pick(kind: str, table: dict[str, Any], key: str, field: str | None = None) -> Any:
    n = _norm(key)
    for id_, e in table.items():
        if n == _norm(id_) or n in {_norm(a) for a in getattr(e, "aliases", [])}:
            return e
    raise FieldError(field or kind, f"unknown {kind}; known: {', '.join(table)}", key)


def build(files: list[Path]) -> CostCatalog:
    """Validate cost YAML ``files`` (later files override earlier entries with the same id)."""
    raw: dict[str, Any] = {}
    for path in files:
        doc = read_yaml(path)
        if not isinstance(doc, dict):
            raise CatalogError(f"{path}: must be a mapping of cost sections")
        for key, body in doc.items():
            if key in ("version", "description"):
                continue
            if key not in _SECTION_TYPES:
                raise CatalogError(f"{path.name}: unknown section {key!r}; allowed: {', '.join(_SECTION_TYPES)}")
            if key in _SINGLE:
                raw[key] = (path, body)
            else:
                if not isinstance(body, dict):
                    raise CatalogError(f"{path.name}: {key} must map ids to entries")
                raw.setdefault(key, {})
                for id_, entry in body.items():
                    raw[key][str(id_)] = (path, entry)
    out: dict[str, Any] = {}
    for key, cls in _SECTION_TYPES.items():
        if key not in raw:
            raise CatalogError(f"cost catalog: section {key!r} is missing")
        try:
            if key in _SINGLE:
                path, body = raw[key]
                out[key] = cls.model_validate(body)
            else:
                out[key] = {}
                for id_, (path, entry) in raw[key].items():
                    try:
                        out[key][id_] = cls.model_validate(entry)
                    except ValidationError as err:
                        raise CatalogError(f"{path.name}: " + _pydantic_message(f"{key}.{id_}", err)) from None
        except ValidationError as err:
            raise CatalogError(f"{path.name}: " + _pydantic_message(key, err)) from None
    return CostCatalog(**out)


@functools.lru_cache(maxsize=1)
def load() -> CostCatalog:
    """The shipped cost catalog (cached)."""
    return build(data_files("cost"))
