"""Named global efficiencies per hardware family (catalog/data/efficiency.yaml), validated on load.

Each parameter is one number per family, never per run or per source:

``matmul_fraction``        achievable share of the dense 16-bit matrix peak on large GEMMs
``matmul_fraction_fp8``    the same for FP8 GEMMs, as a share of the FP8 peak (0: no FP8)
``matmul_fraction_fp4``    the same for 4-bit GEMMs (activations quantised to block-scaled FP4 on the fly)
``matmul_half_dim``        GEMM size (smallest of M, N, K) at which the share falls to half
``attention_fraction``     share of the 16-bit peak reached by fused (flash) attention kernels
``hbm_fraction``           achievable share of HBM bandwidth for element-wise and optimizer kernels
``scale_up_fraction``      achievable share of scale-up link bandwidth in collectives
``scale_out_fraction``     achievable share of scale-out (NIC) bandwidth in collectives
``collective_latency_s``   α, the latency of one collective step
``tp_overlap``             share of tensor-parallel communication hidden behind GEMMs
``ep_overlap``             share of the expert all-to-all hidden behind computation (dispatch/combine overlap)
``dp_overlap``             share of the backward pass usable to hide data-parallel communication
``kernel_overhead_s``      fixed launch/synchronisation cost per layer and micro-batch pass
``moe_layer_overhead_s``   fixed extra cost per MoE layer pass: router, token permutation, host sync of counts
``grouped_gemm_tile_rows`` row tile of the grouped (expert) GEMM kernel; a group starting inside a tile re-runs it
                           (0: not modelled, the family's matmul share covers it)
``gather_index_s``         time per index of a gather beyond its HBM traffic (sorted MoE dispatch; 0: bandwidth-bound)
``uncertainty_log_sd``     standard deviation of log(measured/predicted), for the 80 % intervals
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chipplan import catalog
from chipplan.catalog import pydantic_message
from chipplan.errors import CatalogError, FieldError
from chipplan.perf import tuned
from chipplan.perf.columns import Columns
from chipplan.specs import FAMILIES
from chipplan.units import PRECISIONS, Z80

# A prediction's interval is ``prediction · exp(±Z80 · sd)`` with ``sd`` from ``interval_log_sd``.


class FamilyEfficiency(BaseModel):
    model_config = ConfigDict(extra="forbid")
    matmul_fraction: float = Field(gt=0, le=1)
    matmul_fraction_fp8: float = Field(ge=0, le=1)
    matmul_fraction_fp4: float = Field(ge=0, le=1)
    matmul_half_dim: float = Field(ge=0)
    attention_fraction: float = Field(gt=0, le=1)
    hbm_fraction: float = Field(gt=0, le=1)
    scale_up_fraction: float = Field(gt=0, le=1)
    scale_out_fraction: float = Field(gt=0, le=1)
    collective_latency_s: float = Field(ge=0)
    tp_overlap: float = Field(ge=0, le=1)
    ep_overlap: float = Field(ge=0, le=1)
    dp_overlap: float = Field(ge=0, le=1)
    kernel_overhead_s: float = Field(ge=0)
    moe_layer_overhead_s: float = Field(ge=0)
    grouped_gemm_tile_rows: float = Field(default=0.0, ge=0)
    gather_index_s: float = Field(default=0.0, ge=0)
    uncertainty_log_sd: float = Field(gt=0)
    calibrated: bool
    source: str = Field(min_length=10)
    # Values the training engine uses instead of the shared ones (fitted with the software-stack profiles).
    training: dict[str, float] = Field(default_factory=dict)

    def for_engine(self, engine: str) -> FamilyEfficiency:
        """The family's values as ``engine`` ("training" or "serving") reads them."""
        if engine == "training" and self.training:
            return self.model_copy(update={**self.training, "training": {}})
        return self


PARAMS = [k for k in FamilyEfficiency.model_fields if k not in ("source", "calibrated", "training")]
ENGINES = ("serving", "training")


