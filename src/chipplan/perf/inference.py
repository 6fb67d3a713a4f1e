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
https://arxiv.org/abs/2211.17192); the draft costs ``k · draft_cost_ratio`` target decode iterations.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chipplan.perf import collectives as col
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
from chipplan.perf.training import MEMORY_RESERVED_BYTES

A = Any

MODES = {"latency": 0, "static_batch": 1, "offline_max_throughput": 2, "server_slo": 3}
ACT_BYTES = 2.0  # activations travel and are stored in 16 bits
# Host-side cost per decode iteration (scheduler, sampling, CUDA-graph launch). Estimate: TensorRT-LLM
# and vLLM report 0.1-0.5 ms of CPU time per iteration with CUDA graphs (vLLM v0.6 blog "Performance
# update", 2024, https://blog.vllm.ai/2024/09/05/perf-update.html). Proposed as a per-family efficiency
# `step_overhead_s`; a module constant until then.
STEP_OVERHEAD_S = 2.0e-4
# One-shot/two-shot all-reduce kernels: about two collective steps of latency.
SERVING_AR_STEPS = 2.0
# Decode runs as a replayed CUDA graph: ~10 kernels per layer at ~1 µs of launch/tail each, instead of the
# family's eager ``kernel_overhead_s`` (which prefill pays). Estimate; proposed as a per-family
# `decode_layer_overhead_s`.
DECODE_LAYER_OVERHEAD_S = 1.0e-5
# Prefill runs eagerly (no CUDA graph): per layer, a dozen kernel launches, the tensor-parallel all-reduce
# latencies and the scheduler's share. TensorRT-LLM's batch-1 time to first token for 128-token prompts
# (shared/validation inference table) exceeds the roofline by 2.5-19 ms on 32-80-layer models, i.e.
# ~0.1-0.2 ms per layer; 0.15 ms taken. Estimate, independent of the training engine's per-family value.
PREFILL_LAYER_OVERHEAD_S = 1.5e-4
# TensorRT-LLM defaults: kv_cache_free_gpu_mem_fraction 0.9 of the memory left after weights and
# activations; max_batch_size 2048, max_num_tokens 8192 (TensorRT-LLM docs, "Tuning max batch size and
# max num tokens", 2024-2025).
KV_FREE_FRACTION = 0.90
MAX_BATCH_SIZE = 2048.0
MAX_NUM_TOKENS = 8192.0
# Weights in 8 bits or fewer, as float (FP8/FP4) or INT8, keep the KV cache in FP8 (TensorRT-LLM and vLLM
# FP8 checkpoints ship FP8 KV scales); otherwise it stays in the 16-bit activation format.
KV_8BIT = ("fp8", "fp4", "int8")


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


def weight_bytes_per_gpu(model: Columns, w_bytes: A, tp: A, pp: A) -> A:
    """All weights stored on one accelerator: total parameters ÷ (tp·pp) at ``w_bytes`` each.

    Embedding and LM head are vocabulary-parallel; experts are spread over the TP group whatever the
    expert-parallel split (``ep`` ranks hold ``E/ep`` experts each, split ``tp/ep`` ways)."""
    return param_counts(model)["total"] * w_bytes / (tp * pp)


