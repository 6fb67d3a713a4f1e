"""Training memory per accelerator: weights, gradients, optimizer states, activations. Vectorised.

Activation bytes follow Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer
Models" (arXiv 2205.05198), §4: per layer, ``s·b·h·(34 + 5·a·s/h)`` bytes with 16-bit activations and
dropout, generalised here from a tensor inventory so that GQA/MLA, gated MLPs, ``d_ff ≠ 4h``, MoE top-k,
flash attention (no ``s²`` terms) and no-dropout training are covered. With ``d_ff = 4h``, MHA, dropout
and no flash attention the inventory reproduces the paper's 34 and 5 exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chipplan.perf.arithmetic import dense_d_ff, layer_counts, param_counts, qk_head_dim, v_head_dim
from chipplan.perf.columns import as_columns
from chipplan.specs.layout import RECOMPUTE

A = Any

# Mixed-precision Adam, Megatron-LM convention (Narayanan et al. 2021 §3.5; Rajbhandari et al. 2020
# §3.1 count 16 with 16-bit gradients): 16-bit weights, fp32 gradient accumulation buffer, and fp32
# master weights + two fp32 Adam moments.
WEIGHT_BYTES_PER_PARAM = 2.0
GRAD_BYTES_PER_PARAM = 4.0
OPTIMIZER_BYTES_PER_PARAM = 12.0
ACT_BYTES = 2.0  # 16-bit activations
LOGIT_BYTES = 6.0  # 16-bit logits plus the fp32 copy taken by the cross-entropy loss
# Activation recompute as the engines code it (``lay.recompute``); names are what users and tables write.
RECOMPUTE_CODE = {name: code for code, name in enumerate(RECOMPUTE)}


def layer_activation_terms(model: Any, seq_len: A, micro_batch: A, *, flash: A = True, dropout: A = False,
                           moe: bool = False, fp8: A = False) -> dict[str, A]:
    """Activation bytes stored for backward by one layer, split by how tensor parallelism divides them.

    Returns ``shardable`` (divided by ``tp`` always), ``seq_shardable`` (the layer-norm/dropout/
    linear-input tensors that only sequence parallelism divides), ``score`` (the ``s²`` attention
    tensors, zero with flash attention) and ``layer_input`` (what full recompute keeps).
    ``seq_len`` is the local sequence on this rank (divide by ``cp`` before calling). With ``fp8`` the inputs
    of the four linear layers are kept in their 1-byte FP8 cast for the backward pass (Transformer Engine
    saves the quantised GEMM operands), the rest in 16 bits.
    """
    m = as_columns(model)
    s = np.asarray(seq_len, dtype=float)
    b = np.asarray(micro_batch, dtype=float)
    sb = s * b
    h = m.d_model
    drop = np.asarray(dropout, dtype=float)
    qdim = m.n_heads * qk_head_dim(m)
    kdim = np.where(m.is_mla > 0, m.n_heads * qk_head_dim(m), m.n_kv_heads * m.head_dim)
    vdim = np.where(m.is_mla > 0, m.n_heads * v_head_dim(m), m.n_kv_heads * m.head_dim)
    odim = m.n_heads * v_head_dim(m)
    # Attention: Q, K, V kept for backward, the attention output (input of the output projection);
    # 1-byte dropout mask after the output projection.
    lin = np.where(np.asarray(fp8, dtype=bool), 1.0, ACT_BYTES)  # bytes of a saved linear-layer input
    attn_shard = ACT_BYTES * sb * (qdim + kdim + vdim) + lin * sb * odim
    # MLP: fc1 output(s) and the activation output that feeds fc2.
    if moe:
        width = m.d_ff
        k = m.top_k + m.n_shared_experts
    else:
        width = dense_d_ff(m)
        k = 1.0
    n_in = np.where(np.asarray(m.gated_mlp) > 0, 2.0, 1.0)
    mlp_shard = (ACT_BYTES * n_in + lin) * sb * width * k
    # Replicated without sequence parallelism: two layer-norm inputs, the two linear inputs (LN outputs)
    # and two dropout masks (1 byte each).
    seq_shard = (2 * ACT_BYTES + 2 * lin) * sb * h + drop * 2 * sb * h
    # Without flash attention: softmax output (2 B), dropout mask (1 B) and dropout output (2 B) per score.
    score = np.where(np.asarray(flash, dtype=bool), 0.0, (2 + drop * 3) * m.n_heads * s * sb)
    # Per-tensor bytes a remat policy may save (MaxText names, chipplan.perf.stacks.REMAT_TENSORS): the
    # projection outputs are 16-bit; out_proj and mlpwo are d_model wide (per routed token in an MoE layer).
    named = {"query_proj": ACT_BYTES * sb * qdim, "key_proj": ACT_BYTES * sb * kdim,
             "value_proj": ACT_BYTES * sb * vdim, "context": ACT_BYTES * sb * odim,
             "mlpwi": ACT_BYTES * n_in * sb * width * k}
    return {"shardable": attn_shard + mlp_shard, "seq_shardable": seq_shard, "score": score,
            "layer_input": ACT_BYTES * sb * h, "named": named,
            "named_seq": {"out_proj": ACT_BYTES * sb * h, "mlpwo": ACT_BYTES * sb * h * k}}


def activation_bytes_per_layer(model: Any, seq_len: A, micro_batch: A, tp: A = 1, *, sequence_parallel: A = True,
                               recompute: A = 0, flash: A = True, dropout: A = False, moe: bool = False,
                               fp8: A = False, remat: dict[str, A] | None = None) -> A:
    """Bytes one layer keeps for backward on one rank (Korthikanti et al. 2022, Table 2 generalised).

    ``recompute``: 0 none, 1 selective (drop the ``s²`` score tensors), 2 full (keep the layer input only).
    ``remat`` (with full recompute): a stated remat policy's codes per tensor (``remat_<tensor>``: 0 recomputed,
    1 saved on the device, 2 offloaded to host, ``chipplan.perf.stacks.remat_policy``); the tensors it saves on
    the device are kept besides the layer input, and an offloaded layer input leaves the device.
    """
    t = layer_activation_terms(model, seq_len, micro_batch, flash=flash, dropout=dropout, moe=moe, fp8=fp8)
    tp = np.asarray(tp, dtype=float)
    sp = np.asarray(sequence_parallel, dtype=bool)
    rc = np.asarray(recompute)
    seq = np.where(sp, t["seq_shardable"] / tp, t["seq_shardable"])
    full_keep = np.where(sp, t["layer_input"] / tp, t["layer_input"])
    none = t["shardable"] / tp + seq + t["score"] / tp
    selective = t["shardable"] / tp + seq
    if remat and "remat_context" in remat:
        def on_device(name: str) -> A:
            return np.asarray(remat.get(f"remat_{name}", 0.0)) == 1

        full_keep = full_keep * (np.asarray(remat.get("remat_decoder_layer_input", 0.0)) != 2)
        for name, v in t["named"].items():
            full_keep = full_keep + np.where(on_device(name), v / tp, 0.0)
        for name, v in t["named_seq"].items():
            full_keep = full_keep + np.where(on_device(name), np.where(sp, v / tp, v), 0.0)
    return np.where(rc == 2, full_keep, np.where(rc == 1, selective, none))


def offloaded_bytes_per_layer(model: Any, seq_len: A, micro_batch: A, tp: A = 1, *, sequence_parallel: A = True,
                              moe: bool = False, remat: dict[str, A] | None = None) -> A:
    """Bytes one layer sends to host memory in the forward pass (and reads back in the backward) on one rank: the
    tensors a stated remat policy offloads (``remat_<tensor>`` code 2), sized as ``activation_bytes_per_layer``
    counts them (``seq_len`` is the local sequence; the layer input and the ``d_model``-wide tensors divide by
    ``tp`` only with sequence parallelism). Zero without a stated policy."""
    if not remat or "remat_context" not in remat:
        return 0.0
    t = layer_activation_terms(model, seq_len, micro_batch, moe=moe)
    tp = np.asarray(tp, dtype=float)
    sp = np.asarray(sequence_parallel, dtype=bool)

    def offloaded(name: str) -> A:
        return np.asarray(remat.get(f"remat_{name}", 0.0)) == 2

    out = np.where(offloaded("decoder_layer_input"), np.where(sp, t["layer_input"] / tp, t["layer_input"]), 0.0)
    for name, v in t["named"].items():
        out = out + np.where(offloaded(name), v / tp, 0.0)
    for name, v in t["named_seq"].items():
        out = out + np.where(offloaded(name), np.where(sp, v / tp, v), 0.0)
    return out


def stage_layers(n_dense: A, n_moe: A, pp: A) -> tuple[A, A]:
    """(dense, MoE) layers on the busiest pipeline stage: ``ceil(L/pp)`` layers in the model's mix."""
    total = n_dense + n_moe
    busiest = np.ceil(total / pp - 1e-9)
    share = busiest / np.maximum(total, 1.0)
    return n_dense * share, n_moe * share


