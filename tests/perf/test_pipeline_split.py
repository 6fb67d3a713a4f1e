"""Pipeline stage balancing: how layers, the embedding and the LM head are split over stages, the slowest stage's
time, and the memory of each stage with its in-flight micro-batches (Dubey et al. 2024 §3.3.2; Megatron-Core's
num_layers_in_first/last_pipeline_stage; Narayanan et al. 2021; Korthikanti et al. 2022)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chipplan import catalog
from chipplan.perf import efficiency, tuned
from chipplan.perf.arithmetic import param_counts
from chipplan.perf.columns import Columns
from chipplan.perf.hardware_cols import hardware_row
from chipplan.perf.memory import activation_bytes_per_layer, inflight_microbatches, pipeline_split, training_memory
from chipplan.perf.training import ATTN_BWD_FACTOR, memory_and_fit, step_time
from chipplan.specs import Model

IDEAL = dict(matmul_fraction=1.0, matmul_fraction_fp8=1.0, matmul_half_dim=0.0, attention_fraction=1.0,
             hbm_fraction=1.0, scale_up_fraction=1.0, scale_out_fraction=1.0, collective_latency_s=0.0,
             tp_overlap=0.0, dp_overlap=0.0, kernel_overhead_s=0.0)
HW = Columns(dict(peak16_flops_per_s=1e12, peak_mm_flops_per_s=1e12, peak8_flops_per_s=2e12, fp8=0.0,
                  hbm_bw_bytes_per_s=1e30, hbm_bytes=80e9, scale_up_bw_bytes_per_s=1e9, scale_up_domain=8.0,
                  scale_out_bw_bytes_per_s=1e8))


def lay(**kw):
    base = dict(tp=1, pp=1, dp=1, cp=1, ep=1, vpp=1, micro_batch=1, zero_stage=0, recompute=0, sequence_parallel=1)
    return Columns({**base, **kw})


def split(L, pp, balanced):
    return {k: float(v) for k, v in pipeline_split(L, pp, balanced).items()}


def test_llama3_405b_split_on_16_stages():
    """126 layers on 16 stages: 128 slots with the embedding and the head, 8 a stage; Meta's stack runs 7 layers
    beside the embedding on the first stage and 7 beside the head on the last (Dubey et al. 2024, §3.3.2)."""
    assert split(126, 16, 1) == {"first": 7.0, "middle": 8.0, "last": 7.0}
    assert split(126, 16, 0) == {"first": 8.0, "middle": 8.0, "last": 8.0}
    # one layer of room: only the last stage gives one up; none: nothing moves
    assert split(127, 16, 1) == {"first": 8.0, "middle": 8.0, "last": 7.0}
    assert split(128, 16, 1) == {"first": 8.0, "middle": 8.0, "last": 8.0}
    assert split(61, 1, 1) == {"first": 61.0, "middle": 0.0, "last": 61.0}


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 200), st.integers(1, 64))
def test_split_holds_every_layer_and_never_more_per_stage(L, pp):
    pp = min(pp, L)
    b, u = split(L, pp, 1), split(L, pp, 0)
    if pp > 1:
        assert b["first"] + b["last"] + (pp - 2) * b["middle"] >= L
        assert b["first"] + b["last"] <= L
    for k in b:
        assert b[k] <= u[k]


def _deep(vocab):
    return Columns(Model(name="deep", n_layers=126, d_model=64, n_heads=4, d_ff=256, vocab_size=vocab,
                         gated_mlp=False).to_columns())


@pytest.mark.parametrize("vocab", [1000, 100])
def test_slowest_stage_by_hand(vocab):
    """Ideal kernels at 1 TFLOP/s: a layer's forward is its GEMMs and scores, the head's its GEMM. The unbalanced
    last stage runs 8 layers and the head; the balanced one 7 and the head beside middle stages of 8, so the step's
    slot is the slower of 8 layers and 7 layers plus the head."""
    m = _deep(vocab)
    eff = efficiency.for_families(["custom"], IDEAL)
    s = 128
    T = s
    layer_f = 2 * T * (4 * 64 * 64 + 2 * 64 * 256) / 1e12 + 2 * T * 4 * (16 + 16) * (s + 1) / 2 / 1e12
    layer_b = 2 * 2 * T * (4 * 64 * 64 + 2 * 64 * 256) / 1e12 + ATTN_BWD_FACTOR * 2 * T * 4 * 32 * (s + 1) / 2 / 1e12
    head = 3 * 2 * T * 64 * vocab / 1e12  # forward and two backward GEMMs
    layer = layer_f + layer_b

    def per_micro(balanced):
        out = step_time(m, HW, lay(pp=16, balanced_pipeline_ends=balanced), global_batch_seqs=32, seq_len=s,
                        eff=eff)
        return float(np.ravel(out["compute_s"])[0]) / float(np.ravel(out["n_micro"])[0])

    assert per_micro(0.0) == pytest.approx(8 * layer + head, rel=1e-9)
    assert per_micro(1.0) == pytest.approx(max(8 * layer, 7 * layer + head), rel=1e-9)
    assert (7 * layer + head > 8 * layer) == (vocab == 1000)  # the head outweighs a layer only with 1000 tokens


CASES = st.tuples(st.sampled_from(["llama-3.1-8b", "llama-3.1-405b", "deepseek-v3", "qwen3-30b-a3b", "gpt3-175b"]),
                  st.sampled_from([1, 2, 3, 4, 5, 7, 8, 16]), st.sampled_from([1, 2, 4]), st.sampled_from([1, 2, 3]),
                  st.sampled_from([4, 16, 64]))


@settings(max_examples=60, deadline=None)
@given(CASES)
def test_balancing_never_slows_a_step_nor_grows_memory(case):
    """The balanced split is one the stack may choose; no stage of it holds more layers than the plain split."""
    mid, pp, vpp, rc, gbs = case
    model = catalog.model(mid)
    pp = min(pp, int(model.n_layers))
    vpp = vpp if pp > 1 and pp * vpp <= model.n_layers else 1
    m = Columns(model.to_columns())
    h = Columns({k: v for k, v in hardware_row(catalog.accelerator("h100-sxm-80gb"), "bf16").items()
                 if k != "family"})
    eff = efficiency.for_families(["hopper"])
    ep = 8 if model.n_experts else 1

    def run(balanced):
        ly = lay(tp=8, pp=pp, dp=8, ep=ep, vpp=vpp, recompute=rc, zero_stage=1, balanced_pipeline_ends=balanced)
        t = step_time(m, h, ly, global_batch_seqs=gbs, seq_len=4096, eff=eff)
        mem = memory_and_fit(m, h, ly, global_batch_seqs=gbs, seq_len=4096)
        return float(np.ravel(t["step_time_s"])[0]), float(np.ravel(mem["memory_per_gpu_bytes"])[0])

    (t0, m0), (t1, m1) = run(0.0), run(1.0)
    assert t1 <= t0 * (1 + 1e-12)
    assert m1 <= m0 * (1 + 1e-12)


def test_inflight_micro_batches_follow_the_interleaved_warm_up():
    """Megatron-Core's interleaved schedule: rank r runs 2·(pp − r − 1) + (vpp − 1)·pp warm-up chunk forwards, at most
    every chunk of every micro-batch, and one more before its first backward."""
    assert float(inflight_microbatches(16, 64, 8)) == pytest.approx(16 + 15 / 8)  # Korthikanti et al. §4.2.3
    assert float(inflight_microbatches(16, 64, 8, rank=1)) == pytest.approx(16 + 13 / 8)
    assert float(inflight_microbatches(16, 64, 8, rank=15)) == pytest.approx(16 - 15 / 8)
    # 16 micro-batches on 16 stages: all of them are in flight on the first rank, and no more
    assert float(inflight_microbatches(16, 16, 8)) == 16
    assert float(inflight_microbatches(4, 8, 1, rank=1)) == 3  # plain 1F1B: pp − r


def test_stage_memory_by_hand():
    """30 layers on 4 stages, plain 1F1B with 8 micro-batches, no ZeRO: balanced, the first stage holds 7 layers, the
    embedding and 4 micro-batches of activations; rank 1 holds 8 layers and 3; the last 7, the head and 1."""
    model = Model(name="m30", n_layers=30, d_model=64, n_heads=4, d_ff=256, vocab_size=1000, gated_mlp=False)
    p = param_counts(Columns(model.to_columns()))
    per_layer = float((p["total"] - p["embedding"]) / 30)
    emb = 1000 * 64
    a = float(activation_bytes_per_layer(model, 128, 1, 1))
    state = 2 + 4 + 12  # 16-bit weights, fp32 gradients, Adam
    kw = dict(seq_len=128, micro_batch=1, n_micro=8, pp=4, zero_stage=0)
    bal = training_memory(model, balanced_ends=1, **kw)
    first = state * (7 * per_layer + emb) + 7 * 4 * a
    rank1 = state * 8 * per_layer + 8 * 3 * a
    assert first > rank1
    assert float(bal["total"]) == pytest.approx(first, rel=1e-9)
    assert float(bal["activations"]) == pytest.approx(28 * a, rel=1e-9)
    plain = training_memory(model, balanced_ends=0, **kw)
    assert float(plain["total"]) == pytest.approx(state * (8 * per_layer + emb) + 8 * 4 * a, rel=1e-9)
    # interleaved with as many micro-batches as stages: every rank holds all 4, so rank 1's 8 layers are the peak
    inter = training_memory(model, balanced_ends=1, vpp=2, **{**kw, "n_micro": 4})
    assert float(inter["total"]) == pytest.approx(state * 8 * per_layer + 8 * 4 * a, rel=1e-9)


def test_llama3_405b_trains_8k_sequences_without_recompute():
    """Dubey et al. 2024 §3.3.2: TP 8, PP 16, DP 128, 16M-token batches of 8K sequences on H100 80GB, trained 'without
    activation checkpointing', with FSDP sharding optimizer states and gradients (not the parameters) and one layer
    fewer on the first and the last stage. Sixteen micro-batches of one sequence per pipeline fit."""
    m = Columns(catalog.model("llama-3.1-405b").to_columns())
    h = Columns({k: v for k, v in hardware_row(catalog.accelerator("h100-sxm-80gb"), "bf16").items()
                 if k != "family"})
    ly = lay(tp=8, pp=16, dp=128, vpp=8, zero_stage=2, recompute=0, balanced_pipeline_ends=1.0)
    mem = memory_and_fit(m, h, ly, global_batch_seqs=2048, seq_len=8192)
    assert bool(np.ravel(mem["fits_in_memory"])[0])
    capacity = (float(h.hbm_bytes) * tuned.value("training", "memory_usable_fraction")
                - tuned.value("training", "memory_reserved_bytes"))
    assert float(np.ravel(mem["memory_per_gpu_bytes"])[0]) < capacity
    # the peak is a middle rank's 8 layers x 16 micro-batches, not the first's 7
    a = float(activation_bytes_per_layer(m, 8192, 1, 8))
    assert float(np.ravel(mem["memory_activations_bytes"])[0]) == pytest.approx(8 * 16 * a, rel=1e-9)
    assert np.isfinite(float(np.ravel(mem["memory_per_gpu_bytes"])[0]))
