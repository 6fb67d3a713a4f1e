"""Cost of work: training runs and cost per million tokens."""

import numpy as np
import pytest

from chipplan.cost import work
from chipplan.errors import FieldError


def test_cost_per_million_tokens_hand_case():
    # InferenceX definition: $2/h, 1,000 tok/s → 2e6 / 3.6e6 = $0.556 per million
    assert work.cost_per_million_tokens(2.0, 1000.0) == pytest.approx(0.5556, abs=1e-4)
    assert work.cost_per_million_tokens(2.0, 1000.0, 0.5) == pytest.approx(1.1111, abs=1e-4)
    v = work.cost_per_million_tokens(np.array([1.0, 2.0]), np.array([[100.0], [1000.0]]))
    assert v.shape == (2, 2)


def test_accelerator_hours_and_cloud_run():
    # 1.5e26 FLOP on H100 BF16 dense at 40 % MFU (reference §1: 50k H100 × 90 days ≈ 1.5e26)
    h = work.accelerator_hours(1.5e26, 989.4e12, 0.4)
    assert h == pytest.approx(1.5e26 / (989.4e12 * 0.4 * 3600))
    assert h / 50_000 / 24 == pytest.approx(87.7, abs=1)
    r = work.training_run_cost(h, usd_per_accelerator_hour=2.0)
    assert r["method"] == "cloud"
    assert r["total_usd"] == pytest.approx(2 * h)


def test_owned_run_epoch_method():
    # Epoch: $33,750 per GPU × 0.322/yr ÷ 8766 h = $1.24/h (reference §6.2)
    rate = work.amortised_usd_per_accelerator_hour(33_750, 0.14)
    assert rate == pytest.approx(1.24, abs=0.01)
    r = work.training_run_cost(1e6, amortised_usd_per_accelerator_hour=rate, power_w_per_accelerator=1275,
                               pue=1.25, electricity_usd_per_kwh=0.0771)
    assert r["energy_usd"] == pytest.approx(1e6 * 1.275 * 1.25 * 0.0771)
    assert r["total_usd"] == pytest.approx(r["compute_usd"] + r["energy_usd"])


def test_errors():
    with pytest.raises(FieldError, match="price"):
        work.training_run_cost(10)
    with pytest.raises(FieldError, match="tokens_per_s_per_accelerator"):
        work.cost_per_million_tokens(2.0, 0.0)
    with pytest.raises(FieldError, match="utilisation"):
        work.cost_per_million_tokens(2.0, 10.0, 1.5)


def test_inference_hook_uses_the_serving_plan():
    fast = work.tokens_per_s_from_inference_engine("llama-3.1-8b", "h100-sxm-80gb", input_len=1024, output_len=256)
    slo = work.tokens_per_s_from_inference_engine("llama-3.1-8b", "h100-sxm-80gb", input_len=1024, output_len=256,
                                                  slo_tpot_ms=10)
    assert fast > 0 and slo <= fast  # a latency limit can only lower throughput per accelerator
    assert work.cost_per_million_tokens(2.0, slo) >= work.cost_per_million_tokens(2.0, fast)
