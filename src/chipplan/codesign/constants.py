"""The co-design constants of ``catalog/data/codesign.yaml``, validated once and laid out as lookup arrays.

Categorical design parameters (node, core class, HBM generation, link type, ...) become integer codes into
the tables here, so a sweep over ten million designs gathers constants with one fancy-index per column.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chipplan import catalog
from chipplan.catalog import pydantic_message
from chipplan.errors import CatalogError, FieldError


class _Sourced(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str = Field(min_length=10)
    field_sources: dict[str, Any] = Field(default_factory=dict)


class NodeK(_Sourced):
    aliases: list[str] = Field(default_factory=list)
    logic_mtr_per_mm2: float = Field(gt=0)
    sram_bitcell_um2: float = Field(gt=0)
    energy_factor: float = Field(gt=0)
    static_w_per_mm2: float = Field(ge=0)


class SramK(_Sourced):
    mib_per_mm2_n7: float = Field(gt=0)


class HbmK(_Sourced):
    stack_gib: float = Field(gt=0)
    stack_gb_per_s: float = Field(gt=0)
    phy_mm2: float = Field(ge=0)
    controller_mtr: float = Field(ge=0)
    pj_per_bit: float = Field(gt=0)


class LinkK(_Sourced):
    gb_per_s_per_direction: float = Field(gt=0)
    phy_mm2: float = Field(ge=0)
    pj_per_bit: float = Field(gt=0)


class D2dK(_Sourced):
    tb_per_s_per_mm: float = Field(gt=0)
    depth_mm: float = Field(gt=0)
    pj_per_bit: float = Field(gt=0)


class CoreK(_Sourced):
    overhead_mm2_n7: float = Field(ge=0)


class Arithmetic(_Sourced):
    bf16: float = Field(gt=0)
    fp8: float = Field(gt=0)
    int8: float = Field(gt=0)
    fp4: float = Field(gt=0)


class ModelK(_Sourced):
    mac_area_mm2_n7: float = Field(gt=0)
    datapath_overhead: float = Field(ge=1)
    precision_area_factor: dict[str, float]
    noc_fraction: float = Field(ge=0, lt=1)
    other_area_mm2: float = Field(ge=0)
    pcie_lane_mm2: float = Field(ge=0)
    reticle_limit_mm2: float = Field(gt=0)
    wafer_scale_max_mm2: float = Field(gt=0)
    dvfs_exponent: float = Field(ge=1, le=3)
    sram_pj_per_bit_n7: float = Field(gt=0)
    scale_out_pj_per_bit: float = Field(gt=0)


class ScalingLaw(_Sourced):
    E: float = Field(gt=0)
    A: float = Field(gt=0)
    B: float = Field(gt=0)
    alpha: float = Field(gt=0, lt=1)
    beta: float = Field(gt=0, lt=1)


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")
    nodes: dict[str, NodeK]
    sram_classes: dict[str, SramK]
    hbm: dict[str, HbmK]
    links: dict[str, LinkK]
    d2d: dict[str, D2dK]
    core_classes: dict[str, CoreK]
    arithmetic_pj_per_flop_n7: Arithmetic
    model_constants: ModelK
    design_points: dict[str, dict[str, Any]]
    scaling_laws: dict[str, ScalingLaw]


def _norm(s: str) -> str:
    s = re.sub(r"^tsmc\s*", "", str(s).strip().lower())
    return re.sub(r"[^a-z0-9.]+", "", s)


@dataclass(frozen=True)
class Table:
    """One categorical table: names in code order, an alias index and the numeric columns as arrays."""

    kind: str
    names: tuple[str, ...]
    alias: dict[str, int]
    cols: dict[str, np.ndarray]

    def code(self, value: Any, field: str) -> int:
        i = self.alias.get(_norm(value))
        if i is None:
            raise FieldError(field, f"unknown {self.kind}; known: {', '.join(self.names)}", value)
        return i

    def codes(self, values: Any, field: str) -> np.ndarray:
        """Codes for an array of names (each distinct name is looked up once)."""
        v = np.asarray(values, dtype=object)
        uniq, inv = np.unique(v.astype(str), return_inverse=True)
        return np.array([self.code(u, field) for u in uniq], dtype=np.int64)[inv].reshape(v.shape)


def _table(kind: str, entries: dict[str, BaseModel], cls: type[BaseModel]) -> Table:
    """The entries of one categorical kind as a Table: every numeric field of ``cls`` becomes a column."""
    fields = tuple(n for n, f in cls.model_fields.items() if f.annotation is float)
    names = tuple(entries)
    alias: dict[str, int] = {}
    for i, (n, e) in enumerate(entries.items()):
        alias[_norm(n)] = i
        for a in getattr(e, "aliases", []):
            alias.setdefault(_norm(a), i)
    cols = {f: np.array([float(getattr(e, f)) for e in entries.values()]) for f in fields}
    return Table(kind, names, alias, cols)


@dataclass(frozen=True)
class Constants:
    """Validated co-design constants with lookup tables for the vectorised model."""

    doc: _Doc
    nodes: Table
    sram: Table
    hbm: Table
    links: Table
    d2d: Table
    cores: Table
    k: ModelK
    arithmetic: Arithmetic

    @property
    def design_points(self) -> dict[str, dict[str, Any]]:
        return self.doc.design_points

    @property
    def scaling_laws(self) -> dict[str, ScalingLaw]:
        return self.doc.scaling_laws


@functools.lru_cache(maxsize=4)
def _build(version: str) -> Constants:
    raw = catalog.load().codesign
    if not raw:
        raise CatalogError("codesign: section missing from the catalog (catalog/data/codesign.yaml)")
    try:
        doc = _Doc.model_validate(raw)
    except ValidationError as e:
        raise CatalogError("codesign.yaml: " + pydantic_message("codesign", e)) from None
    n7 = doc.nodes.get("N7")
    if n7 is None:
        raise CatalogError("codesign.nodes: N7 is the reference node and must be present")
    for cls in ("cache", "scratchpad", "macro"):
        if cls not in doc.sram_classes:
            raise CatalogError(f"codesign.sram_classes: {cls} is required")
    hbm = dict(doc.hbm)
    # "none": no HBM stacks (SRAM-only or external memory); zeros so it broadcasts like the others.
    hbm["none"] = HbmK(stack_gib=1, stack_gb_per_s=1, phy_mm2=0, controller_mtr=0, pj_per_bit=1,
                       source="no on-package HBM (SRAM-only or external memory)")
    return Constants(
        doc=doc,
        nodes=_table("process node", doc.nodes, NodeK),
        sram=_table("SRAM class", doc.sram_classes, SramK),
        hbm=_table("HBM generation", hbm, HbmK),
        links=_table("link type", doc.links, LinkK),
        d2d=_table("die-to-die kind", doc.d2d, D2dK),
        cores=_table("core class", doc.core_classes, CoreK),
        k=doc.model_constants,
        arithmetic=doc.arithmetic_pj_per_flop_n7,
    )


def load() -> Constants:
    """The co-design constants of the loaded catalog (cached per catalog version)."""
    return _build(catalog.load().version)
