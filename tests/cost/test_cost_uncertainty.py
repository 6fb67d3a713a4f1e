"""Monte Carlo over p5/p50/p95 triples: exactness of the fit, speed, determinism."""

import time

import numpy as np
import pytest

from chipplan import catalog
from chipplan.catalog import cost as cc
from chipplan.catalog.cost import Dist, Triple
from chipplan.cost import silicon as si
from chipplan.cost import tco as tc
from chipplan.cost import uncertainty as unc
from chipplan.errors import FieldError

CAT = cc.load()


def test_triple_sampling_reproduces_its_percentiles():
    rng = np.random.default_rng(0)
    x = unc.sample(Triple(p5=13495, p50=15000, p95=18000), 200_000, rng)
    b = unc.band(x)
    assert b["p5"] == pytest.approx(13495, rel=0.01)
    assert b["p50"] == pytest.approx(15000, rel=0.01)
    assert b["p95"] == pytest.approx(18000, rel=0.01)
    z = unc.sample(Triple(p5=0.0, p50=0.05, p95=0.10), 200_000, rng)
    assert z.min() >= 0
    assert unc.band(z)["p95"] == pytest.approx(0.10, rel=0.02)


def test_named_distributions():
    rng = np.random.default_rng(1)
    u = unc.sample(Dist(dist="uniform", low=1, high=3), 100_000, rng)
    assert u.min() >= 1
    assert u.max() <= 3
    assert u.mean() == pytest.approx(2, abs=0.01)
    t = unc.sample(Dist(dist="triangular", low=0, mode=1, high=2), 100_000, rng)
    assert t.mean() == pytest.approx(1, abs=0.01)
    ln = unc.sample(Dist(dist="lognormal", median=100, sigma=0.5), 100_000, rng)
    assert np.median(ln) == pytest.approx(100, rel=0.01)
    with pytest.raises(ValueError, match="triangular needs"):
        Dist(dist="triangular", low=0, high=1)


def test_as_uncertain_accepts_user_forms():
    assert unc.as_uncertain([1, 2, 3]) == Triple(p5=1, p50=2, p95=3)
    assert isinstance(unc.as_uncertain({"dist": "uniform", "low": 0, "high": 1}), Dist)
    with pytest.raises(FieldError, match="wafer_price_usd"):
        unc.as_uncertain([3, 2, 1], "wafer_price_usd")


def test_tco_monte_carlo_fast_and_seeded():
    sys_ = catalog.system("dgx-h100")
    p, _ = tc.tco_params(sys_, catalog.accelerator(sys_.accelerator), CAT, years=3)
    t0 = time.process_time()
    a = unc.monte_carlo(tc.system_tco, p, n=100_000, seed=7)
    dt = time.process_time() - t0
    assert dt < 2.0  # CPU seconds (about 0.35 alone), so a loaded machine does not fail it
    b = unc.monte_carlo(tc.system_tco, p, n=100_000, seed=7)
    assert a == b
    c = unc.monte_carlo(tc.system_tco, p, n=100_000, seed=8)
    assert c["owned_total_usd"] != a["owned_total_usd"]
    band = a["owned_total_usd"]
    central = tc.system_tco(**unc.central_params(p))["owned_total_usd"]
    assert band["p5"] < central < band["p95"]
    assert a["cloud_total_usd"]["p5"] == a["cloud_total_usd"]["p95"]  # the cloud price is a fixed quote


def test_chip_monte_carlo_band_brackets_point_estimate():
    rec = si.recipe_for(catalog.accelerator("h100-sxm-80gb"), CAT)
    params = si.chip_params(rec, CAT)
    t0 = time.process_time()
    bands = unc.monte_carlo(lambda **kw: si.chip_cost(rec, CAT, overrides=kw), params, n=100_000, seed=0,
                            outputs=("manufacturing_cost_usd",))
    assert time.process_time() - t0 < 1.0
    b = bands["manufacturing_cost_usd"]
    point = si.chip_cost(rec, CAT)["manufacturing_cost_usd"]
    assert b["p5"] < point < b["p95"]
    assert b["p5"] > 2000
    assert b["p95"] < 6000


def test_samples_must_be_positive():
    with pytest.raises(FieldError, match="samples"):
        unc.sample_params({}, 0, 0)