def family_table() -> dict[str, FamilyEfficiency]:
    """All families' efficiencies, validated."""
    raw = catalog.load().efficiency
    out = {}
    for fam, body in raw.items():
        if fam not in FAMILIES:
            raise CatalogError(f"efficiency.{fam}: unknown family; allowed: {', '.join(FAMILIES)}")
        try:
            out[fam] = FamilyEfficiency.model_validate(body)
            FamilyEfficiency.model_validate({**body, **out[fam].training, "training": {}})
        except ValidationError as e:
            raise CatalogError(pydantic_message(f"efficiency.{fam}", e)) from None
        bad = sorted(set(out[fam].training) - set(PARAMS))
        if bad:
            raise CatalogError(f"efficiency.{fam}.training: unknown key(s) {', '.join(bad)}; allowed: "
                               f"{', '.join(PARAMS)}")
    missing = set(FAMILIES) - set(out)
    if missing:
        raise CatalogError(f"efficiency: no entry for families {sorted(missing)}")
    return out


# Widening of the 80 % intervals for regimes the calibration tables barely cover (added in quadrature to the
# family's uncertainty_log_sd): mixture-of-experts routing and all-to-all, more accelerators than the calibration
# rows reach, 4-bit matmuls, and serving. The numbers, with their reasons, are the catalog's (efficiency.yaml
# ``engine_constants.intervals``); the old module names still answer.
WIDEN = ("moe", "scale", "fp4", "serving")


def widen_log_sd() -> dict[str, float]:
    """Log-sd added in quadrature per regime the calibration tables barely cover (``WIDEN``)."""
    t = tuned.table()["intervals"]
    return {k: t[f"widen_log_sd_{k}"] for k in WIDEN}


def scale_widen_above() -> float:
    """Accelerator count above which the ``scale`` widening applies."""
    return tuned.value("intervals", "scale_widen_above_accelerators")


def __getattr__(attr: str) -> Any:
    if attr == "WIDEN_LOG_SD":
        return widen_log_sd()
    if attr == "SCALE_WIDEN_ABOVE":
        return scale_widen_above()
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


def matmul_fraction(eff: Any, hw: Any) -> Any:
    """The family's share of the matmul peak for the precision the hardware columns say GEMMs run in."""
    fp4 = hw.get("fp4", 0.0)
    return np.where(np.asarray(fp4) > 0, eff.matmul_fraction_fp4,
                    np.where(hw.fp8 > 0, eff.matmul_fraction_fp8, eff.matmul_fraction))


#: The efficiency parameter a precision's matmuls read (the hardware columns' ``fp8``/``fp4`` flags).
MATMUL_FRACTION_OF = {"fp4": "matmul_fraction_fp4", "int4": "matmul_fraction_fp4", "fp8": "matmul_fraction_fp8",
                      "int8": "matmul_fraction_fp8"}


def training_precisions(acc: Any) -> list[str]:
    """The precisions ``acc`` trains at: a matrix peak for it, and a training matmul share above 0 for its family
    (a 0 in catalog/data/efficiency.yaml says no training stack runs that format's GEMMs on the family)."""
    eff = family_table()[acc.family].for_engine("training")
    out = []
    for p in PRECISIONS:
        try:
            acc.peak_flops_per_s(p)
        except FieldError:
            continue
        if getattr(eff, MATMUL_FRACTION_OF.get(p, "matmul_fraction")) > 0:
            out.append(p)
    return out


def no_training_path(acc: Any, precision: str) -> str:
    """Why ``acc`` cannot train at ``precision`` although it has the matrix peak (the reason a row error or a
    FieldError on ``precision`` gives): its family's training share of that peak is 0."""
    ok = [p for p in training_precisions(acc) if p in ("bf16", "fp16", "fp8", "fp4")] or training_precisions(acc)
    return (f"{acc.id} has an {precision} matrix peak but no {precision} training path ({acc.family}: "
            f"{MATMUL_FRACTION_OF.get(precision, 'matmul_fraction')} = 0 for training in "
            f"catalog/data/efficiency.yaml); train at {' or '.join(ok) or 'another precision'}")


