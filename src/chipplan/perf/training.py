"""Training step time from physics, vectorised over arrays of configurations.

One micro-batch on one pipeline stage runs, per layer, a forward and a backward pass of

* GEMMs at ``peak · matmul_fraction · n/(n + matmul_half_dim)`` where ``n`` is the GEMM's smallest
  dimension (small matrices cannot fill the matrix units);
* fused attention at ``peak₁₆ · attention_fraction`` (FP8 runs keep attention in BF16, as Transformer
  Engine does), its FLOP counted with the head dimensions padded to a multiple of the systolic matrix unit's side
  (``matrix_unit_width``: 128 on TPU v3-v5p, 256 on v6e and TPU7x; none on GPUs), since the head dimension is the
  contraction of Q·Kᵀ and the output of P·V;
* element-wise work (norms, residuals, RoPE, activation functions, FP8 casts) at
  ``HBM bandwidth · hbm_fraction``;
* for an 8-bit or 4-bit row, the low-precision recipe (``lp_*`` columns from ``chipplan.perf.stacks``): which of
  the forward, data-gradient and weight-gradient GEMMs (and the LM head) run at the matmul precision, the others at
  the 16-bit rate; the casts of each low-precision GEMM's inputs (plus an amax pass under current scaling) and, for
  stacks that quantise weights at every call, the layer's weights once per forward pass;
* a fixed ``kernel_overhead_s``.

Backward costs twice the forward GEMMs and 2.5× the forward attention (FlashAttention's backward
re-computes the scores). Recompute adds a forward (full) or the attention forward (selective).
Communication per layer: tensor-parallel all-gather/reduce-scatter (or all-reduce) of the activations
over the TP group, partly hidden (``tp_overlap``); ring-attention exchange of K/V over the CP group,
hidden behind attention; expert all-to-all (dispatch and combine) over the EP group. The pipeline runs
``n_micro + (pp − 1)/vpp`` micro-batch slots (1F1B with the interleaved bubble of Narayanan et al. 2021,
§2.2), plus point-to-point sends between stages. Data-parallel gradient reduce-scatter / all-reduce and parameter
all-gather follow the ZeRO stage: the gradient reduction hides behind the last micro-batch's backward, the
parameter all-gather behind the next forward (``dp_overlap``), except, for a stack that states its bucket size, the
last gradient bucket and the first parameter bucket (``bucket_exposed``). ZeRO-3 (FSDP) is costed per layer
(``fsdp_exposed``): each layer's parameters are all-gathered before its forward and again before its backward (they
are resharded after the forward), and its gradients reduce-scattered after the backward, every micro-batch; with a
prefetch depth of ``D`` layers the gathers hide behind the compute of the neighbouring layers, so a layer exposes
only what its communication takes beyond that compute, plus the first gather and the last reduce-scatter. An MoE
layer pays a fixed cost per
pass (router, permutation, the host sync of token counts: ``moe_layer_overhead_s``) whatever its number of
local experts, and its expert GEMMs run at the efficiency of the per-expert GEMM shape (tokens per expert ×
d_model × d_ff/tp), so a fine-grained MoE is never faster than a dense model of its active size. MaxText's einsum
MoE path (``moe_einsum_dispatch``) instead pads every expert to its capacity and moves tokens by GShard's one-hot
dispatch and combine einsums, whose FLOP grow with the sequence length (s·k·cf slots per token). Tensors a
stated remat policy offloads to host memory cross the host link twice per layer (``offload_exposed_s``), hidden
behind the neighbouring layer's compute up to that compute. The optimizer step is memory-bound. Collectives are
costed in ``chipplan.perf.collectives``.

Software-stack capabilities (``chipplan.perf.stacks``) enter as optional layout columns: the attention kernels'
share (``attention_ratio``), whether TP and expert communication overlap (``tp_overlap_on``,
``ep_overlap_on``; ``ep_overlap_paired`` for a schedule that pairs micro-batch chunks, DualPipe, under which a
layer's expert all-to-all exposes only what exceeds the paired chunk's compute), the gradient-reduction bytes
(``grad_reduce_bytes``) and the FSDP prefetch depth (``prefetch_depth``); absent columns mean a stack with every
capability; ``dp_bucket_params`` and ``dp_bucket_per_rank`` size the data-parallel buckets (absent: no bucket exposed).

Definitions: MFU = model FLOP (3 × forward, causal attention) per second ÷ dense peak of the matmul
precision; HFU adds the recomputed forward work.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chipplan.perf import collectives as col
from chipplan.perf import tuned
from chipplan.perf.arithmetic import (
    attention_params_per_layer,
    dense_d_ff,
    forward_flops_per_token,
    layer_counts,
    mlp_params,
    param_counts,
    qk_head_dim,
    v_head_dim,
)
from chipplan.perf.columns import Columns
from chipplan.perf.efficiency import (
    gemm_efficiency,
    grouped_gemm_tile_efficiency,
    matmul_fraction,
    matrix_unit_fill,
)
from chipplan.perf.memory import (
    OPTIMIZER_BYTES_PER_PARAM,
    offloaded_bytes_per_layer,
    pipeline_split,
    stage_layers,
    training_memory,
)
from chipplan.perf.stacks import REMAT_COLUMNS

A = Any

# Bytes per element exchanged: activations travel in 16 bits; gradients are reduced in fp32 unless the stack
# says otherwise (``grad_reduce_bytes``: Megatron's default main-grad buffer, torchtitan's default
# mixed_precision_reduce); FSDP (ZeRO-3) gathers 16-bit parameters.
ACT_COMM_BYTES = 2.0
GRAD_REDUCE_BYTES = 4.0
FSDP_BYTES = 2.0
# HBM bytes per capacity slot and token of GShard-style MoE dispatch: MaxText's generate_masks builds a combine mask
# in the activation dtype (2 bytes) and a boolean dispatch mask (1 byte) of batch x seq x experts x capacity
# entries, each written once and read once by its einsum: 2 x (2 + 1) (AI-Hypercomputer/maxtext, MaxText/layers/
# moe.py generate_masks, dense_matmul; tag tpu-recipes-v0.1.2, 2025).
DISPATCH_MASK_BYTES = 6.0
# Optimizer step traffic per fp32 master parameter: read grad (4), read/write master, m, v (24),
# write the 16-bit copy (2).
OPTIMIZER_TRAFFIC_BYTES_PER_PARAM = 30.0
# The tuned numbers (usable share and fixed reserve of HBM, FlashAttention's backward in forward-times) are the
# catalog's (efficiency.yaml ``engine_constants.training``, with their sources), read through chipplan.perf.tuned;
# the old module names still answer.
__getattr__ = tuned.aliases(__name__, {
    "MEMORY_USABLE_FRACTION": ("training", "memory_usable_fraction"),
    "MEMORY_RESERVED_BYTES": ("training", "memory_reserved_bytes"),
    "ATTN_BWD_FACTOR": ("training", "attention_backward_factor")})


def step_time(model: Columns, hw: Columns, lay: Columns, *, global_batch_seqs: A, seq_len: A, eff: Columns
              ) -> dict[str, A]:
    """Seconds per optimizer step and its breakdown, for arrays of configurations.

    Parameters
    ----------
    model : Columns
        Model shape columns (``Model.to_columns``), broadcastable against the others.
    hw : Columns
        ``peak16_flops_per_s``, ``peak_mm_flops_per_s`` (the matmul precision's dense peak),
        ``fp8`` (1 when GEMMs run in FP8), ``hbm_bw_bytes_per_s``, ``hbm_bytes``,
        ``scale_up_bw_bytes_per_s``, ``scale_up_domain``, ``scale_out_bw_bytes_per_s``.
    lay : Columns
        ``tp, pp, dp, cp, ep, vpp, micro_batch, zero_stage, recompute`` (0 none, 1 selective, 2 full),
        ``sequence_parallel``, and optionally ``capacity_factor`` (MoE: routed slots per expert as a multiple of
        the balanced load; tokens are padded to it, so expert GEMMs and all-to-alls grow with it; absent or 1
        means dropless and balanced).
    global_batch_seqs, seq_len : array
        Sequences per optimizer step and tokens per sequence.
    eff : Columns
        Family efficiencies (``chipplan.perf.efficiency.for_families``).
    """
    m = model
    tp, pp, dp, cp, ep, vpp = lay.tp, lay.pp, lay.dp, lay.cp, lay.ep, lay.vpp
    attn_ratio = lay.get("attention_ratio", 1.0)
    tp_overlap = eff.tp_overlap * lay.get("tp_overlap_on", 1.0)
    ep_overlap = eff.ep_overlap * lay.get("ep_overlap_on", 1.0)
    grad_bytes = lay.get("grad_reduce_bytes", GRAD_REDUCE_BYTES)
    prefetch = np.maximum(lay.get("prefetch_depth", 1.0), 1.0)
    mb, rc = lay.micro_batch, lay.recompute
    sp = lay.sequence_parallel > 0
    s = np.asarray(seq_len, dtype=float)
    n_micro = np.asarray(global_batch_seqs, dtype=float) / (dp * mb)
    n_gpu = tp * pp * dp * cp
    T = mb * s / cp  # tokens a rank's micro-batch carries through each layer
    d = m.d_model
    n_dense, n_moe = layer_counts(m)
    cf = np.maximum(lay["capacity_factor"], 1.0) if "capacity_factor" in lay else 1.0
    # MaxText's einsum MoE path (``moe_einsum_dispatch``, sparse_matmul=False): with a capacity factor the tokens
    # reach their experts' capacity slots by one-hot einsums (GShard dispatch/combine, costed below); without one
    # every token runs through every expert ("BSM,EMH->BSEH"), so each token's routed work is E experts' worth.
    einsum = (np.asarray(lay.get("moe_einsum_dispatch", 0.0)) > 0) & (m.n_experts > 0)
    all_experts = einsum & (np.asarray(lay.get("capacity_stated", 0.0)) <= 0)
    k_routed = np.where(all_experts, m.n_experts, m.top_k * cf)
    k_act = k_routed + m.n_shared_experts

    peak_mm = hw.peak_mm_flops_per_s
    peak16 = hw.peak16_flops_per_s
    frac_mm = matmul_fraction(eff, hw)
    mem_bw = hw.hbm_bw_bytes_per_s * eff.hbm_fraction
    bw_up = hw.scale_up_bw_bytes_per_s * eff.scale_up_fraction
    bw_out = hw.scale_out_bw_bytes_per_s * eff.scale_out_fraction
    dom = hw.scale_up_domain
    alpha = eff.collective_latency_s
    half = eff.matmul_half_dim
    # The low-precision recipe (``lp_*`` columns, chipplan.perf.stacks.recipe_columns; absent: every GEMM at the matmul
    # precision, the engine's behaviour without a stack). A GEMM the recipe keeps in 16 bits runs at the family's
    # 16-bit share of the 16-bit peak: ``slow`` times the matmul-precision time (1 for a 16-bit row). ``g_f``, ``g_b``
    # and ``g_h``: a layer's forward GEMMs, its backward (dgrad + wgrad) GEMMs and the LM head's forward GEMM in units
    # of the forward GEMM time at the matmul precision.
    low = np.asarray(hw.fp8) > 0
    slow = np.where(low, peak_mm * frac_mm / (peak16 * np.maximum(eff.matmul_fraction, 1e-30)), 1.0)
    lp = {k: np.asarray(lay.get(k, 1.0 if k in ("lp_fprop", "lp_dgrad", "lp_wgrad", "lp_head") else 0.0), dtype=float)
          for k in ("lp_fprop", "lp_dgrad", "lp_wgrad", "lp_head", "lp_weight_pass", "lp_amax_fwd", "lp_amax_bwd")}

    def in16(flag: str) -> A:
        return 1.0 + (1.0 - lp[flag]) * (slow - 1.0)

    g_f, g_b, g_h = in16("lp_fprop"), in16("lp_dgrad") + in16("lp_wgrad"), in16("lp_head")

    # --- compute, forward, one layer, one micro-batch ---------------------------------------------------
    qdim = m.n_heads * qk_head_dim(m)
    odim = m.n_heads * v_head_dim(m)
    kdim = np.where(m.is_mla > 0, qdim, m.n_kv_heads * m.head_dim)
    vdim = np.where(m.is_mla > 0, odim, m.n_kv_heads * m.head_dim)
    dff_dense = dense_d_ff(m)
    attn_p = attention_params_per_layer(m)
    # A chip whose TensorCores are separate devices (``devices_per_chip``, no megacore) runs each GEMM on its share
    # of the tokens: the GEMM shapes are per device.
    T_dev = T / np.maximum(hw.get("devices_per_chip", 1.0), 1.0)
    t_attn_proj = 2 * T * attn_p / tp / (peak_mm * gemm_efficiency(frac_mm, half, T_dev, d, qdim / tp))
    t_mlp_dense = 2 * T * mlp_params(d, dff_dense, m.gated_mlp) / tp / (
        peak_mm * gemm_efficiency(frac_mm, half, T_dev, d, dff_dense / tp))
    tokens_per_expert = np.where(m.n_experts > 0, T_dev * k_routed * ep / np.maximum(m.n_experts, 1.0), T_dev)
    # The routed experts run as one grouped GEMM over the E/ep local experts; its row tiles that straddle two
    # experts run twice (``grouped_gemm_tile_efficiency``). Shared experts are plain GEMMs. The einsum path runs
    # one batched GEMM per expert over its whole capacity: no shared tiles.
    routed_eff = np.where(einsum, 1.0, grouped_gemm_tile_efficiency(
        T_dev * m.top_k * cf, np.maximum(m.n_experts / ep, 1.0), eff.get("grouped_gemm_tile_rows", 0.0)))
    t_mlp_moe = 2 * T * (k_routed / routed_eff + m.n_shared_experts) * mlp_params(d, m.d_ff, m.gated_mlp) / tp / (
        peak_mm * gemm_efficiency(frac_mm, half, tokens_per_expert, d, m.d_ff / tp))
    # GShard dispatch and combine (Lepikhin et al. 2020, Algorithm 2, https://arxiv.org/abs/2006.16668; MaxText
    # moe.py dense_matmul, "BSM,BSEC->EBCM" and "EBCM,BSEC->BSM"): each sequence is one group of s tokens with
    # E·C = s·k·cf capacity slots, so each einsum costs 2·T·(s·k·cf)·d/tp FLOP on the matrix units, in 16 bits
    # (MaxText keeps dispatch and combine out of quantization). Its GEMM is (s·k·cf) × s × d per sequence.
    slots = np.where(einsum & ~all_experts, s * m.top_k * cf, 0.0)
    t_dispatch = 2 * T * slots * d / tp / (peak16 * gemm_efficiency(eff.matmul_fraction, half, np.maximum(slots, 1.0),
                                                                     s, d / tp))
    ctx = (s + 1) / 2  # causal: each query sees half the sequence on average, whatever the CP split
    # On a systolic matrix unit (``matrix_unit_width``, the TPU MXU side) the scores' contraction (the Q/K head
    # dimension) and the context's output dimension (the V head dimension) are padded to a multiple of the side:
    # each of the two products runs at its padded FLOP (``matrix_unit_fill``); a width of 0 pads nothing.
    mxu = hw.get("matrix_unit_width", 0.0)
    dqk, dv = qk_head_dim(m), v_head_dim(m)
    pqk, pv = dqk / matrix_unit_fill(dqk, mxu), dv / matrix_unit_fill(dv, mxu)
    t_scores = 2 * T * m.n_heads / tp * (pqk + pv) * ctx / (peak16 * eff.attention_fraction * attn_ratio)
    # The backward runs five such products, three over the Q/K head dimension (S again, dQ, dK) and two over the V
    # head dimension (dP, dV), so its padding differs from the forward's when the two dimensions do (MLA's 192/128):
    # the tuned forward-times factor below is rescaled by that ratio, 1 wherever nothing is padded.
    bwd_padding = ((3 * pqk + 2 * pv) / np.maximum(3 * dqk + 2 * dv, 1e-30)) / (
        (pqk + pv) / np.maximum(dqk + dv, 1e-30))
    tp_sp = np.where(sp, tp, 1.0)
    act_w = np.where(m.gated_mlp > 0, 3.0, 2.0)

    def elementwise(width_mlp: A, k: A) -> A:
        elems = 10 * d / tp_sp + 2 * (qdim + kdim) / tp + act_w * width_mlp * k / tp
        return T * 2.0 * elems / mem_bw

    # Quantising the GEMM inputs (FP8/INT8 rows): each low-precision GEMM's activation input is read in 16 bits and
    # written in 8 (3 bytes per element), the backward's output gradients likewise for dgrad and wgrad; a recipe with
    # current (dynamic) scaling first reads each tensor once more for its amax (2 bytes). The forward quantises the
    # inputs of the QKV, output, up/gate and down projections.
    def casts(width_mlp: A, k: A) -> tuple[A, A]:
        ce = np.where(low, T * (2 * d + odim / tp + width_mlp * k / tp), 0.0)
        fwd_c = lp["lp_fprop"] * (3.0 + 2.0 * lp["lp_amax_fwd"]) * ce
        bwd_c = ((lp["lp_dgrad"] + lp["lp_wgrad"]) * 3.0
                 + np.maximum(lp["lp_dgrad"], lp["lp_wgrad"]) * 2.0 * lp["lp_amax_bwd"]) * ce
        return fwd_c / mem_bw, bwd_c / mem_bw

    # A recipe that quantises the weights at every call (JAX/flax and torchao: ``lp_weight_pass``) reads each of the
    # layer's (gathered) weights in 16 bits and writes them in 8 at every forward pass (recomputed forwards too);
    # Transformer Engine keeps the FP8 weight of the first micro-batch for the others (its cost per micro-batch is
    # then negligible and not counted).
    w_bytes = np.where(low, lp["lp_weight_pass"] * np.maximum(lp["lp_fprop"], lp["lp_dgrad"])
                       * (3.0 + 2.0 * lp["lp_amax_fwd"]), 0.0)

    t_elem_dense = elementwise(dff_dense, 1.0)
    c_d = casts(dff_dense, 1.0)
    w_dense = w_bytes * (attn_p + mlp_params(d, dff_dense, m.gated_mlp)) / tp / mem_bw
    # MoE layers also permute tokens to their experts and back (read + write, 16-bit). The local experts run as
    # one grouped GEMM (Megatron-Core moe_grouped_gemm, torchtitan's grouped_mm); the router, the permutation
    # and the device-to-host sync of the token counts that sizes the grouped GEMM and the all-to-all cost a
    # fixed time per MoE layer pass, whatever the number of local experts.
    # The einsum path builds its masks instead (MaxText generate_masks): per token, s·k·cf entries of the 16-bit
    # combine mask and of the boolean dispatch mask, each written once and read by its einsum.
    t_elem_moe = elementwise(m.d_ff, k_act) + np.where(
        einsum, T * slots * DISPATCH_MASK_BYTES, T * m.top_k * d * ACT_COMM_BYTES * 4) / mem_bw
    c_m = casts(m.d_ff, k_act)
    w_moe = w_bytes * (attn_p + (np.maximum(m.n_experts, 0.0) / np.maximum(ep, 1.0) + m.n_shared_experts)
                       * mlp_params(d, m.d_ff, m.gated_mlp)) / tp / mem_bw
    ko = eff.kernel_overhead_s
    ko_moe = ko + eff.get("moe_layer_overhead_s", 0.0)
    attn_bwd = tuned.value("training", "attention_backward_factor") * bwd_padding  # forward-times of the backward

    # A stated remat policy (``remat_<tensor>`` codes, chipplan.perf.stacks.remat_policy) with full recompute:
    # the forward work whose outputs it saves (on the device or offloaded) is not recomputed. jax.checkpoint
    # recomputes only what a VJP needs, so a dense layer's down projection (its output feeds no VJP of the layer)
    # is never recomputed; an MoE layer's is, for the combine's router-weight gradient.
    kept_d = kept_m = 0.0
    if "remat_context" in lay:
        def kept(name: str) -> A:
            return (np.asarray(lay[f"remat_{name}"]) > 0).astype(float)

        proj = (kept("query_proj") * qdim + kept("key_proj") * kdim + kept("value_proj") * vdim
                + kept("out_proj") * odim) / (qdim + kdim + vdim + odim)
        wi_share = np.where(m.gated_mlp > 0, 2.0 / 3.0, 0.5)
        common = proj * t_attn_proj * g_f + kept("context") * t_scores
        stated = np.asarray(lay.get("remat_stated", 1.0)) > 0
        kept_d = np.where(stated, common + (kept("mlpwi") * wi_share + (1 - wi_share)) * t_mlp_dense * g_f, 0.0)
        kept_m = np.where(stated, common + (kept("mlpwi") * wi_share + kept("mlpwo") * (1 - wi_share))
                          * t_mlp_moe * g_f, 0.0)

    def passes(t_gemm: A, t_elem: A, cast: tuple[A, A], t_w: A, ko: A, kept: A) -> tuple[A, A, A]:
        fwd = g_f * t_gemm + t_scores + t_elem + cast[0] + t_w + ko
        bwd = g_b * t_gemm + attn_bwd * t_scores + 2 * t_elem + cast[1] + 2 * ko
        rec = np.where(rc == 2, fwd - kept, np.where(rc == 1, t_scores, 0.0))
        return fwd, bwd, rec

    f_d, b_d, r_d = passes(t_attn_proj + t_mlp_dense, t_elem_dense, c_d, w_dense, ko, kept_d)
    f_m, b_m, r_m = passes(t_attn_proj + t_mlp_moe, t_elem_moe, c_m, w_moe, ko_moe, kept_m)
    # Dispatch and combine: two einsums forward; backward the dispatch's input gradient (its mask is boolean) and
    # the combine's two (its mask carries the router weights), three; recomputed with the forward (no remat policy
    # saves their outputs).
    f_m = f_m + 2 * t_dispatch
    b_m = b_m + 3 * t_dispatch
    r_m = r_m + np.where(rc == 2, 2 * t_dispatch, 0.0)
    # Sorted (grouped) dispatch gathers each device's T·k routed rows by index twice a pass (permute, unpermute),
    # and its backward gathers their gradients by the inverse permutations (MaxText _sort_activations with its
    # custom VJP): on a family whose gathers cost a time per index (``gather_index_s``) beyond their HBM traffic
    # (counted in t_elem_moe), that is 2 × T·k indices forward, 2 backward, 2 more when the forward is recomputed.
    t_gather = np.where(einsum | (m.n_experts <= 0), 0.0, T_dev * m.top_k * cf * eff.get("gather_index_s", 0.0))
    f_m = f_m + 2 * t_gather
    b_m = b_m + 2 * t_gather
    r_m = r_m + np.where(rc == 2, 2 * t_gather, 0.0)
    # LM head and loss (last stage): GEMM plus ~12 bytes of logits traffic per vocabulary entry.
    V = m.vocab_size
    # A recipe that keeps the LM head in 16 bits (``lp_head`` 0) runs its three GEMMs at the 16-bit rate.
    t_head_mm = 2 * T * d * V / tp / (peak_mm * gemm_efficiency(frac_mm, half, T_dev, d, V / tp))
    t_head_elem = T * V / tp * 12 / mem_bw
    head_f = g_h * t_head_mm + t_head_elem
    head_b = 2 * head_f

    # Host offload (a stated remat policy's ``tensor=offload``): each layer's offloaded tensors go to host memory
    # during the forward and come back before its backward, over the host link, overlapped with the compute of the
    # neighbouring layer (the next layer's forward, the previous layer's backward and recompute); a layer exposes
    # what its transfer takes beyond that compute. An MoE layer's mlpwo is the routed tokens' expert output
    # (top_k rows per token), so offloading it costs top_k times a dense layer's.
    off_d = off_m = 0.0
    if "remat_context" in lay:
        remat = {k: lay[k] for k in REMAT_COLUMNS if k in lay}
        host_bw = tuned.value("training", "host_offload_bw_bytes_per_s")
        t_off_d = offloaded_bytes_per_layer(m, T / mb, mb, tp, sequence_parallel=sp, remat=remat) / host_bw
        t_off_m = offloaded_bytes_per_layer(m, T / mb, mb, tp, sequence_parallel=sp, moe=True, remat=remat) / host_bw
        off_d = np.maximum(t_off_d - f_d, 0.0) + np.maximum(t_off_d - b_d - r_d, 0.0)
        off_m = np.maximum(t_off_m - f_m, 0.0) + np.maximum(t_off_m - b_m - r_m, 0.0)

    # --- communication per layer --------------------------------------------------------------------
    k_tp, n_tp = col.group_split(tp, 1.0, dom)
    msg = T * d * ACT_COMM_BYTES
    n_tp_ar = 4 + np.where(rc == 2, 2, 0)  # 2 fwd + 2 bwd (+2 when the forward is recomputed)
    t_tp_layer = n_tp_ar * col.all_reduce_time(msg, k_tp, n_tp, bw_up, bw_out, alpha)
    _, n_cp = col.group_split(cp, tp, dom)
    cp_bw = np.where(n_cp > 1, bw_out, bw_up)
    kv_bytes = T * (kdim + vdim) / tp * ACT_COMM_BYTES
    t_cp_layer = (cp - 1) * kv_bytes * 3 / cp_bw  # K/V forward, K/V and dK/dV backward
    k_ep, n_ep = col.group_split(ep, tp * cp, dom)
    a2a_msg = T / tp_sp * m.top_k * cf * d * ACT_COMM_BYTES
    # A dispatch that sends a token once per destination domain and forwards it inside (``ep_node_dedup``:
    # DeepSeek's kernels) moves the distinct destination domains' copies over the scale-out network, not top_k:
    # min(M, n) under node-limited routing (``moe_max_nodes`` M > 0, DeepSeek-V3), else the expected number of
    # distinct domains among top_k experts spread evenly over n, n·(1 − (1 − 1/n)^top_k).
    kc = m.top_k * cf
    m_nodes = m.get("moe_max_nodes", 0.0)
    n_ep1 = np.maximum(n_ep, 1.0)
    domains = np.where(m_nodes > 0, np.minimum(m_nodes, n_ep1), n_ep1 * (1 - (1 - 1 / n_ep1) ** kc))
    out_share = np.where(np.asarray(lay.get("ep_node_dedup", 0.0)) > 0,
                         np.minimum(domains / np.maximum(kc, 1e-30), 1.0), 1.0)
    # dispatch and combine, forward and backward
    t_a2a_layer = 4 * col.all_to_all_time(a2a_msg, k_ep, n_ep, bw_up, bw_out, alpha, out_share)
    # A paired-chunk schedule (DualPipe) runs one micro-batch's forward chunk beside another's backward chunk, so a
    # layer's all-to-all hides behind the compute of the paired chunk: only what exceeds that compute is exposed
    # (the family's overlap share still applies where it hides more).
    paired = np.asarray(lay.get("ep_overlap_paired", 0.0)) > 0
    pp_stride = tp * cp * dp
    p2p_bytes = T * d * ACT_COMM_BYTES / tp_sp
    t_p2p0 = np.where(pp > 1, 2 * vpp * col.p2p_time(p2p_bytes, pp_stride < dom, bw_up, bw_out, alpha), 0.0)

    def stage(n_layers: A, head: A) -> dict[str, A]:
        """One micro-batch's pass through a stage of ``n_layers`` layers (in the model's mix of dense and MoE
        layers), with the LM head and loss where ``head`` is 1."""
        Ld, Lm = n_dense * n_layers / L_all, n_moe * n_layers / L_all
        ep_x = Lm * t_a2a_layer * (1 - ep_overlap)
        ep_x = np.where(paired, np.minimum(ep_x, Lm * np.maximum(t_a2a_layer - (f_m + b_m + r_m), 0.0)), ep_x)
        # DualPipe hides the pipeline sends the same way, behind the stage compute the all-to-alls left free.
        free = Ld * (f_d + b_d + r_d) + Lm * np.maximum(f_m + b_m + r_m - t_a2a_layer, 0.0)
        out = {"fwd": Ld * f_d + Lm * f_m + head * head_f,
               "bwd": Ld * b_d + Lm * b_m + head * head_b,
               "rec": Ld * r_d + Lm * r_m,
               "tp": (Ld + Lm) * t_tp_layer * (1 - tp_overlap),
               "cp": (Ld + Lm) * np.maximum(t_cp_layer - (1 + attn_bwd) * t_scores, 0.0),
               "ep": ep_x,
               "p2p": np.where(paired, np.maximum(t_p2p0 - free, 0.0), t_p2p0),
               "off": Ld * off_d + Lm * off_m}
        out["t"] = sum(out[k] for k in ("fwd", "bwd", "rec", "tp", "cp", "ep", "p2p", "off"))
        return out

    # Pipeline stages (chipplan.perf.memory.pipeline_split): the slowest stage sets every slot of the pipeline. The
    # first stage's embedding lookup is a gather of T·d values, not costed; the last stage runs the LM head and loss.
    # Without balancing the last stage holds as many layers as the busiest (ceil(L/pp)) beside the head; a stack that
    # sizes the end stages (``balanced_pipeline_ends``) gives it one layer fewer where the split has room. No stage of
    # the balanced split holds more layers than the plain one, so balancing never slows a step. With pp = 1 the one
    # stage holds every layer and the head.
    L_all = np.maximum(n_dense + n_moe, 1.0)
    split = pipeline_split(L_all, pp, lay.get("balanced_pipeline_ends", 1.0))
    body = stage(np.where(pp > 1, np.maximum(split["first"], split["middle"]), 0.0), 0.0)
    last = stage(split["last"], 1.0)
    st = {k: np.where(last["t"] >= body["t"], last[k], body[k]) for k in last}
    # The busiest stage's layers (ZeRO-3 gathers them every micro-batch): U = ceil(L/pp) either way.
    Ld, Lm = stage_layers(n_dense, n_moe, pp)
    fwd, bwd, rec = st["fwd"], st["bwd"], st["rec"]
    tp_exposed, cp_exposed, ep_exposed, t_p2p, t_offload = st["tp"], st["cp"], st["ep"], st["p2p"], st["off"]
    t_micro = st["t"]
    # Interleaving shrinks the bubble to (pp − 1)/vpp slots only with at least pp micro-batches in flight (Narayanan
    # et al. 2021, section 2.2.2, run it with a multiple of pp): with fewer, each micro-batch still crosses the pp
    # devices one chunk after another, and the step lasts at least pp slots.
    bubble_slots = np.where(vpp > 1, np.maximum((pp - 1) / vpp, pp - n_micro), pp - 1)
    t_pipe = (n_micro + bubble_slots) * t_micro

    # --- data parallelism, optimizer ------------------------------------------------------------------
    p = param_counts(m)
    expert = p["expert"]
    emb_in = V * d + m.learned_pos_emb * m.max_seq_len * d
    head_p = p["embedding"] - emb_in
    non_expert_layers = p["total"] - p["embedding"] - expert
    dense_rank = (non_expert_layers / pp + np.maximum(emb_in, head_p)) / tp
    expert_rank = expert / (pp * ep * tp)
    k_dp, n_dp = col.group_split(dp * cp, tp, dom)
    edp = np.maximum(dp * cp / ep, 1.0)
    k_edp, n_edp = col.group_split(edp, tp * ep, dom)
    zs = lay.zero_stage

    # Bucketed data-parallel reduction (``dp_exposed_s``). The gradients are reduced only once the last micro-batch's
    # backward produces them (the earlier micro-batches run under no_sync), so the gradient all-reduce / reduce-scatter
    # can hide only behind that backward (and its recompute); the distributed optimizer's all-gather of the updated
    # parameters hides only behind the next step's forward (Megatron-Core overlap_grad_reduce / overlap_param_gather:
    # "DP gradient reduce-scatter and parameter all-gather overlaps"; NeMo Communication Overlap docs, 2024-25).
    # Buckets: under a stack that states its bucket size (``dp_bucket_params``, ``dp_bucket_per_rank``: Megatron-Core's
    # default max(40M, 1M·dp) parameters, DistributedDataParallelConfig.bucket_size) the last bucket of the backward,
    # which holds the input embedding (buckets are filled in reverse parameter order, close once they reach the size
    # and never split a parameter: megatron/core/distributed/param_and_grad_buffer.py), cannot start before the
    # backward ends, and its parameter all-gather is the first the forward waits for; it is taken as one bucket or
    # the embedding's shard, whichever is larger. Exposed per direction: ``max(t_bucket, t_total − w·window)``
    # (``bucket_exposed``). The ring latency stays charged once per direction, as before, not once per bucket: the
    # engine has one α for every ring step, NVLink and network alike, and per bucket it would charge each NVLink hop
    # a network hop's latency hundreds of times a step.
    b_rule = np.maximum(lay.get("dp_bucket_params", 0.0), lay.get("dp_bucket_per_rank", 0.0) * dp * cp)
    emb_first = emb_in / tp  # the input embedding's shard, on the first stage (the busiest in the reduction's timing)
    last_bucket = np.where(b_rule > 0, np.minimum(dense_rank, np.maximum(b_rule, emb_first)), 0.0)

    # DeepSpeed's ZeRO-1/2 reduce the gradients with an all-reduce, not a reduce-scatter (``zero_all_reduce``), and
    # its ZeRO-2 reduces them after every micro-batch's backward, each hidden behind that backward
    # (``zero2_every_micro``): a rank keeps only its partition's accumulated gradients (DeepSpeed issues 2252 and
    # 5758, maintainers' answers, 2022 and 2024).
    zero_ar = np.asarray(lay.get("zero_all_reduce", 0.0)) > 0
    every_micro = (np.asarray(lay.get("zero2_every_micro", 0.0)) > 0) & (zs == 2)

    def grad_sync(nparams: A, k: A, n: A) -> A:
        return np.where((zs == 0) | zero_ar, col.all_reduce_time(nparams * grad_bytes, k, n, bw_up, bw_out, alpha),
                        col.reduce_scatter_time(nparams * grad_bytes, k, n, bw_up, bw_out, alpha))

    def param_sync(nparams: A, k: A, n: A) -> A:
        return np.where(zs == 0, 0.0, col.all_gather_time(nparams * ACT_COMM_BYTES, k, n, bw_up, bw_out, alpha))

    t_grad = grad_sync(dense_rank, k_dp, n_dp) + grad_sync(expert_rank, k_edp, n_edp)
    t_param = param_sync(dense_rank, k_dp, n_dp) + param_sync(expert_rank, k_edp, n_edp)
    t_grad_last = np.where(last_bucket > 0, grad_sync(last_bucket, k_dp, n_dp), 0.0)
    t_param_first = np.where(last_bucket > 0, param_sync(last_bucket, k_dp, n_dp), 0.0)
    dp_split = np.where(every_micro, n_micro, 1.0) * bucket_exposed(t_grad, t_grad_last, eff.dp_overlap * (bwd + rec)) \
        + bucket_exposed(t_param, t_param_first, eff.dp_overlap * fwd)
    # ZeRO-3 / FSDP, per layer (one FSDP unit per transformer block) on the busiest stage.
    emb_rank = np.maximum(emb_in, head_p) / tp
    p_dense_layer = (attn_p + mlp_params(d, dff_dense, m.gated_mlp)) / tp
    p_moe_shared = (attn_p + m.n_shared_experts * mlp_params(d, m.d_ff, m.gated_mlp)) / tp
    p_moe_expert = m.n_experts / np.maximum(ep, 1.0) * mlp_params(d, m.d_ff, m.gated_mlp) / tp

    def gather(nparams: A, k: A, n: A) -> A:
        return col.all_gather_time(nparams * FSDP_BYTES, k, n, bw_up, bw_out, alpha)

    def scatter(nparams: A, k: A, n: A) -> A:
        return col.reduce_scatter_time(nparams * grad_bytes, k, n, bw_up, bw_out, alpha)

    ag_d = gather(p_dense_layer, k_dp, n_dp)
    rs_d = scatter(p_dense_layer, k_dp, n_dp)
    ag_m = gather(p_moe_shared, k_dp, n_dp) + gather(p_moe_expert, k_edp, n_edp)
    rs_m = scatter(p_moe_shared, k_dp, n_dp) + scatter(p_moe_expert, k_edp, n_edp)
    t_z3 = fsdp_exposed(Ld=Ld, Lm=Lm, ag_d=ag_d, rs_d=rs_d, ag_m=ag_m, rs_m=rs_m, f_d=f_d, b_d=b_d + r_d, f_m=f_m,
                        b_m=b_m + r_m, window=eff.dp_overlap, prefetch=prefetch)
    # Embedding and head: gathered once per micro-batch pass each way, hidden like the layers'.
    t_z3 = t_z3 + 2 * gather(emb_rank, k_dp, n_dp) + scatter(emb_rank, k_dp, n_dp)
    dp_exposed = np.where(zs >= 3, n_micro * t_z3, dp_split)
    opt_params = np.where(zs >= 1, dense_rank / (dp * cp) + expert_rank / edp, dense_rank + expert_rank)
    t_opt = opt_params * OPTIMIZER_TRAFFIC_BYTES_PER_PARAM / mem_bw

    step = t_pipe + dp_exposed + t_opt
    tokens = np.asarray(global_batch_seqs, dtype=float) * s
    tok_s_gpu = tokens / step / n_gpu
    model_flops = 3 * forward_flops_per_token(m, s, True)
    mfu = model_flops * tok_s_gpu / peak_mm
    rec_frac = np.where(rc == 2, rec / np.maximum(fwd, 1e-30) / 3, 0.0)  # 1/3 when the whole forward is redone
    hfu = mfu * (1 + rec_frac)
    return {
        "step_time_s": step,
        "tokens_per_s_per_gpu": tok_s_gpu,
        "mfu": mfu,
        "hfu": hfu,
        "n_micro": n_micro,
        "compute_s": n_micro * (fwd + bwd),
        "recompute_s": n_micro * rec,
        "tp_exposed_s": n_micro * tp_exposed,
        "cp_exposed_s": n_micro * cp_exposed,
        "ep_exposed_s": n_micro * ep_exposed,
        "offload_exposed_s": n_micro * t_offload,
        "pp_p2p_s": n_micro * t_p2p,
        "bubble_s": bubble_slots * t_micro,
        "dp_exposed_s": dp_exposed,
        "optimizer_s": t_opt,
    }


def bucket_exposed(t_total: A, t_bucket: A, window: A) -> A:
    """Exposed seconds of a bucketed collective stream that overlaps ``window`` seconds of compute.

    The buckets become ready as the compute runs and are communicated in order on one stream, so the stream ends
    at least ``t_total − window`` after the compute (communication longer than the compute), and at least the
    last bucket's own time ``t_bucket`` after it (that bucket is ready only when the compute ends; for the
    parameter all-gather, the first bucket must arrive before the forward can start)::

        exposed = max(t_bucket, t_total − window, 0)

    >>> float(bucket_exposed(0.3, 0.02, 0.25)), float(bucket_exposed(0.1, 0.02, 0.25))
    (0.04999999999999999, 0.02)
    """
    return np.maximum(np.maximum(t_bucket, t_total - window), 0.0)


def fsdp_exposed(*, Ld: A, Lm: A, ag_d: A, rs_d: A, ag_m: A, rs_m: A, f_d: A, b_d: A, f_m: A, b_m: A,
                 window: A = 1.0, prefetch: A = 1.0) -> A:
    """Exposed ZeRO-3 / FSDP communication of one micro-batch on one stage, seconds.

    Per layer: forward all-gather ``ag``, backward all-gather ``ag`` (parameters resharded after the forward)
    and reduce-scatter ``rs``; ``f``/``b`` are the layer's forward and backward (+ recompute) compute, of which
    the share ``window`` can run beside communication. With prefetch depth ``D`` the gather for layer ``i + D``
    is issued while layer ``i`` computes, so communication is serialised on one stream and each layer exposes
    ``max(comm − window·compute, 0)``; the first ``D`` forward gathers and the last reduce-scatter have no
    compute before them to hide behind (PyTorch FSDP, forward/backward prefetch; Zhao et al., PyTorch FSDP,
    VLDB 2023, https://arxiv.org/abs/2304.11277, section 3.4)::

        exposed = Σ_layers [max(ag − w·f, 0) + max(ag + rs − w·b, 0)] + min(D, L)·ag + rs
    """
    L = Ld + Lm
    fwd = Ld * np.maximum(ag_d - window * f_d, 0.0) + Lm * np.maximum(ag_m - window * f_m, 0.0)
    bwd = Ld * np.maximum(ag_d + rs_d - window * b_d, 0.0) + Lm * np.maximum(ag_m + rs_m - window * b_m, 0.0)
    share_m = Lm / np.maximum(L, 1.0)
    ag_first = ag_d * (1 - share_m) + ag_m * share_m
    rs_last = rs_d * (1 - share_m) + rs_m * share_m
    return fwd + bwd + np.minimum(prefetch, np.maximum(L, 1.0)) * ag_first + rs_last


def memory_and_fit(model: Columns, hw: Columns, lay: Columns, *, global_batch_seqs: A, seq_len: A) -> dict[str, A]:
    """Peak bytes per accelerator (``chipplan.perf.memory.training_memory``) and whether it fits."""
    n_micro = np.asarray(global_batch_seqs, dtype=float) / (lay.dp * lay.micro_batch)
    mem = training_memory(model, seq_len=seq_len, micro_batch=lay.micro_batch, n_micro=n_micro, tp=lay.tp,
                          pp=lay.pp, dp=lay.dp, cp=lay.cp, ep=lay.ep, vpp=lay.vpp, zero_stage=lay.zero_stage,
                          recompute=lay.recompute, sequence_parallel=lay.sequence_parallel > 0, fp8=hw.fp8 > 0,
                          flash=lay.get("flash", 1.0) > 0,
                          grad_bytes=lay.get("grad_reduce_bytes", GRAD_REDUCE_BYTES),
                          optimizer_bytes=lay.get("optimizer_state_bytes", OPTIMIZER_BYTES_PER_PARAM),
                          remat={k: lay[k] for k in REMAT_COLUMNS if k in lay} or None,
                          balanced_ends=lay.get("balanced_pipeline_ends", 1.0))
    capacity = (hw.hbm_bytes * tuned.value("training", "memory_usable_fraction")
                - tuned.value("training", "memory_reserved_bytes"))
    return {"memory_per_gpu_bytes": mem["total"], "memory_capacity_bytes": capacity,
            "fits_in_memory": mem["total"] <= capacity, "memory_shortfall_bytes": np.maximum(
                mem["total"] - capacity, 0.0), **{f"memory_{k}_bytes": v for k, v in mem.items() if k != "total"}}
