import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chipplan import catalog
from chipplan.perf import efficiency
from chipplan.perf.columns import Columns
from chipplan.perf.hardware_cols import hardware_row
from chipplan.perf.layout import invalid_code
from chipplan.perf.plan import estimate_run, goodput, rank_layouts
from chipplan.perf.training import ATTN_BWD_FACTOR, memory_and_fit, step_time
from chipplan.specs import Model

IDEAL = dict(matmul_fraction=1.0, matmul_fraction_fp8=1.0, matmul_half_dim=0.0, attention_fraction=1.0,
             hbm_fraction=1.0, scale_up_fraction=1.0, scale_out_fraction=1.0, collective_latency_s=0.0,
             tp_overlap=0.0, dp_overlap=0.0, kernel_overhead_s=0.0)


def hw(**kw):
    base = dict(peak16_flops_per_s=1e12, peak_mm_flops_per_s=1e12, peak8_flops_per_s=2e12, fp8=0.0,
                hbm_bw_bytes_per_s=1e30,
                hbm_bytes=80e9, scale_up_bw_bytes_per_s=1e9, scale_up_domain=8.0, scale_out_bw_bytes_per_s=1e8)
    return Columns({**base, **kw})


def lay(**kw):
    base = dict(tp=1, pp=1, dp=1, cp=1, ep=1, vpp=1, micro_batch=1, zero_stage=0, recompute=0, sequence_parallel=1)
    return Columns({**base, **kw})


TWO_LAYER = Model(name="two", n_layers=2, d_model=64, n_heads=4, d_ff=256, vocab_size=1000, gated_mlp=False)


def test_two_layers_on_two_gpus_by_hand():
    """A 2-layer model, tp=2 on 2 GPUs, ideal kernels, 1 TFLOP/s, 1 GB/s NVLink: every term by hand."""
    m = Columns(TWO_LAYER.to_columns())
    eff = efficiency.for_families(["custom"], IDEAL)
    s, b = 128, 1
    out = step_time(m, hw(), lay(tp=2), global_batch_seqs=1, seq_len=s, eff=eff)
    T = s * b
    gemm_fwd_layer = 2 * T * (4 * 64 * 64 + 2 * 64 * 256) / 2 / 1e12  # split over tp=2
    scores_fwd_layer = 2 * T * 4 / 2 * (16 + 16) * (s + 1) / 2 / 1e12
    head_fwd = 2 * T * 64 * 1000 / 2 / 1e12
    fwd = 2 * (gemm_fwd_layer + scores_fwd_layer) + head_fwd
    bwd = 2 * (2 * gemm_fwd_layer + ATTN_BWD_FACTOR * scores_fwd_layer) + 2 * head_fwd
    # TP: 4 all-reduces per layer of T·d·2 bytes, ring over 2 ranks: 2·(1/2)·M/B each
    tp_comm = 2 * 4 * (2 * 0.5 * T * 64 * 2 / 1e9)
    assert float(out["compute_s"][0]) == pytest.approx(fwd + bwd, rel=1e-9)
    assert float(out["tp_exposed_s"][0]) == pytest.approx(tp_comm, rel=1e-9)
    assert float(out["step_time_s"][0]) == pytest.approx(fwd + bwd + tp_comm, rel=1e-6)  # + tiny optimizer term
    tokens = s
    assert float(out["tokens_per_s_per_gpu"][0]) == pytest.approx(tokens / float(out["step_time_s"][0]) / 2)


def test_pipeline_bubble_and_data_parallel_by_hand():
    m = Columns(TWO_LAYER.to_columns())
    eff = efficiency.for_families(["custom"], IDEAL)
    base = step_time(m, hw(), lay(), global_batch_seqs=8, seq_len=128, eff=eff)
    piped = step_time(m, hw(), lay(pp=2), global_batch_seqs=8, seq_len=128, eff=eff)
    # 8 micro-batches; with pp=2 each stage does half the layers and the bubble adds (pp-1) slots
    assert float(piped["bubble_s"][0]) > 0
    assert float(np.ravel(piped["n_micro"])[0]) == 8
    dp = step_time(m, hw(), lay(dp=2), global_batch_seqs=8, seq_len=128, eff=eff)
    assert float(dp["dp_exposed_s"][0]) > 0  # no overlap allowed in IDEAL
    assert float(np.ravel(dp["n_micro"])[0]) == 4
    assert float(base["dp_exposed_s"][0]) == 0


def real_case(**over):
    m = Columns(catalog.model("llama-3.1-70b").to_columns())
    h = Columns({k: v for k, v in hardware_row(catalog.accelerator("h100-sxm-80gb"), "bf16").items()
                 if k != "family"})
    for k, v in over.items():
        h[k] = np.asarray(v, dtype=float)
    return m, h


@settings(max_examples=40, deadline=None)
@given(up=st.floats(1e10, 2e12), out=st.floats(1e9, 2e11), hbm=st.floats(1e11, 1e13), factor=st.floats(1.0, 4.0))
def test_more_bandwidth_is_never_slower(up, out, hbm, factor):
    eff = efficiency.for_families(["hopper"])
    layout = lay(tp=8, pp=4, dp=4, vpp=5, zero_stage=1)
    m, h = real_case(scale_up_bw_bytes_per_s=up, scale_out_bw_bytes_per_s=out, hbm_bw_bytes_per_s=hbm)
    t0 = step_time(m, h, layout, global_batch_seqs=64, seq_len=4096, eff=eff)["step_time_s"]
    for k in ("scale_up_bw_bytes_per_s", "scale_out_bw_bytes_per_s", "hbm_bw_bytes_per_s"):
        h2 = Columns(dict(h))
        h2[k] = h[k] * factor
        t1 = step_time(m, h2, layout, global_batch_seqs=64, seq_len=4096, eff=eff)["step_time_s"]
        assert np.ravel(t1)[0] <= np.ravel(t0)[0] * (1 + 1e-12)