def check_training_precision(acc: Any, precision: str) -> None:
    """A FieldError on ``precision`` when ``acc`` has its matrix peak but cannot train at it (``no_training_path``);
    a missing peak is the hardware's own FieldError (``Accelerator.peak_flops_per_s``)."""
    acc.peak_flops_per_s(precision)
    if precision not in training_precisions(acc):
        raise FieldError("precision", no_training_path(acc, precision), precision)


def gemm_efficiency(fraction: Any, half_dim: Any, *dims: Any) -> Any:
    """Achieved share of the matrix peak for a GEMM whose smallest dimension is ``n = min(dims)``:
    ``fraction · n / (n + half_dim)`` (small matrices cannot fill the matrix units)."""
    n = dims[0]
    for x in dims[1:]:
        n = np.minimum(n, x)
    return fraction * n / (n + half_dim)


def grouped_gemm_tile_efficiency(rows: Any, groups: Any, tile_rows: Any) -> Any:
    """Share of the row tiles a grouped GEMM runs that carry its rows.

    ``rows`` routed tokens sorted by expert into ``groups`` local experts, tiled by ``tile_rows``: a group that
    starts inside a tile computes that whole tile again (masked), so the kernel runs ``ceil(rows/tm) + groups − 1``
    tiles when the routed counts are not multiples of the tile (Pallas megablox ``make_group_metadata``: "tiles_m <=
    group_tiles.sum() <= tiles_m + num_groups - 1", jax-ml/jax, jax/experimental/pallas/ops/tpu/megablox/gmm.py).
    Empty groups are skipped, hence at most ``rows`` partial tiles. A tile of 0 (or no rows) gives 1.0."""
    rows = np.asarray(rows, dtype=float)
    tm = np.asarray(tile_rows, dtype=float)
    tiles = np.ceil(rows / np.maximum(tm, 1.0)) + np.maximum(np.minimum(groups, rows) - 1.0, 0.0)
    return np.where((tm > 0) & (rows > 0), rows / np.maximum(tiles * np.maximum(tm, 1.0), 1e-30), 1.0)


def matrix_unit_fill(dim: Any, width: Any) -> Any:
    """Share of a systolic matrix unit of side ``width`` that a matmul dimension ``dim`` keeps busy.

    A weight-stationary systolic array of ``width`` x ``width`` multiply-accumulators maps a matmul's contraction
    dimension onto its rows and its output dimension onto its columns; a dimension that is not a multiple of the
    side is padded to one ("smaller axes are padded to 128", 256 on TPU v6e, J. Austin et al., How to Scale Your
    Model, Google DeepMind 2025, part 2 "How to Think About TPUs"), so the unit runs ``dim / (ceil(dim/width) ·
    width)`` of its multiply-accumulators. In attention the head dimension is the contraction of Q·Kᵀ and the
    output of P·V (and, in the backward, of dP = dO·Vᵀ and dQ, dK, dV). A width of 0 (no systolic unit modelled,
    GPUs) gives 1.0; so does any ``dim >= width`` that is a multiple of it."""
    d = np.asarray(dim, dtype=float)
    w = np.asarray(width, dtype=float)
    padded = np.ceil(d / np.maximum(w, 1.0)) * np.maximum(w, 1.0)
    return np.where((w > 0) & (d > 0), d / np.maximum(padded, 1e-30), 1.0)


def interval_log_sd(family_sd: Any, *, n_experts: Any, n_gpu: Any, precision: Any, serving: bool = False
                    ) -> np.ndarray:
    """Standard deviation of log(measured/predicted) used for a prediction's 80 % interval."""
    prec = np.asarray(precision, dtype=object)
    w = widen_log_sd()
    extra = (np.where(np.asarray(n_experts) > 0, w["moe"] ** 2, 0.0)
             + (w["serving"] ** 2 if serving else 0.0)
             + np.where(np.asarray(n_gpu) > scale_widen_above(), w["scale"] ** 2, 0.0)
             + np.where(np.isin(prec, ["fp4", "int4"]), w["fp4"] ** 2, 0.0))
    return np.sqrt(np.asarray(family_sd, dtype=float) ** 2 + extra)


