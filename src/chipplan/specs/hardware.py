"""Accelerators and the systems (nodes, racks, pod slices) they are deployed in. SI units inside."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from chipplan.errors import FieldError
from chipplan.specs._check import positive_float, positive_int
from chipplan.units import PRECISIONS

# Hardware families share the named efficiency parameters of ``catalog/data/efficiency.yaml``.
FAMILIES = ("volta", "ampere", "hopper", "blackwell", "cdna2", "cdna3", "cdna4", "tpu", "gaudi", "wafer-scale",
            "custom")
# Every TPU generation's MXU is at least 128 x 128 ("256 x 256 (TPU v6e) or 128 x 128 (TPU versions prior to v6e)",
# Cloud TPU "TPU architecture" page), so a TPU-family accelerator that states no side gets the smaller one: it pads
# least. Other families model no systolic padding unless they state a side.
TPU_MIN_MATRIX_UNIT_WIDTH = 128
MAX_MATRIX_UNIT_WIDTH = 4096


@dataclass(frozen=True, kw_only=True, slots=True)
class Accelerator:
    """One accelerator as the engines see it: dense peaks, memory, links. All SI.

    Peak FLOP/s are dense (never the 2:4 sparsity figure); a zero means the chip lacks that format.
    ``scale_up_bw_bytes_per_s`` and ``scale_out_bw_bytes_per_s`` are per chip, per direction.
    """

    id: str
    name: str = ""
    vendor: str = ""
    family: str = "custom"
    peak_fp32_flops_per_s: float = 0.0
    peak_tf32_flops_per_s: float = 0.0
    peak_bf16_flops_per_s: float = 0.0
    peak_fp16_flops_per_s: float = 0.0
    peak_fp8_flops_per_s: float = 0.0
    peak_int8_flops_per_s: float = 0.0
    peak_fp4_flops_per_s: float = 0.0
    peak_int4_flops_per_s: float = 0.0
    hbm_bytes: float
    hbm_bw_bytes_per_s: float
    hbm_stacks: int = 0
    hbm_generation: str = ""
    sram_bytes: float = 0.0
    scale_up_tech: str = ""
    scale_up_bw_bytes_per_s: float
    scale_up_domain: int = 1
    scale_out_bw_bytes_per_s: float
    tdp_w: float = 0.0
    process_node: str = ""
    die_area_mm2: float = 0.0
    n_dies: int = 1
    devices_per_chip: int = 1
    matrix_unit_width: int | None = None  # None: TPU_MIN_MATRIX_UNIT_WIDTH for family tpu, else 0
    launch_year: int = 0
    price_usd: float = 0.0
    aliases: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        p = f"accelerators.{self.id}"
        if self.family not in FAMILIES:
            raise FieldError(f"{p}.family", f"must be one of {', '.join(FAMILIES)}", self.family)
        for f in ("hbm_bytes", "hbm_bw_bytes_per_s", "scale_up_bw_bytes_per_s", "scale_out_bw_bytes_per_s"):
            positive_float(f"{p}.{f}", getattr(self, f))
        for prec in PRECISIONS:
            positive_float(f"{p}.peak_{prec}_flops_per_s", getattr(self, f"peak_{prec}_flops_per_s"),
                           allow_zero=True)
        # Only the peaks a question needs are required (``peak_flops_per_s`` says which one is missing).
        if not any(getattr(self, f"peak_{prec}_flops_per_s") for prec in PRECISIONS):
            raise FieldError(f"{p}.peak_tflops", "give at least one dense matrix peak (bf16, fp8, ...)")
        for f in ("sram_bytes", "tdp_w", "die_area_mm2", "price_usd"):
            positive_float(f"{p}.{f}", getattr(self, f), allow_zero=True)
        positive_int(f"{p}.scale_up_domain", self.scale_up_domain)
        positive_int(f"{p}.n_dies", self.n_dies)
        positive_int(f"{p}.devices_per_chip", self.devices_per_chip)
        if self.matrix_unit_width is None:  # frozen: set once, here
            object.__setattr__(self, "matrix_unit_width", TPU_MIN_MATRIX_UNIT_WIDTH if self.family == "tpu" else 0)
        positive_int(f"{p}.matrix_unit_width", self.matrix_unit_width, allow_zero=True)
        if self.matrix_unit_width > MAX_MATRIX_UNIT_WIDTH:
            raise FieldError(f"{p}.matrix_unit_width", f"must be 0 to {MAX_MATRIX_UNIT_WIDTH} (elements)",
                             self.matrix_unit_width)

    def peak_flops_per_s(self, precision: str) -> float:
        """Dense matrix peak for ``precision``; bf16 falls back to fp16 and vice versa."""
        if precision not in PRECISIONS:
            raise FieldError("precision", f"must be one of {', '.join(PRECISIONS)}", precision)
        v = getattr(self, f"peak_{precision}_flops_per_s")
        if not v and precision in ("bf16", "fp16"):
            v = self.peak_bf16_flops_per_s or self.peak_fp16_flops_per_s
        if not v:
            have = [q for q in PRECISIONS if getattr(self, f"peak_{q}_flops_per_s")]
            raise FieldError("precision", f"{self.id} has no {precision} peak; it has {', '.join(have)} "
                             f"(a catalog entry's peak_tflops.{precision})", precision)
        return v

    def to_columns(self) -> dict[str, float]:
        return {f.name: float(getattr(self, f.name)) for f in fields(self)
                if isinstance(getattr(self, f.name), int | float) and not isinstance(getattr(self, f.name), bool)}


@dataclass(frozen=True, kw_only=True, slots=True)
class System:
    """A deployable unit: a server node, a rack (NVL72) or a pod slice, built from one accelerator type."""

    id: str
    name: str = ""
    accelerator: str
    accelerators_per_node: int
    scale_up_domain: int
    nics_per_node: int = 0
    nic_bw_bytes_per_s: float = 0.0
    node_power_w: float = 0.0
    price_usd: float = 0.0
    aliases: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        p = f"systems.{self.id}"
        positive_int(f"{p}.accelerators_per_node", self.accelerators_per_node)
        positive_int(f"{p}.scale_up_domain", self.scale_up_domain)
        positive_int(f"{p}.nics_per_node", self.nics_per_node, allow_zero=True)
        for f in ("nic_bw_bytes_per_s", "node_power_w", "price_usd"):
            positive_float(f"{p}.{f}", getattr(self, f), allow_zero=True)
