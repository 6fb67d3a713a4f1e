import numpy as np
import pytest

from chipplan import catalog
from chipplan.perf import arithmetic as ar
from chipplan.perf.columns import Columns
from chipplan.specs import Model

# Published parameter counts (model cards / papers) and the tolerance each is known to.
PUBLISHED = [
    ("llama-2-7b", 6.74e9, None, 0.005),
    ("llama-2-70b", 68.98e9, None, 0.005),
    ("llama-3.1-8b", 8.03e9, None, 0.005),
    ("llama-3.1-70b", 70.55e9, None, 0.005),
    ("llama-3.1-405b", 405.85e9, None, 0.005),
    ("mixtral-8x7b", 46.70e9, 12.88e9, 0.005),
    ("deepseek-v3", 671e9, 37e9, 0.02),
    ("gpt3-175b", 175e9, None, 0.01),
]


@pytest.mark.parametrize(("mid", "total", "active", "tol"), PUBLISHED)
def test_published_parameter_counts(mid, total, active, tol):
    p = ar.param_counts(catalog.model(mid))
    assert float(p["total"]) == pytest.approx(total, rel=tol)
    if active:
        assert float(p["active"]) == pytest.approx(active, rel=tol)


def tiny(**kw):
    base = dict(name="tiny", n_layers=2, d_model=64, n_heads=4, d_ff=256, vocab_size=1000, gated_mlp=False)
    return Model(**{**base, **kw})


def test_hand_counted_tiny_model():
    m = tiny()
    # per layer: attention 4·64² + MLP 2·64·256 + 2 norms of 64; embeddings 1000·64 in and out; final norm.
    per_layer = 4 * 64 * 64 + 2 * 64 * 256 + 2 * 64
    assert float(ar.param_counts(m)["total"]) == 2 * per_layer + 2 * 1000 * 64 + 64
    tied = tiny(tied_embeddings=True)
    assert float(ar.param_counts(tied)["total"]) == 2 * per_layer + 1000 * 64 + 64


def test_gqa_and_head_dim_change_attention_weights():
    m = tiny(n_kv_heads=1, head_dim=32)  # MQA with wider heads: q,o 64·4·32, k,v 64·1·32
    assert float(ar.attention_params_per_layer(m)) == 2 * 64 * 128 + 2 * 64 * 32


def test_flops_match_the_6n_12lhs_rule_without_causal_mask():
    for mid in ("gpt3-175b", "llama-2-70b", "megatron-gpt-18.4b"):
        m = catalog.model(mid)
        for s in (2048, 8192):
            exact = 3 * float(ar.forward_flops_per_token(m, s, causal=False))
            rule = float(ar.rule_of_thumb_flops_per_token(m, s))
            assert exact == pytest.approx(rule, rel=1e-3)  # norms are the only difference


def test_causal_mask_halves_the_attention_term():
    m = catalog.model("llama-3.1-8b")
    s = 8192
    full = float(ar.attention_score_flops_per_token(m, s, causal=False))
    causal = float(ar.attention_score_flops_per_token(m, s, causal=True))
    assert causal == pytest.approx(full * (s + 1) / (2 * s))
    # 2·L·n_h·(d_qk + d_v)·s = 2·32·32·256·8192
    assert full == 2 * 32 * 32 * 256 * 8192


def test_kv_cache_bytes_by_hand():
    # Llama 3.1 8B, GQA: 2 (K and V) · 32 layers · 8 kv heads · 128 dims · 2 bytes
    assert float(ar.kv_cache_bytes_per_token(catalog.model("llama-3.1-8b"), "bf16")) == 2 * 32 * 8 * 128 * 2
    # DeepSeek-V3, MLA: 61 layers · (512 latent + 64 rope) · 1 byte in fp8
    assert float(ar.kv_cache_bytes_per_token(catalog.model("deepseek-v3"), "fp8")) == 61 * 576


def test_vectorised_matches_scalar():
    ms = [catalog.model(x) for x in ("llama-2-7b", "mixtral-8x7b", "deepseek-v3")]
    cols = Columns.stack(ms)
    vec = ar.param_counts(cols)["active"]
    assert np.allclose(vec, [float(ar.param_counts(m)["active"]) for m in ms])
    s = np.array([[1024], [4096]])  # broadcast models × sequence lengths
    f = ar.forward_flops_per_token(cols, s)
    assert f.shape == (2, 3)
    assert np.all(f[1] > f[0])


def test_bad_precision_names_the_field():
    with pytest.raises(ValueError, match="precision: must be one of"):
        ar.weight_bytes(catalog.model("llama-2-7b"), "fp12")
