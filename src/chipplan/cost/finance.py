"""Financing: capital recovery factor, annuities, interest. Vectorised over rates and terms.

Textbook engineering-economy formulas (e.g. Newnan, *Engineering Economic Analysis*): an amount P
borrowed at rate r per period and repaid in n equal payments costs ``P · CRF(r, n)`` per period.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chipplan.cost._arr import arr, out


def capital_recovery_factor(rate: Any, periods: Any) -> Any:
    """CRF(r, n) = r(1+r)^n / ((1+r)^n − 1); 1/n in the limit r → 0.

    Parameters
    ----------
    rate : interest rate per period (0.08 = 8 %), >= 0.
    periods : number of periods, > 0.

    >>> round(capital_recovery_factor(0.10, 10), 5)
    0.16275
    """
    r = arr("interest_rate", rate)
    n = arr("periods", periods, lo_open=True)
    gm1 = np.expm1(n * np.log1p(r))  # (1+r)^n − 1 without cancellation at tiny r
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        exact = r * (gm1 + 1.0) / gm1
    # below r·n = 1e-6 the quotient loses its digits (denormal rates): the series 1/n + r(n+1)/(2n)
    crf = np.where(r * n < 1e-6, 1.0 / n + r * (n + 1) / (2 * n), exact)
    return out(crf)


def annuity_payment(principal: Any, rate: Any, periods: Any) -> Any:
    """Equal payment per period that repays ``principal`` with interest: P · CRF(r, n)."""
    p = arr("principal_usd", principal)
    return out(p * capital_recovery_factor(rate, periods))


def present_value(payment: Any, rate: Any, periods: Any) -> Any:
    """Present value of ``periods`` equal payments: A / CRF(r, n)."""
    a = arr("payment_usd", payment)
    return out(a / capital_recovery_factor(rate, periods))


def total_interest(principal: Any, annual_rate: Any, years: Any, periods_per_year: int = 12) -> Any:
    """Interest paid over a loan of ``years`` repaid monthly (or per ``periods_per_year``).

    interest = n · P · CRF(r/m, n) − P with n = m · years.
    """
    p = arr("principal_usd", principal)
    r = arr("interest_rate", annual_rate) / periods_per_year
    n = arr("years", years, lo_open=True) * periods_per_year
    return out(n * p * capital_recovery_factor(r, n) - p)
