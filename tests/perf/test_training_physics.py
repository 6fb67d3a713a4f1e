"""ZeRO-3 / FSDP per layer and the MoE per-layer cost, by hand."""

import numpy as np
import pytest
from ideal_columns import IDEAL, hw, lay

from chipplan.perf import collectives as col
from chipplan.perf import efficiency
from chipplan.perf.arithmetic import attention_params_per_layer, mlp_params
from chipplan.perf.columns import Columns
from chipplan.perf.training import FSDP_BYTES, fsdp_exposed, step_time
from chipplan.specs import Model


def test_ring_all_gather_on_two_nodes_by_hand():
    # 16 ranks, 8 per NVLink domain, 2 domains; 1 GB buffer; α = 10 µs per ring step (NCCL rings: g - 1 steps).
    t = col.all_gather_time(1e9, 8.0, 2.0, 400e9, 50e9, 10e-6)
    by_hand = 7 / 8 * 1e9 / 400e9 + 1 / 2 * (1e9 / 8) / 50e9 + 15 * 10e-6
    assert float(t) == pytest.approx(by_hand, rel=1e-12)


def test_fsdp_exposure_per_layer_by_hand():
    # 4 layers; gather 3 ms, reduce-scatter 4 ms; forward 2 ms, backward 5 ms per layer; prefetch depth 1.
    t = fsdp_exposed(Ld=4.0, Lm=0.0, ag_d=3e-3, rs_d=4e-3, ag_m=0.0, rs_m=0.0, f_d=2e-3, b_d=5e-3, f_m=0.0,
                     b_m=0.0, window=1.0, prefetch=1.0)
    # forward: 4·(3-2) ms; backward: 4·(3+4-5) ms; first gather 3 ms and last reduce-scatter 4 ms unhidden.
    assert float(t) == pytest.approx(4e-3 + 8e-3 + 3e-3 + 4e-3, rel=1e-12)
    # Compute that covers the communication hides all but the first gather and the last reduce-scatter.
    t = fsdp_exposed(Ld=4.0, Lm=0.0, ag_d=3e-3, rs_d=4e-3, ag_m=0.0, rs_m=0.0, f_d=5e-3, b_d=9e-3, f_m=0.0,
                     b_m=0.0, window=1.0, prefetch=2.0)
    assert float(t) == pytest.approx(2 * 3e-3 + 4e-3, rel=1e-12)


def test_zero3_step_on_two_nodes_by_hand():
    """A 2-layer model on 2 nodes of 8 (dp = 16, ZeRO-3), a network so slow that nothing hides: every micro-batch
    gathers each layer twice and reduce-scatters it once, plus the embedding and head, all exposed."""
    m = Model(name="z3", n_layers=2, d_model=1024, n_heads=8, d_ff=4096, vocab_size=32000, gated_mlp=False)
    mc = Columns(m.to_columns())
    eff = efficiency.for_families(["custom"], IDEAL)
    h = hw(scale_up_bw_bytes_per_s=1e6, scale_out_bw_bytes_per_s=1e5)  # 1 MB/s NVLink, 100 kB/s NIC
    out = step_time(mc, h, lay(dp=16, zero_stage=3), global_batch_seqs=32, seq_len=512, eff=eff)
    p_layer = attention_params_per_layer(mc) + mlp_params(1024, 4096, 0.0)
    emb = 32000 * 1024  # the larger of input embedding and (untied) head

    def ring(nbytes):  # 16 ranks, 8 per domain, 2 domains
        return 7 / 8 * nbytes / 1e6 + 1 / 2 * (nbytes / 8) / 1e5

    ag, rs = ring(float(p_layer) * FSDP_BYTES), ring(float(p_layer) * 4.0)  # fp32 gradient reduction
    per_micro = 2 * (ag + (ag + rs)) + ag + rs + 2 * ring(emb * FSDP_BYTES) + ring(emb * 4.0)
    n_micro = 32 / 16
    # Compute is ~1e-6 of the communication here, so it hides almost nothing.
    assert float(out["dp_exposed_s"][0]) == pytest.approx(n_micro * per_micro, rel=1e-4)


