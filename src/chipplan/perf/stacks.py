"""Software-stack profiles (catalog/data/stacks.yaml): what a training stack could run, as engine columns.

A profile is a set of capabilities taken from the stack's papers, documentation and release notes (the file
says which). ``resolve`` picks a profile for each row from its ``framework`` text and ``source_year``;
``columns`` turns profiles into the per-row columns the training engine reads:

``attention_ratio``        share of the family's ``attention_fraction`` the stack's attention kernels reach
``flash``                  1 when attention is fused (no s×s scores kept in activation memory)
``sequence_parallel``      1 when element-wise work is split over the TP group
``tp_overlap_on``          1 when the family's ``tp_overlap`` applies (TP-communication overlap)
``ep_overlap_on``          1 when the family's ``ep_overlap`` applies (expert all-to-all overlap)
``ep_overlap_paired``      1 when the pipeline schedule pairs a forward and a backward chunk of different micro-batches
                           (DualPipe), so the expert all-to-all runs under the other chunk's compute
``ep_node_dedup``          1 when the expert dispatch sends a token once per destination node and forwards it there
``balanced_pipeline_ends`` 1 when the stack sizes the first and last pipeline stages, so the embedding and the LM head
                           with the loss each take one layer's place in the split where it has room
                           (``chipplan.perf.memory.pipeline_split``)
``grad_reduce_bytes``      bytes per gradient element reduced over data-parallel ranks (4 fp32, 2 bf16 or fp16)
``prefetch_depth``         FSDP all-gathers issued ahead of the layer that needs them
``dp_bucket_params``, ``dp_bucket_per_rank``  the data-parallel gradient buffer's bucket size in parameters,
                           ``max(dp_bucket_params, dp_bucket_per_rank · dp)`` (0: not stated, the reduction streams
                           with no last bucket left exposed)
``optimizer_state_bytes``  optimizer state per parameter (fp32 master weights and two Adam moments: 12)
``allows_interleave``, ``allows_selective``, ``allows_zero``, ``prefers_fsdp``  what an empty layout field may be
                           filled with (older stacks: no virtual stages, recompute none or full)
``max_zero``               the highest ZeRO stage an empty field may be filled with (3 where the stack shards
                           parameters; 1 for a distributed optimizer that shards only the optimizer state)
``zero_fill``              the ZeRO stage an empty field is filled with where the stack's published runs state their
                           sharding (2: optimizer states and gradients sharded, parameters kept gathered), -1 else
``recompute_fill``         the recompute an empty field is filled with where the stack's recipes state one (0 none,
                           1 selective, 2 full), -1 where the search picks the fastest that fits

``lp_fprop`` .. ``lp_amax_bwd`` (``RECIPE_COLUMNS``) the low-precision recipe of a row (``low_precision`` in
stacks.yaml): which GEMMs run at the matmul precision and what quantising adds (``recipe_columns``)
``default_ep``             the expert parallelism a run of the stack has unless its configuration sets one (0: none;
                           a published row that leaves ``ep`` empty is read with it, the planner ignores it)
``zero_all_reduce``        1 where ZeRO-1/2 reduce gradients with an all-reduce rather than a reduce-scatter
                           (DeepSpeed's stage_1_and_2.py), so the step moves all-reduce volume plus the parameter
                           all-gather
``zero2_every_micro``      1 where ZeRO-2 reduces the gradients after every micro-batch's backward rather than once
                           per step (DeepSpeed: each rank keeps only its partition's accumulated gradients)

Capabilities only ever remove work or add choices, so a stack with more of them is never slower
(``tests/perf/test_stacks.py``).
"""

from __future__ import annotations

import functools
import re
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chipplan import catalog
from chipplan.catalog import pydantic_message
from chipplan.errors import CatalogError, FieldError
from chipplan.specs.layout import RECOMPUTE

