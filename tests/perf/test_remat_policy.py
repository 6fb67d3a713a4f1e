"""Stated remat policies (MaxText names and ``custom`` tensor lists): what is recomputed, what stays in memory."""

import itertools

import numpy as np
import pandas as pd
import pytest

from chipplan import catalog
from chipplan.errors import FieldError
from chipplan.io import predict_frame
from chipplan.perf import efficiency, stacks
from chipplan.perf.columns import Columns
from chipplan.perf.hardware_cols import hardware_row
from chipplan.perf.memory import ACT_BYTES
from chipplan.perf.training import memory_and_fit, step_time

LAYOUT = dict(tp=1, pp=1, dp=16, cp=1, ep=1, vpp=1, micro_batch=2, zero_stage=3, recompute=2, sequence_parallel=1)


def _run(model, policy=None, hw_id="tpu-v6e"):
    m = Columns(catalog.model(model).to_columns())
    h = Columns({k: v for k, v in hardware_row(catalog.accelerator(hw_id), "bf16").items() if k != "family"})
    eff = efficiency.for_families(["tpu"], engine="training")
    lay = Columns({**LAYOUT, **(stacks.remat_policy(policy) if policy else {})})
    kw = dict(global_batch_seqs=64, seq_len=4096)
    st = step_time(m, h, lay, eff=eff, **kw)
    mem = memory_and_fit(m, h, lay, **kw)
    return {k: float(np.ravel(v)[0]) for k, v in {**st, **mem}.items()}


def test_policy_names_and_custom_pairs_parse():
    full = stacks.remat_policy("full")
    assert full["remat_stated"] == 1 and all(full[f"remat_{t}"] == 0 for t in stacks.REMAT_TENSORS)
    c = stacks.remat_policy("custom decoder_layer_input=offload, qkv_proj=device; mlpwo=offload")
    assert (c["remat_query_proj"], c["remat_key_proj"], c["remat_value_proj"]) == (1, 1, 1)
    assert c["remat_mlpwo"] == 2 and c["remat_decoder_layer_input"] == 2 and c["remat_context"] == 0
    # a named policy with an override: save_dot_except_mlp saves q/k/v/out; context=device adds the attention output
    s = stacks.remat_policy("save_dot_except_mlp context=device")
    assert s["remat_out_proj"] == 1 and s["remat_context"] == 1 and s["remat_mlpwi"] == 0
    for bad in ("sometimes", "custom mlpwo", "custom foo=device", "custom mlpwo=disk"):
        with pytest.raises(FieldError, match="remat_policy"):
            stacks.remat_policy(bad)


def test_full_policy_skips_only_the_dense_down_projection():
    """JAX remat recomputes what a VJP needs: in a dense SwiGLU layer everything but the down projection (one
    third of the MLP GEMMs). Llama-3.1-8B: attention projections 4096·(4096+1024+1024+4096) = 41.9M params, MLP
    3·4096·14336 = 176.2M, so the down projection is 58.7M of 218.1M GEMM parameters (26.9 %)."""
    plain, jax_full = _run("llama-3.1-8b"), _run("llama-3.1-8b", "full")
    assert jax_full["recompute_s"] < plain["recompute_s"]
    assert jax_full["compute_s"] == pytest.approx(plain["compute_s"])
    # GEMM efficiency differs a little between the projections, so the share is checked to within a point
    gemm_share_saved = (plain["recompute_s"] - jax_full["recompute_s"]) / plain["recompute_s"]
    assert 0.15 < gemm_share_saved < 0.27
    # memory: full keeps the layer input either way
    assert jax_full["memory_activations_bytes"] == pytest.approx(plain["memory_activations_bytes"])


def test_saving_more_never_recomputes_more_and_offload_frees_the_layer_input():
    order = ["full", "save_qkv_proj", "save_dot_except_mlp", "save_dot_with_context_except_mlp",
             "minimal_with_context"]
    rec = [_run("llama-3.1-8b", p)["recompute_s"] for p in order]
    assert all(a >= b for a, b in itertools.pairwise(rec)), rec
    assert 0 < rec[-1] < 0.25 * rec[0]  # only element-wise work and kernel launches are redone
    dev = _run("llama-3.1-8b", "custom query_proj=device")
    off = _run("llama-3.1-8b", "custom query_proj=offload")
    assert dev["recompute_s"] == pytest.approx(off["recompute_s"])
    # q on the device: 2 bytes × 4096 query features × 2·4096 tokens × 32 layers more activation memory
    assert dev["memory_activations_bytes"] - off["memory_activations_bytes"] == pytest.approx(
        ACT_BYTES * 4096 * 2 * 4096 * 32)
    # offloading the layer input (the checkpoint) frees 2 bytes × 4096 × 2·4096 × 32 on the device
    full, gone = _run("llama-3.1-8b", "full"), _run("llama-3.1-8b", "custom decoder_layer_input=offload")
    assert full["memory_activations_bytes"] - gone["memory_activations_bytes"] == pytest.approx(
        ACT_BYTES * 4096 * 2 * 4096 * 32)


