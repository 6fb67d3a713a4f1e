"""File-boundary schema of the catalog YAML (pydantic). Friendly units here; SI after ``to_spec``.

Every entry carries ``source`` (document, organisation, year; URL where public) covering its numbers,
and ``field_sources`` for any field that comes from somewhere else or is an estimate
(``{estimate: true, reasoning: ...}``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from chipplan.specs import FAMILIES, Accelerator, Model, System, limits
from chipplan.specs.hardware import MAX_MATRIX_UNIT_WIDTH, TPU_MIN_MATRIX_UNIT_WIDTH
from chipplan.units import GB, GIB, MB, TERA, gbps_to_bytes_per_s


def _not_bool(v: object) -> object:
    # YAML reads ``true``/``yes``/``on`` as booleans and pydantic would take them as 1: ``n_layers: true`` is a
    # mistake, not one layer.
    if isinstance(v, bool):
        raise ValueError("must be a number, not true/false")
    return v


NotBool = BeforeValidator(_not_bool)
Pos = Annotated[float, NotBool, Field(gt=0, allow_inf_nan=False)]
NonNeg = Annotated[float, NotBool, Field(ge=0, allow_inf_nan=False)]
PosInt = Annotated[int, NotBool, Field(gt=0)]
NonNegInt = Annotated[int, NotBool, Field(ge=0)]


def count(quantity: str, *, zero: bool = False) -> object:
    """A whole-number field with the plausible range of ``quantity`` (``chipplan.specs.limits``); ``zero``: 0 is
    allowed too (it means "none" or "derive it")."""
    return Annotated[NonNegInt if zero else PosInt, AfterValidator(limits.pydantic_check(quantity, zero=zero)),
                     Field(json_schema_extra=limits.schema(quantity, zero=zero))]


class Estimate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    estimate: Literal[True]
    reasoning: str = Field(min_length=10)


class Sourced(BaseModel):
    """A number's provenance: either a source text or a marked estimate."""

    model_config = ConfigDict(extra="forbid")
    source: str | None = None
    field_sources: dict[str, str | Estimate] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _has_provenance(self) -> Sourced:
        if not self.source or len(self.source.strip()) < 10:
            raise ValueError("source: every catalog entry needs a source (document, organisation, year)")
        known = set(type(self).model_fields) - {"source", "field_sources"}
        unknown = set(self.field_sources) - known
        if unknown:
            raise ValueError(f"field_sources: names fields that do not exist: {sorted(unknown)}")
        return self

    def sourced_fields(self, *, mode: str = "python") -> list[tuple[str, object, str]]:
        """(field, value, source) for every field but the provenance ones: the field's own source, else
        ``"entry source"`` (the entry's ``source``, which ``source_text(entry.source)`` states). ``mode`` is
        pydantic's ``model_dump`` mode (``"json"`` for JSON-ready values)."""
        fs = self.field_sources
        return [(k, v, source_text(fs.get(k), "entry source")) for k, v in self.model_dump(mode=mode).items()
                if k not in ("source", "field_sources")]


def source_text(v: str | Estimate | None, default: str = "") -> str:
    """A provenance as people read it: the source text, ``estimate: <reasoning>`` for a marked estimate, else
    ``default``.

    >>> source_text(Estimate(estimate=True, reasoning="about 30 % of peak")), source_text(None, "entry source")
    ('estimate: about 30 % of peak', 'entry source')
    """
    if v is None:
        return default
    if isinstance(v, str):
        return v
    return f"estimate: {v.reasoning}"


