"""Attention's head dimension on a systolic matrix unit (TPU MXU): padded to a multiple of the unit's side."""

import numpy as np
import pytest
from ideal_columns import IDEAL, hw, lay

from chipplan import catalog
from chipplan.perf import efficiency, tuned
from chipplan.perf.columns import Columns
from chipplan.perf.efficiency import matrix_unit_fill
from chipplan.perf.hardware_cols import hardware_row
from chipplan.perf.training import step_time
from chipplan.specs import Model


def model(head_dim: int, n_heads: int = 8) -> Model:
    return Model(name=f"hd{head_dim}", n_layers=2, d_model=512, n_heads=n_heads, head_dim=head_dim, d_ff=2048,
                 vocab_size=1000, gated_mlp=True)


def compute(m: Model, width: float, seq: int = 4096) -> float:
    eff = efficiency.for_families(["custom"], IDEAL)
    out = step_time(Columns(m.to_columns()), hw(matrix_unit_width=width), lay(), global_batch_seqs=1, seq_len=seq,
                    eff=eff)
    return float(np.ravel(out["compute_s"])[0])


def test_head_dim_64_on_a_256_wide_unit_by_hand():
    """Head dim 64, 8 heads, 2 layers, one 4096-token sequence, ideal kernels at 1 PFLOP/s. Unpadded, the scores and
    the context cost 2·T·h·(64 + 64)·ctx FLOP a layer forward, ctx = (s + 1)/2 (causal); on a 256-wide MXU each
    head dimension is padded to 256, so the attention takes 256/64 = 4 times as long: 3 extra attention times per
    layer pass, forward (1) and backward (attention_backward_factor)."""
    s = 4096
    t_plain = 2 * s * 8 * (64 + 64) * (s + 1) / 2 / 1e15
    assert t_plain == pytest.approx(1.718e-5, rel=1e-3)  # 17.2 µs a layer forward
    bwd = tuned.value("training", "attention_backward_factor")
    extra = compute(model(64), 256.0) - compute(model(64), 0.0)
    assert extra == pytest.approx(2 * (1 + bwd) * t_plain * (256 / 64 - 1), rel=1e-9)
    # on a 128-wide unit (TPU v4/v5p) the same head dimension is padded to 128: twice the attention time
    extra128 = compute(model(64), 128.0) - compute(model(64), 0.0)
    assert extra128 == pytest.approx(2 * (1 + bwd) * t_plain * (128 / 64 - 1), rel=1e-9)


def test_fill_by_hand():
    assert float(matrix_unit_fill(64, 256)) == pytest.approx(0.25)
    assert float(matrix_unit_fill(128, 256)) == pytest.approx(0.5)
    assert float(matrix_unit_fill(192, 256)) == pytest.approx(0.75)  # DeepSeek MLA's 128 + 64 Q/K head
    assert float(matrix_unit_fill(192, 128)) == pytest.approx(0.75)  # padded to 256 on a 128-wide unit
    assert float(matrix_unit_fill(80, 128)) == pytest.approx(80 / 128)
    assert float(matrix_unit_fill(64, 0)) == 1.0  # no systolic unit modelled (GPUs)


def test_fill_never_above_one_and_monotone_up_to_the_width():
    for w in (128.0, 256.0):
        d = np.arange(1.0, w + 1.0)
        f = matrix_unit_fill(d, w)
        assert np.all(f <= 1.0) and np.all(f > 0.0)
        assert np.all(np.diff(f) > 0.0)  # strictly better until the head fills the unit
        assert float(f[-1]) == 1.0
        # beyond the width it never exceeds 1 and is exactly 1 at every multiple
        big = matrix_unit_fill(np.arange(w + 1.0, 4 * w + 1.0), w)
        assert np.all(big <= 1.0)
        assert np.all(matrix_unit_fill(np.array([w, 2 * w, 3 * w]), w) == 1.0)
    # vectorised over arrays of widths and dims alike
    f = matrix_unit_fill(np.array([[64.0], [128.0]]), np.array([0.0, 128.0, 256.0]))
    assert f.shape == (2, 3)
    np.testing.assert_allclose(f, [[1.0, 0.5, 0.25], [1.0, 1.0, 0.5]])


@pytest.mark.parametrize(("head_dim", "width"), [(128, 128), (256, 128), (256, 256), (512, 256)])
def test_head_dims_that_fill_the_unit_are_unchanged(head_dim, width):
    m = model(head_dim, n_heads=4)
    assert compute(m, float(width)) == pytest.approx(compute(m, 0.0), rel=1e-12)


