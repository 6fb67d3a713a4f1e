"""The 8-bit rule of catalog/data/efficiency.yaml: uncalibrated families reach the same share of their 8-bit peak as
of their 16-bit one, a ratio the calibrated families' fits bracket."""

import pytest

from chipplan.perf import efficiency

RATIO = 1.0  # the header's rule


def test_the_calibrated_fits_bracket_the_rule():
    table = efficiency.family_table()
    ratios = []
    for fam in ("hopper", "blackwell"):
        tr = table[fam].for_engine("training")
        ratios.append(tr.matmul_fraction_fp8 / tr.matmul_fraction)
    # hopper 0.606 / 0.615 = 0.985, blackwell 0.612 / 0.543 = 1.13: the rule lies between them
    assert min(ratios) <= RATIO <= max(ratios)


@pytest.mark.parametrize("fam", [f for f, e in efficiency.family_table().items()
                                 if not e.calibrated and e.matmul_fraction_fp8 > 0])
def test_uncalibrated_families_follow_it(fam):
    e = efficiency.family_table()[fam].for_engine("training")
    assert e.matmul_fraction_fp8 == pytest.approx(RATIO * e.matmul_fraction, abs=0.005)