ATTENTION = ("unfused", "flash1", "flash2", "flash3")
ERA_DEFAULT = "era default"


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    match: list[str] = Field(min_length=1)
    years: tuple[int, int]
    attention: Literal["unfused", "flash1", "flash2", "flash3"]
    sequence_parallel: bool
    interleaved_pipeline: bool
    tp_comm_overlap: bool
    selective_recompute: bool
    distributed_optimizer: bool
    fsdp: bool
    grad_reduce_dtype: Literal["fp32", "bf16", "fp16"]
    expert_a2a_overlap: bool
    paired_chunk_schedule: bool = False
    a2a_node_dedup: bool = False
    balanced_pipeline_ends: bool = False
    zero_fill: Literal[2] | None = None
    recompute_fill: Literal["fastest", "none", "selective", "full"] = "fastest"
    fsdp_prefetch_depth: int = Field(ge=1, le=4)
    max_zero_stage: int = Field(default=3, ge=1, le=3)
    zero_grad_all_reduce: bool = False
    zero2_reduce_every_microbatch: bool = False
    dp_bucket_params: float = Field(default=0.0, ge=0)
    dp_bucket_params_per_rank: float = Field(default=0.0, ge=0)
    optimizer_state_bytes: float = Field(gt=0, le=16)
    low_precision: dict[Literal["fp8", "int8", "fp4", "int4"], str] = Field(default_factory=dict)
    expert_parallel_default: int | None = Field(default=None, ge=1)
    source: str = Field(min_length=10)


GEMMS = ("fprop", "dgrad", "wgrad")


class Recipe(BaseModel):
    """One low-precision training recipe (stacks.yaml ``low_precision.recipes``)."""
    model_config = ConfigDict(extra="forbid")
    gemms: list[Literal["fprop", "dgrad", "wgrad"]] = Field(min_length=1)
    lm_head: bool
    weight_cast: Literal["per_step", "per_pass"]
    amax_fwd: bool
    amax_bwd: bool
    match: list[str] = Field(default_factory=list)
    stacks: list[str] = Field(default_factory=list)


class LowPrecision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str = Field(min_length=10)
    recipes: dict[str, Recipe] = Field(min_length=1)


DEFAULT_RECIPE = "all-gemms"


