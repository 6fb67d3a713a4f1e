"""Transformer model shape. Counts only (no units); byte and FLOP arithmetic lives in ``chipplan.perf``."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from chipplan.errors import FieldError
from chipplan.specs._check import one_of, positive_int

ATTENTION_KINDS = ("mha", "gqa", "mqa", "mla")


@dataclass(frozen=True, kw_only=True, slots=True)
class Model:
    """A decoder-only Transformer, dense or mixture-of-experts.

    Parameters
    ----------
    n_layers, d_model, n_heads : int
        Depth, residual width and query heads.
    n_kv_heads : int
        Key/value heads: ``n_heads`` for MHA, 1 for MQA, in between for GQA (ignored by MLA).
    head_dim : int
        Per-head width; defaults to ``d_model // n_heads``.
    d_ff : int
        MLP inner width; for MoE, the width of one routed expert.
    gated_mlp : bool
        SwiGLU/GeGLU (three matrices) when true, plain two-matrix MLP otherwise.
    n_experts, top_k, n_shared_experts, first_dense_layers, dense_d_ff
        Mixture-of-experts layout. ``n_experts == 0`` means dense. The first ``first_dense_layers``
        layers use a dense MLP of width ``dense_d_ff`` (DeepSeek-V2/V3).
    moe_max_nodes : int
        Node-limited routing: each token's experts lie on at most this many nodes (DeepSeek-V3: 4); 0 = no limit.
    q_lora_rank, kv_lora_rank, qk_nope_head_dim, qk_rope_head_dim, v_head_dim
        Multi-head latent attention (DeepSeek-V2/V3); ``q_lora_rank == 0`` means no query compression.
    """

    name: str = "custom"
    n_layers: int
    d_model: int
    n_heads: int
    n_kv_heads: int = 0
    head_dim: int = 0
    d_ff: int
    vocab_size: int
    max_seq_len: int = 4096
    attention: str = ""
    gated_mlp: bool = True
    tied_embeddings: bool = False
    learned_pos_emb: bool = False
    n_experts: int = 0
    top_k: int = 0
    n_shared_experts: int = 0
    first_dense_layers: int = 0
    dense_d_ff: int = 0
    moe_max_nodes: int = 0
    q_lora_rank: int = 0
    kv_lora_rank: int = 0
    qk_nope_head_dim: int = 0
    qk_rope_head_dim: int = 0
    v_head_dim: int = 0
    published_params: float = 0.0
    published_active_params: float = 0.0
    aliases: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        p = f"models.{self.name}"
        for f in ("n_layers", "d_model", "n_heads", "d_ff", "vocab_size", "max_seq_len"):
            positive_int(f"{p}.{f}", getattr(self, f))
        for f in ("n_kv_heads", "head_dim", "n_experts", "top_k", "n_shared_experts", "first_dense_layers",
                  "dense_d_ff", "moe_max_nodes", "q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim",
                  "v_head_dim"):
            positive_int(f"{p}.{f}", getattr(self, f), allow_zero=True)
        kv = self.n_kv_heads or self.n_heads
        if self.n_heads % kv:
            raise FieldError(f"{p}.n_kv_heads", f"must divide n_heads={self.n_heads}", self.n_kv_heads)
        attn = self.attention or ("mla" if self.kv_lora_rank else
                                  "mha" if kv == self.n_heads else "mqa" if kv == 1 else "gqa")
        one_of(f"{p}.attention", attn, ATTENTION_KINDS)
        if attn == "mla" and not (self.kv_lora_rank and self.qk_nope_head_dim and self.v_head_dim):
            raise FieldError(f"{p}.kv_lora_rank", "MLA needs kv_lora_rank, qk_nope_head_dim and v_head_dim > 0")
        if self.n_experts:
            if not 1 <= self.top_k <= self.n_experts:
                raise FieldError(f"{p}.top_k", f"must be in [1, n_experts={self.n_experts}]", self.top_k)
            if self.first_dense_layers > self.n_layers:
                raise FieldError(f"{p}.first_dense_layers", f"must be <= n_layers={self.n_layers}",
                                 self.first_dense_layers)
        object.__setattr__(self, "n_kv_heads", kv)
        object.__setattr__(self, "head_dim", self.head_dim or self.d_model // self.n_heads)
        object.__setattr__(self, "attention", attn)
        if self.n_experts and self.first_dense_layers and not self.dense_d_ff:
            object.__setattr__(self, "dense_d_ff", self.d_ff)

    @property
    def is_moe(self) -> bool:
        return self.n_experts > 0

    @property
    def n_moe_layers(self) -> int:
        return self.n_layers - self.first_dense_layers if self.is_moe else 0

    def to_columns(self) -> dict[str, float]:
        """Numeric fields as a flat dict, the row format of the vectorised engines."""
        out: dict[str, float] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool | int | float):
                out[f.name] = float(v)
        out["is_mla"] = float(self.attention == "mla")
        return out
