"""Low-precision training recipes: which GEMMs run in FP8/INT8, and what quantising costs, by hand."""

import itertools

import numpy as np
import pandas as pd
import pytest

from chipplan import api, catalog
from chipplan.perf import efficiency, stacks, tuned
from chipplan.perf.arithmetic import attention_params_per_layer, mlp_params
from chipplan.perf.columns import Columns
from chipplan.perf.hardware_cols import hardware_row
from chipplan.perf.training import step_time
from chipplan.specs import Model

IDEAL = dict(matmul_fraction=1.0, matmul_fraction_fp8=1.0, matmul_half_dim=0.0, attention_fraction=1.0,
             hbm_fraction=1.0, scale_up_fraction=1.0, scale_out_fraction=1.0, collective_latency_s=0.0,
             tp_overlap=0.0, dp_overlap=1.0, kernel_overhead_s=0.0, moe_layer_overhead_s=0.0)
ALL = dict(lp_fprop=1.0, lp_dgrad=1.0, lp_wgrad=1.0, lp_head=1.0, lp_weight_pass=0.0, lp_amax_fwd=0.0,
           lp_amax_bwd=0.0)
TINY = Model(name="tiny", n_layers=2, d_model=1024, n_heads=8, d_ff=4096, vocab_size=32000, gated_mlp=False)


def _hw(hbm=1e30):
    # An FP8 chip with twice the 16-bit peak; infinite links (one accelerator: no communication at all).
    return Columns(dict(peak16_flops_per_s=1e15, peak_mm_flops_per_s=2e15, fp8=1.0, hbm_bw_bytes_per_s=hbm,
                        hbm_bytes=80e9, scale_up_bw_bytes_per_s=1e30, scale_up_domain=8.0,
                        scale_out_bw_bytes_per_s=1e30))


def _step(recipe, hbm=1e30, **lay):
    base = dict(tp=1, pp=1, dp=1, cp=1, ep=1, vpp=1, micro_batch=1, zero_stage=0, recompute=0, sequence_parallel=1)
    out = step_time(Columns(TINY.to_columns()), _hw(hbm), Columns({**base, **lay, **recipe}), global_batch_seqs=4,
                    seq_len=512, eff=efficiency.for_families(["custom"], IDEAL))
    return float(np.ravel(out["step_time_s"])[0])


def test_forward_only_fp8_by_hand():
    """Full FP8 vs a recipe that keeps dgrad and wgrad in BF16 (MaxText aqt_fp8) on a 2-layer model, 4 micro-batches
    of 512 tokens, ideal efficiencies: each BF16 GEMM takes twice its FP8 time, nothing else changes."""
    T, s, L, n_micro = 512, 512, 2, 4
    p_layer = float(attention_params_per_layer(Columns(TINY.to_columns())) + mlp_params(1024, 4096, 0.0))
    t_g = 2 * T * p_layer / 2e15                       # one forward's layer GEMMs at the FP8 peak
    t_s = 2 * T * 8 * (128 + 128) * (s + 1) / 2 / 1e15  # scores and context at the 16-bit peak
    t_h = 2 * T * 1024 * 32000 / 2e15                  # LM head
    ab = tuned.value("training", "attention_backward_factor")
    full = n_micro * (L * (t_g + t_s + 2 * t_g + ab * t_s) + 3 * t_h)
    assert _step(ALL) == pytest.approx(full, rel=1e-9)
    fwd_only = n_micro * (L * (t_g + t_s + 2 * (2 * t_g) + ab * t_s) + 3 * t_h)
    assert _step({**ALL, "lp_dgrad": 0.0, "lp_wgrad": 0.0}) == pytest.approx(fwd_only, rel=1e-9)
    # The GEMMs alone: (1 + 2·2)/3 of the full-FP8 time, i.e. 6/5 (not 2x) faster than BF16.
    gemm_full, gemm_fwd = 3 * t_g, t_g + 4 * t_g
    assert (fwd_only - full) == pytest.approx(n_micro * L * (gemm_fwd - gemm_full), rel=1e-9)
    # An LM head kept in 16 bits (Megatron's output layer, MaxText's logits): its three GEMMs at half speed.
    assert _step({**ALL, "lp_head": 0.0}) - _step(ALL) == pytest.approx(n_micro * 3 * t_h, rel=1e-9)