class AttentionKernels(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str = Field(min_length=10)
    ratios: dict[str, dict[Literal["unfused", "flash1", "flash2", "flash3"], float]]


class EraDefault(BaseModel):
    model_config = ConfigDict(extra="forbid")
    until: int
    profile: str


REMAT_TENSORS = ("query_proj", "key_proj", "value_proj", "context", "out_proj", "mlpwi", "mlpwo",
                 "decoder_layer_input")
#: Aliases a ``custom`` policy may use for the tensors above (MaxText names).
REMAT_ALIASES = {"qkv_proj": ("query_proj", "key_proj", "value_proj"), "mlpwi_0": ("mlpwi",), "mlpwi_1": ("mlpwi",),
                 "mla_q": ("query_proj",), "mla_kv": ("key_proj", "value_proj")}
RematPlace = Literal["remat", "device", "offload"]


class RematPolicies(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str = Field(min_length=10)
    policies: dict[str, dict[Literal["query_proj", "key_proj", "value_proj", "context", "out_proj", "mlpwi", "mlpwo",
                                     "decoder_layer_input"], RematPlace]] = Field(min_length=1)


class Stacks(BaseModel):
    model_config = ConfigDict(extra="forbid")
    attention_kernels: AttentionKernels
    remat_policies: RematPolicies
    low_precision: LowPrecision
    unknown_log_sd: float = Field(ge=0)
    era_defaults: list[EraDefault] = Field(min_length=1)
    profiles: dict[str, Profile] = Field(min_length=1)


@functools.lru_cache(maxsize=4)
def _table(version: str) -> Stacks:
    raw = catalog.load().stacks
    try:
        st = Stacks.model_validate(raw)
    except ValidationError as e:
        raise CatalogError(pydantic_message("stacks", e)) from None
    for era in st.era_defaults:
        if era.profile not in st.profiles:
            raise CatalogError(f"stacks.era_defaults: unknown profile {era.profile!r}; allowed: "
                               f"{', '.join(st.profiles)}")
    recipes = st.low_precision.recipes
    if DEFAULT_RECIPE not in recipes:
        raise CatalogError(f"stacks.low_precision.recipes: no {DEFAULT_RECIPE!r} recipe (the engine's default)")
    for name, p in st.profiles.items():
        for prec, r in p.low_precision.items():
            if r not in recipes:
                raise CatalogError(f"stacks.profiles.{name}.low_precision.{prec}: unknown recipe {r!r}; allowed: "
                                   f"{', '.join(recipes)}")
    for name, r in recipes.items():
        for st_name in r.stacks:
            if st_name not in st.profiles:
                raise CatalogError(f"stacks.low_precision.recipes.{name}.stacks: unknown profile {st_name!r}")
        for pat in r.match:
            try:
                re.compile(pat)
            except re.error as e:
                raise CatalogError(f"stacks.low_precision.recipes.{name}.match: {pat!r} is not a regular "
                                   f"expression ({e})") from None
    return st


def table() -> Stacks:
    """The validated stack profiles of the loaded catalog."""
    return _table(catalog.load().version)


def names() -> list[str]:
    return list(table().profiles)


def first_year(text: Any) -> float:
    """The first four-digit year in ``text`` (``2023-2024`` → 2023), NaN when there is none."""
    if text is None or (isinstance(text, float) and not np.isfinite(text)):
        return float("nan")
    m = re.search(r"(19|20)\d\d", str(text))
    return float(m.group(0)) if m else float("nan")


def era_default(year: float) -> str:
    st = table()
    y = year if np.isfinite(year) else 9999
    for era in st.era_defaults:
        if y <= era.until:
            return era.profile
    return st.era_defaults[-1].profile


def resolve_one(framework: str | None, year: float) -> tuple[str, bool]:
    """(profile name, whether the stack was recognised) for one framework text and year.

    A profile name itself selects that profile. Otherwise the first profile whose patterns match and whose
    years contain ``year`` (any year when none is given); then the first whose patterns match; then the era
    default for ``year``.
    """
    st = table()
    text = (framework or "").strip().lower()
    if text in st.profiles:
        return text, True
    if text:
        hits = [n for n, p in st.profiles.items() if any(re.search(pat, text) for pat in p.match)]
        for n in hits:
            lo, hi = st.profiles[n].years
            if not np.isfinite(year) or lo <= year <= hi:
                return n, True
        if hits:
            return hits[0], True
    return era_default(year), False


def resolve(frameworks: Any, years: Any) -> tuple[np.ndarray, np.ndarray]:
    """Profile names and a recognised mask per row, resolved once per distinct (framework, year)."""
    fw = np.asarray(frameworks, dtype=object)
    yr_raw = np.asarray(years, dtype=object)
    yr_uniq, yr_inv = np.unique(np.array([str(y) for y in yr_raw.tolist()], dtype=object), return_inverse=True)
    yr = np.array([first_year(None if y == "None" else y) for y in yr_uniq.tolist()], dtype=float)[yr_inv]
    keys = [f"{f}\x00{y}" for f, y in zip(fw.tolist(), yr.tolist(), strict=True)]
    cache: dict[str, tuple[str, bool]] = {}
    out_n, out_k = [], []
    for key, f, y in zip(keys, fw.tolist(), yr.tolist(), strict=True):
        if key not in cache:
            cache[key] = resolve_one(f if isinstance(f, str) else None, y)
        n, k = cache[key]
        out_n.append(n)
        out_k.append(k)
    return np.asarray(out_n, dtype=object), np.asarray(out_k, dtype=bool)


def check_name(name: str, field: str = "--framework") -> str:
    """A profile name or a framework text; raises FieldError naming ``field`` when neither resolves."""
    n, known = resolve_one(name, float("nan"))
    if not known:
        raise FieldError(field, f"must be a stack profile ({', '.join(names())}) or a framework the profiles "
                                "recognise", name)
    return n


#: Engine codes of a remat policy, one column per tensor: 0 recomputed, 1 saved on the device, 2 offloaded to host;
#: ``remat_stated`` is 1 where a row states a policy (0: the engine's plain recompute levels).
REMAT_COLUMNS = (*(f"remat_{t}" for t in REMAT_TENSORS), "remat_stated")
_PLACE_CODE = {"remat": 0.0, "device": 1.0, "offload": 2.0}


def remat_policy(text: str) -> dict[str, float]:
    """Engine codes (``REMAT_COLUMNS``) of one stated remat policy.

    ``text`` is a policy name of ``stacks.yaml`` ``remat_policies`` (MaxText's names), optionally followed by
    ``tensor=device|offload|remat`` pairs (separated by spaces, commas or semicolons) that override it, as
    MaxText's ``custom`` policy takes them. Raises FieldError naming ``remat_policy`` otherwise.
    """
    policies = table().remat_policies.policies
    words = [w for w in re.split(r"[\s,;:]+", str(text).strip().lower()) if w]
    if not words or words[0] not in policies:
        raise FieldError("remat_policy", f"must start with one of {', '.join(policies)}", text)
    places = {t: "remat" for t in REMAT_TENSORS}
    places.update(policies[words[0]])
    for w in words[1:]:
        name, eq, place = w.partition("=")
        targets = REMAT_ALIASES.get(name, (name,))
        if not eq or place not in _PLACE_CODE or any(t not in places for t in targets):
            raise FieldError("remat_policy", "after the policy name, write tensor=device|offload|remat with a tensor "
                             f"among {', '.join((*REMAT_TENSORS, *REMAT_ALIASES))}", text)
        for t in targets:
            places[t] = place
    return {**{f"remat_{t}": _PLACE_CODE[p] for t, p in places.items()}, "remat_stated": 1.0}


#: Engine columns of a low-precision recipe (``recipe_columns``): 1 where the layer's fprop / dgrad / wgrad GEMMs and
#: the LM head run at the matmul precision (0: 16 bits), ``lp_weight_pass`` 1 where weights are quantised again at
#: every forward pass, ``lp_amax_fwd`` / ``lp_amax_bwd`` 1 where each quantised tensor takes a separate amax pass.
RECIPE_COLUMNS = ("lp_fprop", "lp_dgrad", "lp_wgrad", "lp_head", "lp_weight_pass", "lp_amax_fwd", "lp_amax_bwd")


def recipe_values(r: Recipe) -> dict[str, float]:
    """Engine columns (``RECIPE_COLUMNS``) of one recipe."""
    return {"lp_fprop": float("fprop" in r.gemms), "lp_dgrad": float("dgrad" in r.gemms),
            "lp_wgrad": float("wgrad" in r.gemms), "lp_head": float(r.lm_head),
            "lp_weight_pass": float(r.weight_cast == "per_pass"), "lp_amax_fwd": float(r.amax_fwd),
            "lp_amax_bwd": float(r.amax_bwd)}


def resolve_recipe(profile: str, precision: str | None, text: str | None = None) -> str:
    """The low-precision recipe of one row: the first recipe whose ``match`` patterns hit the row's precision text
    (``precision_description``) and whose ``stacks`` (when listed) include ``profile``; else the profile's recipe for
    ``precision``; else ``all-gemms``."""
    st = table()
    low = (text or "").strip().lower()
    if low:
        for name, r in st.low_precision.recipes.items():
            if (not r.stacks or profile in r.stacks) and any(re.search(p, low) for p in r.match):
                return name
    prof = st.profiles.get(profile)
    if prof is not None and precision in prof.low_precision:
        return prof.low_precision[precision]
    return DEFAULT_RECIPE


def recipe_columns(profiles: Any, precisions: Any, texts: Any = None) -> dict[str, np.ndarray]:
    """Recipe columns per row (``RECIPE_COLUMNS``) and the recipe names (``recipe``), resolved once per distinct
    (profile, precision, text)."""
    import pandas as pd

    prof = np.asarray(profiles, dtype=object)
    n = len(prof)
    cols = [prof, np.broadcast_to(np.asarray(precisions, dtype=object), (n,)),
            np.broadcast_to(np.asarray(texts if texts is not None else None, dtype=object), (n,))]
    code = np.zeros(n, dtype=np.int64)
    for c in cols:  # one code per distinct tuple (hashing, fast for 10⁵ rows)
        cell, uniq = pd.factorize(np.asarray(c, dtype=object), use_na_sentinel=False)
        code = code * (len(uniq) + 1) + cell
    code, _ = pd.factorize(code)
    first = np.full(int(code.max()) + 1 if n else 0, -1, dtype=np.int64)
    first[code[::-1]] = np.arange(n)[::-1]
    recipes = table().low_precision.recipes

    def clean(v: Any) -> str:
        return "" if v is None or (isinstance(v, float) and not np.isfinite(v)) else str(v)

    names = np.array([resolve_recipe(*(clean(c[i]) for c in cols)) for i in first.tolist()], dtype=object)
    vals = {k: np.array([recipe_values(recipes[nm])[k] for nm in names.tolist()], dtype=float)
            for k in RECIPE_COLUMNS}
    return {**{k: v[code] for k, v in vals.items()}, "recipe": names[code]}


CAPABILITY_COLUMNS = ("attention_ratio", "flash", "sequence_parallel", "tp_overlap_on", "ep_overlap_on",
                      "ep_overlap_paired", "ep_node_dedup", "balanced_pipeline_ends", "grad_reduce_bytes",
                      "prefetch_depth", "dp_bucket_params", "dp_bucket_per_rank", "optimizer_state_bytes",
                      "allows_interleave", "allows_selective", "allows_zero", "max_zero", "prefers_fsdp",
                      "recompute_fill", "zero_fill", "default_ep", "zero_all_reduce", "zero2_every_micro")
#: Engine code of each ``recompute_fill``: the layout's recompute codes (chipplan.specs.layout.RECOMPUTE), -1 to search.
RECOMPUTE_FILL_CODE = {"fastest": -1.0, **{name: float(code) for code, name in enumerate(RECOMPUTE)}}


def profile_columns(p: Profile, family: str, ratios: dict[str, dict[str, float]]) -> dict[str, float]:
    """Engine columns of one profile on one hardware family."""
    r = ratios.get(family, ratios.get("default", {}))
    return {
        "attention_ratio": float(r.get(p.attention, 1.0)),
        "flash": float(p.attention != "unfused"),
        "sequence_parallel": float(p.sequence_parallel),
        "tp_overlap_on": float(p.tp_comm_overlap),
        "ep_overlap_on": float(p.expert_a2a_overlap),
        "ep_overlap_paired": float(p.expert_a2a_overlap and p.paired_chunk_schedule),
        "ep_node_dedup": float(p.a2a_node_dedup),
        "balanced_pipeline_ends": float(p.balanced_pipeline_ends),
        "grad_reduce_bytes": 4.0 if p.grad_reduce_dtype == "fp32" else 2.0,
        "prefetch_depth": float(p.fsdp_prefetch_depth),
        "dp_bucket_params": float(p.dp_bucket_params),
        "dp_bucket_per_rank": float(p.dp_bucket_params_per_rank),
        "optimizer_state_bytes": float(p.optimizer_state_bytes),
        "allows_interleave": float(p.interleaved_pipeline),
        "allows_selective": float(p.selective_recompute),
        "allows_zero": float(p.distributed_optimizer or p.fsdp),
        "max_zero": float(3 if p.fsdp else p.max_zero_stage),
        "prefers_fsdp": float(p.fsdp),
        "recompute_fill": RECOMPUTE_FILL_CODE[p.recompute_fill],
        "zero_fill": float(p.zero_fill) if p.zero_fill is not None else -1.0,
        "default_ep": float(p.expert_parallel_default or 0),
        "zero_all_reduce": float(p.zero_grad_all_reduce),
        "zero2_every_micro": float(p.zero2_reduce_every_microbatch),
    }


def columns(profiles: Any, families: Any) -> dict[str, np.ndarray]:
    """Capability columns per row (``CAPABILITY_COLUMNS``), computed once per distinct (profile, family)."""
    st = table()
    ratios = {f: dict(v) for f, v in st.attention_kernels.ratios.items()}
    prof = np.asarray(profiles, dtype=object)
    fam = np.asarray(families, dtype=object)
    n = len(prof)
    out = {k: np.empty(n) for k in CAPABILITY_COLUMNS}
    keys = np.array([f"{a}\x00{b}" for a, b in zip(prof.tolist(), fam.tolist(), strict=True)], dtype=object)
    for key in dict.fromkeys(keys.tolist()):
        p, f = key.split("\x00")
        sel = keys == key
        for k, v in profile_columns(st.profiles[p], f, ratios).items():
            out[k][sel] = v
    return out


#: What a stated layout field releases: the capabilities that bound how an empty one may be filled, and the value
#: each takes once the field is stated (a published run that states it ran it, whatever the profile says).
STATED_RELEASES = {"recompute": {"allows_selective": 1.0}, "vpp": {"allows_interleave": 1.0},
                   "zero_stage": {"allows_zero": 1.0, "max_zero": 3.0}}


def release_stated(caps: dict[str, np.ndarray], stated: dict[str, Any]) -> None:
    """Set, in place, the fill-bounding capabilities of ``caps`` to their released value where ``stated[field]``
    (a boolean per row) says the layout field was given; fields outside ``STATED_RELEASES`` are ignored."""
    for field, released in STATED_RELEASES.items():
        if field in stated:
            given = np.asarray(stated[field], dtype=bool)
            for cap, value in released.items():
                caps[cap] = np.where(given, value, caps[cap])


def layout_fills(caps: dict[str, np.ndarray], missing: dict[str, np.ndarray]
                 ) -> list[tuple[str, np.ndarray, float, str]]:
    """What the stack fills an empty layout field with, before any search: ``(field, rows, value, note)`` per fill,
    ``rows`` a boolean per row where ``missing[field]`` and the stack's capabilities (``columns``) decide the value.
    Fills of one field are exclusive. The table path (chipplan.io.training) and the planner (chipplan.perf.plan)
    both apply these, so a stack fills the same way in both."""
    zero, vpp, rc = missing["zero_stage"], missing["vpp"], missing["recompute"]
    fsdp = caps["prefers_fsdp"] > 0
    out = [("vpp", vpp & (caps["allows_interleave"] == 0), 1.0, "1 (the stack has no interleaved schedule)"),
           ("zero_stage", zero & fsdp, 3.0, "3 (the stack shards with FSDP)"),
           ("zero_stage", zero & ~fsdp & (caps["zero_fill"] == 2), 2.0,
            "2 (the stack's runs shard optimizer states and gradients, not the parameters)"),
           ("zero_stage", zero & ~fsdp & (caps["zero_fill"] != 2) & (caps["allows_zero"] == 0), 0.0,
            "0 (the stack has no distributed optimizer)")]
    out += [("recompute", rc & (caps["recompute_fill"] == code), code,
             f"{name} (the stack's recipes recompute that way)") for name, code in RECOMPUTE_FILL_CODE.items()
            if code >= 0]
    return out


def neutral_columns(n: int = 1) -> dict[str, np.ndarray]:
    """Columns of a stack with every capability (the engine's behaviour when no stack is given).

    The paired-chunk schedule and the per-node dispatch are left out: they are one stack's pipeline schedule
    (DualPipe) and kernels, not what a stack runs unless it says so.
    """
    vals = {"attention_ratio": 1.0, "flash": 1.0, "sequence_parallel": 1.0, "tp_overlap_on": 1.0,
            "ep_overlap_on": 1.0, "ep_overlap_paired": 0.0, "ep_node_dedup": 0.0, "balanced_pipeline_ends": 1.0,
            "grad_reduce_bytes": 4.0, "prefetch_depth": 1.0, "dp_bucket_params": 0.0, "dp_bucket_per_rank": 0.0,
            "optimizer_state_bytes": 12.0, "allows_interleave": 1.0, "allows_selective": 1.0, "allows_zero": 1.0,
            "max_zero": 3.0, "prefers_fsdp": 0.0, "recompute_fill": -1.0, "zero_fill": -1.0, "default_ep": 0.0,
            "zero_all_reduce": 0.0, "zero2_every_micro": 0.0}
    return {k: np.full(n, v) for k, v in vals.items()}
