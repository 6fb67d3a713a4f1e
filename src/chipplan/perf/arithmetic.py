"""Model arithmetic: parameters, FLOPs and bytes per token. Vectorised: every argument may be an array.

Conventions (stated once, used everywhere):

* A matrix multiply of an ``m×k`` by a ``k×n`` matrix costs ``2·m·k·n`` FLOP.
* Parameter counts include embeddings, norms and MoE routers; biases are left out (most modern
  models have none; for GPT-3 they are < 0.1 % of the total).
* Attention score FLOP per token and layer (forward) are ``2·n_heads·(d_qk + d_v)·ctx`` where ``ctx`` is the
  number of keys attended: ``seq_len`` without a causal mask, ``(seq_len + 1) / 2`` on average with one.
  The widely quoted rule ``6·N + 12·L·h·s`` (Kaplan et al. 2020; PaLM, Chowdhery et al. 2022, App. B)
  is the non-causal count for MHA with ``d_qk = d_v = h / n_heads``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chipplan.perf.columns import as_columns, per_model
from chipplan.units import BYTES_PER_ELEMENT

A = Any  # a float or an ndarray


def _m(model: Any) -> Any:
    return as_columns(model)


def mlp_matrices(gated: A) -> A:
    """2 weight matrices for a plain MLP, 3 for a gated one (SwiGLU/GeGLU)."""
    return np.where(np.asarray(gated, dtype=float) > 0, 3.0, 2.0)


@per_model
def qk_head_dim(model: Any) -> A:
    m = _m(model)
    mla = m.is_mla > 0
    return np.where(mla, m.qk_nope_head_dim + m.qk_rope_head_dim, m.head_dim)


@per_model
def v_head_dim(model: Any) -> A:
    m = _m(model)
    return np.where(m.is_mla > 0, m.v_head_dim, m.head_dim)


@per_model
def attention_params_per_layer(model: Any) -> A:
    """Weights of one attention block (Q, K, V, O projections; MLA down/up projections and their norms).

    MHA/GQA/MQA: ``d·(n_h·d_h) + 2·d·(n_kv·d_h) + (n_h·d_h)·d``.
    MLA (DeepSeek-V2 §2.1): queries ``d·r_q + r_q + r_q·n_h·(d_nope + d_rope)`` (or ``d·n_h·(d_nope+d_rope)``
    without compression), keys/values ``d·(r_kv + d_rope) + r_kv + r_kv·n_h·(d_nope + d_v)``, output
    ``n_h·d_v·d``.
    """
    m = _m(model)
    d, nh = m.d_model, m.n_heads
    std = d * nh * m.head_dim * 2 + 2 * d * m.n_kv_heads * m.head_dim
    dqk = m.qk_nope_head_dim + m.qk_rope_head_dim
    q = np.where(m.q_lora_rank > 0, d * m.q_lora_rank + m.q_lora_rank + m.q_lora_rank * nh * dqk, d * nh * dqk)
    kv = d * (m.kv_lora_rank + m.qk_rope_head_dim) + m.kv_lora_rank + m.kv_lora_rank * nh * (
        m.qk_nope_head_dim + m.v_head_dim)
    mla = q + kv + nh * m.v_head_dim * d
    return np.where(m.is_mla > 0, mla, std)


def mlp_params(d_model: A, d_ff: A, gated: A) -> A:
    return mlp_matrices(gated) * d_model * d_ff


@per_model
def layer_counts(model: Any) -> tuple[A, A]:
    """(dense layers, MoE layers)."""
    m = _m(model)
    moe_layers = np.where(m.n_experts > 0, m.n_layers - m.first_dense_layers, 0.0)
    return m.n_layers - moe_layers, moe_layers


@per_model
def dense_d_ff(model: Any) -> A:
    """MLP width of the dense layers (``dense_d_ff`` for MoE models with dense first layers)."""
    m = _m(model)
    return np.where((m.n_experts > 0) & (m.dense_d_ff > 0), m.dense_d_ff, m.d_ff)


@per_model
def embedding_params(model: Any) -> A:
    """Input embedding + untied output head + learned positions."""
    m = _m(model)
    return m.vocab_size * m.d_model * (2.0 - m.tied_embeddings) + m.learned_pos_emb * m.max_seq_len * m.d_model


@per_model
def param_counts(model: Any) -> dict[str, A]:
    """Parameter counts by part.

    Returns ``total``, ``active`` (per token, MoE), ``expert`` (routed expert weights, the part that EP
    shards), ``embedding``, ``non_embedding``, ``attention``, ``per_dense_layer``, ``per_moe_layer``.

    >>> from chipplan import catalog
    >>> round(float(param_counts(catalog.model("llama-3.1-405b"))["total"]) / 1e9, 1)
    405.9
    """
    m = _m(model)
    d = m.d_model
    attn = attention_params_per_layer(m)
    norms = 2 * d
    dense_layer = attn + mlp_params(d, dense_d_ff(m), m.gated_mlp) + norms
    expert_one = mlp_params(d, m.d_ff, m.gated_mlp)
    router = d * m.n_experts
    moe_layer_total = attn + (m.n_experts + m.n_shared_experts) * expert_one + router + norms
    moe_layer_active = attn + (m.top_k + m.n_shared_experts) * expert_one + router + norms
    n_dense, n_moe = layer_counts(m)
    emb = embedding_params(m)
    final_norm = d
    total = n_dense * dense_layer + n_moe * moe_layer_total + emb + final_norm
    active = n_dense * dense_layer + n_moe * moe_layer_active + emb + final_norm
    return {
        "total": total,
        "active": active,
        "expert": n_moe * m.n_experts * expert_one,
        "embedding": emb,
        "non_embedding": total - emb,
        "attention": m.n_layers * attn,
        "per_dense_layer": dense_layer,
        "per_moe_layer": moe_layer_total,
    }


def derive(model: Any) -> Any:
    """Compute (and cache on ``model``) every model-only quantity the engines use; returns ``model``.

    For a sweep over a few models and many layouts, call this on the few-row table and then ``take`` the
    rows: the derived arrays are gathered instead of recomputed.
    """
    m = as_columns(model)
    for fn in (qk_head_dim, v_head_dim, attention_params_per_layer, layer_counts, dense_d_ff, embedding_params,
               param_counts):
        fn(m)
    return m


def matmul_flops_per_token(model: Any) -> dict[str, A]:
    """Forward matrix-multiply FLOP per token by part (excludes attention scores).

    ``attn_proj`` and ``mlp`` are summed over all layers; ``lm_head`` is the output projection
    ``2·d·V`` (the input embedding is a lookup, not a matmul).
    """
    m = _m(model)
    d = m.d_model
    n_dense, n_moe = layer_counts(m)
    attn = 2 * attention_params_per_layer(m) * m.n_layers
    dense_mlp = 2 * mlp_params(d, dense_d_ff(m), m.gated_mlp) * n_dense
    moe_mlp = 2 * ((m.top_k + m.n_shared_experts) * mlp_params(d, m.d_ff, m.gated_mlp) + d * m.n_experts) * n_moe
    head = 2 * d * m.vocab_size
    return {"attn_proj": attn, "mlp": dense_mlp + moe_mlp, "lm_head": head}


def attention_score_flops_per_token(model: Any, seq_len: A, causal: A = True) -> A:
    """Forward FLOP per token for ``Q·Kᵀ`` and ``softmax·V`` over all layers.

    ``2·L·n_h·(d_qk + d_v)·ctx``, ``ctx = s`` (non-causal) or ``(s + 1)/2`` (causal average).
    """
    m = _m(model)
    s = np.asarray(seq_len, dtype=float)
    ctx = np.where(np.asarray(causal, dtype=bool), (s + 1) / 2, s)
    return 2 * m.n_layers * m.n_heads * (qk_head_dim(m) + v_head_dim(m)) * ctx


def forward_flops_per_token(model: Any, seq_len: A, causal: A = True) -> A:
    """All forward FLOP per token: matmuls (incl. LM head) + attention scores."""
    mm = matmul_flops_per_token(model)
    return mm["attn_proj"] + mm["mlp"] + mm["lm_head"] + attention_score_flops_per_token(model, seq_len, causal)


def training_flops_per_token(model: Any, seq_len: A, causal: A = True) -> A:
    """Model FLOP per trained token: forward + backward = 3 × forward (backward is twice the forward)."""
    return 3 * forward_flops_per_token(model, seq_len, causal)


def rule_of_thumb_flops_per_token(model: Any, seq_len: A) -> A:
    """``6·N + 12·L·h·s`` with N the non-embedding parameters plus the LM head (PaLM App. B form)."""
    m = _m(model)
    p = param_counts(m)
    n = p["active"] - p["embedding"] + m.d_model * m.vocab_size
    return 6 * n + 12 * m.n_layers * m.d_model * np.asarray(seq_len, dtype=float)


def bytes_per(precision: str) -> float:
    from chipplan.errors import FieldError

    if precision not in BYTES_PER_ELEMENT:
        raise FieldError("precision", f"must be one of {', '.join(BYTES_PER_ELEMENT)}", precision)
    return BYTES_PER_ELEMENT[precision]


def weight_bytes(model: Any, precision: str = "bf16", *, active: bool = False) -> A:
    """Bytes of all (or the active) weights stored in ``precision``."""
    p = param_counts(model)
    return (p["active"] if active else p["total"]) * bytes_per(precision)


def kv_cache_bytes_per_token(model: Any, kv_precision: str = "bf16") -> A:
    """KV-cache bytes per token over all layers.

    MHA/GQA/MQA: ``2·L·n_kv·d_h·b``. MLA caches the compressed latent and the shared rope key:
    ``L·(r_kv + d_rope)·b`` (DeepSeek-V2 §2.1.2).
    """
    m = _m(model)
    b = bytes_per(kv_precision)
    std = 2 * m.n_layers * m.n_kv_heads * m.head_dim * b
    mla = m.n_layers * (m.kv_lora_rank + m.qk_rope_head_dim) * b
    return np.where(m.is_mla > 0, mla, std)