def test_quantisation_traffic_by_hand():
    """With a finite HBM: weights quantised at every forward pass cost 3 bytes per parameter per pass, a current-
    scaling amax pass 2 more bytes per quantised activation element (4 projection inputs: 2d + d + d_ff)."""
    bw = 1e12
    p_layer = float(attention_params_per_layer(Columns(TINY.to_columns())) + mlp_params(1024, 4096, 0.0))
    base = _step(ALL, hbm=bw)
    n_micro, L, T = 4, 2, 512
    assert _step({**ALL, "lp_weight_pass": 1.0}, hbm=bw) - base == pytest.approx(
        n_micro * L * 3 * p_layer / bw, rel=1e-9)
    # ... and again in the recomputed forward of full recompute.
    assert (_step({**ALL, "lp_weight_pass": 1.0}, hbm=bw, recompute=2) - _step(ALL, hbm=bw, recompute=2)
            == pytest.approx(2 * n_micro * L * 3 * p_layer / bw, rel=1e-9))
    elems = T * (2 * 1024 + 1024 + 4096)
    assert _step({**ALL, "lp_amax_fwd": 1.0}, hbm=bw) - base == pytest.approx(n_micro * L * 2 * elems / bw,
                                                                                rel=1e-9)
    # Backward: the output gradients' amax is taken once for dgrad and wgrad (2 bytes per element).
    assert _step({**ALL, "lp_amax_bwd": 1.0}, hbm=bw) - base == pytest.approx(n_micro * L * 2 * elems / bw,
                                                                                rel=1e-9)


def test_sixteen_bit_rows_ignore_the_recipe():
    h = Columns({**dict(_hw()), "fp8": 0.0, "peak_mm_flops_per_s": 1e15})
    base = dict(tp=1, pp=1, dp=1, cp=1, ep=1, vpp=1, micro_batch=1, zero_stage=0, recompute=0, sequence_parallel=1)
    eff = efficiency.for_families(["custom"], IDEAL)
    t = [float(np.ravel(step_time(Columns(TINY.to_columns()), h, Columns({**base, **r}), global_batch_seqs=4,
                                  seq_len=512, eff=eff)["step_time_s"])[0])
         for r in (ALL, {**ALL, "lp_dgrad": 0.0, "lp_wgrad": 0.0, "lp_head": 0.0, "lp_weight_pass": 1.0})]
    assert t[0] == pytest.approx(t[1], rel=1e-12)


CASES = [("llama-3.1-8b", "h100-sxm-80gb", "fp8", "hopper"), ("llama-3.1-70b", "b200-sxm-180gb", "fp8", "blackwell"),
         ("llama-3.1-70b", "tpu7x", "fp8", "tpu"), ("gpt3-175b", "tpu-v5p", "int8", "tpu"),
         ("llama-3.1-70b", "mi325x", "fp8", "cdna3")]
LAYS = [dict(tp=1, pp=1, dp=64, cp=1, ep=1, vpp=1, micro_batch=2, zero_stage=3, recompute=2, sequence_parallel=1),
        dict(tp=4, pp=2, dp=8, cp=1, ep=1, vpp=1, micro_batch=1, zero_stage=1, recompute=1, sequence_parallel=1)]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("layout", LAYS)