MOE = Model(name="moe", n_layers=2, d_model=512, n_heads=8, d_ff=256, vocab_size=1000, gated_mlp=True,
            n_experts=64, top_k=8)


def _moe_step(n_ep: float, overhead: float):
    eff = efficiency.for_families(["custom"], {**IDEAL, "moe_layer_overhead_s": overhead, "dp_overlap": 0.0})
    big = hw(scale_up_bw_bytes_per_s=1e30, scale_out_bw_bytes_per_s=1e30)
    return step_time(Columns(MOE.to_columns()), big, lay(dp=n_ep, ep=n_ep), global_batch_seqs=n_ep,
                     seq_len=256, eff=eff)


def test_moe_layer_fixed_cost_by_hand_and_independent_of_local_experts():
    # Fixed cost c per MoE layer pass: forward c, backward 2c, for 2 layers and one micro-batch: 6c.
    c = 200e-6
    for n_ep in (1.0, 8.0, 64.0):  # 64, 8 and 1 local experts: the fixed cost does not scale with them
        with_c, without = _moe_step(n_ep, c), _moe_step(n_ep, 0.0)
        assert float(with_c["compute_s"][0] - without["compute_s"][0]) == pytest.approx(6 * c, rel=1e-9)


def test_fine_grained_moe_is_not_faster_than_its_dense_equivalent():
    """Per token, an MoE layer does at least the work of a dense MLP of width top_k·d_ff: its GEMMs are smaller
    and its tokens are permuted, so it cannot run faster than that dense model on the same chip."""
    eff = efficiency.for_families(["hopper"])
    h = hw(peak16_flops_per_s=989e12, peak_mm_flops_per_s=989e12, hbm_bw_bytes_per_s=3.35e12)
    dense = Model(name="d", n_layers=2, d_model=512, n_heads=8, d_ff=256 * 8, vocab_size=1000, gated_mlp=True)
    kw = dict(global_batch_seqs=8, seq_len=4096, eff=eff)
    t_moe = step_time(Columns(MOE.to_columns()), h, lay(dp=8, ep=8), **kw)["step_time_s"]
    t_dense = step_time(Columns(dense.to_columns()), h, lay(dp=8), **kw)["step_time_s"]
    assert float(np.ravel(t_moe)[0]) > float(np.ravel(t_dense)[0])


def test_grouped_gemm_tile_visits_by_hand():
    """Megablox runs ceil(rows/tm) tiles plus one more for every expert that starts inside a tile."""
    # DeepSeek-V3 on one Ironwood device: 8 x 4096 tokens x top-8 = 262,144 routed rows over 256 experts, 512-row
    # tiles: 512 + 255 tiles, so 512/767 of the work carries rows.
    e = efficiency.grouped_gemm_tile_efficiency(262_144, 256, 512)
    assert float(e) == pytest.approx(512 / 767, rel=1e-12)
    # 1,000 rows over 4 experts: 2 tiles + 3 re-visits = 5 tiles of 512 rows
    assert float(efficiency.grouped_gemm_tile_efficiency(1000, 4, 512)) == pytest.approx(1000 / 2560, rel=1e-12)
    # fewer rows than experts: only non-empty experts re-visit (3 rows: 1 tile + 2)
    assert float(efficiency.grouped_gemm_tile_efficiency(3, 8, 128)) == pytest.approx(3 / 384, rel=1e-12)
    # no tile (not modelled) or no rows (a dense layer): 1
    assert float(efficiency.grouped_gemm_tile_efficiency(1000, 4, 0)) == 1.0
    assert float(efficiency.grouped_gemm_tile_efficiency(0, 1, 512)) == 1.0