class PeakTflops(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fp32: NonNeg = 0.0
    tf32: NonNeg = 0.0
    bf16: NonNeg = 0.0
    fp16: NonNeg = 0.0
    fp8: NonNeg = 0.0
    int8: NonNeg = 0.0
    fp4: NonNeg = 0.0
    int4: NonNeg = 0.0


class ScaleUp(BaseModel):
    model_config = ConfigDict(extra="forbid")
    technology: str
    gb_per_s_per_direction: Pos
    domain_size: PosInt


class AcceleratorEntry(Sourced):
    model_config = ConfigDict(extra="forbid")
    name: str
    vendor: str
    family: str
    aliases: list[str] = Field(default_factory=list)
    peak_tflops: PeakTflops
    # HBM capacity: give one, each meaning what it says (an "80GB" H100 has 80 GiB = 85.9 GB).
    hbm_gib: Pos | None = Field(default=None, description="HBM capacity, GiB (2^30 bytes)")
    hbm_gb: Pos | None = Field(default=None, description="HBM capacity, GB (10^9 bytes)")
    hbm_tb_per_s: Pos
    hbm_stacks: NonNegInt = 0
    hbm_generation: str = ""
    sram_mb: NonNeg = 0.0
    scale_up: ScaleUp
    scale_out_gbps: Pos = Field(description="scale-out line rate per accelerator, Gbit/s per direction")
    tdp_w: NonNeg = 0.0
    process_node: str = ""
    die_area_mm2: NonNeg = 0.0
    n_dies: PosInt = 1
    devices_per_chip: PosInt = Field(default=1, description="devices the framework addresses per chip "
                                     "(TensorCores without megacore)")
    matrix_unit_width: Annotated[int, NotBool, Field(ge=0, le=MAX_MATRIX_UNIT_WIDTH)] | None = Field(
        default=None, description="side of the systolic matrix unit (TPU MXU), elements, 0-4096; an attention "
        "contraction or output dimension below it is padded to a multiple of it (0: no padding modelled). Unset: "
        f"{TPU_MIN_MATRIX_UNIT_WIDTH} for family tpu (the smallest TPU MXU, so an unstated side pads least), else 0")
    launch_year: Annotated[int, NotBool, Field(ge=2010, le=2035)]
    price_usd: NonNeg = 0.0
    notes: str = ""

    @field_validator("family")
    @classmethod
    def _family(cls, v: str) -> str:
        if v not in FAMILIES:
            raise ValueError(f"must be one of {', '.join(FAMILIES)}")
        return v

    @model_validator(mode="after")
    def _one_capacity(self) -> AcceleratorEntry:
        if (self.hbm_gib is None) == (self.hbm_gb is None):
            raise ValueError("hbm_gib: give the HBM capacity once, as hbm_gib (GiB) or hbm_gb (GB)")
        if not any(getattr(self.peak_tflops, k) for k in type(self.peak_tflops).model_fields):
            raise ValueError("peak_tflops: give at least one dense matrix peak (bf16, fp8, ...), TFLOP/s")
        return self

    @property
    def hbm_bytes(self) -> float:
        return self.hbm_gib * GIB if self.hbm_gib is not None else float(self.hbm_gb or 0.0) * GB

    def to_spec(self, id_: str) -> Accelerator:
        pk = self.peak_tflops
        return Accelerator(
            id=id_, name=self.name, vendor=self.vendor, family=self.family,
            **{f"peak_{k}_flops_per_s": getattr(pk, k) * TERA for k in type(pk).model_fields},
            hbm_bytes=self.hbm_bytes, hbm_bw_bytes_per_s=self.hbm_tb_per_s * 1e12,
            hbm_stacks=self.hbm_stacks, hbm_generation=self.hbm_generation, sram_bytes=self.sram_mb * MB,
            scale_up_tech=self.scale_up.technology,
            scale_up_bw_bytes_per_s=self.scale_up.gb_per_s_per_direction * GB,
            scale_up_domain=self.scale_up.domain_size,
            scale_out_bw_bytes_per_s=gbps_to_bytes_per_s(self.scale_out_gbps),
            tdp_w=self.tdp_w, process_node=self.process_node, die_area_mm2=self.die_area_mm2,
            n_dies=self.n_dies, devices_per_chip=self.devices_per_chip,
            matrix_unit_width=self.matrix_unit_width, launch_year=self.launch_year,
            price_usd=self.price_usd,
            aliases=tuple(self.aliases),
        )


class SystemEntry(Sourced):
    model_config = ConfigDict(extra="forbid")
    name: str
    accelerator: str
    aliases: list[str] = Field(default_factory=list)
    accelerators_per_node: PosInt
    scale_up_domain: PosInt
    nics_per_node: NonNegInt = 0
    nic_gbps: NonNeg = 0.0
    node_power_kw: NonNeg = 0.0
    price_usd: NonNeg = 0.0
    notes: str = ""

    def to_spec(self, id_: str) -> System:
        return System(
            id=id_, name=self.name, accelerator=self.accelerator,
            accelerators_per_node=self.accelerators_per_node, scale_up_domain=self.scale_up_domain,
            nics_per_node=self.nics_per_node, nic_bw_bytes_per_s=gbps_to_bytes_per_s(self.nic_gbps),
            node_power_w=self.node_power_kw * 1e3, price_usd=self.price_usd, aliases=tuple(self.aliases),
        )


class ModelEntry(Sourced):
    model_config = ConfigDict(extra="forbid")
    name: str
    aliases: list[str] = Field(default_factory=list)
    family: str = ""
    n_layers: count("layers")
    d_model: count("width_elements")
    n_heads: count("heads")
    n_kv_heads: count("heads", zero=True) = 0
    head_dim: count("width_elements", zero=True) = 0
    d_ff: count("width_elements")
    vocab_size: count("vocabulary_tokens")
    max_seq_len: count("sequence_tokens") = 4096
    attention: Literal["", "mha", "gqa", "mqa", "mla"] = ""
    gated_mlp: bool = True
    tied_embeddings: bool = False
    learned_pos_emb: bool = False
    n_experts: count("experts", zero=True) = 0
    top_k: count("experts", zero=True) = 0
    n_shared_experts: count("experts", zero=True) = 0
    first_dense_layers: count("layers", zero=True) = 0
    dense_d_ff: count("width_elements", zero=True) = 0
    moe_max_nodes: count("nodes", zero=True) = 0
    q_lora_rank: count("width_elements", zero=True) = 0
    kv_lora_rank: count("width_elements", zero=True) = 0
    qk_nope_head_dim: count("width_elements", zero=True) = 0
    qk_rope_head_dim: count("width_elements", zero=True) = 0
    v_head_dim: count("width_elements", zero=True) = 0
    published_params: NonNeg = 0.0
    published_active_params: NonNeg = 0.0
    notes: str = ""

    def to_spec(self, id_: str) -> Model:
        skip = {"source", "field_sources", "family", "notes", "aliases", "name"}
        kw = {k: v for k, v in self.model_dump().items() if k not in skip}
        return Model(name=id_, aliases=tuple(self.aliases), **kw)