def pipeline_split(n_layers: A, pp: A, balanced: A = 0) -> dict[str, A]:
    """Transformer layers on the first, the busiest middle and the last pipeline stage.

    Without balancing every end stage holds ``U = ceil(L/pp)`` layers beside its extra work (the first stage the
    embedding, the last the LM head and the loss), the engine's conservative reading of an even split. A stack that
    can size the end stages (``balanced`` > 0: Megatron-Core's ``num_layers_in_first_pipeline_stage`` /
    ``num_layers_in_last_pipeline_stage`` and ``account_for_embedding_in_pipeline_split`` /
    ``account_for_loss_in_pipeline_split``; torchtitan's ``input_weight`` / ``output_weight``; Meta's Llama 3 stack,
    which "reduce[s] one Transformer layer each from the first and the last stages", Dubey et al. 2024, section
    3.3.2) counts the LM head and the embedding as one layer each where the even split leaves room: with the
    slack ``pp·U − L`` of at least one layer the last stage holds ``U − 1`` layers beside the head, with at least
    two the first stage also holds ``U − 1`` beside the embedding; the middle stages share the rest (at most ``U``
    each), so no stage holds more than without balancing. With ``pp = 1`` the one stage holds every layer.

    >>> {k: float(v) for k, v in pipeline_split(126, 16, 1).items()}
    {'first': 7.0, 'middle': 8.0, 'last': 7.0}
    >>> {k: float(v) for k, v in pipeline_split(126, 16, 0).items()}
    {'first': 8.0, 'middle': 8.0, 'last': 8.0}
    """
    L = np.asarray(n_layers, dtype=float)
    pp = np.maximum(np.asarray(pp, dtype=float), 1.0)
    U = np.ceil(L / pp - 1e-9)
    slack = pp * U - L
    bal = (np.asarray(balanced, dtype=float) > 0) & (pp > 1)
    last = U - np.where(bal & (slack >= 1 - 1e-9), 1.0, 0.0)
    first = U - np.where(bal & (slack >= 2 - 1e-9), 1.0, 0.0)
    rest = np.maximum(L - first - last, 0.0)
    middle = np.where(pp > 2, np.ceil(rest / np.maximum(pp - 2, 1.0) - 1e-9), 0.0)
    middle = np.where(bal, middle, np.where(pp > 2, U, 0.0))
    return {"first": first, "middle": middle, "last": last}