def test_grouped_gemm_tiles_and_devices_per_chip_in_the_step_by_hand():
    """MOE (2 MoE layers, 64 experts of a gated 512 -> 256 MLP, top-8), one rank, 256 tokens, no recompute, ideal
    GEMMs: the routed experts' forward GEMM time is 2·256·8·(3·512·256) FLOP / 1e15 = 1.61 µs a layer; fwd + bwd is
    3x that. With 128-row tiles the 2048 routed rows take 16 + 63 tiles, so the routed GEMMs cost 79/16 as much.
    A chip with two devices splits the rows: 1024 each, 8 + 63 tiles per device, 71/8 as much."""
    routed_fwd = 2 * 256 * 8 * mlp_params(512, 256, 1.0) / 1e15
    assert routed_fwd == pytest.approx(1.611e-6, rel=1e-3)

    def compute(tile, devices=1.0):
        eff = efficiency.for_families(["custom"], {**IDEAL, "grouped_gemm_tile_rows": tile})
        big = hw(scale_up_bw_bytes_per_s=1e30, scale_out_bw_bytes_per_s=1e30, devices_per_chip=devices)
        return float(step_time(Columns(MOE.to_columns()), big, lay(), global_batch_seqs=1, seq_len=256,
                               eff=eff)["compute_s"][0])

    base = compute(0.0)
    assert compute(128.0) - base == pytest.approx(2 * 3 * routed_fwd * (79 / 16 - 1), rel=1e-9)
    assert compute(128.0, devices=2.0) - compute(0.0, devices=2.0) == pytest.approx(
        2 * 3 * routed_fwd * (71 / 8 - 1), rel=1e-9)
    # with ideal GEMMs (no size penalty) splitting a chip into devices changes nothing else
    assert compute(0.0, devices=2.0) == pytest.approx(base, rel=1e-12)


def test_ironwood_is_two_devices_per_chip_and_megacore_chips_one():
    """TPU7x has two TensorCores and no megacore (JAX ChipVersion table): two devices a chip. v5p fuses its two
    TensorCores as one megacore device; GPUs are one device however many dies they have."""
    from chipplan import catalog
    from chipplan.perf.hardware_cols import hardware_row

    def devices(hid):
        return hardware_row(catalog.accelerator(hid), "bf16")["devices_per_chip"]

    assert devices("tpu7x") == 2.0
    assert devices("tpu-v5p") == devices("tpu-v6e") == devices("b200-sxm-180gb") == 1.0


def _einsum_step(dispatch: float, cf: float | None, *, hbm: float = 1e30, recompute: int = 0):
    """MOE on one rank, one 256-token sequence, ideal GEMMs, no grouped-GEMM tiles."""
    eff = efficiency.for_families(["custom"], {**IDEAL, "dp_overlap": 0.0})
    big = hw(scale_up_bw_bytes_per_s=1e30, scale_out_bw_bytes_per_s=1e30, hbm_bw_bytes_per_s=hbm)
    moe = {"moe_einsum_dispatch": dispatch, "capacity_factor": cf if cf else 1.0,
           "capacity_stated": 1.0 if cf else 0.0}
    out = step_time(Columns(MOE.to_columns()), big, lay(recompute=recompute, **moe), global_batch_seqs=1,
                    seq_len=256, eff=eff)
    return {k: float(np.ravel(v)[0]) for k, v in out.items()}


def test_gshard_dispatch_and_combine_einsums_by_hand():
    """MaxText sparse_matmul=False with capacity_factor 1.25 (GShard dispatch/combine): the sequence of 256 tokens
    has E·C = 256·8·1.25 = 2560 capacity slots; each einsum is 2·256·2560·512 FLOP = 0.671 µs at 1 PFLOP/s.
    Forward two einsums, backward three (dispatch input gradient; combine: expert-output and router-weight
    gradients): 5 per MoE layer, 10 for the two layers. The expert GEMMs are the same padded slots either way."""
    t_e = 2 * 256 * 2560 * 512 / 1e15
    assert t_e == pytest.approx(6.71e-7, rel=1e-3)
    grouped, einsum = _einsum_step(0.0, 1.25), _einsum_step(1.0, 1.25)
    assert einsum["compute_s"] - grouped["compute_s"] == pytest.approx(10 * t_e, rel=1e-9)
    # full recompute repeats the forward's two einsums
    g2, e2 = _einsum_step(0.0, 1.25, recompute=2), _einsum_step(1.0, 1.25, recompute=2)
    assert e2["recompute_s"] - g2["recompute_s"] == pytest.approx(2 * 2 * t_e, rel=1e-9)


