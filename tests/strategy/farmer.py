"""The farmer problem of Birge & Louveaux (2011), §1.1: 500 acres of wheat, corn and sugar beets."""

from __future__ import annotations

import numpy as np

from chipplan.strategy.stochastic import TwoStageProblem


def farmer(yield_factors: tuple[float, ...] = (1.2, 1.0, 0.8)) -> TwoStageProblem:
    base = np.array([2.5, 3.0, 20.0])  # t/acre: wheat, corn, beets
    S = len(yield_factors)
    # recourse y: buy wheat, buy corn, sell wheat, sell corn, sell beets at 36 (quota 6000 t), sell beets at 10
    q = np.array([238.0, 210.0, -170.0, -150.0, -36.0, -10.0])
    W = np.array([
        [1, 0, -1, 0, 0, 0],   # wheat: yield + bought - sold >= 200 t (feed)
        [0, 1, 0, -1, 0, 0],   # corn: >= 240 t
        [0, 0, 0, 0, -1, -1],  # beets sold <= beets grown
    ], dtype=float)
    T = np.zeros((S, 3, 3))
    for s, f in enumerate(yield_factors):
        T[s] = np.diag(base * f)
    h = np.tile([200.0, 240.0, 0.0], (S, 1))
    return TwoStageProblem(
        c=np.array([150.0, 230.0, 260.0]), prob=np.full(S, 1.0 / S), T=T, W=W, h=h, q=q,
        sense=(">=", ">=", ">="), A=np.ones((1, 3)), b=np.array([500.0]), A_sense=("<=",),
        y_upper=np.array([np.inf, np.inf, np.inf, np.inf, 6000.0, np.inf]),
        x_names=("wheat", "corn", "beets"),
        y_names=("buy_wheat", "buy_corn", "sell_wheat", "sell_corn", "sell_beets_quota", "sell_beets_extra"))
