"""Serving (inference) performance from physics, vectorised over arrays of configurations.

A forward pass on one pipeline stage runs, per layer and per accelerator of the tensor-parallel group,

* weight GEMMs as a roofline ``max(weight bytes / B_hbm, FLOP / (peak · matmul_fraction · n/(n + n½)))``
  with ``n`` the smallest GEMM dimension (the tokens of the pass, or the tokens each expert sees), so
  decode at small batch is bound by reading the weights and prefill or large batches by compute;
* attention as ``max(KV bytes read / B_hbm, score FLOP / (peak₁₆ · attention_fraction))``: decode reads
  the whole KV cache of every sequence; prefill is the causal quadratic term (a chunk attends to the
  chunks before it and half of itself on average);
* element-wise work (norms, residuals, RoPE, activation functions) at ``B_hbm``, a fixed
  per-layer overhead (``PREFILL_LAYER_OVERHEAD_S`` eager, ``DECODE_LAYER_OVERHEAD_S`` graphed), and two
  tensor-parallel all-reduces per layer (attention and MLP outputs) — or, for MoE layers with ``ep > 1``,
  a dispatch and a combine all-to-all in place of the MLP
  all-reduce. Serving all-reduces use one-shot/two-shot kernels (TensorRT-LLM's custom all-reduce, vLLM's
  custom all-reduce) whose latency is about two collective steps, not the ``2(k − 1)`` steps of a ring, so
  the latency term here is ``SERVING_AR_STEPS · collective_latency_s``. Communication is not overlapped.

``B_hbm = hbm_bw · hbm_fraction``. MoE layers read only the experts the step touches: with ``T`` tokens
routed top-``k`` among ``E`` experts uniformly, the expected number of distinct experts is
``E·(1 − (1 − k/E)^T)``.

Weights are stored at the weight precision (``w_bytes`` per parameter: BF16 2, FP8 1, FP4/INT4 0.5);
GEMMs run at the peak of the compute precision (``peak_mm_flops_per_s``; weight-only INT4 keeps a 16-bit
peak). The KV cache is stored at ``kv_bytes`` per element; per accelerator it holds
``max(n_kv, tp)/tp`` of the KV heads (heads are replicated when ``tp > n_kv``) and, for MLA, the whole
latent (it is not split across heads).

Pipeline parallelism splits a batch of ``B`` sequences into ``pp`` micro-batches of ``B/pp`` (at least
one); one decode iteration is ``pp`` stage passes plus the point-to-point sends, so TPOT is the iteration
time and throughput ``B`` tokens per iteration. Each decode iteration also pays a fixed host-side cost
(``STEP_OVERHEAD_S``: scheduling, sampling, graph launch).

Modes (``MODES``):

``latency``
    batch 1: TTFT = prefill of the input; TPOT = one decode iteration at the mean context.
``static_batch``
    ``B`` requests start together: prefill of ``B × I`` tokens, then ``O − 1`` decode iterations at the
    mean context ``I + O/2``. Output tokens/s/accelerator = ``B·O / (t_prefill + (O − 1)·t_decode) / n``.
    A batch larger than the KV pool's ``C`` sequences runs in ``⌈B/C⌉`` equal waves.
``offline_max_throughput``
    in-flight batching: the scheduler keeps ``B = min(inf_num_requests, KV-cache capacity, MAX_BATCH_SIZE)``
    sequences running; capacity reserves ``I + O`` tokens per request (TensorRT-LLM's default
    guaranteed-no-evict policy). New requests' prefill rides in the decode iterations (mixed batching,
    chunks of ``MAX_NUM_TOKENS``), so it adds its compute but no second weight read. In steady state a
    cycle of ``O`` iterations completes ``B`` requests: ``t_cycle = O · t_decode(B) + t_prefill_compute(B·I)``.
``server_slo``
    a queueing model (not a simulation): for a grid of batch sizes the steady-state cycle above gives the
    request rate ``λ = B / t_cycle``; prefill is an M/D/1 queue whose server is busy
    ``ρ = λ · t_prefill(1 request)``; p99 TTFT = ``t_prefill + t_decode + W₉₉`` with the Kingman/M/D/1 mean
    wait ``W̄ = ρ·t_prefill/(2(1 − ρ))`` and an exponential tail ``W₉₉ = W̄ · ln(100·ρ)/ρ`` (zero when
    ``100ρ ≤ 1``); p99 TPOT = ``t_cycle / O`` (prefill chunks interleave with every request's decode).
    The largest load whose p99 TTFT and TPOT meet the limits wins.

Speculative decoding (``draft_len`` ``k > 0``, acceptance rate ``α``): each iteration verifies ``k + 1``
tokens per sequence and yields ``(1 − α^{k+1})/(1 − α)`` tokens on average (Leviathan et al. 2023, §3.1,
https://arxiv.org/abs/2211.17192); the draft costs ``k · draft_cost_ratio`` target decode iterations
(efficiency.yaml ``engine_constants.serving.draft_cost_ratio``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chipplan.perf import collectives as col
from chipplan.perf import tuned
from chipplan.perf.arithmetic import (
    attention_params_per_layer,
    dense_d_ff,
    layer_counts,
    mlp_params,
    param_counts,
    qk_head_dim,
    v_head_dim,
)
from chipplan.perf.columns import Columns
from chipplan.perf.efficiency import gemm_efficiency, matmul_fraction
from chipplan.perf.memory import stage_layers

A = Any

MODES = {"latency": 0, "static_batch": 1, "offline_max_throughput": 2, "server_slo": 3, "concurrency": 4,
         "decode_only": 5}
ACT_BYTES = 2.0  # activations travel and are stored in 16 bits
# The tuned numbers of this engine (host cost per decode iteration, all-reduce latency steps, per-layer overheads
# of graphed decode and eager prefill, and TensorRT-LLM's scheduler defaults: KV share of free memory, batch and
# token caps) are the catalog's (efficiency.yaml ``engine_constants.serving``, with their sources), read through
# chipplan.perf.tuned; the old module names still answer.
_TUNED = {"STEP_OVERHEAD_S": ("serving", "step_overhead_s"),
          "SERVING_AR_STEPS": ("serving", "allreduce_latency_steps"),
          "DECODE_LAYER_OVERHEAD_S": ("serving", "decode_layer_overhead_s"),
          "PREFILL_LAYER_OVERHEAD_S": ("serving", "prefill_layer_overhead_s"),
          "KV_FREE_FRACTION": ("serving", "kv_free_fraction"), "MAX_BATCH_SIZE": ("serving", "max_batch_size"),
          "MAX_NUM_TOKENS": ("serving", "max_num_tokens"),
          "MEMORY_RESERVED_BYTES": ("training", "memory_reserved_bytes")}
_tuned_attr = tuned.aliases(__name__, _TUNED)
# Weights in 8 bits or fewer, as float (FP8/FP4) or INT8, keep the KV cache in FP8 (TensorRT-LLM and vLLM
# FP8 checkpoints ship FP8 KV scales); otherwise it stays in the 16-bit activation format.
KV_8BIT = ("fp8", "fp4", "int8")


def engine_defaults() -> dict[str, float]:
    """Engine-profile columns (``eng_*``, chipplan.perf.serving_engines) and what stands in when a caller gives
    none: the TensorRT-LLM-era constants of the catalog, which the shared TensorRT-LLM tables were fitted with."""
    t = tuned.table()["serving"]
    return {"step_overhead_s": t["step_overhead_s"], "decode_layer_overhead_s": t["decode_layer_overhead_s"],
            "moe_layer_overhead_s": 0.0, "gemm_m_half": 0.0, "allreduce_bw_fraction": np.nan,
            "max_num_seqs": t["max_batch_size"], "max_num_batched_tokens": t["max_num_tokens"],
            "kv_block_tokens": 1.0, "kv_memory_fraction": t["kv_free_fraction"], "kv_basis_free": 1.0,
            "chunked_prefill": 1.0, "two_batch_overlap": 0.0, "seq_overhead_s": 0.0, "fp4_dense_stream_bytes": 0.5,
            "fp4_dense_fp8_peak": 0.0}


def __getattr__(attr: str) -> Any:
    if attr == "ENGINE_DEFAULTS":
        return engine_defaults()
    return _tuned_attr(attr)


def engine_param(eff: Columns, name: str) -> A:
    """An engine-profile column carried in the efficiency columns (``eng_<name>``), or its default."""
    v = eff.get(f"eng_{name}")
    if v is None:
        v = engine_defaults()[name]
        if name == "allreduce_bw_fraction":
            return eff.scale_up_fraction
    return v


def kv_precision_for(precision: str) -> str:
    """KV-cache format used with weights in ``precision`` (see ``KV_8BIT``)."""
    return "fp8" if precision in KV_8BIT else ("bf16" if precision in ("int4", "bf16") else "fp16")


def kv_bytes_per_token(model: Columns, kv_bytes: A, tp: A = 1.0, pp: A = 1.0) -> A:
    """KV-cache bytes per token held by one accelerator.

    MHA/GQA/MQA: ``2·(L/pp)·max(n_kv, tp)/tp·d_h·b`` (KV heads are split across TP ranks, replicated
    when there are fewer than ``tp``). MLA caches the latent and the shared RoPE key once per layer,
    unsplit by TP: ``(L/pp)·(r_kv + d_rope)·b`` (DeepSeek-V2 §2.1.2).
    """
    m = model
    tp = np.asarray(tp, dtype=float)
    std = 2 * m.n_layers * np.maximum(m.n_kv_heads, tp) / tp * m.head_dim * kv_bytes
    mla = m.n_layers * (m.kv_lora_rank + m.qk_rope_head_dim) * kv_bytes
    return np.where(m.is_mla > 0, mla, std) / pp


def experts_touched(n_experts: A, top_k: A, tokens: A) -> A:
    """Expected distinct experts hit when ``tokens`` tokens each pick ``top_k`` of ``n_experts`` uniformly.

    ``E·(1 − (1 − k/E)^T)``; 0 for dense models.
    """
    e = np.maximum(np.asarray(n_experts, dtype=float), 1.0)
    p_miss = np.clip(1.0 - top_k / e, 0.0, 1.0)
    return np.where(np.asarray(n_experts) > 0, e * (1.0 - p_miss ** np.maximum(tokens, 0.0)), 0.0)


def weight_bytes_per_gpu(model: Columns, w_bytes: A, tp: A, pp: A, ep: A = 1.0) -> A:
    """All weights stored on one accelerator at ``w_bytes`` each, per pipeline stage.

    Non-expert weights (attention, dense MLPs, shared experts, embedding and LM head, vocabulary-parallel) ÷ tp;
    routed experts ÷ max(tp, ep): with ``ep ≤ tp`` the ep ranks hold ``E/ep`` experts each, split ``tp/ep``
    ways; with wide EP (``ep > tp``, attention data-parallel) each of the ep ranks holds ``E/ep`` whole experts.
    """
    p = param_counts(model)
    return ((p["total"] - p["expert"]) / tp + p["expert"] / np.maximum(tp, ep)) * w_bytes / pp


def stage_pass(model: Columns, hw: Columns, eff: Columns, *, tp: A, pp: A, ep: A, tokens: A, logits: A,
               attn_ctx: A, kv_tokens: A, w_bytes: A, kv_bytes: A, weight_floor: A = True,
               layer_overhead_s: A | None = None, decode: A = False) -> dict[str, A]:
    """Seconds for one forward pass through one pipeline stage (``L/pp`` layers) on one accelerator.

    Parameters
    ----------
    tokens : new tokens in the pass on one attention group (all its sequences of the micro-batch).
    logits : tokens that go through the LM head (one per sequence; ``tokens`` in decode).
    attn_ctx : mean number of keys each new token attends to.
    kv_tokens : cached tokens whose K/V are read from HBM (all sequences of the attention group).
    w_bytes, kv_bytes : bytes per weight and per KV element.
    weight_floor : False when the weights are already being read by a concurrent pass (mixed batching),
        so only compute counts.
    layer_overhead_s : fixed cost per layer; ``PREFILL_LAYER_OVERHEAD_S`` when None (prefill), the engine's
        ``decode_layer_overhead_s`` (+ ``moe_layer_overhead_s`` on MoE layers) when ``decode``.
    ep : expert-parallel size. With ``ep > tp`` (attention data parallelism, SGLang/DeepSeek style) the MoE
        layers run over ``ep`` accelerators and see the tokens of ``ep/tp`` attention groups.
    decode : the pass is a decode step (MLA runs absorbed: queries attend to the latent directly).

    GEMMs reach ``matmul_fraction · n/(n + matmul_half_dim) · M/(M + gemm_m_half)`` of the peak, ``n`` the
    smaller weight dimension, ``M`` the rows (tokens, or the tokens each touched expert receives) and
    ``gemm_m_half`` the engine's small-M fall-off. Tensor-parallel all-reduces
    move ``T·d`` activations at the engine's ``allreduce_bw_fraction`` of the scale-up link, plus a latency of
    ``SERVING_AR_STEPS`` collective steps on the actual fabric.
    """
    m = model
    T = np.asarray(tokens, dtype=float)
    d = m.d_model
    n_dense, n_moe = layer_counts(m)
    Ld, Lm = stage_layers(n_dense, n_moe, pp)  # the busiest stage: ceil(L/pp) layers
    frac_mm = matmul_fraction(eff, hw)
    peak = hw.peak_mm_flops_per_s
    bw = hw.hbm_bw_bytes_per_s * eff.hbm_fraction
    half = eff.matmul_half_dim
    m_half = engine_param(eff, "gemm_m_half")
    floor = np.asarray(weight_floor, dtype=float)
    dec = np.asarray(decode, dtype=float) > 0

    attn_p = attention_params_per_layer(m)
    dff = dense_d_ff(m)
    dense_mlp_p = mlp_params(d, dff, m.gated_mlp)
    expert_p = mlp_params(d, m.d_ff, m.gated_mlp)
    qdim = m.n_heads * qk_head_dim(m)

    any_half = bool(np.any(np.asarray(m_half) > 0))

    def m_eff(rows: A) -> A:
        if not any_half:  # no small-M fall-off in this profile: skip the full-size arrays
            return 1.0
        rows = np.maximum(np.asarray(rows, dtype=float), 1.0)
        return rows / (rows + m_half)

    # Dense (non-expert) FP4 GEMMs follow the engine's rule on this family (``fp4_dense`` in the profile): kernels
    # that dequantise MXFP4 weights to FP8 stream them no faster than FP8 ones and compute at the FP8 peak.
    fp4_run = (np.asarray(hw.get("fp4", 0.0)) > 0) & (np.asarray(w_bytes) <= 0.5)
    if np.any(fp4_run):
        fp8_pk = fp4_run & (np.asarray(engine_param(eff, "fp4_dense_fp8_peak")) > 0)
        wb_dense = np.where(fp4_run, engine_param(eff, "fp4_dense_stream_bytes"), w_bytes)
        peak_dense = np.where(fp8_pk, hw.peak8_flops_per_s, peak)
        frac_dense = np.where(fp8_pk, eff.matmul_fraction_fp8, frac_mm)
    else:
        wb_dense, peak_dense, frac_dense = w_bytes, peak, frac_mm

    def gemm(params: A, n_small: A, width: A, rows: A, split: A, flops_params: A | None = None, *,
             wb: A = w_bytes, pk: A = peak, fr: A = frac_mm) -> A:
        fp = params if flops_params is None else flops_params
        # The token count enters through the roofline (weights are read once per pass whatever T) and through
        # the small-M share; the half-size fall-off applies to the weight dimensions and the tokens per expert.
        t_c = 2 * T * fp / tp / (pk * gemm_efficiency(fr, half, n_small, d, width / tp) * m_eff(rows))
        t_m = floor * params * wb / split / bw
        return np.maximum(t_c, t_m)

    dense_kw = dict(wb=wb_dense, pk=peak_dense, fr=frac_dense)
    t_attn_proj = gemm(attn_p, np.inf, qdim, T, tp, **dense_kw)
    t_dense_mlp = gemm(dense_mlp_p, np.inf, dff, T, tp, **dense_kw)
    # MoE over max(tp, ep) accelerators: they see the tokens of max(tp, ep)/tp attention groups and hold
    # E/max(tp, ep) of the experts each (a share of every expert when ep < tp); only touched experts are read.
    g_e = np.maximum(tp, ep)
    t_moe_in = T * g_e / tp
    touched = experts_touched(m.n_experts, m.top_k, t_moe_in)
    routed_read = touched * expert_p * tp / g_e
    moe_read = routed_read + m.n_shared_experts * expert_p + d * m.n_experts
    moe_flops = (m.top_k + m.n_shared_experts) * expert_p + d * m.n_experts
    # Rows of an expert's GEMM: the tokens each touched expert receives (at least one).
    rows_e = np.where(m.n_experts > 0, np.maximum(t_moe_in * m.top_k / np.maximum(touched, 1e-9), 1.0), T)
    # Expert GEMMs get the engine's small-M share on the tokens each touched expert receives: at decode sizes a
    # grouped GEMM reads its experts' weights at near-bandwidth (the family's matmul_half_dim, a fall-off of
    # the weight dimensions fitted on training GEMMs, would make one-token experts compute-bound at < 1 % of
    # peak).
    t_moe_mlp = gemm(moe_read, np.inf, m.d_ff, rows_e, tp, moe_flops)

    # Attention scores/values vs KV-cache read. Absorbed MLA decode (FlashMLA, AITER MLA) attends in the latent
    # space: per head 2·(r_kv + d_rope) + 2·r_kv FLOP per key instead of 2·(d_qk + d_v).
    std_dims = qk_head_dim(m) + v_head_dim(m)
    absorbed = 2 * m.kv_lora_rank + m.qk_rope_head_dim
    dims = np.where((m.is_mla > 0) & dec, absorbed, std_dims)
    score_flops = 2 * T * m.n_heads / tp * dims * attn_ctx
    kv_read = np.asarray(kv_tokens, dtype=float) * kv_bytes_per_token(m, kv_bytes, tp, 1.0) / m.n_layers
    # With an 8-bit KV cache the fused attention kernels run their products in FP8 too (TensorRT-LLM's FP8
    # context FMHA, FlashAttention-3's FP8 path), at the 8-bit peak.
    attn_peak = np.where(np.asarray(kv_bytes) <= 1.0, hw.peak8_flops_per_s, hw.peak16_flops_per_s)
    t_attn = np.maximum(score_flops / (attn_peak * eff.attention_fraction), kv_read / bw)

    act_w = np.where(m.gated_mlp > 0, 3.0, 2.0)
    kdim = np.where(m.is_mla > 0, qdim, m.n_kv_heads * m.head_dim)
    odim = m.n_heads * v_head_dim(m)
    # Fused serving kernels: norm (+ residual) reads and writes d twice per layer; Q/K/V written and read;
    # attention output written and read; MLP intermediate(s) written and read by the activation, its
    # output written and read by the down projection.
    elem_bytes = T * ACT_BYTES * (4 * d + 2 * (qdim + 2 * kdim + odim) / tp + 2 * act_w * dff / tp)
    t_elem = elem_bytes / bw

    bw_ar = hw.scale_up_bw_bytes_per_s * engine_param(eff, "allreduce_bw_fraction")
    bw_up = hw.scale_up_bw_bytes_per_s * eff.scale_up_fraction
    bw_out = hw.scale_out_bw_bytes_per_s * eff.scale_out_fraction
    k_tp, n_tp = col.group_split(tp, 1.0, hw.scale_up_domain)
    ar_steps = tuned.value("serving", "allreduce_latency_steps")
    ar_lat = np.where(tp > 1, ar_steps * eff.collective_latency_s * (1 + np.log2(np.maximum(n_tp, 1))), 0.0)
    t_ar = col.all_reduce_time(T * d * ACT_BYTES, k_tp, n_tp, bw_ar, bw_out, 0.0) + ar_lat
    # Dispatch + combine: with ep ≤ tp each rank routes the group's tokens inside the TP group; with wide EP
    # each rank sends its share T/tp of its group's tokens to the experts' ranks (consecutive ranks, stride 1).
    wide = ep > tp
    k_ep, n_ep = col.group_split(ep, np.where(wide, 1.0, tp / np.maximum(ep, 1.0)), hw.scale_up_domain)
    a2a_tokens = np.where(wide, T / tp, T)
    # Wide EP runs DeepEP-style kernels: the dispatch carries 8-bit activations (with per-128 scales, ignored here)
    # when the model runs in 8 bits or fewer, the combine returns 16-bit ones (DeepSeek-V3 technical report,
    # §3.3.1, https://arxiv.org/abs/2412.19437; DeepEP README, https://github.com/deepseek-ai/DeepEP).
    a2a_elems = a2a_tokens * m.top_k * d
    fp8_disp = wide & (np.asarray(w_bytes) <= 1.0)
    if not np.any(np.asarray(ep) > 1):  # no expert parallelism anywhere: skip the full-size arrays
        t_a2a = 0.0
    elif np.any(fp8_disp):
        disp_bytes = np.where(fp8_disp, 1.0, ACT_BYTES)
        t_a2a = (col.all_to_all_time(a2a_elems * disp_bytes, k_ep, n_ep, bw_up, bw_out, eff.collective_latency_s)
                 + col.all_to_all_time(a2a_elems * ACT_BYTES, k_ep, n_ep, bw_up, bw_out, eff.collective_latency_s))
    else:
        t_a2a = 2 * col.all_to_all_time(a2a_elems * ACT_BYTES, k_ep, n_ep, bw_up, bw_out, eff.collective_latency_s)
    t_moe_comm = np.where(ep > 1, t_ar + t_a2a, 2 * t_ar)

    if layer_overhead_s is None:
        ko_d = np.where(dec, engine_param(eff, "decode_layer_overhead_s"),
                        tuned.value("serving", "prefill_layer_overhead_s"))
        ko_m = ko_d + np.where(dec, engine_param(eff, "moe_layer_overhead_s"), 0.0)
    else:
        ko_d = ko_m = layer_overhead_s
    layer_dense = t_attn_proj + t_dense_mlp + t_attn + t_elem + ko_d + 2 * t_ar
    moe_compute = t_attn_proj + t_moe_mlp + t_attn + t_elem + ko_m
    # Two-batch overlap (SGLang --enable-two-batch-overlap, DeepSeek's dual micro-batch decode): with wide EP the
    # step runs as two micro-batches whose dispatch/combine hide behind the other's computation, so an MoE layer
    # takes max(compute, communication) instead of their sum (LMSYS blog, May 2025,
    # https://lmsys.org/blog/2025-05-05-large-scale-ep/; DeepSeek profile-data, 2025,
    # https://github.com/deepseek-ai/profile-data).
    tbo = wide & (np.asarray(engine_param(eff, "two_batch_overlap")) > 0)
    layer_moe = np.where(tbo, np.maximum(moe_compute, t_moe_comm), moe_compute + t_moe_comm) if np.any(tbo) \
        else moe_compute + t_moe_comm
    # LM head on the last stage, averaged over the stages (each stage's share of one iteration).
    V = m.vocab_size
    lg = np.asarray(logits, dtype=float)
    t_head = np.maximum(2 * lg * d * V / tp / (peak_dense * gemm_efficiency(frac_dense, half, d, V / tp) * m_eff(lg)),
                        floor * d * V * wb_dense / tp / bw) / pp
    total = Ld * layer_dense + Lm * layer_moe + t_head
    return {
        "time_s": total,
        "gemm_s": Ld * (t_attn_proj + t_dense_mlp) + Lm * (t_attn_proj + t_moe_mlp) + t_head,
        "attention_s": (Ld + Lm) * t_attn,
        "comm_s": Ld * 2 * t_ar + Lm * t_moe_comm,
        "other_s": Ld * (t_elem + ko_d) + Lm * (t_elem + ko_m),
    }


def decode_iteration(model: Columns, hw: Columns, eff: Columns, *, tp: A, pp: A, ep: A, batch: A, ctx: A,
                     w_bytes: A, kv_bytes: A, q: A = 1.0, dp_attn: A = 1.0) -> dict[str, A]:
    """One decode iteration for ``batch`` sequences of a replica at mean context ``ctx`` (``q`` tokens per sequence).

    ``pp · stage(max(B/(pp·dp_attn), 1)) + pp·p2p + step_overhead_s`` (the engine's host-side cost per
    iteration; ``STEP_OVERHEAD_S`` without a profile)."""
    b = np.maximum(np.asarray(batch, dtype=float) / (pp * dp_attn), 1.0)
    T = b * q
    st = stage_pass(model, hw, eff, tp=tp, pp=pp, ep=ep, tokens=T, logits=T, attn_ctx=ctx, kv_tokens=b * ctx,
                    w_bytes=w_bytes, kv_bytes=kv_bytes, decode=True)
    bw_up = hw.scale_up_bw_bytes_per_s * eff.scale_up_fraction
    bw_out = hw.scale_out_bw_bytes_per_s * eff.scale_out_fraction
    p2p = np.where(pp > 1, col.p2p_time(T * model.d_model * ACT_BYTES, tp * pp <= hw.scale_up_domain, bw_up,
                                        bw_out, eff.collective_latency_s), 0.0)
    t = pp * (st["time_s"] + p2p) + engine_param(eff, "step_overhead_s") \
        + np.asarray(batch, dtype=float) / dp_attn * engine_param(eff, "seq_overhead_s")
    return {"time_s": t, **{k: pp * v for k, v in st.items() if k != "time_s"}}


def prefill_time(model: Columns, hw: Columns, eff: Columns, *, tp: A, pp: A, ep: A, batch: A, input_len: A,
                 w_bytes: A, kv_bytes: A, chunk: A = np.inf, weight_floor: A = True, dp_attn: A = 1.0) -> A:
    """Seconds to prefill ``batch`` prompts of ``input_len`` tokens, in chunks of ``chunk`` tokens per prompt.

    ``n_c = ⌈I/C⌉`` passes of ``B·C`` tokens; chunk ``j`` attends on average to ``j·C + (C + 1)/2`` keys,
    i.e. ``(I + 1)/2`` over the whole prompt when ``C ≥ I``. With ``pp`` stages the micro-batches fill the
    pipeline: ``(pp − 1 + n_micro)`` stage slots of one micro-batch each. With attention data parallelism the
    prompts are spread over the ``dp_attn`` groups."""
    B = np.maximum(np.asarray(batch, dtype=float) / dp_attn, 1.0)
    I_ = np.asarray(input_len, dtype=float)
    C = np.minimum(np.asarray(chunk, dtype=float), I_)
    n_c = np.ceil(I_ / C)
    mean_ctx = (n_c - 1) / 2 * C + (C + 1) / 2  # mean over chunks of j·C + (C+1)/2
    n_micro = np.minimum(pp, B)
    b = B / n_micro
    st = stage_pass(model, hw, eff, tp=tp, pp=pp, ep=ep, tokens=b * C, logits=b, attn_ctx=mean_ctx,
                    kv_tokens=b * (mean_ctx + C / 2), w_bytes=w_bytes, kv_bytes=kv_bytes,
                    weight_floor=weight_floor)
    bw_up = hw.scale_up_bw_bytes_per_s * eff.scale_up_fraction
    bw_out = hw.scale_out_bw_bytes_per_s * eff.scale_out_fraction
    p2p = np.where(pp > 1, col.p2p_time(b * C * model.d_model * ACT_BYTES, tp * pp <= hw.scale_up_domain,
                                        bw_up, bw_out, eff.collective_latency_s), 0.0)
    return n_c * (pp - 1 + n_micro) * (st["time_s"] + p2p) + engine_param(eff, "step_overhead_s")


def memory(model: Columns, hw: Columns, *, tp: A, pp: A, w_bytes: A, kv_bytes: A, batch: A, seq_tokens: A,
           ep: A = 1.0, dp_attn: A = 1.0, eff: Columns | None = None) -> dict[str, A]:
    """Bytes per accelerator: weights, activation workspace, KV cache for ``batch`` sequences (per replica of
    ``tp·pp·dp_attn`` accelerators) × ``seq_tokens``.

    Usable HBM = ``hbm − MEMORY_RESERVED_BYTES`` (CUDA context, communication buffers; serving engines allocate
    one pool up front, so there is no training-style fragmentation allowance). The KV pool follows the engine's
    rule (``eff`` carries its profile): a share ``f`` of what weights and workspace leave (TensorRT-LLM's
    ``kv_cache_free_gpu_mem_fraction``; ``KV_FREE_FRACTION`` without a profile), or ``f·hbm`` minus weights and
    workspace (vLLM ``gpu_memory_utilization``, SGLang ``mem_fraction_static``). Sequences hold whole paged-KV
    blocks: ``⌈s/block⌉·block`` tokens each. ``max_batch`` is how many sequences a replica's pools hold (each
    attention group keeps the KV of its own sequences)."""
    m = model
    e = eff if eff is not None else Columns()
    frac = engine_param(e, "kv_memory_fraction")
    free_basis = engine_param(e, "kv_basis_free") > 0
    block = engine_param(e, "kv_block_tokens")
    budget = engine_param(e, "max_num_batched_tokens")
    w = weight_bytes_per_gpu(m, w_bytes, tp, pp, ep)
    ws = budget * ACT_BYTES * (6 * m.d_model + 2 * np.maximum(dense_d_ff(m), m.d_ff) / tp)
    usable = hw.hbm_bytes - tuned.value("training", "memory_reserved_bytes")
    pool = np.where(free_basis, np.maximum(usable - w - ws, 0.0) * frac,
                    np.maximum(np.minimum(frac * hw.hbm_bytes, usable) - w - ws, 0.0))
    seq = np.ceil(np.asarray(seq_tokens, dtype=float) / block) * block
    per_seq = kv_bytes_per_token(m, kv_bytes, tp, pp) * seq
    kv = per_seq * np.asarray(batch, dtype=float) / dp_attn
    total = w + ws + kv
    return {"weights_bytes": w, "workspace_bytes": ws, "kv_bytes": kv, "total_bytes": total,
            "capacity_bytes": usable, "kv_pool_bytes": pool, "max_batch": np.floor(pool / per_seq) * dp_attn,
            "fits": (kv <= pool) & (w + ws < usable),
            "shortfall_bytes": np.maximum(kv - pool, 0.0) / np.where(free_basis, frac, 1.0)
            + np.maximum(w + ws - usable, 0.0)}


def _spec(draft_len: A, accept: A) -> tuple[A, A]:
    k = np.asarray(draft_len, dtype=float)
    a = np.clip(np.asarray(accept, dtype=float), 0.0, 0.999999)
    gain = np.where(k > 0, (1 - a ** (k + 1)) / (1 - a), 1.0)
    return k, gain


def _decode_tpot(model: Columns, hw: Columns, eff: Columns, *, tp: A, pp: A, ep: A, batch: A, ctx: A,
                 w_bytes: A, kv_bytes: A, draft_len: A, accept: A, draft_cost_ratio: A | None,
                 dp_attn: A = 1.0) -> tuple[A, A]:
    """(seconds per output token per sequence, seconds per iteration) with optional speculation; a draft token
    costs ``draft_cost_ratio`` plain decode steps (None: the catalog's ``engine_constants.serving``)."""
    k, gain = _spec(draft_len, accept)
    kw = dict(tp=tp, pp=pp, ep=ep, batch=batch, ctx=ctx, w_bytes=w_bytes, kv_bytes=kv_bytes, dp_attn=dp_attn)
    it = decode_iteration(model, hw, eff, q=1 + k, **kw)["time_s"]
    if not np.any(k):  # no speculation anywhere: the verify step is the plain decode step
        return it, it
    base = decode_iteration(model, hw, eff, **kw)["time_s"]
    if draft_cost_ratio is None:
        draft_cost_ratio = tuned.value("serving", "draft_cost_ratio")
    t_iter = it + k * draft_cost_ratio * base
    return t_iter / gain, t_iter


def serve(model: Columns, hw: Columns, eff: Columns, *, mode: A, tp: A, pp: A, ep: A, input_len: A,
          output_len: A, batch: A = np.nan, num_requests: A = np.nan, slo_ttft_s: A = np.inf,
          slo_tpot_s: A = np.inf, w_bytes: A = 2.0, kv_bytes: A = 2.0, chunk: A = np.inf, draft_len: A = 0.0,
          accept: A = 0.0, draft_cost_ratio: A | None = None, max_batch: A | None = None, dp_attn: A = 1.0,
          qps: A = np.nan) -> dict[str, A]:
    """Throughput and latency of each configuration in its mode (see the module docstring).

    All arguments broadcast. ``mode`` holds ``MODES`` codes. ``batch`` is used by ``static_batch``, is the
    concurrency of ``concurrency`` and the running batch of ``decode_only`` (and caps the batch of the other
    modes when finite). The scheduler cap is ``max_batch`` or the engine's ``max_num_seqs``. Returns seconds and
    tokens/s per accelerator: ``ttft_s`` (p99 under in-flight batching), ``ttft_p50_s``, ``tpot_s`` (NaN where not
    defined), ``output_tokens_per_s_per_gpu``, ``batch``, ``memory_per_gpu_bytes``, ``fits``, ``shortfall_bytes``,
    ``max_batch_memory``, ``slo_met``, ``best_ttft_s`` / ``best_tpot_s`` (the lowest reachable, for SLO messages).
    """
    m = model
    mode = np.asarray(mode, dtype=float)
    I_ = np.asarray(input_len, dtype=float)
    O = np.asarray(output_len, dtype=float)
    dp = np.asarray(dp_attn, dtype=float)
    n_gpu = tp * pp * dp
    common = dict(tp=tp, pp=pp, ep=ep, w_bytes=w_bytes, kv_bytes=kv_bytes, dp_attn=dp)
    spec = dict(draft_len=draft_len, accept=accept, draft_cost_ratio=draft_cost_ratio)
    mem_kw = dict(tp=tp, pp=pp, ep=ep, dp_attn=dp, w_bytes=w_bytes, kv_bytes=kv_bytes, eff=eff)
    mem_cap = memory(m, hw, batch=1.0, seq_tokens=I_ + O, **mem_kw)
    sched = engine_param(eff, "max_num_seqs") * dp if max_batch is None else max_batch
    cap = np.minimum(mem_cap["max_batch"], sched)
    given_b = np.asarray(batch, dtype=float)
    n_req = np.asarray(num_requests, dtype=float)

    nan = np.full(np.broadcast(mode, I_, O, n_gpu).shape, np.nan)
    has = {k: bool(np.any(mode == c)) for k, c in MODES.items()}  # evaluate only the modes asked for
    # latency: batch 1
    ttft1 = tpot1 = nan
    if has["latency"]:
        ttft1 = prefill_time(m, hw, eff, batch=1.0, input_len=I_, chunk=chunk, **common)
        tpot1, _ = _decode_tpot(m, hw, eff, batch=1.0, ctx=I_ + O / 2, **common, **spec)

    # static batch: B given
    # A batch given everywhere keeps its own (smaller) shape, so prefill is not broadcast over output lengths.
    Bs = given_b if np.all(np.isfinite(given_b)) else np.where(np.isfinite(given_b), given_b, np.maximum(cap, 1.0))
    ttft_s = tpot_s = thr_s = nan
    if has["static_batch"]:
        ttft_s = prefill_time(m, hw, eff, batch=Bs, input_len=I_, chunk=chunk, **common)
        tpot_s, _ = _decode_tpot(m, hw, eff, batch=Bs, ctx=I_ + O / 2, **common, **spec)
        thr_s = Bs * O / (ttft_s + np.maximum(O - 1, 0) * tpot_s) / n_gpu
        # A batch larger than the KV pool holds runs in waves: the scheduler admits what the pool holds (reserving
        # I + O tokens each, TensorRT-LLM's guaranteed_no_evict) and the rest once those finish; vLLM preempts and
        # recomputes instead, which costs at least as much (AMD ROCm blog, Jan 2025: "KV cache evict" on H100 for
        # Llama 3.1 405B at 2k/2k and large batches). Evaluated only where a batch overflows.
        shape = np.broadcast(thr_s, mem_cap["max_batch"]).shape
        over = np.broadcast_to(Bs > np.maximum(mem_cap["max_batch"], 1.0), shape)
        if over.any():
            ttft_s, tpot_s, thr_s = (np.array(np.broadcast_to(x, shape)) for x in (ttft_s, tpot_s, thr_s))

            def sub(x: A) -> A:
                return np.broadcast_to(np.asarray(x, dtype=float), shape)[over] if np.ndim(x) else x

            ms, hs, es = (Columns({k: sub(v) for k, v in c.items()}) for c in (m, hw, eff))
            cs = {k: sub(v) for k, v in common.items()}
            ss = {k: sub(v) for k, v in spec.items()}
            B_o, I_o, O_o = sub(Bs), sub(I_), sub(O)
            # n = ⌈B/C⌉ equal waves of B/n: the step time is close to affine in the batch, so this takes what a
            # full wave of C and one of the rest take, at half the evaluations.
            n_w = np.ceil(B_o / np.maximum(sub(mem_cap["max_batch"]), 1.0))
            wave = B_o / n_w
            t_w = prefill_time(ms, hs, es, batch=wave, input_len=I_o, chunk=sub(chunk), **cs)
            d_w = _decode_tpot(ms, hs, es, batch=wave, ctx=I_o + O_o / 2, **cs, **ss)[0]
            t_batch = n_w * (t_w + np.maximum(O_o - 1, 0) * d_w)
            ttft_s[over], tpot_s[over] = t_w, d_w
            thr_s[over] = B_o * O_o / t_batch / sub(n_gpu)

    # offline: largest batch the KV pool and the scheduler allow; concurrency: the client's concurrency, capped
    # the same way (a closed loop keeps C requests in flight: in-flight batching at B = C)
    Bo = np.maximum(np.fmin(np.fmin(cap, n_req), np.where(np.isfinite(given_b), given_b, np.inf)), 1.0)
    tpot_o = thr_o = ttft_o = ttft_o50 = nan
    if has["offline_max_throughput"] or has["concurrency"]:
        pt = inflight_point(m, hw, eff, batch=Bo, input_len=I_, output_len=O, chunk=chunk, qps=qps, **common,
                            **spec)
        tpot_o, thr_o = pt["tpot_s"], pt["output_tokens_per_s"] / n_gpu
        ttft_o, ttft_o50 = pt["ttft_p99_s"], pt["ttft_p50_s"]

    # decode only (the decode servers of a disaggregated deployment): B running sequences at context I + O/2
    tpot_d = thr_d = nan
    if has["decode_only"]:
        Bd = np.maximum(np.where(np.isfinite(given_b), np.minimum(given_b, mem_cap["max_batch"]), cap), 1.0)
        tpot_d, _ = _decode_tpot(m, hw, eff, batch=Bd, ctx=I_ + O / 2, **common, **spec)
        thr_d = Bd / tpot_d / n_gpu

    thr_q = B_q = ttft_q = tpot_q = best_ttft = best_tpot = nan
    slo_met = np.ones(nan.shape, bool)
    if has["server_slo"]:
        # server under SLO: grid of batches from 1 to the cap, queueing model for TTFT
        G = 40
        frac = np.geomspace(1.0 / 4096, 1.0, G)
        shape = np.broadcast(Bo, I_, O, mode).shape
        capb = np.broadcast_to(np.maximum(np.where(np.isfinite(n_req), np.fmin(cap, n_req), cap), 1.0), shape)
        grid = np.maximum(np.round(capb[..., None] * frac), 1.0)

        def ex(x: A) -> A:
            x = np.asarray(x, dtype=float)
            return np.broadcast_to(x, shape)[..., None] if x.ndim else x

        mg = Columns({k: ex(v) for k, v in m.items()})
        hg = Columns({k: ex(v) for k, v in hw.items()})
        eg = Columns({k: ex(v) for k, v in eff.items()})
        pt = inflight_point(mg, hg, eg, batch=grid, input_len=ex(I_), output_len=ex(O), chunk=ex(chunk),
                            **{k: ex(v) for k, v in common.items()}, **{k: ex(v) for k, v in spec.items()})
        ttft_g, tpot_g = pt["ttft_p99_s"], pt["tpot_s"]
        ok = (ttft_g <= ex(slo_ttft_s)) & (tpot_g <= ex(slo_tpot_s))
        thr_g = np.where(ok, pt["output_tokens_per_s"], -1.0)
        j = np.argmax(thr_g, axis=-1)[..., None]
        pick = lambda a: np.take_along_axis(a, j, axis=-1)[..., 0]  # noqa: E731
        slo_met = pick(thr_g) > 0
        thr_q = np.where(slo_met, pick(thr_g), np.nan) / n_gpu
        B_q, ttft_q, tpot_q = pick(grid), pick(ttft_g), pick(tpot_g)

        best_ttft, best_tpot = np.min(ttft_g, axis=-1), np.min(tpot_g, axis=-1)

    conds = [mode == MODES["latency"], mode == MODES["static_batch"], mode == MODES["offline_max_throughput"],
             mode == MODES["concurrency"], mode == MODES["decode_only"]]

    def sel(lat: A, st: A, off: A, conc: A, dec: A, srv: A) -> A:
        out = srv
        for c, x in zip(conds[::-1], (dec, conc, off, st, lat), strict=True):
            out = np.where(c, x, out)
        return out

    B = sel(1.0, Bs, Bo, Bo, np.where(np.isfinite(given_b), given_b, cap), B_q)
    # a static batch holds at most one wave's KV at a time
    B_mem = np.where(mode == MODES["static_batch"], np.maximum(np.minimum(B, mem_cap["max_batch"]), 1.0), B)
    mem = memory(m, hw, batch=B_mem, seq_tokens=I_ + O, **mem_kw)
    thr1 = 1.0 / (ttft1 + np.maximum(O - 1, 0) * tpot1) * O / n_gpu
    return {
        "ttft_s": sel(ttft1, ttft_s, np.nan, ttft_o, np.nan, ttft_q),
        "ttft_p50_s": sel(ttft1, ttft_s, np.nan, ttft_o50, np.nan, np.nan),
        "tpot_s": sel(np.where(O > 1, tpot1, np.nan), tpot_s, tpot_o, tpot_o, tpot_d, tpot_q),
        "output_tokens_per_s_per_gpu": sel(thr1, thr_s, thr_o, thr_o, thr_d, thr_q),
        "batch": B,
        "memory_per_gpu_bytes": mem["total_bytes"],
        "fits": mem["fits"],
        "shortfall_bytes": mem["shortfall_bytes"],
        "max_batch_memory": mem_cap["max_batch"],
        "slo_met": np.where(mode == MODES["server_slo"], slo_met, True),
        "best_ttft_s": best_ttft,
        "best_tpot_s": best_tpot,
        "n_gpu": n_gpu * np.ones(nan.shape),
    }


def _cycle(m: Columns, hw: Columns, eff: Columns, B: A, I_: A, O: A, common: dict, spec: dict
           ) -> tuple[A, A, A]:
    """In-flight batching steady state: (cycle seconds, seconds per output token, decode iteration s).

    New prompts' prefill rides in the decode iterations in passes of up to the engine's
    ``max_num_batched_tokens`` (compute only: the weights are read by the decode pass anyway), so every running
    request's TPOT includes its share of the others' prefill chunks: ``TPOT = t_cycle / O``."""
    tpot, t_dec = _decode_tpot(m, hw, eff, batch=B, ctx=I_ + O / 2, **common, **spec)
    budget = engine_param(eff, "max_num_batched_tokens")
    per_pass = np.maximum(np.floor(budget / I_), 1.0)
    chunk = np.minimum(I_, budget)
    n_pass = np.ceil(B / per_pass)
    t_pf = n_pass * (prefill_time(m, hw, eff, batch=np.minimum(per_pass, B), input_len=I_, chunk=chunk,
                                  weight_floor=False, **common) - engine_param(eff, "step_overhead_s"))
    cyc = O * tpot + t_pf
    return cyc, cyc / O, t_dec


def queue_wait(rho: A, service_s: A, q: float) -> A:
    """Waiting time at quantile ``q`` of an M/D/1 queue with utilisation ``rho`` and service ``service_s``.

    Mean (Pollaczek–Khinchine) ``W̄ = ρ·s/(2(1 − ρ))``; the tail is taken exponential with the probability of
    waiting ρ: ``W_q = W̄/ρ · ln(ρ/(1 − q))`` (zero when ``ρ ≤ 1 − q``); infinite at ``ρ ≥ 1``."""
    rho = np.asarray(rho, dtype=float)
    w_mean = rho * service_s / (2 * np.maximum(1 - rho, 1e-9))
    tail = np.log(np.maximum(rho / (1 - q), 1.0))
    return np.where(rho < 1, w_mean / np.maximum(rho, 1e-12) * tail, np.inf)


def inflight_point(model: Columns, hw: Columns, eff: Columns, *, tp: A, pp: A, ep: A, batch: A, input_len: A,
                   output_len: A, w_bytes: A, kv_bytes: A, chunk: A = np.inf, draft_len: A = 0.0,
                   accept: A = 0.0, draft_cost_ratio: A | None = None, dp_attn: A = 1.0, qps: A = np.nan
                   ) -> dict[str, A]:
    """Steady state of in-flight batching at ``batch`` running sequences, with the queueing model for TTFT.

    The arrival rate is ``qps`` per replica when given (open loop), else the rate the batch sustains,
    ``λ = B / t_cycle``. Prefill is an M/D/1 queue whose server is busy ``ρ = λ·t_prefill(1 request)``;
    TTFT at quantile q = ``t_prefill + t_decode + W_q`` (``queue_wait``). Returns per replica
    (``tp·pp·dp_attn`` accelerators): ``output_tokens_per_s``, ``requests_per_s``, ``tpot_s``, ``ttft_p99_s``,
    ``ttft_p50_s``, ``utilisation`` (prefill queue ρ), ``capacity_requests_per_s`` (``B / t_cycle``).
    """
    common = dict(tp=tp, pp=pp, ep=ep, w_bytes=w_bytes, kv_bytes=kv_bytes, dp_attn=dp_attn)
    spec = dict(draft_len=draft_len, accept=accept, draft_cost_ratio=draft_cost_ratio)
    B = np.asarray(batch, dtype=float)
    O = np.asarray(output_len, dtype=float)
    cyc, tpot, t_dec = _cycle(model, hw, eff, B, input_len, O, common, spec)
    cap_rate = B / cyc
    q = np.asarray(qps, dtype=float)
    lam = np.where(np.isfinite(q), q, cap_rate)
    budget = engine_param(eff, "max_num_batched_tokens")
    t_pf = prefill_time(model, hw, eff, batch=1.0, input_len=input_len, chunk=np.fmin(chunk, budget), **common)
    rho = lam * t_pf
    # Beyond the batch's capacity the queue grows without bound, whatever the prefill server's load.
    over = np.isfinite(q) & (q >= cap_rate)
    ttft99 = np.where(over, np.inf, t_pf + t_dec + queue_wait(rho, t_pf, 0.99))
    ttft50 = np.where(over, np.inf, t_pf + t_dec + queue_wait(rho, t_pf, 0.50))
    out_rate = np.minimum(lam, cap_rate) * O
    return {"output_tokens_per_s": out_rate, "requests_per_s": np.minimum(lam, cap_rate), "tpot_s": tpot,
            "ttft_p99_s": ttft99, "ttft_p50_s": ttft50, "utilisation": rho, "capacity_requests_per_s": cap_rate}


def kv_transfer_bytes(model: Columns, kv_bytes: A, input_len: A) -> A:
    """Bytes of KV cache one request hands from a prefill to a decode instance: every layer's K/V (or MLA
    latent) for its ``input_len`` prompt tokens, counted once (``kv_bytes_per_token`` at tp 1)."""
    return kv_bytes_per_token(model, kv_bytes, 1.0, 1.0) * np.asarray(input_len, dtype=float)


def disaggregated(model: Columns, hw: Columns, eff: Columns, *, n_prefill: A, n_decode: A, prefill_tp: A,
                  prefill_pp: A = 1.0, prefill_ep: A = 1.0, prefill_dp_attn: A = 1.0, tp: A, pp: A, ep: A,
                  dp_attn: A = 1.0, batch: A, input_len: A, output_len: A, w_bytes: A, kv_bytes: A,
                  draft_len: A = 0.0, accept: A = 0.0, draft_cost_ratio: A | None = None) -> dict[str, A]:
    """Prefill/decode disaggregation: ``n_prefill`` prefill instances and ``n_decode`` decode instances, the KV
    cache of each request sent from one to the other over the scale-out fabric (DistServe, Zhong et al. 2024,
    https://arxiv.org/abs/2401.09670; SGLang/Mooncake PD disaggregation).

    * A prefill instance (``prefill_tp·prefill_pp·prefill_dp_attn`` accelerators) runs prompts in passes of
      the engine's ``max_num_batched_tokens`` (``⌊budget/I⌋`` prompts, at least one):
      ``λ_p = n_prefill · per_pass / t_prefill(per_pass)`` requests/s.
    * A decode instance keeps ``batch`` sequences at context ``I + O/2``: ``λ_d = n_decode · B / (O · TPOT(B))``.
    * The KV transfer moves ``kv_transfer_bytes`` per request; each side's accelerators send or receive at
      ``scale_out_bw · scale_out_fraction``: ``λ_kv = min(sender, receiver bandwidth) / bytes``. Transfers overlap
      computation (layer-wise or chunked sends), so they limit the rate only when the fabric saturates.

    The deployment serves ``λ = min(λ_p, λ_d, λ_kv)`` requests/s; output tokens/s per accelerator
    ``= λ·O / (n_prefill·g_p + n_decode·g_d)``. TTFT = one prefill pass + one transfer + one decode step.
    ``bottleneck``: 0 prefill, 1 decode, 2 KV transfer."""
    m = model
    I_ = np.asarray(input_len, dtype=float)
    O = np.asarray(output_len, dtype=float)
    g_p = np.asarray(prefill_tp, dtype=float) * prefill_pp * prefill_dp_attn
    g_d = np.asarray(tp, dtype=float) * pp * dp_attn
    budget = engine_param(eff, "max_num_batched_tokens")
    per_pass = np.maximum(np.floor(budget / I_), 1.0) * prefill_dp_attn
    pkw = dict(tp=prefill_tp, pp=prefill_pp, ep=prefill_ep, dp_attn=prefill_dp_attn, w_bytes=w_bytes,
               kv_bytes=kv_bytes, chunk=np.minimum(I_, budget))
    t_pass = prefill_time(m, hw, eff, batch=per_pass, input_len=I_, **pkw)
    t_first = prefill_time(m, hw, eff, batch=1.0, input_len=I_, **pkw)
    rate_p = n_prefill * per_pass / t_pass
    B = np.maximum(np.asarray(batch, dtype=float), 1.0)
    tpot, t_step = _decode_tpot(m, hw, eff, tp=tp, pp=pp, ep=ep, batch=B, ctx=I_ + O / 2, w_bytes=w_bytes,
                                kv_bytes=kv_bytes, draft_len=draft_len, accept=accept,
                                draft_cost_ratio=draft_cost_ratio, dp_attn=dp_attn)
    rate_d = n_decode * B / (O * tpot)
    link = hw.scale_out_bw_bytes_per_s * eff.scale_out_fraction
    kv_req = kv_transfer_bytes(m, kv_bytes, I_)
    bw_kv = np.minimum(n_prefill * g_p, n_decode * g_d) * link
    rate_kv = bw_kv / kv_req
    rate = np.minimum(np.minimum(rate_p, rate_d), rate_kv)
    bott = np.where(rate == rate_p, 0, np.where(rate == rate_d, 1, 2))
    t_kv = kv_req / (g_p * link)
    return {"requests_per_s": rate, "output_tokens_per_s_per_gpu": rate * O / (n_prefill * g_p + n_decode * g_d),
            "prefill_requests_per_s": rate_p, "decode_requests_per_s": rate_d, "kv_requests_per_s": rate_kv,
            "kv_transfer_bytes": kv_req, "kv_transfer_s": t_kv, "ttft_s": t_first + t_kv + t_step,
            "tpot_s": tpot, "bottleneck": bott, "n_gpu": n_prefill * g_p + n_decode * g_d}