def test_gshard_dispatch_masks_in_hbm_by_hand():
    """At 1 TB/s: the einsum path writes and reads its masks, 6 bytes per slot and token (256·2560·6 B), instead of
    the grouped path's permutation (256 tokens · top-8 · 512 · 2 B, read and written twice); element-wise work
    runs once forward and twice backward, in each of the two MoE layers."""
    bw = 1e12
    mask = 256 * 2560 * 6 / bw
    perm = 256 * 8 * 512 * 2 * 4 / bw
    t_e = 2 * 256 * 2560 * 512 / 1e15
    grouped, einsum = _einsum_step(0.0, 1.25, hbm=bw), _einsum_step(1.0, 1.25, hbm=bw)
    assert einsum["compute_s"] - grouped["compute_s"] == pytest.approx(10 * t_e + 2 * 3 * (mask - perm), rel=1e-9)


def test_einsum_moe_without_capacity_runs_every_expert_by_hand():
    """MaxText's einsum path without a capacity factor computes every token through all 64 experts
    ("BSM,EMH->BSEH"): the routed GEMMs do 64/8 times the top-8 work, 3 passes (fwd + 2 bwd) in each layer."""
    routed_fwd = 2 * 256 * mlp_params(512, 256, 1.0) / 1e15  # one expert's worth for the sequence
    grouped, every = _einsum_step(0.0, None), _einsum_step(1.0, None)
    assert every["compute_s"] - grouped["compute_s"] == pytest.approx(2 * 3 * (64 - 8) * routed_fwd, rel=1e-9)


def test_sorted_dispatch_gathers_cost_a_time_per_index_by_hand():
    """A family whose gathers cost c per index: MOE's sorted dispatch gathers 256 tokens x top-8 = 2048 rows twice
    forward (permute, unpermute) and twice backward (their custom-VJP gathers): 4 x 2048 x c per MoE layer, 8 x for
    the two layers; full recompute gathers twice more per layer. A chip of two devices gathers half the rows on each
    device, in parallel. The einsum path has no gathers."""
    c = 1e-8

    def run(gather, recompute=0, devices=1.0, dispatch=0.0):
        eff = efficiency.for_families(["custom"], {**IDEAL, "dp_overlap": 0.0, "gather_index_s": gather})
        big = hw(scale_up_bw_bytes_per_s=1e30, scale_out_bw_bytes_per_s=1e30, devices_per_chip=devices)
        out = step_time(Columns(MOE.to_columns()), big, lay(recompute=recompute, moe_einsum_dispatch=dispatch,
                                                              capacity_stated=1.0), global_batch_seqs=1,
                        seq_len=256, eff=eff)
        return {k: float(np.ravel(v)[0]) for k, v in out.items()}

    assert run(c)["compute_s"] - run(0.0)["compute_s"] == pytest.approx(2 * 4 * 2048 * c, rel=1e-9)
    assert run(c, 2)["recompute_s"] - run(0.0, 2)["recompute_s"] == pytest.approx(2 * 2 * 2048 * c, rel=1e-9)
    assert run(c, devices=2.0)["compute_s"] - run(0.0, devices=2.0)["compute_s"] == pytest.approx(
        2 * 4 * 1024 * c, rel=1e-9)
    assert run(c, dispatch=1.0)["compute_s"] == pytest.approx(run(0.0, dispatch=1.0)["compute_s"], rel=1e-12)


def test_all_to_all_with_one_copy_per_node_by_hand():
    # 64 ranks, 8 per NVLink domain, 8 domains; 1.6 GB sent per rank. Inside a domain 7/64 of it over 400 GB/s;
    # 56/64 leaves it over 50 GB/s; sending once per node to 4 of top-8's nodes halves what leaves.
    assert float(col.all_to_all_time(1.6e9, 8.0, 8.0, 400e9, 50e9)) == pytest.approx(1.6e9 * 56 / 64 / 50e9)
    assert float(col.all_to_all_time(1.6e9, 8.0, 8.0, 400e9, 50e9, 0.0, 0.5)) == pytest.approx(
        1.6e9 * 0.5 * 56 / 64 / 50e9, rel=1e-12)


MOE_NODES = Model(name="moe-nodes", n_layers=2, d_model=1024, n_heads=8, d_ff=512, vocab_size=1000,
                  gated_mlp=True, n_experts=64, top_k=8, moe_max_nodes=4)