def for_families(families: Any, overrides: dict[str, float] | None = None, *, engine: str = "serving"
                 ) -> Columns:
    """Efficiency parameters as columns aligned with an array of family names, as ``engine`` reads them
    (``"training"`` takes each family's ``training`` values over the shared ones)."""
    fams = np.atleast_1d(np.asarray(families, dtype=object))
    table = {f: e.for_engine(engine) for f, e in family_table().items()}
    inv, uniq = pd.factorize(fams.astype(str).ravel())  # hashing: fast for 10⁵ rows of strings
    inv = inv.reshape(fams.shape)
    cols = {p: np.array([getattr(table[f], p) for f in uniq], dtype=float)[inv] for p in PARAMS}
    cols["calibrated"] = np.array([float(table[f].calibrated) for f in uniq])[inv]
    for k, v in (overrides or {}).items():
        if k not in cols:
            raise CatalogError(f"efficiency override {k!r}: unknown; allowed: {', '.join(PARAMS)}")
        cols[k] = np.broadcast_to(np.asarray(v, dtype=float), cols[k].shape).copy()
    return Columns(cols)


# Regimes of the training intervals (chipplan.perf.intervals), coarsest first: whether the family's efficiencies
# were fitted on published runs, whether the model routes tokens to experts, and how much of the configuration
# the source left for the layout search to fill (each filled field is a guess the source did not make).
FILLED_BUCKETS = (0, 2, 4)  # 0-1 fields filled, 2-3, 4 or more


def training_regimes(*, calibrated: Any, moe: Any, n_filled: Any) -> dict[str, np.ndarray]:
    """Regime labels per row for the training interval table, coarsest factor first."""
    nf = np.nan_to_num(np.asarray(n_filled, dtype=float), nan=0.0)
    bucket = np.searchsorted(np.asarray(FILLED_BUCKETS[1:], dtype=float), nf, side="right")
    names = np.array(["0-1", "2-3", "4+"], dtype=object)
    return {
        "calibrated": np.where(np.asarray(calibrated, dtype=bool), "yes", "no").astype(object),
        "moe": np.where(np.asarray(moe, dtype=bool), "yes", "no").astype(object),
        "filled": names[bucket],
    }


def training_interval_table() -> dict[str, Any]:
    """The training regime table of catalog/data/intervals.yaml (``chipplan.perf.intervals.fit_table`` format)."""
    body = catalog.load().intervals.get("training")
    if not body or "table" not in body or "*" not in body["table"]:
        raise CatalogError("intervals.training.table: missing, or without the pooled '*' regime; regenerate it "
                           "with python -m benchmarks.calibrate_efficiency --intervals")
    return body["table"]


def training_interval(*, calibrated: Any, moe: Any, n_filled: Any, n_gpu: Any, precision: Any,
                      extra_log_sd: Any = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(log low, log high, regime) of the 80 % interval of each training prediction.

    The regime's out-of-sample quantiles (``training_interval_table``), widened in quadrature on each side by
    ``Z80 · w`` for what the calibration tables do not cover: more than ``scale_widen_above()`` accelerators, 4-bit
    matmuls, and ``extra_log_sd`` (an unrecognised software stack)."""
    from chipplan.perf import intervals

    lo, hi, regime = intervals.lookup(training_interval_table(),
                                      training_regimes(calibrated=calibrated, moe=moe, n_filled=n_filled))
    prec = np.asarray(precision, dtype=object)
    w = widen_log_sd()
    w2 = (np.where(np.asarray(n_gpu) > scale_widen_above(), w["scale"] ** 2, 0.0)
          + np.where(np.isin(prec, ["fp4", "int4"]), w["fp4"] ** 2, 0.0)
          + np.asarray(extra_log_sd, dtype=float) ** 2)
    widen = Z80 * np.sqrt(w2)
    return -np.sqrt(lo ** 2 + widen ** 2), np.sqrt(hi ** 2 + widen ** 2), regime