def test_moe_down_projection_is_recomputed_unless_saved():
    full = _run("mixtral-8x7b", "full")
    wo = _run("mixtral-8x7b", "custom mlpwo=device")
    assert wo["recompute_s"] < full["recompute_s"]


def test_a_row_states_its_policy_and_a_clash_is_an_error():
    base = dict(row_id="r", hardware_id="tpu-v6e", model_name="llama-3.1-8b", num_accelerators=16, seq_len=4096,
                global_batch_seqs=64, precision="bf16", framework="MaxText", tp=1, pp=1, cp=1, micro_batch_size=4,
                zero_stage=3)
    df = pd.DataFrame([{**base, "remat_policy": "save_dot_except_mlp"},
                       {**base, "row_id": "f", "activation_recompute": "full"},
                       {**base, "row_id": "x", "remat_policy": "full", "activation_recompute": "none"},
                       {**base, "row_id": "y", "remat_policy": "never"}])
    rows = predict_frame(df)["rows"]
    assert rows[0]["status"] == "ok" and rows[0]["prediction"]["remat_policy"] == "save_dot_except_mlp"
    assert rows[0]["prediction"]["layout"]["recompute"] == "full"
    assert rows[0]["prediction"]["tokens_per_s_per_gpu"] > rows[1]["prediction"]["tokens_per_s_per_gpu"]
    assert "remat_policy" not in rows[1]["prediction"]
    assert rows[2]["status"] != "ok" and "activation_recompute" in rows[2]["reason"]
    assert rows[3]["status"] != "ok" and "remat_policy" in rows[3]["reason"]


def _run_offload(model, policy, hw_id, monkeypatch=None, host_bw=None):
    if host_bw is not None:
        from chipplan.perf import tuned

        table = {g: dict(v) for g, v in tuned.table().items()}
        table["training"]["host_offload_bw_bytes_per_s"] = host_bw
        monkeypatch.setattr(tuned, "table", lambda: table)
    return _run(model, policy, hw_id)


def test_offloaded_bytes_by_hand():
    """gpt-oss-120b (d_model 2880, top-4 of 128 experts), micro-batch 2 x 4096 tokens, tp 1: the layer input is
    2 B x 8192 x 2880 = 47.2 MB; an MoE layer's mlpwo is the expert output of the 4 routed copies of each token,
    4 x 47.2 = 188.7 MB; a dense layer's mlpwo is 47.2 MB."""
    from chipplan.perf.memory import offloaded_bytes_per_layer

    m = Columns(catalog.model("gpt-oss-120b").to_columns())
    pol = stacks.remat_policy("custom decoder_layer_input=offload mlpwo=offload")
    one = ACT_BYTES * 2 * 4096 * 2880
    assert one == pytest.approx(47.19e6, rel=1e-3)
    assert float(offloaded_bytes_per_layer(m, 4096, 2, 1, remat=pol, moe=True)) == pytest.approx(5 * one)
    assert float(offloaded_bytes_per_layer(m, 4096, 2, 1, remat=pol)) == pytest.approx(2 * one)
    # tp 4 with sequence parallelism divides both; a policy that offloads nothing sends nothing
    assert float(offloaded_bytes_per_layer(m, 4096, 2, 4, remat=pol, moe=True)) == pytest.approx(5 * one / 4)
    assert float(offloaded_bytes_per_layer(m, 4096, 2, 1, remat=stacks.remat_policy("full"), moe=True)) == 0.0


def test_offload_exposes_what_the_host_link_cannot_hide(monkeypatch):
    """Each offloaded tensor crosses the host link twice (to host in the forward, back before the backward). With a
    1 GB/s link the 36 layers x 2 x 235.9 MB of gpt-oss-120b (micro-batch 2 x 4096) take 17.0 s, against well under
    a second of compute per layer pass here, so nearly all of it is exposed."""
    pol = "custom decoder_layer_input=offload mlpwo=offload"
    base = _run("gpt-oss-120b", "full", "tpu7x")
    assert base["offload_exposed_s"] == 0.0
    slow = _run_offload("gpt-oss-120b", pol, "tpu7x", monkeypatch, host_bw=1e9)
    transfer = 36 * 2 * 5 * ACT_BYTES * 2 * 4096 * 2880 / 1e9
    assert transfer == pytest.approx(16.99, rel=1e-3)
    # exposed = transfer - the layers' own compute (per micro-batch, 64 / 16 / 2 = 2 micro-batches)
    n_micro = 2
    layer_compute = base["compute_s"] + base["recompute_s"]
    assert n_micro * transfer - layer_compute <= slow["offload_exposed_s"] <= n_micro * transfer
    assert slow["step_time_s"] > base["step_time_s"] + 0.9 * n_micro * transfer - layer_compute
    # a dense 8B layer's transfer (layer input only, 67.1 MB at the catalog's 50 GB/s = 1.3 ms) hides behind its
    # compute
    monkeypatch.undo()
    dense = _run("llama-3.1-8b", "custom decoder_layer_input=offload", "tpu7x")
    assert dense["offload_exposed_s"] == 0.0
