"""The 8-bit rule of catalog/data/efficiency.yaml: uncalibrated families take the 8-bit/16-bit GEMM-share ratio
the calibrated families fit."""

import pytest

from chipplan.perf import efficiency

RATIO = 1.02  # the header's rule


def test_the_rule_matches_the_calibrated_fits():
    table = efficiency.family_table()
    ratios = []
    for fam in ("hopper", "blackwell"):
        tr = table[fam].for_engine("training")
        ratios.append(tr.matmul_fraction_fp8 / tr.matmul_fraction)
    # hopper 0.606 / 0.615, blackwell 0.579 / 0.550: the rule is their mean, to two digits
    assert sum(ratios) / len(ratios) == pytest.approx(RATIO, abs=0.005)


@pytest.mark.parametrize("fam", [f for f, e in efficiency.family_table().items()
                                 if not e.calibrated and e.matmul_fraction_fp8 > 0])
def test_uncalibrated_families_follow_it(fam):
    e = efficiency.family_table()[fam].for_engine("training")
    assert e.matmul_fraction_fp8 == pytest.approx(RATIO * e.matmul_fraction, abs=0.005)
