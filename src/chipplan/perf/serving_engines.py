"""Serving-engine profiles (catalog/data/serving/engines.yaml): scheduler defaults and per-engine device terms.

A profile says what shapes a published serving result besides the chip: the scheduler's caps
(``max_num_seqs``, ``max_num_batched_tokens``), chunked prefill, the KV-cache format per attention type, the
paged-KV block size and memory reserve, and a few per-engine numbers fitted across source groups
(per-iteration host overhead, per-layer fixed device time, small-M GEMM fall-off, the serving all-reduce's share
of the link). ``for_rows`` turns engine names into numeric columns aligned with the rows; the serving engine
reads them from the efficiency columns under the ``eng_`` prefix.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chipplan import catalog
from chipplan.catalog import pydantic_message
from chipplan.errors import CatalogError, FieldError
from chipplan.perf.columns import Columns

FILE = "serving_engines.yaml"
DEFAULT = "default"
KV_CHOICES = ("weight", "bf16", "fp8")


class KvDtype(BaseModel):
    model_config = ConfigDict(extra="forbid")
    gqa: Literal["weight", "bf16", "fp8"]
    mla: Literal["weight", "bf16", "fp8"]


class Fp4Dense(BaseModel):
    """How an engine's dense (non-expert) FP4 GEMMs run on one hardware family."""
    model_config = ConfigDict(extra="forbid")
    stream_bytes: float = Field(gt=0, le=2)
    matmul_peak: Literal["fp4", "fp8"]
    source: str = Field(min_length=10)


class EngineProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    aliases: list[str] = []
    era: str
    max_num_seqs: float = Field(gt=0)
    max_num_batched_tokens: float = Field(gt=0)
    chunked_prefill: bool
    graphs: bool
    kv_dtype: KvDtype
    kv_block_tokens: float = Field(ge=1)
    kv_memory_fraction: float = Field(gt=0, le=1)
    kv_memory_basis: Literal["total", "free"]
    step_overhead_s: float = Field(ge=0)
    seq_overhead_s: float = Field(default=0.0, ge=0)
    decode_layer_overhead_s: float = Field(ge=0)
    moe_layer_overhead_s: float = Field(ge=0)
    gemm_m_half: float = Field(ge=0)
    allreduce_bw_fraction: float = Field(gt=0, le=1)
    two_batch_overlap: bool = False
    fp4_dense: dict[str, Fp4Dense] = {}
    unknown_log_sd: float = Field(ge=0)
    source: str = Field(min_length=10)


# Numeric columns handed to the engine (``eng_<name>``); booleans as 0/1, the KV basis as 1 = free.
NUMERIC = ("max_num_seqs", "max_num_batched_tokens", "chunked_prefill", "graphs", "kv_block_tokens",
           "kv_memory_fraction", "step_overhead_s", "seq_overhead_s", "decode_layer_overhead_s", "moe_layer_overhead_s",
           "gemm_m_half", "allreduce_bw_fraction", "two_batch_overlap", "unknown_log_sd")


@functools.lru_cache(maxsize=1)
def profiles() -> dict[str, EngineProfile]:
    """All profiles, validated (cached)."""
    body = catalog.load().serving_engines
    if DEFAULT not in body:
        raise CatalogError(f"{FILE}: needs a serving_engines: mapping with a {DEFAULT!r} profile")
    out = {}
    for name, entry in body.items():
        try:
            out[str(name)] = EngineProfile.model_validate(entry)
        except ValidationError as e:
            raise CatalogError(pydantic_message(f"{FILE}: serving_engines.{name}", e)) from None
    return out


@functools.lru_cache(maxsize=1)
def _alias_index() -> dict[str, str]:
    idx: dict[str, str] = {}
    for name, p in profiles().items():
        for a in (name, *p.aliases):
            idx[_norm(a)] = name
    return idx


def _norm(s: str) -> str:
    return " ".join(str(s).strip().lower().replace("_", "-").split())


def resolve(name: Any, *, strict: bool = False, field: str = "engine") -> tuple[str, bool]:
    """(profile id, known) for an engine name; unknown or empty → (``default``, False).

    With ``strict`` an unknown non-empty name raises ``FieldError`` naming ``field`` and the known ids."""
    if name is None or (isinstance(name, float) and not np.isfinite(name)):
        return DEFAULT, False
    key = _norm(name)
    idx = _alias_index()
    if key in idx:
        return idx[key], idx[key] != DEFAULT
    # "vllm 0.9.2" → "vllm 0.9"; "sglang v0.4.6" → "sglang 0.4"
    parts = key.replace(" v", " ").split()
    if len(parts) >= 2:
        head = parts[0] + " " + ".".join(parts[1].split(".")[:2])
        if head in idx:
            return idx[head], True
    if parts and parts[0] in idx:
        return idx[parts[0]], True
    if strict and key:
        raise FieldError(field, f"must be one of {', '.join(n for n in profiles() if n != DEFAULT)}", name)
    return DEFAULT, False


# Words in a free-text framework description that name an engine (checked in this order).
_KEYWORDS = (("tensorrt", "tensorrt-llm"), ("trt-llm", "tensorrt-llm"), ("trtllm", "tensorrt-llm"),
             ("sglang", "sglang"), ("habana", "gaudi"), ("gaudi", "gaudi"), ("optimum", "gaudi"),
             ("vllm", "vllm"))


