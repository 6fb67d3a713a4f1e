"""Plausible ranges of the quantities users type: declared once, here, as data.

Every money, physics and size input chipplan accepts (a command-line flag, an API argument, a scenario field)
names one quantity below. Its range is what a planning question can mean, with generous margins: a value
outside it is a typo or a unit slip (``1e308``, ``1e-300``, kilowatts given as watts), and the answer it would
produce (null costs, a 10²⁹⁷-day run, an overflow in the discounting) is never wanted. So the value is
refused with one line that names the field and states the range. The command line checks its flags against
this table before anything runs (``chipplan.commands._common``), the API checks its arguments
(``chipplan.api``), the scenario models state the same ranges in their JSON Schema (``chipplan.scenario``),
and ``docs/limits.md`` lists the table.

A range is closed ``[low, high]``; ``zero=True`` also allows exactly 0 (a free input, an unused option)
while refusing the tiny non-zero values that only a slip produces; ``integer=True`` asks for a whole number.

>>> check("usd_per_accelerator_hour", 2.5)
2.5
>>> check("usd_per_accelerator_hour", 1e308, field="--price")
Traceback (most recent call last):
...
chipplan.errors.FieldError: --price: must be 0 or in [0.0001, 10,000] USD per accelerator-hour, got 1e+308
>>> check("accelerators", 0, field="--gpus")
Traceback (most recent call last):
...
chipplan.errors.FieldError: --gpus: must be a whole number in [1, 10,000,000] accelerators, got 0
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from chipplan.errors import FieldError


@dataclass(frozen=True, kw_only=True)
class Range:
    """The plausible values of one quantity."""

    low: float
    high: float
    unit: str = ""
    zero: bool = False  # 0 is allowed as well (below ``low``)
    integer: bool = False

    def allows(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            try:  # numpy scalars
                value = value.item()
            except Exception:
                return False
            if isinstance(value, bool) or not isinstance(value, int | float):
                return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if self.integer and not float(value).is_integer():
            return False
        return (self.zero and value == 0) or self.low <= value <= self.high

    @property
    def rule(self) -> str:
        """The range in words: ``must be in [1, 100] years``."""
        span = f"[{_num(self.low)}, {_num(self.high)}]"
        head = "must be a whole number in" if self.integer else "must be in"
        if self.zero:
            head = "must be 0 or a whole number in" if self.integer else "must be 0 or in"
        return f"{head} {span}" + (f" {self.unit}" if self.unit else "")


def _num(x: float) -> str:
    """``10,000`` and ``0.0001`` as people write them; ``1e+16`` beyond a billion."""
    if x == int(x) and abs(x) < 1e10:
        return f"{int(x):,}"
    return f"{x:g}"


_Y = "years"
_USD = "USD"
#: quantity → plausible range. Names carry their unit; the unit text is what the message says.
RANGES: dict[str, Range] = {
    # --- sizes: counts that size arrays, programmes and searches
    "accelerators": Range(low=1, high=1e7, unit="accelerators", integer=True),  # 100× the largest cluster built
    "accelerators_per_server": Range(low=1, high=1024, unit="accelerators per server", integer=True),
    "dies_per_package": Range(low=1, high=1000, unit="dies", integer=True),
    "hbm_stacks": Range(low=0, high=64, unit="HBM stacks", integer=True),
    "redundant_units": Range(low=0, high=1e6, unit="units", integer=True),
    "switch_radix": Range(low=2, high=4096, unit="ports", integer=True),
    "seed": Range(low=0, high=2**32 - 1, integer=True),
    "monte_carlo_samples": Range(low=0, high=1e6, unit="draws", integer=True),
    # the tornado re-optimises on (up to) the optimisation scenarios, so it takes their range
    "tornado_scenarios": Range(low=0, high=4096, unit="scenarios per re-optimisation", integer=True),
    # the stochastic programme grows with scenarios × quarters × routes; the default is 512
    "optimisation_scenarios": Range(low=1, high=4096, unit="scenarios", integer=True),
    "replications": Range(low=0, high=100, integer=True),
    "designs": Range(low=1, high=10_000_000, unit="designs", integer=True),  # streamed to Parquet in chunks
    "designs_in_memory": Range(low=1, high=100_000, unit="designs", integer=True),  # ~10 kB each
    "search_evaluations": Range(low=1, high=100_000, unit="evaluations", integer=True),
    "cv_evaluations": Range(low=1, high=10_000, unit="evaluations", integer=True),
    "top_layouts": Range(low=0, high=100, unit="layouts", integer=True),
    "rows_shown": Range(low=1, high=1e7, unit="rows", integer=True),
    "port": Range(low=1, high=65535, integer=True),
    "serving_instances": Range(low=1, high=1e5, unit="instances", integer=True),  # per disaggregated deployment
    "tensor_parallel": Range(low=1, high=1024, unit="accelerators", integer=True),
    "draft_tokens": Range(low=0, high=64, unit="draft tokens", integer=True),
    # --- model shape (a catalog model file, a table row): ~100x the largest published model in each
    "layers": Range(low=1, high=1e5, unit="layers", integer=True),
    "width_elements": Range(low=1, high=1e7, unit="elements", integer=True),  # d_model, d_ff, head width, rank
    "heads": Range(low=1, high=1e5, unit="heads", integer=True),
    "experts": Range(low=1, high=1e5, unit="experts", integer=True),
    "nodes": Range(low=1, high=1e6, unit="nodes", integer=True),
    "vocabulary_tokens": Range(low=1, high=1e8, unit="tokens", integer=True),
    "parameters": Range(low=1, high=1e16, unit="parameters"),
    # --- workload
    "concurrent_requests": Range(low=1, high=1e8, unit="requests", integer=True),
    "requests": Range(low=1, high=1e12, unit="requests", integer=True),
    "training_tokens": Range(low=1, high=1e16, unit="tokens"),  # ~500× the largest published run
    "batch_tokens": Range(low=1, high=1e10, unit="tokens"),
    "batch_sequences": Range(low=1, high=1e9, unit="sequences", integer=True),
    "sequence_tokens": Range(low=1, high=1e8, unit="tokens", integer=True),
    "tokens_per_day": Range(low=1, high=1e17, unit="tokens per day"),
    "tokens_per_s_per_accelerator": Range(low=1e-6, high=1e9, unit="tokens/s"),
    "requests_per_s": Range(low=1e-6, high=1e9, unit="requests/s"),
    "latency_ms": Range(low=1e-3, high=1e8, unit="ms"),
    "deadline_days": Range(low=1e-3, high=36_525, unit="days"),
    "compute_flop": Range(low=1e15, high=1e32, unit="FLOP"),
    # --- money
    "usd_per_accelerator_hour": Range(low=1e-4, high=1e4, unit="USD per accelerator-hour", zero=True),
    "usd_per_kwh": Range(low=1e-4, high=10, unit="USD per kWh", zero=True),
    "usd_per_accelerator": Range(low=1e-2, high=1e8, unit="USD per accelerator", zero=True),
    "usd_per_server": Range(low=1, high=1e9, unit="USD per server", zero=True),
    "usd_per_part": Range(low=1e-4, high=1e8, unit=_USD, zero=True),  # a wafer, an HBM stack, a package, a test
    "usd_nre": Range(low=1, high=1e11, unit=_USD, zero=True),
    "usd_budget": Range(low=1, high=1e13, unit=_USD),
    "usd_per_day": Range(low=1e-2, high=1e11, unit="USD per day"),  # a training run's delay cost
    "interest_per_year": Range(low=1e-4, high=1, unit="per year", zero=True),
    "margin": Range(low=1e-4, high=0.99, zero=True),
    "lifetime_units": Range(low=1, high=1e11, unit="units"),
    # --- sourcing routes (a strategy scenario)
    "route_units": Range(low=1, high=1e9, unit="units", zero=True),  # 0 switches a route off
    "h100e_per_unit": Range(low=1e-4, high=1e5, unit="H100e per unit"),
    "claim_multiplier": Range(low=1e-4, high=1e6, unit="x H100"),
    "quarters": Range(low=0, high=400, unit="quarters"),  # a century
    "respins": Range(low=0, high=100, unit="re-spins", integer=True),
    "probability": Range(low=0, high=1),
    "power_w": Range(low=1e-3, high=1e7, unit="W"),
    # --- time and use
    "years": Range(low=0.01, high=100, unit=_Y),  # beyond a century the discounting overflows
    "utilisation": Range(low=1e-3, high=1),
    "fraction": Range(low=1e-4, high=1, zero=True),
    "pue": Range(low=1, high=5),
    # --- silicon and power
    "die_area_mm2": Range(low=1e-2, high=2e5, unit="mm²"),  # a 450 mm wafer is 159,000 mm²
    "wafer_diameter_mm": Range(low=25, high=450, unit="mm"),
    "wafer_margin_mm": Range(low=1e-3, high=50, unit="mm", zero=True),  # edge exclusion, scribe line
    "defects_per_cm2": Range(low=1e-4, high=10, unit="defects/cm²", zero=True),
    "yield_clustering": Range(low=1e-2, high=1000),  # negative-binomial alpha
    "critical_layers": Range(low=1, high=200, unit="layers"),
    "die_yield": Range(low=1e-6, high=1),
    "node_power_kw": Range(low=1e-2, high=2000, unit="kW"),
}


def range_of(quantity: str, *, zero: bool | None = None) -> Range:
    """``quantity``'s range; ``zero=True`` also allows 0 where a field gives 0 a meaning ("none", "derive it").

    >>> range_of("heads", zero=True).rule
    'must be 0 or a whole number in [1, 100,000] heads'
    """
    r = RANGES[quantity]
    return r if zero is None or zero == r.zero else replace(r, zero=zero)


def check(quantity: str, value: Any, *, field: str | None = None, zero: bool | None = None) -> Any:
    """``value`` unchanged when ``quantity``'s range allows it (``None`` passes: not given); otherwise a
    FieldError naming ``field`` (default: the quantity) and stating the range."""
    if value is None:
        return None
    r = range_of(quantity, zero=zero)
    if not r.allows(value):
        raise FieldError(field or quantity, r.rule, value)
    return value


def pydantic_check(quantity: str, *, zero: bool | None = None) -> Any:
    """An ``AfterValidator``-style function for pydantic fields of ``quantity``: raises ``ValueError`` with
    the rule, which the scenario loader prefixes with the field's path."""
    r = range_of(quantity, zero=zero)

    def validate(value: Any) -> Any:
        if value is not None and not r.allows(value):
            raise ValueError(r.rule)
        return value

    return validate


def schema(quantity: str, *, zero: bool | None = None) -> dict[str, Any]:
    """The range as JSON Schema keywords (``minimum``/``maximum``; the zero exception in the text)."""
    r = range_of(quantity, zero=zero)
    out: dict[str, Any] = {"maximum": r.high, "minimum": 0 if r.zero and r.low > 0 else r.low,
                           "x-range": r.rule.removeprefix("must be "), "x-quantity": quantity}
    return out


def bounded(quantity: str, base: type = float, *, zero: bool | None = None) -> Any:
    """A pydantic field type for ``quantity``: ``base`` checked against the range, which the JSON Schema
    states (``minimum``, ``maximum`` and ``x-range`` in words). ``seq_len: bounded("sequence_tokens", int)``."""
    from typing import Annotated

    from pydantic import AfterValidator, Field

    return Annotated[base, AfterValidator(pydantic_check(quantity, zero=zero)),
                     Field(json_schema_extra=schema(quantity, zero=zero))]