def test_more_low_precision_gemms_are_never_slower(case, layout):
    """Moving any of fprop, dgrad, wgrad or the LM head to the matmul precision never slows a step, whatever the
    quantisation costs (weights every pass, amax passes), on real shapes and each family's own efficiencies."""
    model, hw_id, prec, fam = case
    m = Columns(catalog.model(model).to_columns())
    h = Columns({k: v for k, v in hardware_row(catalog.accelerator(hw_id), prec).items() if k != "family"})
    eff = efficiency.for_families([fam], engine="training")
    flags = ("lp_fprop", "lp_dgrad", "lp_wgrad", "lp_head")
    for extra in itertools.product((0.0, 1.0), repeat=3):
        costs = dict(zip(("lp_weight_pass", "lp_amax_fwd", "lp_amax_bwd"), extra, strict=True))

        def t(bits, costs=costs):
            lay = Columns({**layout, **costs, **dict(zip(flags, map(float, bits), strict=True))})
            return float(np.ravel(step_time(m, h, lay, global_batch_seqs=512, seq_len=8192, eff=eff)
                                  ["step_time_s"])[0])

        for bits in itertools.product((0, 1), repeat=4):
            for k in range(4):
                if not bits[k]:
                    more = tuple(1 if j == k else b for j, b in enumerate(bits))
                    assert t(more) <= t(bits) * (1 + 1e-12), (bits, more, costs)


@pytest.mark.parametrize(("profile", "precision", "text", "recipe"), [
    ("maxtext-jax", "fp8", "MaxText quantization: fp8", "jax-fp8-delayed"),
    ("maxtext-jax", "fp8", "fp8_full", "jax-fp8-full"),
    ("maxtext-jax", "fp8", "quantization=aqt_fp8", "jax-aqt-fp8-forward"),
    ("maxtext-jax", "int8", "MaxText quantization=int8", "jax-int8"),
    ("megatron-core-2024", "fp8", "FP8-CS (FP8 current scaling)", "te-current"),
    ("megatron-core-2024", "fp8", "MXFP8 (FP8 with 32-element block scales) (table: MXFP8)", "te-block"),
    ("megatron-core-2024", "fp8", "FP8", "te-delayed"),
    ("amd-rocm", "fp8", "FP8", "te-delayed"),
    ("pytorch-fsdp", "fp8", "BF16 + Float8 linears", "torchao-dynamic"),
    ("pytorch-fsdp", "fp8", "float8 rowwise_with_gw_hp", "torchao-rowwise-gw-hp"),
    ("intel-gaudi", "fp8", "FP8", "all-gemms"),
    ("maxtext-jax", "bf16", "bf16", "all-gemms"),
])
def test_recipe_from_the_stack_and_the_precision_text(profile, precision, text, recipe):
    assert stacks.resolve_recipe(profile, precision, text) == recipe


def test_recipes_say_what_their_code_quantises():
    r = stacks.table().low_precision.recipes
    # MaxText aqt_fp8: config_v4(fwd_bits="e4m3", dlhs_bits=None, drhs_bits=None); int8: fwd, dlhs and (LocalAqt) drhs.
    assert r["jax-aqt-fp8-forward"].gemms == ["fprop"]
    assert set(r["jax-int8"].gemms) == {"fprop", "dgrad", "wgrad"}
    # torchao rowwise_with_gw_hp keeps grad_weight in high precision.
    assert set(r["torchao-rowwise-gw-hp"].gemms) == {"fprop", "dgrad"}
    # Megatron-Core's output layer is not a TE module; MaxText does not quantise the logits matmul.
    assert not r["te-delayed"].lm_head and not r["jax-fp8-full"].lm_head
    # Transformer Engine reuses the first micro-batch's FP8 weights; flax/qwix quantise the kernel at every call.
    assert r["te-delayed"].weight_cast == "per_step" and r["jax-fp8-delayed"].weight_cast == "per_pass"


def _row(text, fw="MaxText (JAX/XLA)"):
    return dict(hardware_id="tpu7x", model_name="llama-3.1-70b", category="training",
                num_accelerators=64, seq_len=8192, global_batch_seqs=256, micro_batch_size=4, tp=1, pp=1, dp=64,
                cp=1, zero_stage=3, activation_recompute="full", precision="fp8", framework=fw,
                precision_description=text)


def test_a_forward_only_recipe_is_predicted_slower_and_named():
    out = api.predict(pd.DataFrame([_row("fp8_full"), _row("quantization=aqt_fp8")]), allow_extra_columns=True)
    full, fwd = out.tokens_per_s_per_gpu.tolist()
    assert fwd < full
    assert out.precision_recipe.tolist() == ["jax-fp8-full", "jax-aqt-fp8-forward"]
