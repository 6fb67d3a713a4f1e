"""Engine-wide tuned numbers (catalog/data/efficiency.yaml, ``engine_constants:``), validated on load.

The per-family efficiencies (``chipplan.perf.efficiency``) are one number per hardware family; these are one
number for every family: memory the framework cannot use, the cost of FlashAttention's backward, the serving
engine's stand-ins when no engine profile is given, the default global batch of a planned run, and the widening of
the 80 % intervals where the calibration tables are thin. Each catalog entry is ``{value, source}`` (with
``estimate: true`` where no measurement pins it); the engines read them here, by group and name, and nowhere
else holds the number.

>>> value("training", "attention_backward_factor")
3.0
>>> value("serving", "max_num_tokens")
8192.0
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chipplan import catalog
from chipplan.catalog import pydantic_message
from chipplan.errors import CatalogError

#: The names each group must hold, and who reads them.
NAMES: dict[str, tuple[str, ...]] = {
    # chipplan.perf.training (and the serving memory check: memory_reserved_bytes; the predict table's layout
    # search: memory_model_slack_fraction)
    "training": ("memory_usable_fraction", "memory_reserved_bytes", "attention_backward_factor",
                 "memory_model_slack_fraction", "host_offload_bw_bytes_per_s"),
    # chipplan.perf.plan
    "plan": ("global_batch_tokens_small", "global_batch_tokens_large", "large_model_params"),
    # chipplan.perf.inference, without an engine profile (chipplan.perf.serving_engines) where it has one
    "serving": ("step_overhead_s", "allreduce_latency_steps", "decode_layer_overhead_s", "prefill_layer_overhead_s",
                "kv_free_fraction", "max_batch_size", "max_num_tokens", "draft_cost_ratio"),
    # chipplan.perf.efficiency (interval widening)
    "intervals": ("widen_log_sd_moe", "widen_log_sd_scale", "widen_log_sd_fp4", "widen_log_sd_serving",
                  "scale_widen_above_accelerators"),
}


class Constant(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: float = Field(ge=0, allow_inf_nan=False)
    estimate: bool = False
    source: str = Field(min_length=10)


_cache: tuple[Any, dict[str, dict[str, float]]] | None = None


def table() -> dict[str, dict[str, float]]:
    """Every group's values, validated (once per loaded catalog)."""
    global _cache
    cat = catalog.load()
    if _cache is not None and _cache[0] is cat:
        return _cache[1]
    raw = cat.engine_constants
    out: dict[str, dict[str, float]] = {}
    for group, names in NAMES.items():
        body = raw.get(group)
        if not isinstance(body, dict):
            raise CatalogError(f"engine_constants.{group}: missing (a mapping of {', '.join(names)})")
        unknown = sorted(set(map(str, body)) - set(names))
        if unknown:
            raise CatalogError(f"engine_constants.{group}: unknown key(s) {', '.join(unknown)}; allowed: "
                               f"{', '.join(names)}")
        out[group] = {}
        for name in names:
            if name not in body:
                raise CatalogError(f"engine_constants.{group}.{name}: missing")
            try:
                out[group][name] = Constant.model_validate(body[name]).value
            except ValidationError as e:
                raise CatalogError(pydantic_message(f"engine_constants.{group}.{name}", e)) from None
    unknown = sorted(set(map(str, raw)) - set(NAMES))
    if unknown:
        raise CatalogError(f"engine_constants: unknown group(s) {', '.join(unknown)}; allowed: {', '.join(NAMES)}")
    _cache = (cat, out)
    return out


def value(group: str, name: str) -> float:
    """One tuned number, e.g. ``value("training", "memory_reserved_bytes")``."""
    return table()[group][name]


def aliases(module: str, names: dict[str, tuple[str, str]]) -> Any:
    """A module ``__getattr__`` that answers the module constants these numbers used to be (``names``: old name →
    (group, name)), so ``from chipplan.perf.training import ATTN_BWD_FACTOR`` keeps working (PEP 562)."""

    def __getattr__(attr: str) -> float:
        if attr in names:
            return value(*names[attr])
        raise AttributeError(f"module {module!r} has no attribute {attr!r}")

    return __getattr__
