"""Shared sweep configurations for the co-design tests."""

import pytest


def small_config(**over):
    cfg = {
        "sampler": "sobol", "seed": 3, "chunk_size": 128,
        "fixed": {"core_class": "gpu-sm", "hbm_generation": "HBM3e", "link_type": "nvlink5", "dies": 0},
        "space": {"node": {"values": ["N3", "N5"]}, "cores": {"low": 32, "high": 160, "integer": True},
                  "clock_ghz": {"low": 1.0, "high": 2.0}, "hbm_stacks": {"values": [2, 4, 8]},
                  "fp8_rate": {"values": [0, 2]}},
        "workloads": {"serve": {"model": "llama-3.1-8b", "input_len": 1024, "output_len": 256, "tp": 1,
                                "slo_tpot_ms": 30}},
        "objectives": {"serve_usd_per_mtok": "min", "serve_tokens_per_s_per_user": "max", "unit_cost_usd": "min"},
    }
    cfg.update(over)
    return cfg


@pytest.fixture
def make_config():
    """A small, fast sweep (Llama 3.1 8B serving on one accelerator) with keyword overrides."""
    return small_config