def _ep_step(*, paired=0.0, dedup=0.0, model=MOE_NODES, peak=1e15):
    """64 ranks over 8 nodes of 8, ep = 64, ideal compute at ``peak`` FLOP/s, no overlap share."""
    eff = efficiency.for_families(["custom"], {**IDEAL, "ep_overlap": 0.0})
    h = hw(peak16_flops_per_s=peak, peak_mm_flops_per_s=peak)
    return step_time(Columns(model.to_columns()), h,
                     lay(dp=64, ep=64, ep_overlap_paired=paired, ep_node_dedup=dedup),
                     global_batch_seqs=64, seq_len=4096, eff=eff)


def test_node_limited_dispatch_by_hand():
    """Per layer and micro-batch a rank dispatches 4096 tokens × top-8 × 1024 × 2 bytes = 67.1 MB; 56/64 of it leaves
    the node at 50 GB/s, four times a layer (dispatch, combine; forward, backward): 2 layers × 4 × 1.174 ms. Sent once
    per destination node, at most 4 nodes (moe_max_nodes) instead of 8 copies: half of that."""
    msg = 4096 * 8 * 1024 * 2.0
    plain = 2 * 4 * msg * 56 / 64 / 50e9
    assert float(_ep_step()["ep_exposed_s"][0]) == pytest.approx(plain, rel=1e-12)
    assert float(_ep_step(dedup=1.0)["ep_exposed_s"][0]) == pytest.approx(plain / 2, rel=1e-12)
    # No routing limit: the expected distinct nodes among 8 experts on 8 nodes, 8·(1 − (7/8)^8) = 5.25.
    free = Model(**{**{f: getattr(MOE_NODES, f) for f in ("n_layers", "d_model", "n_heads", "d_ff", "vocab_size",
                                                           "n_experts", "top_k")}, "name": "free"})
    share = 8 * (1 - (7 / 8) ** 8) / 8
    assert float(_ep_step(dedup=1.0, model=free)["ep_exposed_s"][0]) == pytest.approx(plain * share, rel=1e-12)


def test_paired_chunk_schedule_hides_the_all_to_all_behind_compute():
    """DualPipe: a layer's all-to-all runs beside the paired chunk's compute, so it exposes only the excess."""
    # At 10 TFLOP/s a layer computes ~ 50 ms, far above its 4.7 ms of all-to-all: nothing is exposed.
    assert float(_ep_step(paired=1.0, peak=1e13)["ep_exposed_s"][0]) == 0.0
    # At 1 PFLOP/s it computes ~ 0.5 ms: the all-to-all exposes what exceeds that.
    plain, paired = _ep_step(), _ep_step(paired=1.0)
    per_layer_a2a = float(plain["ep_exposed_s"][0]) / 2
    head = 3 * 2 * 4096 * 1024 * 1000 / 1e15  # LM head forward + backward, 4096 tokens, d 1024, vocabulary 1000
    compute_per_layer = (float(plain["compute_s"][0]) - head) / 2
    assert 0 < compute_per_layer < per_layer_a2a
    assert float(paired["ep_exposed_s"][0]) == pytest.approx(2 * (per_layer_a2a - compute_per_layer), rel=1e-9)
    assert float(paired["step_time_s"][0]) < float(plain["step_time_s"][0])


@pytest.mark.parametrize(("pp", "vpp", "n_micro", "slots"), [
    (4, 1, 8, 3.0),     # 1F1B: pp − 1 slots
    (4, 2, 8, 1.5),     # interleaved with enough micro-batches: (pp − 1)/vpp
    (2, 16, 1, 1.0),    # one micro-batch: it crosses both devices in turn, interleaving gains nothing
    (8, 4, 4, 4.0),     # fewer micro-batches than stages: at least pp − n_micro slots
])
def test_pipeline_bubble_by_hand(pp, vpp, n_micro, slots):
    m = Model(name="pp", n_layers=32, d_model=1024, n_heads=8, d_ff=4096, vocab_size=1000, gated_mlp=False)
    eff = efficiency.for_families(["custom"], IDEAL)
    big = hw(scale_up_bw_bytes_per_s=1e30, scale_out_bw_bytes_per_s=1e30)
    out = step_time(Columns(m.to_columns()), big, lay(pp=pp, vpp=vpp), global_batch_seqs=n_micro, seq_len=1024,
                    eff=eff)
    per_micro = float(out["compute_s"][0]) / n_micro
    assert float(out["bubble_s"][0]) == pytest.approx(slots * per_micro, rel=1e-6)