def test_attention_time_monotone_in_head_dim_up_to_the_width():
    """Below the width a smaller head does not run faster: its padded FLOP are the width's, so the attention time
    (the padded step less the unpadded one, plus the unpadded attention) is the same for every head dimension up
    to the width, and the share of the unit the attention uses grows with the head dimension."""
    s, bwd = 4096, tuned.value("training", "attention_backward_factor")

    def plain(d):  # unpadded attention of the 2 layers, forward and backward
        return 2 * (1 + bwd) * 2 * s * 8 * (d + d) * (s + 1) / 2 / 1e15

    dims = (32, 64, 96, 128, 192, 256)
    attn = np.array([compute(model(d), 256.0) - compute(model(d), 0.0) + plain(d) for d in dims])
    np.testing.assert_allclose(attn, attn[-1], rtol=1e-9)
    share = np.array([plain(d) for d in dims]) / attn
    assert np.all(np.diff(share) > 0) and np.all(share <= 1.0 + 1e-12)
    assert share[-1] == pytest.approx(1.0, rel=1e-9)


def test_catalog_mxu_sides():
    """TPU v3-v5p: 128x128 MXUs; v6e and TPU7x: 256x256 (Cloud TPU docs; JAX tpu_info); GPUs: none modelled."""
    def width(hid):
        return hardware_row(catalog.accelerator(hid), "bf16")["matrix_unit_width"]

    assert width("tpu-v3") == width("tpu-v4") == width("tpu-v5e") == width("tpu-v5p") == 128.0
    assert width("tpu-v6e") == width("tpu7x") == 256.0
    assert width("h100-sxm-80gb") == width("a100-sxm-80gb") == 0.0


def test_mla_backward_pads_three_qk_and_two_v_products_by_hand():
    """MLA (DeepSeek-V3's 128 + 64 Q/K and 128 V head dimensions) on a 256-wide unit: both are padded to 256. The
    forward's scores and context cost c·(256 + 256) instead of c·(192 + 128); the backward's five products (S, dQ,
    dK over the Q/K dimension, dP, dV over the V dimension) cost (3·256 + 2·256)/(3·192 + 2·128) = 1280/832 of
    their unpadded time, which the tuned forward-times factor applies to c·(192 + 128)."""
    s, h = 4096, 8
    m = Model(name="mla", n_layers=2, d_model=512, n_heads=h, head_dim=128, d_ff=2048, vocab_size=1000,
              gated_mlp=True, attention="mla", q_lora_rank=256, kv_lora_rank=128, qk_nope_head_dim=128,
              qk_rope_head_dim=64, v_head_dim=128)
    c = 2 * s * h * (s + 1) / 2 / 1e15  # FLOP-time per unit of head dimension, one layer forward
    bwd = tuned.value("training", "attention_backward_factor")
    per_layer = c * (512 - 320) + bwd * c * 320 * (1280 / 832 - 1)
    extra = compute(m, 256.0) - compute(m, 0.0)
    assert extra == pytest.approx(2 * per_layer, rel=1e-9)
    # the backward pads less than the forward here (1280/832 = 1.54 against 512/320 = 1.6): scaling the backward
    # by the forward's padding would overstate it by 4 %
    rescaled_by_forward = c * (512 - 320) * (1 + bwd)
    assert 2 * rescaled_by_forward > 1.03 * extra


def test_spec_matrix_unit_width_default_and_bounds():
    from chipplan.errors import FieldError
    from chipplan.specs import Accelerator

    base = dict(id="x", peak_bf16_flops_per_s=1e15, hbm_bytes=1e11, hbm_bw_bytes_per_s=1e12,
                scale_up_bw_bytes_per_s=1e11, scale_out_bw_bytes_per_s=1e10)
    assert Accelerator(**base, family="tpu").matrix_unit_width == 128
    assert Accelerator(**base, family="hopper").matrix_unit_width == 0
    assert Accelerator(**base, family="tpu", matrix_unit_width=256).matrix_unit_width == 256
    with pytest.raises(FieldError, match=r"accelerators\.x\.matrix_unit_width: must be 0 to 4096"):
        Accelerator(**base, matrix_unit_width=12800)
    with pytest.raises(FieldError, match=r"accelerators\.x\.matrix_unit_width"):
        Accelerator(**base, matrix_unit_width=-1)