def stage_pass(model: Columns, hw: Columns, eff: Columns, *, tp: A, pp: A, ep: A, tokens: A, logits: A,
               attn_ctx: A, kv_tokens: A, w_bytes: A, kv_bytes: A, weight_floor: A = True,
               layer_overhead_s: A | None = None) -> dict[str, A]:
    """Seconds for one forward pass through one pipeline stage (``L/pp`` layers) on one accelerator.

    Parameters
    ----------
    tokens : new tokens in the pass (all sequences of the micro-batch).
    logits : tokens that go through the LM head (one per sequence; ``tokens`` in decode).
    attn_ctx : mean number of keys each new token attends to.
    kv_tokens : cached tokens whose K/V are read from HBM (all sequences).
    w_bytes, kv_bytes : bytes per weight and per KV element.
    weight_floor : False when the weights are already being read by a concurrent pass (mixed batching),
        so only compute counts.
    layer_overhead_s : fixed cost per layer; ``PREFILL_LAYER_OVERHEAD_S`` when None.
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
    floor = np.asarray(weight_floor, dtype=float)

    attn_p = attention_params_per_layer(m)
    dff = dense_d_ff(m)
    dense_mlp_p = mlp_params(d, dff, m.gated_mlp)
    expert_p = mlp_params(d, m.d_ff, m.gated_mlp)
    qdim = m.n_heads * qk_head_dim(m)

    def gemm(params: A, n_small: A, width: A, flops_params: A | None = None) -> A:
        fp = params if flops_params is None else flops_params
        # The token count enters through the roofline (weights are read once per pass whatever T), so the
        # half-size fall-off applies to the weight dimensions and to the tokens an expert sees.
        t_c = 2 * T * fp / tp / (peak * gemm_efficiency(frac_mm, half, n_small, d, width / tp))
        t_m = floor * params * w_bytes / tp / bw
        return np.maximum(t_c, t_m)

    t_attn_proj = gemm(attn_p, np.inf, qdim)
    t_dense_mlp = gemm(dense_mlp_p, np.inf, dff)
    # MoE: only touched experts are read; each sees T·k/E tokens on average.
    touched = experts_touched(m.n_experts, m.top_k, T)
    tok_per_expert = T * m.top_k / np.maximum(m.n_experts, 1.0)
    moe_read = (touched + m.n_shared_experts) * expert_p + d * m.n_experts
    moe_flops = (m.top_k + m.n_shared_experts) * expert_p + d * m.n_experts
    t_moe_mlp = gemm(moe_read, np.where(m.n_experts > 0, np.maximum(tok_per_expert, 1.0), np.inf), m.d_ff,
                     moe_flops)

    # Attention scores/values (16-bit peak) vs KV-cache read.
    score_flops = 2 * T * m.n_heads / tp * (qk_head_dim(m) + v_head_dim(m)) * attn_ctx
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

    bw_up = hw.scale_up_bw_bytes_per_s * eff.scale_up_fraction
    bw_out = hw.scale_out_bw_bytes_per_s * eff.scale_out_fraction
    k_tp, n_tp = col.group_split(tp, 1.0, hw.scale_up_domain)
    ar_lat = np.where(tp > 1, SERVING_AR_STEPS * eff.collective_latency_s * (1 + np.log2(np.maximum(n_tp, 1))),
                      0.0)
    t_ar = col.all_reduce_time(T * d * ACT_BYTES, k_tp, n_tp, bw_up, bw_out, 0.0) + ar_lat
    k_ep, n_ep = col.group_split(ep, tp / np.maximum(ep, 1.0), hw.scale_up_domain)
    t_a2a = 2 * col.all_to_all_time(T * m.top_k * d * ACT_BYTES, k_ep, n_ep, bw_up, bw_out,
                                    eff.collective_latency_s)
    t_moe_comm = np.where(ep > 1, t_ar + t_a2a, 2 * t_ar)

    ko = PREFILL_LAYER_OVERHEAD_S if layer_overhead_s is None else layer_overhead_s
    layer_dense = t_attn_proj + t_dense_mlp + t_attn + t_elem + ko + 2 * t_ar
    layer_moe = t_attn_proj + t_moe_mlp + t_attn + t_elem + ko + t_moe_comm
    # LM head on the last stage, averaged over the stages (each stage's share of one iteration).
    V = m.vocab_size
    lg = np.asarray(logits, dtype=float)
    t_head = np.maximum(2 * lg * d * V / tp / (peak * gemm_efficiency(frac_mm, half, d, V / tp)),
                        floor * d * V * w_bytes / tp / bw) / pp
    total = Ld * layer_dense + Lm * layer_moe + t_head
    return {
        "time_s": total,
        "gemm_s": Ld * (t_attn_proj + t_dense_mlp) + Lm * (t_attn_proj + t_moe_mlp) + t_head,
        "attention_s": (Ld + Lm) * t_attn,
        "comm_s": Ld * 2 * t_ar + Lm * t_moe_comm,
        "other_s": (Ld + Lm) * (t_elem + ko),
    }


def decode_iteration(model: Columns, hw: Columns, eff: Columns, *, tp: A, pp: A, ep: A, batch: A, ctx: A,
                     w_bytes: A, kv_bytes: A, q: A = 1.0) -> dict[str, A]:
    """One decode iteration for ``batch`` sequences at mean context ``ctx`` (``q`` tokens per sequence).

    ``pp · stage(max(B/pp, 1)) + pp·p2p + STEP_OVERHEAD_S``."""
    b = np.maximum(np.asarray(batch, dtype=float) / pp, 1.0)
    T = b * q
    st = stage_pass(model, hw, eff, tp=tp, pp=pp, ep=ep, tokens=T, logits=T, attn_ctx=ctx, kv_tokens=b * ctx,
                    w_bytes=w_bytes, kv_bytes=kv_bytes, layer_overhead_s=DECODE_LAYER_OVERHEAD_S)
    bw_up = hw.scale_up_bw_bytes_per_s * eff.scale_up_fraction
    bw_out = hw.scale_out_bw_bytes_per_s * eff.scale_out_fraction
    p2p = np.where(pp > 1, col.p2p_time(T * model.d_model * ACT_BYTES, tp * pp <= hw.scale_up_domain, bw_up,
                                        bw_out, eff.collective_latency_s), 0.0)
    t = pp * (st["time_s"] + p2p) + STEP_OVERHEAD_S
    return {"time_s": t, **{k: pp * v for k, v in st.items() if k != "time_s"}}


def prefill_time(model: Columns, hw: Columns, eff: Columns, *, tp: A, pp: A, ep: A, batch: A, input_len: A,
                 w_bytes: A, kv_bytes: A, chunk: A = np.inf, weight_floor: A = True) -> A:
    """Seconds to prefill ``batch`` prompts of ``input_len`` tokens, in chunks of ``chunk`` tokens per prompt.

    ``n_c = ⌈I/C⌉`` passes of ``B·C`` tokens; chunk ``j`` attends on average to ``j·C + (C + 1)/2`` keys,
    i.e. ``(I + 1)/2`` over the whole prompt when ``C ≥ I``. With ``pp`` stages the micro-batches fill the
    pipeline: ``(pp − 1 + n_micro)`` stage slots of one micro-batch each."""
    B = np.asarray(batch, dtype=float)
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
    return n_c * (pp - 1 + n_micro) * (st["time_s"] + p2p) + STEP_OVERHEAD_S


def memory(model: Columns, hw: Columns, *, tp: A, pp: A, w_bytes: A, kv_bytes: A, batch: A, seq_tokens: A
           ) -> dict[str, A]:
    """Bytes per accelerator: weights, activation workspace, KV cache for ``batch`` × ``seq_tokens``.

    Usable HBM = ``hbm − MEMORY_RESERVED_BYTES`` (CUDA context, NCCL buffers; serving engines allocate one
    pool up front, so there is no training-style fragmentation allowance); the KV pool gets
    ``KV_FREE_FRACTION`` of what weights and the workspace leave; ``max_batch`` is how many sequences of
    ``seq_tokens`` tokens the pool holds."""
    m = model
    w = weight_bytes_per_gpu(m, w_bytes, tp, pp)
    ws = MAX_NUM_TOKENS * ACT_BYTES * (6 * m.d_model + 2 * np.maximum(dense_d_ff(m), m.d_ff) / tp)
    usable = hw.hbm_bytes - MEMORY_RESERVED_BYTES
    pool = np.maximum(usable - w - ws, 0.0) * KV_FREE_FRACTION
    per_seq = kv_bytes_per_token(m, kv_bytes, tp, pp) * seq_tokens
    kv = per_seq * batch
    total = w + ws + kv
    return {"weights_bytes": w, "workspace_bytes": ws, "kv_bytes": kv, "total_bytes": total,
            "capacity_bytes": usable, "kv_pool_bytes": pool, "max_batch": np.floor(pool / per_seq),
            "fits": (kv <= pool) & (w + ws < usable),
            "shortfall_bytes": np.maximum(kv - pool, 0.0) / KV_FREE_FRACTION + np.maximum(w + ws - usable, 0.0)}


def _spec(draft_len: A, accept: A) -> tuple[A, A]:
    k = np.asarray(draft_len, dtype=float)
    a = np.clip(np.asarray(accept, dtype=float), 0.0, 0.999999)
    gain = np.where(k > 0, (1 - a ** (k + 1)) / (1 - a), 1.0)
    return k, gain


def _decode_tpot(model: Columns, hw: Columns, eff: Columns, *, tp: A, pp: A, ep: A, batch: A, ctx: A,
                 w_bytes: A, kv_bytes: A, draft_len: A, accept: A, draft_cost_ratio: A) -> tuple[A, A]:
    """(seconds per output token per sequence, seconds per iteration) with optional speculation."""
    k, gain = _spec(draft_len, accept)
    it = decode_iteration(model, hw, eff, tp=tp, pp=pp, ep=ep, batch=batch, ctx=ctx, w_bytes=w_bytes,
                          kv_bytes=kv_bytes, q=1 + k)["time_s"]
    if not np.any(k):  # no speculation anywhere: the verify step is the plain decode step
        return it, it
    base = decode_iteration(model, hw, eff, tp=tp, pp=pp, ep=ep, batch=batch, ctx=ctx, w_bytes=w_bytes,
                            kv_bytes=kv_bytes)["time_s"]
    t_iter = it + k * draft_cost_ratio * base
    return t_iter / gain, t_iter


def serve(model: Columns, hw: Columns, eff: Columns, *, mode: A, tp: A, pp: A, ep: A, input_len: A,
          output_len: A, batch: A = np.nan, num_requests: A = np.nan, slo_ttft_s: A = np.inf,
          slo_tpot_s: A = np.inf, w_bytes: A = 2.0, kv_bytes: A = 2.0, chunk: A = np.inf, draft_len: A = 0.0,
          accept: A = 0.0, draft_cost_ratio: A = 0.05, max_batch: A = MAX_BATCH_SIZE) -> dict[str, A]:
    """Throughput and latency of each configuration in its mode (see the module docstring).

    All arguments broadcast. ``mode`` holds ``MODES`` codes. ``batch`` is used by ``static_batch`` (and
    caps the batch of the other modes when finite). Returns seconds and tokens/s per accelerator:
    ``ttft_s``, ``tpot_s`` (NaN where not defined), ``output_tokens_per_s_per_gpu``, ``batch``,
    ``memory_per_gpu_bytes``, ``fits``, ``shortfall_bytes``, ``max_batch_memory``, ``slo_met``,
    ``best_ttft_s`` / ``best_tpot_s`` (the lowest reachable, for SLO messages).
    """
    m = model
    mode = np.asarray(mode, dtype=float)
    I_ = np.asarray(input_len, dtype=float)
    O = np.asarray(output_len, dtype=float)
    n_gpu = tp * pp
    common = dict(tp=tp, pp=pp, ep=ep, w_bytes=w_bytes, kv_bytes=kv_bytes)
    spec = dict(draft_len=draft_len, accept=accept, draft_cost_ratio=draft_cost_ratio)
    mem_cap = memory(m, hw, tp=tp, pp=pp, w_bytes=w_bytes, kv_bytes=kv_bytes, batch=1.0, seq_tokens=I_ + O)
    cap = np.minimum(mem_cap["max_batch"], max_batch)
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

    # offline: largest batch the KV pool and the scheduler allow
    Bo = np.maximum(np.fmin(np.fmin(cap, n_req), np.where(np.isfinite(given_b), given_b, np.inf)), 1.0)
    tpot_o = thr_o = nan
    if has["offline_max_throughput"]:
        cyc_o, tpot_o, _ = _cycle(m, hw, eff, Bo, I_, O, common, spec)
        thr_o = Bo * O / cyc_o / n_gpu

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

    lat, st, off = mode == 0, mode == 1, mode == 2
    sel = lambda a, b, c, d: np.where(lat, a, np.where(st, b, np.where(off, c, d)))  # noqa: E731
    B = sel(1.0, Bs, Bo, B_q)
    mem = memory(m, hw, tp=tp, pp=pp, w_bytes=w_bytes, kv_bytes=kv_bytes, batch=B, seq_tokens=I_ + O)
    return {
        "ttft_s": sel(ttft1, ttft_s, np.nan, ttft_q),
        "tpot_s": sel(np.where(O > 1, tpot1, np.nan), tpot_s, tpot_o, tpot_q),
        "output_tokens_per_s_per_gpu": sel(1.0 / (ttft1 + np.maximum(O - 1, 0) * tpot1) * O / n_gpu, thr_s,
                                           thr_o, thr_q),
        "batch": B,
        "memory_per_gpu_bytes": mem["total_bytes"],
        "fits": mem["fits"],
        "shortfall_bytes": mem["shortfall_bytes"],
        "max_batch_memory": mem_cap["max_batch"],
        "slo_met": np.where(mode == 3, slo_met, True),
        "best_ttft_s": best_ttft,
        "best_tpot_s": best_tpot,
        "n_gpu": n_gpu * np.ones(nan.shape),
    }


def _cycle(m: Columns, hw: Columns, eff: Columns, B: A, I_: A, O: A, common: dict, spec: dict
           ) -> tuple[A, A, A]:
    """In-flight batching steady state: (cycle seconds, seconds per output token, decode iteration s)."""
    tpot, t_dec = _decode_tpot(m, hw, eff, batch=B, ctx=I_ + O / 2, **common, **spec)
    # Prefill of B new prompts, in passes of up to MAX_NUM_TOKENS tokens riding in decode iterations
    # (compute only: the weights are read by the decode pass anyway).
    per_pass = np.maximum(np.floor(MAX_NUM_TOKENS / I_), 1.0)
    chunk = np.minimum(I_, MAX_NUM_TOKENS)
    n_pass = np.ceil(B / per_pass)
    t_pf = n_pass * (prefill_time(m, hw, eff, batch=np.minimum(per_pass, B), input_len=I_, chunk=chunk,
                                  weight_floor=False, **common) - STEP_OVERHEAD_S)
    cyc = O * tpot + t_pf
    return cyc, cyc / O, t_dec


def inflight_point(model: Columns, hw: Columns, eff: Columns, *, tp: A, pp: A, ep: A, batch: A, input_len: A,
                   output_len: A, w_bytes: A, kv_bytes: A, chunk: A = np.inf, draft_len: A = 0.0,
                   accept: A = 0.0, draft_cost_ratio: A = 0.05) -> dict[str, A]:
    """Steady state of in-flight batching at ``batch`` running sequences, with the queueing model for TTFT.

    Returns per replica (``tp·pp`` accelerators): ``output_tokens_per_s``, ``requests_per_s``,
    ``tpot_s`` (= p99 TPOT), ``ttft_p99_s``, ``utilisation`` (prefill queue ρ). See the module docstring.
    """
    common = dict(tp=tp, pp=pp, ep=ep, w_bytes=w_bytes, kv_bytes=kv_bytes)
    spec = dict(draft_len=draft_len, accept=accept, draft_cost_ratio=draft_cost_ratio)
    B = np.asarray(batch, dtype=float)
    O = np.asarray(output_len, dtype=float)
    cyc, tpot, t_dec = _cycle(model, hw, eff, B, input_len, O, common, spec)
    lam = B / cyc
    t_pf = prefill_time(model, hw, eff, batch=1.0, input_len=input_len, chunk=np.fmin(chunk, MAX_NUM_TOKENS),
                        **common)
    rho = lam * t_pf
    w_mean = rho * t_pf / (2 * np.maximum(1 - rho, 1e-9))
    w99 = np.where(100 * rho > 1, w_mean * np.log(np.maximum(100 * rho, 1.0)) / np.maximum(rho, 1e-12), 0.0)
    ttft = np.where(rho < 1, t_pf + t_dec + w99, np.inf)
    return {"output_tokens_per_s": B * O / cyc, "requests_per_s": lam, "tpot_s": tpot, "ttft_p99_s": ttft,
            "utilisation": rho}
