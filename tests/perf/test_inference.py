"""Serving engine: hand-computed decode step, KV bytes, monotonic behaviour, published TensorRT-LLM values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from chipplan import catalog
from chipplan.io import predict_frame
from chipplan.perf import efficiency
from chipplan.perf import inference as inf
from chipplan.perf.columns import Columns
from chipplan.perf.hardware_cols import hardware_row


def _tiny_model() -> Columns:
    return Columns(n_layers=2, d_model=64, n_heads=4, n_kv_heads=4, head_dim=16, d_ff=256, vocab_size=1000,
                   max_seq_len=0, gated_mlp=0, tied_embeddings=0, learned_pos_emb=0, n_experts=0, top_k=0,
                   n_shared_experts=0, first_dense_layers=0, dense_d_ff=0, q_lora_rank=0, kv_lora_rank=0,
                   qk_nope_head_dim=0, qk_rope_head_dim=0, v_head_dim=0, is_mla=0)


def _ideal_hw() -> Columns:
    return Columns(peak16_flops_per_s=1e15, peak_mm_flops_per_s=1e15, peak8_flops_per_s=2e15, fp8=0,
                   hbm_bw_bytes_per_s=1e12,
                   hbm_bytes=80e9, scale_up_bw_bytes_per_s=4.5e11, scale_up_domain=8,
                   scale_out_bw_bytes_per_s=5e10)


def _ideal_eff() -> Columns:
    e = efficiency.for_families(["hopper"])
    e = Columns({k: v[0] for k, v in e.items()})
    e.update(Columns(matmul_fraction=1.0, matmul_half_dim=0.0, attention_fraction=1.0, hbm_fraction=1.0,
                     collective_latency_s=0.0))
    return e


def _real(model_id: str, hw_id: str, prec: str) -> tuple[Columns, Columns, Columns]:
    acc, sys_ = catalog.hardware(hw_id)
    row = hardware_row(acc, prec, sys_)
    fam = row.pop("family")
    e = efficiency.for_families([fam])
    return (Columns(catalog.model(model_id).to_columns()), Columns(row), Columns({k: v[0] for k, v in e.items()}))


def test_decode_step_by_hand() -> None:
    # batch 1, context 10, BF16 weights and KV, one accelerator, ideal efficiencies.
    # Per layer: weights (4·64·64 + 2·64·256)·2 B = 98 304 B → 98.304 ns at 1 TB/s (compute 0.1 ns);
    # KV read 10 · 2·4·16·2 B = 2 560 B → 2.56 ns; element-wise 2·(4·64 + 2·(64+128+64) + 2·2·256) B
    # = 3 584 B → 3.584 ns; plus the per-layer decode overhead. LM head 64·1000·2 B → 128 ns.
    t = inf.decode_iteration(_tiny_model(), _ideal_hw(), _ideal_eff(), tp=1.0, pp=1.0, ep=1.0, batch=1.0,
                             ctx=10.0, w_bytes=2.0, kv_bytes=2.0)["time_s"]
    per_layer = 98.304e-9 + 2.56e-9 + 3.584e-9 + inf.DECODE_LAYER_OVERHEAD_S
    expected = 2 * per_layer + 128e-9 + inf.STEP_OVERHEAD_S
    assert float(t) == pytest.approx(expected, rel=1e-6)


def test_decode_compute_bound_at_large_batch_by_hand() -> None:
    # batch 100 000: GEMM FLOP 2·1e5·49 152 = 9.83 GFLOP per layer → 9.83 µs at 1 PFLOP/s, > weight read.
    st = inf.stage_pass(_tiny_model(), _ideal_hw(), _ideal_eff(), tp=1.0, pp=1.0, ep=1.0, tokens=1e5, logits=1e5,
                        attn_ctx=0.0, kv_tokens=0.0, w_bytes=2.0, kv_bytes=2.0)
    gemm_layers = st["gemm_s"] - max(2 * 1e5 * 64 * 1000 / 1e15, 128e-9)
    assert float(gemm_layers) == pytest.approx(2 * 2 * 1e5 * 49152 / 1e15, rel=1e-9)


def test_kv_bytes_gqa_by_hand() -> None:
    m = Columns(catalog.model("llama-3.1-70b").to_columns())
    # 2 (K, V) · 80 layers · 8 KV heads · 128 · 2 B = 327 680 B per token.
    assert float(inf.kv_bytes_per_token(m, 2.0)) == 327680.0
    assert float(inf.kv_bytes_per_token(m, 1.0, tp=8)) == 327680.0 / 2 / 8
    # tp 16 > 8 KV heads: each rank still holds one head.
    assert float(inf.kv_bytes_per_token(m, 2.0, tp=16)) == 2 * 80 * 1 * 128 * 2


def test_kv_bytes_mla_by_hand() -> None:
    m = Columns(catalog.model("deepseek-v3").to_columns())
    # 61 layers · (512 latent + 64 rope) · 2 B = 70 272 B, not divided by TP.
    assert float(inf.kv_bytes_per_token(m, 2.0)) == 61 * 576 * 2
    assert float(inf.kv_bytes_per_token(m, 1.0, tp=8)) == 61 * 576


def test_experts_touched() -> None:
    assert float(inf.experts_touched(8, 2, 1)) == pytest.approx(2.0)
    assert float(inf.experts_touched(256, 8, 1)) == pytest.approx(8.0)
    assert float(inf.experts_touched(8, 2, 1000)) == pytest.approx(8.0)
    assert float(inf.experts_touched(0, 0, 5)) == 0.0


def test_throughput_rises_with_batch_until_bound() -> None:
    m, hw, e = _real("llama-3.1-8b", "h100-sxm-80gb", "fp8")
    b = 2.0 ** np.arange(0, 13)
    out = inf.serve(m, hw, e, mode=1, tp=1.0, pp=1.0, ep=1.0, input_len=128.0, output_len=128.0, batch=b,
                    w_bytes=1.0, kv_bytes=1.0)
    thr = out["output_tokens_per_s_per_gpu"]
    cap = float(np.max(out["max_batch_memory"]))
    held = b <= cap
    assert 2048 < cap < 4096  # 4096 × 256 tokens of KV exceed the pool
    assert np.all(np.diff(thr[held]) > 0)
    assert thr[4] / thr[0] > 10  # memory-bound: 16 sequences cost little more than one
    assert thr[held][-1] / thr[held][-2] < 1.3  # compute-bound: doubling the batch barely helps
    # a batch the pool cannot hold runs in waves (a full one of `cap`, then the rest): it still fits, no faster
    assert out["fits"].astype(bool).all()
    assert thr[-1] <= thr[held][-1]


def test_ttft_grows_with_input_length() -> None:
    m, hw, e = _real("llama-3.1-70b", "h100-sxm-80gb", "fp8")
    lens = np.array([64.0, 256, 1024, 4096, 16384])
    out = inf.serve(m, hw, e, mode=0, tp=4.0, pp=1.0, ep=1.0, input_len=lens, output_len=1.0, w_bytes=1.0,
                    kv_bytes=1.0)
    ttft = out["ttft_s"]
    assert np.all(np.diff(ttft) > 0)
    assert ttft[-1] / ttft[-2] > 4  # quadratic attention term: 4× the tokens costs more than 4×


def test_speculative_decoding_lowers_tpot_at_batch_one() -> None:
    m, hw, e = _real("llama-3.1-70b", "h100-sxm-80gb", "fp8")
    kw = dict(mode=0, tp=4.0, pp=1.0, ep=1.0, input_len=512.0, output_len=256.0, w_bytes=1.0, kv_bytes=1.0)
    base = inf.serve(m, hw, e, **kw)["tpot_s"]
    spec = inf.serve(m, hw, e, draft_len=4.0, accept=0.8, **kw)["tpot_s"]
    # 3.36 tokens per iteration for ≈ 1.2× the iteration cost
    assert 2.0 < float(base / spec) < 3.4


def test_server_slo_tighter_limit_lower_throughput() -> None:
    m, hw, e = _real("llama-3.1-8b", "h100-sxm-80gb", "fp8")
    kw = dict(mode=3, tp=1.0, pp=1.0, ep=1.0, input_len=1000.0, output_len=500.0, w_bytes=1.0, kv_bytes=1.0)
    loose = inf.serve(m, hw, e, slo_tpot_s=0.05, **kw)
    tight = inf.serve(m, hw, e, slo_tpot_s=0.006, **kw)
    never = inf.serve(m, hw, e, slo_tpot_s=0.0005, **kw)
    assert loose["output_tokens_per_s_per_gpu"] > 1.5 * tight["output_tokens_per_s_per_gpu"]
    assert float(tight["tpot_s"]) <= 0.006 and float(loose["tpot_s"]) <= 0.05
    assert not bool(never["slo_met"]) and float(never["best_tpot_s"]) > 0.0005


def test_moe_decode_reads_only_touched_experts() -> None:
    m, hw, e = _real("mixtral-8x7b", "h100-sxm-80gb", "bf16")
    kw = dict(tp=2.0, pp=1.0, ep=1.0, ctx=1.0, w_bytes=2.0, kv_bytes=2.0)
    t1 = inf.decode_iteration(m, hw, e, batch=1.0, **kw)["time_s"]
    t64 = inf.decode_iteration(m, hw, e, batch=64.0, **kw)["time_s"]
    # batch 1 touches 2 of 8 experts (≈ 13 of 47 B parameters), batch 64 all of them
    assert 2.0 < float(t64 / t1) < 4.5


# Published: TensorRT-LLM performance tables (NVIDIA, docs/source/performance.md and perf-overview.md,
# 2023-2025); rows of shared/validation/inference_calibration.csv. Tolerance 25 % each.
PUBLISHED = [
    # model, hw, precision, tp, input, output, batch, mode, requests, target kind, value
    ("llama-3.1-8b", "h100-sxm-80gb", "fp8", 1, 128, 128, None, "offline_max_throughput", 30000, "thr", 28312),
    ("llama-3.3-70b", "h100-sxm-80gb", "fp8", 2, 1000, 1000, None, "offline_max_throughput", 3000, "thr", 2102.5),
    ("gpt-j-6b", "h100-sxm-80gb", "fp8", 1, 128, 128, 1024, "static_batch", None, "thr", 26150),
    ("gpt-j-6b", "a100-sxm-80gb", "fp16", 1, 2048, 1, 1, "latency", None, "ttft", 129),
    ("llama-2-70b", "a100-sxm-80gb", "fp16", 4, 2048, 1, 1, "latency", None, "ttft", 377),
]


def test_published_values() -> None:
    df = pd.DataFrame([{"row_id": str(i), "hardware_id": hw, "model_name": mid, "precision": p, "tp": tp,
                        "num_accelerators": tp, "inf_input_len": il, "inf_output_len": ol,
                        "inf_batch_size": b, "inf_mode": mode, "inf_num_requests": nr}
                       for i, (mid, hw, p, tp, il, ol, b, mode, nr, _, _) in enumerate(PUBLISHED)])
    df = df.astype(object).where(df.notna(), None).astype(str).replace("None", np.nan)
    out = predict_frame(df)
    for r, (*_, kind, value) in zip(out["rows"], PUBLISHED, strict=True):
        assert r["status"] == "ok", r["reason"]
        p = r["prediction"]
        got = p["output_tokens_per_s_per_gpu"] if kind == "thr" else p["ttft_ms"]
        assert got == pytest.approx(value, rel=0.25), (r["row_id"], got, value)
        name = "output_tokens_per_s_per_gpu" if kind == "thr" else "ttft_ms"
        assert p[f"{name}_low"] < got < p[f"{name}_high"]


def _one(**kw: object) -> dict:
    base = {"row_id": "x", "hardware_id": "h100-sxm-80gb", "model_name": "llama-3.1-8b", "precision": "fp8",
            "inf_input_len": "128", "inf_output_len": "128", "inf_mode": "offline_max_throughput"}
    base.update({k: str(v) for k, v in kw.items()})
    return predict_frame(pd.DataFrame([base]))["rows"][0]


def test_predict_row_ok_and_filled() -> None:
    r = _one()
    assert r["status"] == "ok" and r["kind"] == "inference"
    p = r["prediction"]
    assert p["ttft_ms"] is None and p["tpot_ms"] > 0 and "batch" in p["filled"] and "tp" in p["filled"]
    assert p["layout"]["tp"] == 1


@pytest.mark.parametrize(("kw", "start"), [
    ({"inf_input_len": "0"}, "inf_input_len: must be a whole number in [1, 100,000,000] tokens, got 0"),
    ({"inf_output_len": "-5"}, "inf_output_len: must be a whole number in [1, 100,000,000] tokens, got -5"),
    ({"inf_engine": "vllm", "inf_spec_draft_len": "2", "inf_spec_accept": "1.5"},
     "inf_spec_accept: must be 0 or in [0.0001, 1], got 1.5"),
    ({"inf_engine": "vllm", "inf_spec_draft_len": "2", "inf_spec_accept": "1"}, "inf_spec_accept: must be below 1"),
    ({"model_name": "llama-3.1-405b", "precision": "bf16", "tp": "1", "inf_mode": "latency"},
     "memory: does not fit: needs"),
    ({"inf_mode": "server_slo", "inf_slo_tpot_p99_ms": "0.1"}, "inf_slo_ttft_p99_ms: no batch meets"),
    ({"inf_mode": "fastest"}, "inf_mode: must be one of"),
])
def test_predict_row_errors(kw: dict, start: str) -> None:
    r = _one(**kw)
    assert r["status"] == "error"
    assert r["reason"].startswith(start), r["reason"]
    assert "\n" not in r["reason"]


def test_predict_row_format_the_chip_lacks_runs_at_the_next_one() -> None:
    r = _one(hardware_id="a100-sxm-80gb")
    assert r["status"] == "ok"
    p = r["prediction"]
    assert p["precision"] == "bf16" and any("a100-sxm-80gb has no fp8" in n for n in p["notes"])