def detect(text: Any, family: str = "") -> tuple[str, bool]:
    """Profile named by a free-text framework description (the table's ``framework`` column), e.g.
    "vLLM 0.6.7.dev (rocm/vllm-dev)" → ``vllm-rocm``; (``default``, False) when none is named.

    vLLM before 0.8 is the V0 engine; vLLM on AMD (a CDNA family, or ROCm in the text) is ROCm vLLM (``vllm-rocm-v0``
    before 0.8)."""
    if text is None or (isinstance(text, float) and not np.isfinite(text)):
        return DEFAULT, False
    t = str(text).lower()
    for word, name in _KEYWORDS:
        if word in t:
            if name == "vllm":
                ver = re.search(r"vllm[^0-9]{0,3}(\d+)\.(\d+)", t)
                v0 = bool(ver and (int(ver.group(1)), int(ver.group(2))) < (0, 8))
                if "rocm" in t or "amd" in t or family.startswith("cdna"):
                    return ("vllm-rocm-v0" if v0 else "vllm-rocm"), True
                if v0:
                    return "vllm-v0", True
            return name, True
    return DEFAULT, False


def kv_precision(engine: str, attention_is_mla: bool, weight_precision: str) -> str:
    """KV-cache format an engine uses for a model: its per-attention-type rule applied to the weight format."""
    rule = getattr(profiles()[engine].kv_dtype, "mla" if attention_is_mla else "gqa")
    if rule == "weight":
        return "fp8" if weight_precision in ("fp8", "fp4", "int8") else (
            "bf16" if weight_precision in ("int4", "bf16") else "fp16")
    return rule


# Native FP4: weights streamed at half a byte, products at the FP4 peak.
FP4_NATIVE = (0.5, 0.0)


def for_rows(engines: Any, families: Any = None) -> Columns:
    """Numeric ``eng_*`` columns for an array of profile ids (already resolved), and with ``families`` (the
    hardware family of each row) the engine's dense-FP4 rule on that family: ``eng_fp4_dense_stream_bytes`` and
    ``eng_fp4_dense_fp8_peak`` (1 where its dense FP4 GEMMs compute at the FP8 peak)."""
    names = np.atleast_1d(np.asarray(engines, dtype=object))
    table = profiles()
    inv, uniq = pd.factorize(names.astype(str).ravel())
    inv = inv.reshape(names.shape)
    cols = {}
    for k in NUMERIC:
        vals = np.array([float(getattr(table[u], k)) for u in uniq], dtype=float)
        cols[f"eng_{k}"] = vals[inv]
    cols["eng_kv_basis_free"] = np.array([float(table[u].kv_memory_basis == "free") for u in uniq])[inv]
    if families is not None:
        fam = np.broadcast_to(np.asarray(families, dtype=object), names.shape).astype(str)
        pinv, pairs = pd.factorize(pd.Series([f"{e}\x00{f}" for e, f in zip(names.ravel(), fam.ravel(),
                                                                          strict=True)]))
        rules = []
        for key in pairs:
            e, f = key.split("\x00")
            r = table[e].fp4_dense.get(f)
            rules.append(FP4_NATIVE if r is None else (r.stream_bytes, float(r.matmul_peak == "fp8")))
        arr = np.array(rules, dtype=float).reshape(-1, 2)[pinv].reshape(*names.shape, 2)
        cols["eng_fp4_dense_stream_bytes"] = arr[..., 0]
        cols["eng_fp4_dense_fp8_peak"] = arr[..., 1]
    return Columns(cols)


def attach(eff: Columns, engines: Any, families: Any = None) -> Columns:
    """``eff`` with the engine columns of ``engines`` added (same row order); ``families`` adds the dense-FP4
    rule of each (engine, family) pair."""
    out = Columns(dict(eff.items()))
    out.update(for_rows(engines, families))
    return out


# The engine whose own tables calibrated the serving engine first; its interval is its own regime.
HOME_ENGINE = "tensorrt-llm"


# Running sequences above which a configuration counts as heavily loaded (decode no longer weight-bound).
HEAVY_BATCH = 16


def interval_regimes(*, metric: Any, engine: Any, engine_known: Any, batch: Any) -> dict[str, np.ndarray]:
    """Regime labels of the serving interval table (``serving_intervals`` in serving_engines.yaml), coarsest
    first: the predicted quantity; the engine class (``tensorrt-llm``, the calibration's home engine; ``other``
    named engines; ``unknown``); the load (``heavy`` above ``HEAVY_BATCH`` running sequences, else ``light``)."""
    known = np.asarray(engine_known, dtype=bool)
    home = np.asarray(engine, dtype=object) == HOME_ENGINE
    b = np.nan_to_num(np.asarray(batch, dtype=float), nan=1.0)
    return {
        "metric": np.asarray(metric, dtype=object),
        "engine": np.where(~known, "unknown", np.where(home, HOME_ENGINE, "other")).astype(object),
        "load": np.where(b > HEAVY_BATCH, "heavy", "light").astype(object),
    }


def interval_table() -> dict[str, dict[str, float]]:
    """The shipped table of out-of-sample log-residual quantiles (empty when the catalog has none)."""
    return dict(catalog.load().serving_intervals or {})
