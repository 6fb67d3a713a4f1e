"""Out-of-sample interval machinery (chipplan.perf.intervals), by hand."""

import numpy as np
import pytest

from chipplan.perf import intervals


def test_weighted_quantile_matches_hand_computation():
    # Equal weights: midpoints of 4 values sit at 1/8, 3/8, 5/8, 7/8.
    assert intervals.weighted_quantile([4, 1, 3, 2], 0.5) == pytest.approx(2.5)
    assert intervals.weighted_quantile([1, 2, 3, 4], 0.125) == pytest.approx(1.0)
    # Weight 3 on the value 1 moves the median onto it: cumulative midpoints 3/8, 7/8.
    assert intervals.weighted_quantile([1, 2], 0.375, [3, 1]) == pytest.approx(1.0)


def test_group_weights_give_each_group_one_unit():
    w = intervals.group_weights(["a", "a", "a", "b"])
    assert w.tolist() == pytest.approx([1 / 3, 1 / 3, 1 / 3, 1.0])


def test_one_sided_errors_give_an_asymmetric_interval_and_coarse_fallback():
    rng = np.random.default_rng(0)
    n = 200
    groups = np.repeat(["g1", "g2", "g3", "g4"], n // 4)
    moe = np.array(["yes" if i % 2 else "no" for i in range(n)], dtype=object)
    # Dense rows: symmetric ±0.1; MoE rows: measured always below predicted (log residual in [-0.5, 0]).
    r = np.where(moe == "yes", -0.5 * rng.random(n), rng.uniform(-0.1, 0.1, n))
    tab = intervals.fit_table(r, groups, {"moe": moe})
    assert tab["moe=yes"]["high"] == pytest.approx(0.0, abs=0.02)  # nothing above the prediction
    assert tab["moe=yes"]["low"] == pytest.approx(-0.45, abs=0.05)
    assert tab["moe=no"]["low"] == pytest.approx(-0.08, abs=0.02)
    assert tab["moe=no"]["high"] == pytest.approx(0.08, abs=0.02)
    lo, hi, used = intervals.lookup(tab, {"moe": np.array(["yes", "unknown"], dtype=object)})
    assert used.tolist() == ["moe=yes", "*"]  # a regime the table lacks borrows the pooled interval
    assert lo[1] == tab["*"]["low"] and hi[1] == tab["*"]["high"]


def test_regime_with_one_group_borrows_from_coarser_regime():
    r = np.linspace(-0.2, 0.2, 40)
    groups = ["only"] * 20 + ["other"] * 20
    fam = ["x"] * 20 + ["y"] * 20
    tab = intervals.fit_table(r, groups, {"family": fam})
    assert "family=x" not in tab and "*" in tab  # one source group is not enough to set an interval


def test_nested_coverage_and_leave_one_group_out_driver():
    groups = np.repeat(["a", "b", "c", "d", "e"], 10)
    x = np.arange(50, dtype=float)
    y = 2.0 * x + 1.0

    def fit(train):  # least squares slope/intercept without the left-out group
        return np.polyfit(x[train], y[train], 1)

    def predict(coef, test):
        return np.polyval(coef, x[test])

    pred = intervals.leave_one_group_out(groups, fit, predict)
    assert pred == pytest.approx(y)
    s = intervals.summary(y[1:], pred[1:])
    assert s["median_ape"] == pytest.approx(0.0, abs=1e-9) and s["n_predicted"] == 49
    rng = np.random.default_rng(1)
    r = rng.normal(0, 0.1, 500)
    inside = intervals.coverage_out_of_group(r, np.repeat(list("abcde"), 100), {})
    assert 0.72 <= np.nanmean(inside) <= 0.88


def test_a_missing_regime_also_covers_the_same_regime_under_the_other_first_factor():
    # Calibrated families: MoE rows run 10-50 % below the prediction; uncalibrated rows hold no MoE residuals.
    tab = {"*": {"low": -0.1, "high": 0.1}, "cal=yes": {"low": -0.2, "high": 0.1},
           "cal=no": {"low": -0.05, "high": 0.5}, "cal=yes|moe=yes": {"low": -0.7, "high": 0.05},
           "cal=yes|moe=no": {"low": -0.1, "high": 0.1}, "cal=no|moe=no": {"low": -0.05, "high": 0.4}}
    f = {"cal": np.array(["no", "no", "yes"], dtype=object), "moe": np.array(["yes", "no", "yes"], dtype=object)}
    lo, hi, used = intervals.lookup(tab, f)
    assert used.tolist() == ["cal=no", "cal=no|moe=no", "cal=yes|moe=yes"]
    assert (lo[0], hi[0]) == (-0.7, 0.5)  # borrowed cal=no, widened by cal=yes|moe=yes
    assert (lo[1], hi[1]) == (-0.05, 0.4)  # its own regime: unchanged
    assert (lo[2], hi[2]) == (-0.7, 0.05)