def test_bucket_exposure_by_hand():
    """A bucketed stream of 0.3 s over 0.25 s of compute ends 0.05 s after it; one of 0.1 s hides all but its last
    bucket (0.02 s), which is ready only when the compute ends."""
    from chipplan.perf.training import bucket_exposed

    assert float(bucket_exposed(0.3, 0.02, 0.25)) == pytest.approx(0.05, rel=1e-12)
    assert float(bucket_exposed(0.1, 0.02, 0.25)) == pytest.approx(0.02, rel=1e-12)
    assert float(bucket_exposed(0.1, 0.0, 0.25)) == 0.0


Z3 = Model(name="z3", n_layers=2, d_model=1024, n_heads=8, d_ff=4096, vocab_size=32000, gated_mlp=False)


def _dp_step(peak: float, zero: int, gbs: int = 16, **bucket):
    eff = efficiency.for_families(["custom"], IDEAL)
    out = step_time(Columns(Z3.to_columns()), hw(peak16_flops_per_s=peak, peak_mm_flops_per_s=peak),
                    lay(dp=16, zero_stage=zero, **bucket), global_batch_seqs=gbs, seq_len=512, eff=eff)
    return float(np.ravel(out["dp_exposed_s"])[0])


def test_last_gradient_bucket_and_first_parameter_bucket_by_hand():
    """The 2-layer model (untied 32,000 x 1,024 embedding and head) on 2 nodes of 8, dp 16, ZeRO-1, α = 0.

    Per rank: 2 layers x 12,584,960 + final norm 1,024 + the head 32,768,000 (the larger of embedding and head)
    = 57,938,944 parameters. A ring over 8 ranks a domain and 2 domains moves M·(7/8 / 400 GB/s + 1/2 · 1/8 / 50 GB/s)
    = M · 3.4375e-12 s per byte (reduce-scatter or all-gather). Buckets of 10M parameters: the last bucket holds
    the 32,768,000-parameter input embedding, larger than a bucket.

    * Compute far longer than the communication (1 TFLOP/s): the backward hides every gradient bucket but the last,
      the forward every parameter bucket but the first: 32,768,000 x (4 + 2) bytes x 3.4375e-12 = 6.7584e-4 s.
    * No compute (1e30 FLOP/s): all of it, 57,938,944 x 6 x 3.4375e-12 = 1.194991...e-3 s, buckets or not.
    * ZeRO-0 all-reduces (twice a reduce-scatter) the last bucket only: 2 x 32,768,000 x 4 x 3.4375e-12 = 9.0112e-4 s.
    * A stack that states no bucket hides it all behind long compute.
    """
    bucket = {"dp_bucket_params": 10e6, "dp_bucket_per_rank": 0.0}
    per_byte = 7 / 8 / 400e9 + 1 / 2 / 8 / 50e9
    assert per_byte == pytest.approx(3.4375e-12, rel=1e-12)
    assert _dp_step(1e12, 1, **bucket) == pytest.approx(6.7584e-4, rel=1e-9)
    assert _dp_step(1e30, 1, **bucket) == pytest.approx(57_938_944 * 6 * 3.4375e-12, rel=1e-9)
    assert _dp_step(1e30, 1) == pytest.approx(57_938_944 * 6 * 3.4375e-12, rel=1e-9)
    assert _dp_step(1e12, 0, **bucket) == pytest.approx(9.0112e-4, rel=1e-9)
    assert _dp_step(1e12, 1) == 0.0
    # Megatron-Core's rule max(40M, 1M·dp) gives 40M parameters at dp 16: the last bucket is one bucket, capped at
    # the rank's 57,938,944 parameters: 40e6 x 6 x 3.4375e-12 = 8.25e-4 s.
    assert _dp_step(1e12, 1, dp_bucket_params=40e6, dp_bucket_per_rank=1e6) == pytest.approx(8.25e-4, rel=1e-9)