@settings(max_examples=30, deadline=None)
@given(layers=st.integers(2, 60), extra=st.integers(1, 20))
def test_more_layers_is_never_faster(layers, extra):
    eff = efficiency.for_families(["ampere"])
    h = Columns({k: v for k, v in hardware_row(catalog.accelerator("a100-sxm-80gb"), "bf16").items()
                 if k != "family"})
    ts = []
    for L in (layers, layers + extra):
        m = Columns(Model(name="x", n_layers=L, d_model=2048, n_heads=16, d_ff=8192, vocab_size=32000).to_columns())
        ts.append(np.ravel(step_time(m, h, lay(dp=8, zero_stage=1), global_batch_seqs=64, seq_len=2048,
                                     eff=eff)["step_time_s"])[0])
    assert ts[1] > ts[0]


def test_search_matches_brute_force_on_a_small_case():
    model = catalog.model("llama-2-13b")
    acc = catalog.accelerator("a100-sxm-80gb")
    n, gbs, s = 16, 32, 4096
    ranked = rank_layouts(model, acc, n, global_batch_seqs=gbs, seq_len=s, top=1)
    best = ranked[0]
    h = Columns({k: v for k, v in hardware_row(acc, "bf16").items() if k != "family"})
    m = Columns(model.to_columns())
    eff = efficiency.for_families(["ampere"], engine="training")
    top = -1.0
    for tp, pp, mb, zs, rc, vpp in itertools.product([1, 2, 4, 8, 16], [1, 2, 4, 8], [1, 2, 4, 8], [0, 1, 3],
                                                     [0, 1, 2], [1, 2, 4, 5]):
        dp = n // (tp * pp)
        if tp * pp * dp != n:
            continue
        L = lay(tp=tp, pp=pp, dp=dp, micro_batch=mb, zero_stage=zs, recompute=rc, vpp=vpp)
        if np.ravel(invalid_code(m, L, n_gpu=n, global_batch_seqs=gbs, seq_len=s, domain=h.scale_up_domain))[0]:
            continue
        if not np.ravel(memory_and_fit(m, h, L, global_batch_seqs=gbs, seq_len=s)["fits_in_memory"])[0]:
            continue
        tps = step_time(m, h, L, global_batch_seqs=gbs, seq_len=s, eff=eff)["tokens_per_s_per_gpu"]
        top = max(top, float(np.ravel(tps)[0]))
    assert best["fits_in_memory"]
    assert best["tokens_per_s_per_gpu"] == pytest.approx(top, rel=1e-9)


def test_goodput_young_interval_by_hand():
    g = goodput(16384, 405e9, failures_per_accelerator_hour=419 / (54 * 24 * 16384), checkpoint_bytes_per_param=14,
                storage_write_bytes_per_s=2e12, restart_s=900)
    mtbf = 3600 / 16384 / (419 / (54 * 24 * 16384))  # ≈ 3.1 h between interruptions
    delta = 405e9 * 14 / 2e12
    assert float(g["job_mtbf_s"]) == pytest.approx(mtbf)
    assert float(g["checkpoint_interval_s"]) == pytest.approx(np.sqrt(2 * delta * mtbf))
    assert float(g["interruptions_per_day"]) == pytest.approx(419 / 54)
    assert 0.8 < float(g["goodput"]) < 0.95
    assert float(goodput(1024, 405e9)["goodput"]) > float(g["goodput"])  # fewer GPUs, fewer failures


def test_llama3_405b_run_is_in_the_published_range():
    # Llama 3 405B: 16,384 H100, 38-43 % MFU in BF16 (Meta 2024, Table 4); 54 days for most of 15.6T tokens.
    r = estimate_run("llama-3.1-405b", "h100-sxm-80gb", 15.6e12, n_accelerators=16384, global_batch_tokens=16 * 2**20)
    assert 0.33 <= r.mfu <= 0.52
    assert 45 <= r.days <= 95
    assert r.fits_in_memory


def test_deadline_mode_needs_more_gpus_for_a_shorter_deadline():
    slow = estimate_run("llama-3.1-70b", "h100-sxm-80gb", 2e12, days=60)
    fast = estimate_run("llama-3.1-70b", "h100-sxm-80gb", 2e12, days=15)
    assert fast.n_accelerators > slow.n_accelerators
    assert fast.days <= 15 and slow.days <= 60


def test_impossible_deadline_says_what_is_possible():
    from chipplan.errors import InfeasibleError

    with pytest.raises(InfeasibleError, match="fastest plan takes"):
        estimate_run("llama-3.1-405b", "a100-sxm-40gb", 1e15, days=1, global_batch_tokens=2**20)


def test_moe_capacity_factor_costs_compute_and_all_to_all():
    eff = efficiency.for_families(["hopper"])
    m = Columns(catalog.model("mixtral-8x7b").to_columns())
    h = Columns({k: v for k, v in hardware_row(catalog.accelerator("h100-sxm-80gb"), "bf16").items() if k != "family"})
    base = dict(tp=2, pp=1, dp=8, ep=8, micro_batch=1, zero_stage=1)
    t1 = step_time(m, h, lay(**base), global_batch_seqs=64, seq_len=4096, eff=eff)
    t2 = step_time(m, h, lay(**base, capacity_factor=1.25), global_batch_seqs=64, seq_len=4096, eff=eff)
    assert np.ravel(t2["ep_exposed_s"])[0] == pytest.approx(1.25 * np.ravel(t1["ep_exposed_s"])[0], rel=0.02)
    assert np.ravel(t2["compute_s"])[0] > np.ravel(t1["compute_s"])[0]