def inflight_microbatches(pp: A, n_micro: A, vpp: A = 1, rank: A = 0) -> A:
    """Micro-batches whose activations pipeline rank ``rank`` holds at the peak of 1F1B (in whole-stage units).

    Plain 1F1B: rank ``r`` runs ``pp − r − 1`` warm-up forwards and one more before its first backward, so it holds
    ``min(pp − r, n_micro)``. Interleaved (``vpp`` model chunks per rank): Megatron-Core's schedule runs
    ``2·(pp − r − 1) + (vpp − 1)·pp`` warm-up chunk forwards, never more than the ``n_micro·vpp`` there are
    (megatron/core/pipeline_parallel/schedules.py, ``get_pp_rank_microbatches``; Narayanan et al. 2021 §2.2.2), plus
    one, each holding ``1/vpp`` of the stage: ``min(pp + (pp − 1 − 2r)/vpp, n_micro)``. For the first rank and
    ``n_micro ≥ pp + (pp − 1)/vpp`` this is Korthikanti et al. 2022's ``pp·(1 + (pp − 1)/(pp·vpp))`` (§4.2.3); with
    fewer micro-batches every one is in flight at once, and no more.
    """
    pp = np.asarray(pp, dtype=float)
    vpp = np.asarray(vpp, dtype=float)
    r = np.asarray(rank, dtype=float)
    nm = np.asarray(n_micro, dtype=float)
    plain = np.minimum(pp - r, nm)
    inter = np.minimum(pp + (pp - 1 - 2 * r) / np.maximum(vpp, 1.0), nm)
    return np.maximum(np.where(vpp > 1, inter, plain), np.minimum(nm, 1.0))


