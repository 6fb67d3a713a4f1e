"""Capital recovery factor and annuities against textbook values."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chipplan.cost import finance as fi
from chipplan.errors import FieldError


@pytest.mark.parametrize(("r", "n", "crf"), [(0.10, 10, 0.16275), (0.08, 3, 0.38803), (0.05, 20, 0.08024),
                                             (0.12, 5, 0.27741), (0.06, 30, 0.07265)])
def test_crf_matches_compound_interest_tables(r, n, crf):
    assert fi.capital_recovery_factor(r, n) == pytest.approx(crf, abs=5e-6)


def test_crf_zero_rate_is_straight_line():
    assert fi.capital_recovery_factor(0.0, 4) == 0.25


def test_mortgage_annuity_textbook():
    # $100,000 at 6 %/yr over 30 years, monthly: $599.55 per month
    assert fi.annuity_payment(100_000, 0.06 / 12, 360) == pytest.approx(599.55, abs=0.01)
    assert fi.present_value(599.55, 0.06 / 12, 360) == pytest.approx(100_000, abs=5)
    assert fi.total_interest(100_000, 0.06, 30) == pytest.approx(599.55 * 360 - 100_000, abs=5)


def test_reference_financing_overhead():
    # reference §6.2: 8 % interest adds about 13 % over 3 years on a loan-financed server (monthly payments)
    assert fi.total_interest(1.0, 0.08, 3) == pytest.approx(0.128, abs=0.002)


def test_vectorised():
    r = np.array([0.0, 0.05, 0.1])
    n = np.array([[1.0], [10.0]])
    out = fi.capital_recovery_factor(r, n)
    assert out.shape == (2, 3)
    assert out[0, 1] == pytest.approx(1.05)


@settings(max_examples=50, deadline=None)
@given(st.floats(0, 0.5), st.floats(0.001, 0.1), st.floats(1, 40))
def test_crf_rises_with_rate(r, dr, n):
    assert fi.capital_recovery_factor(r + dr, n) >= fi.capital_recovery_factor(r, n)


def test_bad_inputs():
    with pytest.raises(FieldError, match="interest_rate"):
        fi.capital_recovery_factor(-0.1, 3)
    with pytest.raises(FieldError, match="periods"):
        fi.capital_recovery_factor(0.1, 0)