def test_gradient_reduction_hides_behind_the_backward_only():
    """The reduce-scatter cannot start before the gradients exist, nor the all-gather outlast the forward it feeds:
    with the forward as long as the whole communication but the backward short, the old single window over
    forward + backward would hide it all; split, what exceeds each pass shows."""
    from chipplan.perf.training import bucket_exposed

    rs, ag, fwd, bwd = 0.2, 0.1, 0.3, 0.05
    split = bucket_exposed(rs, 0.0, bwd) + bucket_exposed(ag, 0.0, fwd)
    assert float(split) == pytest.approx(0.15, rel=1e-12)
    assert max(rs + ag - (fwd + bwd), 0.0) == 0.0


@pytest.mark.parametrize("zero", [0, 1])
def test_exposed_dp_time_never_falls_with_dp_at_fixed_per_replica_work(zero):
    """Nemotron-4 15B, tp 8, one micro-batch of 4 per replica, Megatron-Core's stack on H100: the exposed data-parallel
    time does not fall as the data-parallel size doubles (rings get longer, Megatron-Core's bucket grows with dp)."""
    from chipplan import catalog
    from chipplan.perf import stacks
    from chipplan.perf.hardware_cols import hardware_row

    m = Columns(catalog.model("nemotron-4-15b").to_columns())
    h = Columns({k: v for k, v in hardware_row(catalog.accelerator("h100-sxm-80gb"), "bf16").items()
                 if k != "family"})
    ratios = {f: dict(v) for f, v in stacks.table().attention_kernels.ratios.items()}
    caps = stacks.profile_columns(stacks.table().profiles["megatron-core-2024"], "hopper", ratios)
    eff = efficiency.for_families(["hopper"])
    exposed = []
    for dp in (8, 16, 32, 64, 128, 256, 512, 1024):
        out = step_time(m, h, lay(tp=8, dp=dp, micro_batch=4, zero_stage=zero, **caps), global_batch_seqs=4 * dp,
                        seq_len=4096, eff=eff)
        exposed.append(float(np.ravel(out["dp_exposed_s"])[0]))
    assert np.all(np.diff(exposed) >= 0), exposed
    assert exposed[-1] > exposed[0] > 0


def test_deepspeed_zero_reductions_by_hand():
    """DeepSpeed's ZeRO on the 2-layer model of the test above (57,938,944 parameters a rank, 3.4375e-12 s a byte
    for a reduce-scatter or all-gather on 2 nodes of 8), with no compute to hide behind, 4 micro-batches a step.

    * ZeRO-2 reducing after every backward: 4 gradient reduce-scatters (fp32) and one parameter all-gather (bf16),
      57,938,944 x (4 x 4 + 2) x 3.4375e-12 s; once a step it is 57,938,944 x (4 + 2) x 3.4375e-12 s.
    * ZeRO-1 reducing with an all-reduce (twice a reduce-scatter): 57,938,944 x (2 x 4 + 2) x 3.4375e-12 s; a
      ZeRO-1 step is not touched by the every-micro-batch rule.
    """
    per = 57_938_944 * 3.4375e-12
    every = {"zero2_every_micro": 1.0}
    assert _dp_step(1e30, 2, gbs=64) == pytest.approx(per * 6, rel=1e-9)
    assert _dp_step(1e30, 2, gbs=64, **every) == pytest.approx(per * 18, rel=1e-9)
    assert _dp_step(1e30, 1, gbs=64, **every) == pytest.approx(per * 6, rel=1e-9)
    assert _dp_step(1e30, 1, gbs=64, zero_all_reduce=1.0) == pytest.approx(per * 10, rel=1e-9)
    from chipplan.perf import stacks
    prof = stacks.table().profiles
    for name in ("deepspeed", "deepspeed-2021", "gpt-neox"):
        assert prof[name].zero_grad_all_reduce and prof[name].zero2_reduce_every_microbatch
    assert not prof["pytorch-fsdp"].zero2_reduce_every_microbatch  # FSDP's no_sync keeps full gradients instead