def training_memory(model: Any, *, seq_len: A, micro_batch: A, n_micro: A, tp: A = 1, pp: A = 1, dp: A = 1,
                    cp: A = 1, ep: A = 1, vpp: A = 1, zero_stage: A = 1, recompute: A = 0,
                    sequence_parallel: A = True, flash: A = True, dropout: A = False, fp8: A = False,
                    weight_bytes: A = WEIGHT_BYTES_PER_PARAM, grad_bytes: A = GRAD_BYTES_PER_PARAM,
                    optimizer_bytes: A = OPTIMIZER_BYTES_PER_PARAM, remat: dict[str, A] | None = None,
                    balanced_ends: A = 0) -> dict[str, A]:
    """Peak bytes per accelerator on the most loaded pipeline stage.

    The stages are split as ``pipeline_split`` says (``balanced_ends``: the stack sizes the end stages). Three
    stages are costed and the largest is returned: the first (its layers, the input embedding, the most micro-batches
    in flight), the busiest middle one (rank 1: one micro-batch fewer in flight under plain 1F1B, ``2/vpp`` fewer
    interleaved, but no embedding and possibly one layer more than a balanced first stage) and the last (its layers,
    the LM head, or the tied embedding's copy, and the logits of one micro-batch). In-flight micro-batches per rank
    follow ``inflight_microbatches``. Weights and gradients of a stage are those of its layers (routed experts divided
    by ``ep``), divided by ``tp``; ZeRO stage 1 shards optimizer states over the data-parallel group ``dp·cp``; stage 2
    also gradients; stage 3 (FSDP) also weights. With ``pp = 1`` one rank holds everything. ``grad_bytes`` and
    ``optimizer_bytes`` follow the software stack (bf16 gradients, reduced-precision optimizer states).
    """
    m = as_columns(model)
    tp, pp, dp, cp, ep = (np.asarray(x, dtype=float) for x in (tp, pp, dp, cp, ep))
    zs = np.asarray(zero_stage)
    p = param_counts(m)
    n_dense, n_moe = layer_counts(m)
    L = np.maximum(n_dense + n_moe, 1.0)
    expert = p["expert"]
    non_expert_layers = p["total"] - p["embedding"] - expert
    emb_in = m.vocab_size * m.d_model + m.learned_pos_emb * m.max_seq_len * m.d_model
    emb_out = p["embedding"] - emb_in
    # A tied embedding is copied to the last stage for the LM head (its gradient is all-reduced with the first's).
    head = np.where(emb_out > 0, emb_out, m.vocab_size * m.d_model)
    dp_group = dp * cp
    edp_group = np.maximum(dp * cp / ep, 1.0)  # expert data-parallel group, as in the step-time engine

    def sharded(n: A, group: A, stage_min: int) -> A:
        return np.where(zs >= stage_min, n / group, n)

    s_local = np.asarray(seq_len, dtype=float) / cp
    kw = {"sequence_parallel": sequence_parallel, "recompute": recompute, "flash": flash, "dropout": dropout,
          "fp8": fp8, "remat": remat}
    act_dense = activation_bytes_per_layer(m, s_local, micro_batch, tp, **kw)
    act_moe = activation_bytes_per_layer(m, s_local, micro_batch, tp, moe=True, **kw)
    act_layer = (n_dense * act_dense + n_moe * act_moe) / L  # the model's mix of layers
    # Full recompute re-materialises one layer at a time on top of the stored inputs.
    one_layer = activation_bytes_per_layer(m, s_local, micro_batch, tp, sequence_parallel=sequence_parallel,
                                           recompute=0, flash=flash, dropout=dropout, fp8=fp8)
    one_layer = np.where(np.asarray(recompute) == 2, one_layer, 0.0)
    logits_mb = LOGIT_BYTES * s_local * np.asarray(micro_batch, dtype=float) * m.vocab_size / tp
    split = pipeline_split(L, pp, balanced_ends)
    single = pp == 1

    def stage(layers: A, extra_params: A, rank: A, logits: A) -> dict[str, A]:
        dense = (non_expert_layers * layers / L + extra_params) / tp
        exp = expert * layers / L / (ep * tp)
        weights = (sharded(dense, dp_group, 3) + sharded(exp, edp_group, 3)) * weight_bytes
        grads = (sharded(dense, dp_group, 2) + sharded(exp, edp_group, 2)) * np.asarray(grad_bytes, dtype=float)
        optim = (sharded(dense, dp_group, 1) + sharded(exp, edp_group, 1)) * np.asarray(optimizer_bytes, dtype=float)
        act = layers * act_layer * inflight_microbatches(pp, n_micro, vpp, rank) + np.where(layers > 0, one_layer, 0.0)
        return {"weights": weights, "gradients": grads, "optimizer": optim, "activations": act, "logits": logits,
                "total": weights + grads + optim + act + logits}

    zero = np.zeros_like(np.asarray(logits_mb, dtype=float))
    stages = [stage(split["first"], emb_in + np.where(single, head, 0.0), 0.0, np.where(single, logits_mb, 0.0)),
              stage(split["middle"], 0.0, 1.0, zero),
              stage(np.where(single, 0.0, split["last"]), np.where(single, 0.0, head), pp - 1,
                    np.where(single, 0.0, logits_mb))]
    best = stages[0]
    for st in stages[1:]:
        more = st["total"] > best["total"]
        best = {k: np.where(more, st[k], best[k]) for k in best}
    return best
