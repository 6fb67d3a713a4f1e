"""Generic two-stage stochastic linear program, solved as one extensive form by HiGHS (highspy, sparse arrays).

The problem (all costs in one currency; minimisation)::

    min_x   c·x + (1-λ)·E_s[ Q_s(x) ] + λ·CVaR_α[ c·x + Q_s(x) ]          (λ = ``risk_weight``)
    s.t.    A x (<=, >=, =) b,   x_lower <= x <= x_upper,  x_j integer where asked
    Q_s(x) = c_s·x + min_y { q_s·y : T_s x + W_s y (<=, >=, =) h_s,  y_lower_s <= y <= y_upper_s }

``c_s`` is a scenario-dependent cost of the first-stage decision (a unit price that moves with the scenario,
a payment due only on delivery). CVaR uses the Rockafellar–Uryasev linearisation
(Rockafellar & Uryasev, "Optimization of conditional value-at-risk", J. Risk 2(3), 2000):
``CVaR_α(C) = min_η η + E[(C-η)^+]/(1-α)``, the same form PyPSA (``set_risk_preference``) and mpi-sppy
(``--cvar``) use, with the weighting ``(1-λ)·E + λ·CVaR`` of PyPSA's ω so that λ ∈ [0, 1] and λ = 0 is
risk-neutral.

Value of information (Birge & Louveaux, *Introduction to Stochastic Programming*, 2nd ed., Springer 2011,
ch. 4), all measured with the same objective F:

- RP  = min_x F(x)                      recourse problem (here-and-now)
- WS  = F(x*_s chosen per scenario)     wait-and-see (perfect foresight)
- EV  = min_x F(x) on the mean scenario; its solution x̄
- EEV = F(x̄)                            expected result of using the EV solution
- EVPI = RP − WS ≥ 0,  VSS = EEV − RP ≥ 0.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from chipplan.errors import FieldError, InfeasibleError

SENSES = ("<=", ">=", "=")
_TOL = 1e-9
_MIP_GAP = 1e-7  # relative optimality gap of the branch and bound
_INTEGRAL_TOL = 1e-7  # an integer column of the relaxation this close to an integer is integral


def _arr(name: str, v: object, shape: tuple[int, ...], *, fill: float | None = None) -> np.ndarray:
    if v is None:
        if fill is None:
            raise FieldError(name, "is required")
        return np.full(shape, fill, dtype=float)
    a = np.asarray(v, dtype=float)
    try:
        a = np.broadcast_to(a, shape).astype(float)
    except ValueError:
        raise FieldError(name, f"must have shape {shape}", a.shape) from None
    if np.isnan(a).any():
        raise FieldError(name, "must not contain NaN")
    return a


def cvar(costs: np.ndarray, probs: np.ndarray | None = None, alpha: float = 0.9, axis: int = -1) -> np.ndarray:
    """Conditional value at risk of a discrete cost distribution (mean of the worst 1-α tail).

    ``CVaR_α = VaR_α + E[(C - VaR_α)^+]/(1-α)`` with VaR_α the α-quantile (smallest c with P(C <= c) >= α);
    this equals the Rockafellar–Uryasev minimum, so CVaR_α >= E[C] for every α in [0, 1).
    Broadcasts over all axes but ``axis``.
    """
    if not 0 <= alpha < 1:
        raise FieldError("alpha", "must be in [0, 1)", alpha)
    c = np.moveaxis(np.asarray(costs, dtype=float), axis, -1)
    n = c.shape[-1]
    p = np.full(n, 1.0 / n) if probs is None else np.asarray(probs, dtype=float)
    order = np.argsort(c, axis=-1, kind="stable")
    cs = np.take_along_axis(c, order, axis=-1)
    ps = p[order]
    cum = np.cumsum(ps, axis=-1)
    k = np.minimum((cum < alpha - 1e-12).sum(axis=-1, keepdims=True), n - 1)
    var = np.take_along_axis(cs, k, axis=-1)
    tail = (ps * np.maximum(cs - var, 0.0)).sum(axis=-1, keepdims=True)
    out = var + tail / (1.0 - alpha)
    # never below the mean: guards rounding in the cumulative sum
    mean = (ps * cs).sum(axis=-1, keepdims=True)
    return np.maximum(out, mean)[..., 0]


@dataclass(frozen=True, kw_only=True)
class TwoStageProblem:
    """Arrays of a two-stage stochastic LP (see module docstring). Shapes: n1 first-stage variables,
    n2 recourse variables, m1 first-stage rows, m2 recourse rows, S scenarios.

    ``T`` is (S, m2, n1); ``W`` is (m2, n2) or (S, m2, n2); ``q``, ``y_lower``, ``y_upper`` (S, n2) or (n2,);
    ``h`` (S, m2); ``c_s`` (S, n1) or None; ``prob`` (S,) summing to one.
    """

    c: np.ndarray
    prob: np.ndarray
    T: np.ndarray
    W: np.ndarray
    h: np.ndarray
    q: np.ndarray
    sense: tuple[str, ...]
    x_lower: np.ndarray | None = None
    x_upper: np.ndarray | None = None
    x_integer: np.ndarray | None = None
    A: np.ndarray | None = None
    b: np.ndarray | None = None
    A_sense: tuple[str, ...] = ()
    y_lower: np.ndarray | None = None
    y_upper: np.ndarray | None = None
    c_s: np.ndarray | None = None
    x_names: tuple[str, ...] = ()
    y_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        c = np.asarray(self.c, dtype=float)
        n1 = c.shape[0]
        p = np.asarray(self.prob, dtype=float)
        S = p.shape[0]
        if S == 0:
            raise FieldError("prob", "needs at least one scenario")
        if (p < 0).any() or (p > 1).any() or not np.isfinite(p).all():
            raise FieldError("prob", "every probability must be in [0, 1]", float(p[(p < 0) | (p > 1)][0]))
        if abs(p.sum() - 1.0) > 1e-6:
            raise FieldError("prob", "must sum to 1", float(p.sum()))
        Tm = np.asarray(self.T, dtype=float)
        if Tm.ndim != 3 or Tm.shape[0] != S or Tm.shape[2] != n1:
            raise FieldError("T", f"must have shape (S={S}, m2, n1={n1})", Tm.shape)
        m2 = Tm.shape[1]
        Wm = np.asarray(self.W, dtype=float)
        n2 = Wm.shape[-1]
        set_ = object.__setattr__
        set_(self, "c", _arr("c", c, (n1,)))
        set_(self, "prob", p)
        set_(self, "T", Tm)
        set_(self, "W", _arr("W", Wm, (m2, n2) if Wm.ndim == 2 else (S, m2, n2)))
        set_(self, "h", _arr("h", self.h, (S, m2)))
        set_(self, "q", _arr("q", self.q, (S, n2)))
        set_(self, "x_lower", _arr("x_lower", self.x_lower, (n1,), fill=0.0))
        set_(self, "x_upper", _arr("x_upper", self.x_upper, (n1,), fill=np.inf))
        set_(self, "x_integer", np.broadcast_to(np.asarray(
            False if self.x_integer is None else self.x_integer, dtype=bool), (n1,)).copy())
        set_(self, "y_lower", _arr("y_lower", self.y_lower, (S, n2), fill=0.0))
        set_(self, "y_upper", _arr("y_upper", self.y_upper, (S, n2), fill=np.inf))
        set_(self, "c_s", _arr("c_s", self.c_s, (S, n1), fill=0.0))
        if len(self.sense) != m2 or any(s not in SENSES for s in self.sense):
            raise FieldError("sense", f"needs {m2} entries from {', '.join(SENSES)}", self.sense)
        if self.A is not None:
            A = np.atleast_2d(np.asarray(self.A, dtype=float))
            set_(self, "A", _arr("A", A, (A.shape[0], n1)))
            set_(self, "b", _arr("b", self.b, (A.shape[0],)))
            if len(self.A_sense) != A.shape[0] or any(s not in SENSES for s in self.A_sense):
                raise FieldError("A_sense", f"needs {A.shape[0]} entries from {', '.join(SENSES)}", self.A_sense)
        if (self.x_lower > self.x_upper).any():
            raise FieldError("x_lower", "must not exceed x_upper")
        if not self.x_names:
            set_(self, "x_names", tuple(f"x{i}" for i in range(n1)))
        if not self.y_names:
            set_(self, "y_names", tuple(f"y{j}" for j in range(n2)))
        if len(self.x_names) != n1 or len(self.y_names) != n2:
            raise FieldError("x_names", "must name every variable once")

    @property
    def n_scenarios(self) -> int:
        return int(self.prob.shape[0])

    def mean_scenario(self) -> TwoStageProblem:
        """The expected-value problem: every scenario array replaced by its probability-weighted mean."""
        p = self.prob

        def m(a: np.ndarray) -> np.ndarray:
            return np.tensordot(p, a, axes=(0, 0))[None]

        W = m(self.W) if self.W.ndim == 3 else self.W
        return TwoStageProblem(
            c=self.c, prob=np.ones(1), T=m(self.T), W=W, h=m(self.h), q=m(self.q), sense=self.sense,
            x_lower=self.x_lower, x_upper=self.x_upper, x_integer=self.x_integer, A=self.A, b=self.b,
            A_sense=self.A_sense, y_lower=m(self.y_lower), y_upper=m(self.y_upper), c_s=m(self.c_s),
            x_names=self.x_names, y_names=self.y_names)

    def subset(self, idx: np.ndarray) -> TwoStageProblem:
        """Scenarios ``idx`` only, probabilities renormalised."""
        p = self.prob[idx] / self.prob[idx].sum()
        W = self.W[idx] if self.W.ndim == 3 else self.W
        return TwoStageProblem(
            c=self.c, prob=p, T=self.T[idx], W=W, h=self.h[idx], q=self.q[idx], sense=self.sense,
            x_lower=self.x_lower, x_upper=self.x_upper, x_integer=self.x_integer, A=self.A, b=self.b,
            A_sense=self.A_sense, y_lower=self.y_lower[idx], y_upper=self.y_upper[idx], c_s=self.c_s[idx],
            x_names=self.x_names, y_names=self.y_names)


@dataclass(frozen=True, kw_only=True)
class Risk:
    """Risk preference: objective (1-λ)·E[C] + λ·CVaR_α[C]; λ = 0 is risk-neutral."""

    weight: float = 0.0
    alpha: float = 0.9

    def __post_init__(self) -> None:
        if not (isinstance(self.weight, int | float) and 0 <= self.weight <= 1):
            raise FieldError("risk.weight", "must be in [0, 1]", self.weight)
        if not (isinstance(self.alpha, int | float) and 0 <= self.alpha < 1):
            raise FieldError("risk.alpha", "must be in [0, 1)", self.alpha)

    def objective(self, costs: np.ndarray, prob: np.ndarray) -> float:
        e = float(np.dot(prob, costs))
        if self.weight == 0:
            return e
        return (1 - self.weight) * e + self.weight * float(cvar(costs, prob, self.alpha))


@dataclass(frozen=True)
class Solution:
    """A solved (or evaluated) first-stage decision and the cost it leads to in every scenario."""

    x: np.ndarray
    objective: float
    scenario_costs: np.ndarray
    expected_cost: float
    cvar_cost: float
    y: np.ndarray = field(repr=False)

    def as_dict(self, names: tuple[str, ...]) -> dict[str, float]:
        return {n: float(v) for n, v in zip(names, self.x, strict=True)}


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """HiGHS prints its banner from C++ straight to file descriptor 1 (not sys.stdout), which would corrupt
    ``--json`` output; point fd 1 at /dev/null while the solver runs."""
    try:
        fd = sys.__stdout__.fileno() if sys.__stdout__ is not None else 1
        sys.__stdout__.flush() if sys.__stdout__ is not None else None
        saved = os.dup(fd)
    except (OSError, ValueError, AttributeError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)


def _run_highs(lp: object, time_limit_s: float) -> tuple[object, object, bool]:
    """One HiGHS run of ``lp`` (single thread, fixed seed): the solver, its model status, and whether it holds
    a feasible point (e.g. at the time limit)."""
    import highspy

    with _quiet_stdout():
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("threads", 1)
        h.setOptionValue("random_seed", 0)
        h.setOptionValue("time_limit", float(time_limit_s))
        h.setOptionValue("mip_rel_gap", _MIP_GAP)
        h.passModel(lp)
        h.run()
        status = h.getModelStatus()
    return h, status, h.getInfo().primal_solution_status == 2


def _solve(pb: TwoStageProblem, risk: Risk, *, fixed_x: np.ndarray | None = None,
           per_scenario_x: bool = False, time_limit_s: float = 60.0) -> Solution:
    """Build the extensive form as one sparse matrix and solve it with HiGHS (highspy).

    Columns: x (n1, or S × n1 when each scenario picks its own first stage), y (S × n2), and for a risk weight
    the CVaR auxiliaries η (free) and u_s >= 0. Rows: first-stage rows A x ⋚ b (once per scenario copy of x),
    recourse rows T_s x + W_s y_s ⋚ h_s, and u_s + η − cost_s >= 0. Building the arrays directly is some
    fifty times faster than a modelling layer for these block-structured problems.
    """
    import highspy
    from scipy import sparse

    S, m2, n1 = pb.T.shape
    n2 = pb.q.shape[1]
    inf = highspy.kHighsInf
    nx = S * n1 if per_scenario_x else n1
    ny = S * n2
    cvar_on = risk.weight > 0
    ncol = nx + ny + (1 + S if cvar_on else 0)
    lo, up = np.asarray(pb.x_lower, dtype=float), np.asarray(pb.x_upper, dtype=float)
    if fixed_x is not None:
        lo = up = np.asarray(fixed_x, dtype=float)
    integer = bool(pb.x_integer.any()) and fixed_x is None
    c_full = pb.c[None, :] + pb.c_s  # (S, n1)
    p = pb.prob
    w_e = (1 - risk.weight) if cvar_on else 1.0
    col_cost = np.zeros(ncol)
    if per_scenario_x:
        col_cost[:nx] = (w_e * p[:, None] * c_full).ravel()
    else:
        col_cost[:nx] = w_e * (p @ c_full)
    col_cost[nx:nx + ny] = (w_e * p[:, None] * pb.q).ravel()
    col_lo = np.concatenate([np.tile(lo, S) if per_scenario_x else lo, pb.y_lower.ravel()])
    col_up = np.concatenate([np.tile(up, S) if per_scenario_x else up, pb.y_upper.ravel()])
    if cvar_on:
        col_cost[nx + ny] = risk.weight
        col_cost[nx + ny + 1:] = risk.weight * p / (1 - risk.alpha)
        col_lo = np.concatenate([col_lo, [-inf], np.zeros(S)])
        col_up = np.concatenate([col_up, [inf], np.full(S, inf)])
    col_lo = np.where(np.isfinite(col_lo), col_lo, -inf)
    col_up = np.where(np.isfinite(col_up), col_up, inf)

    rows_i, cols_j, vals, r_lo, r_up = [], [], [], [], []
    n_rows = 0

    def bounds(sense: tuple[str, ...], rhs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sn = np.array(sense)
        lo_ = np.where(sn == "<=", -inf, rhs)
        up_ = np.where(sn == ">=", inf, rhs)
        return lo_, up_

    def xcol(s_idx: np.ndarray, j: np.ndarray) -> np.ndarray:
        return s_idx * n1 + j if per_scenario_x else j

    if pb.A is not None:
        m1 = pb.A.shape[0]
        copies = S if per_scenario_x else 1
        ai, aj = np.nonzero(pb.A)
        for k in range(copies):
            rows_i.append(n_rows + ai), cols_j.append(xcol(np.full(ai.shape, k), aj)), vals.append(pb.A[ai, aj])
            lo_, up_ = bounds(pb.A_sense, pb.b)
            r_lo.append(lo_), r_up.append(up_)
            n_rows += m1
    # recourse rows: T_s x + W_s y_s
    ts, ti, tj = np.nonzero(pb.T)
    rows_i.append(n_rows + ts * m2 + ti), cols_j.append(xcol(ts, tj)), vals.append(pb.T[ts, ti, tj])
    if pb.W.ndim == 2:
        wi, wj = np.nonzero(pb.W)
        ss = np.repeat(np.arange(S), wi.shape[0])
        rows_i.append(n_rows + ss * m2 + np.tile(wi, S)), cols_j.append(nx + ss * n2 + np.tile(wj, S))
        vals.append(np.tile(pb.W[wi, wj], S))
    else:
        ws_, wi, wj = np.nonzero(pb.W)
        rows_i.append(n_rows + ws_ * m2 + wi), cols_j.append(nx + ws_ * n2 + wj), vals.append(pb.W[ws_, wi, wj])
    lo_, up_ = bounds(pb.sense, np.zeros(m2))
    r_lo.append((np.where(np.isinf(lo_), -inf, 0.0)[None, :] + np.where(np.isinf(lo_), 0.0, pb.h)).ravel())
    r_up.append((np.where(np.isinf(up_), inf, 0.0)[None, :] + np.where(np.isinf(up_), 0.0, pb.h)).ravel())
    n_rows += S * m2
    if cvar_on:
        # u_s + η − c_s·x − q_s·y_s >= 0
        srow = n_rows + np.arange(S)
        cs_s, cs_j = np.nonzero(c_full)
        rows_i.append(srow[cs_s]), cols_j.append(xcol(cs_s, cs_j)), vals.append(-c_full[cs_s, cs_j])
        qs, qj = np.nonzero(pb.q)
        rows_i.append(srow[qs]), cols_j.append(nx + qs * n2 + qj), vals.append(-pb.q[qs, qj])
        rows_i.append(srow), cols_j.append(np.full(S, nx + ny)), vals.append(np.ones(S))
        rows_i.append(srow), cols_j.append(nx + ny + 1 + np.arange(S)), vals.append(np.ones(S))
        r_lo.append(np.zeros(S)), r_up.append(np.full(S, inf))
        n_rows += S
    mat = sparse.csc_matrix((np.concatenate(vals), (np.concatenate(rows_i), np.concatenate(cols_j))),
                            shape=(n_rows, ncol))
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = ncol, n_rows
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = col_cost, col_lo, col_up
    lp.row_lower_, lp.row_upper_ = np.concatenate(r_lo), np.concatenate(r_up)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = mat.indptr, mat.indices, mat.data
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = ncol, n_rows
    kind = None
    if integer:
        kind = np.concatenate([np.where(np.tile(pb.x_integer, S) if per_scenario_x else pb.x_integer, 1, 0),
                               np.zeros(ncol - nx, dtype=int)]).astype(bool)
    # The relaxation first. Its objective is a lower bound on the MIP's, so a point with integral integer columns
    # whose objective meets that bound (within the MIP gap) is a MIP optimum: the relaxation's own point when it
    # comes out integral, else its integer columns rounded and fixed and the rest re-solved (the relaxation
    # often has tied optima, e.g. a training run split between two equally good routes). Only when neither
    # closes the gap does branch and bound run. This spares most of the MIP time of these problems.
    h, status, has_solution = _run_highs(lp, time_limit_s)
    if integer and status == highspy.HighsModelStatus.kOptimal:
        xr = np.asarray(h.getSolution().col_value)[kind]
        if np.abs(xr - np.round(xr)).max(initial=0.0) > _INTEGRAL_TOL:
            bound = h.getInfo().objective_function_value
            frac = np.abs(xr - np.round(xr)) > _INTEGRAL_TOL
            fix_lo, fix_up = col_lo.copy(), col_up.copy()
            idx = np.flatnonzero(kind)
            fix_lo[idx[~frac]] = fix_up[idx[~frac]] = np.round(xr[~frac])
            lp.col_lower_, lp.col_upper_ = fix_lo, fix_up
            lp.integrality_ = [highspy.HighsVarType.kInteger if k else highspy.HighsVarType.kContinuous
                               for k in kind]
            h2, status2, _ = _run_highs(lp, time_limit_s)
            lp.col_lower_, lp.col_upper_ = col_lo, col_up
            if (status2 == highspy.HighsModelStatus.kOptimal
                    and h2.getInfo().objective_function_value <= bound + _MIP_GAP * max(1.0, abs(bound))):
                h = h2
            else:
                lp.integrality_ = [highspy.HighsVarType.kInteger if k else highspy.HighsVarType.kContinuous
                                   for k in kind]
                h, status, has_solution = _run_highs(lp, time_limit_s)
    if status != highspy.HighsModelStatus.kOptimal and not (
            status == highspy.HighsModelStatus.kTimeLimit and has_solution):
        cond = h.modelStatusToString(status)
        raise InfeasibleError(f"stochastic program: HiGHS reports {cond}"
                              + (" (a scenario has no feasible recourse for this decision)"
                                 if "nfeasible" in cond else ""))
    sol = np.asarray(h.getSolution().col_value)
    xv = sol[:nx].reshape(S, n1) if per_scenario_x else sol[:nx]
    if integer:
        xv = np.where(np.broadcast_to(pb.x_integer, xv.shape), np.round(xv), xv)
    yv = sol[nx:nx + ny].reshape(S, n2)
    if per_scenario_x:
        costs = np.einsum("sn,sn->s", c_full, xv) + np.einsum("sn,sn->s", pb.q, yv)
    else:
        costs = c_full @ xv + np.einsum("sn,sn->s", pb.q, yv)
    e = float(np.dot(pb.prob, costs))
    cv = float(cvar(costs, pb.prob, risk.alpha))
    return Solution(x=xv, objective=risk.objective(costs, pb.prob), scenario_costs=costs,
                    expected_cost=e, cvar_cost=cv, y=yv)


def solve_recourse_problem(pb: TwoStageProblem, risk: Risk = Risk()) -> Solution:
    """RP: the here-and-now decision that minimises the risk-weighted objective over all scenarios."""
    return _solve(pb, risk)


def evaluate(pb: TwoStageProblem, x: np.ndarray, risk: Risk = Risk()) -> Solution:
    """Fix the first stage at ``x`` and solve every scenario's recourse (a policy's cost distribution)."""
    x = np.asarray(x, dtype=float)
    if x.shape != pb.c.shape:
        raise FieldError("x", f"must have {pb.c.shape[0]} entries", x.shape)
    if ((x < pb.x_lower - 1e-9) | (x > pb.x_upper + 1e-9)).any():
        raise FieldError("x", "outside the first-stage bounds")
    return _solve(pb, risk, fixed_x=np.clip(x, pb.x_lower, pb.x_upper))


def wait_and_see(pb: TwoStageProblem, risk: Risk = Risk()) -> Solution:
    """WS: each scenario picks its own first stage (non-anticipativity dropped); x has shape (S, n1).

    With perfect foresight every scenario minimises its own cost, and the objective is monotone in each
    scenario's cost, so WS = F(per-scenario minima) even with a CVaR weight: one small problem per scenario."""
    xs, ys, costs = [], [], []
    for s in range(pb.n_scenarios):
        sol = _solve(pb.subset(np.array([s])), Risk())
        xs.append(sol.x), ys.append(sol.y[0]), costs.append(sol.scenario_costs[0])
    c = np.array(costs)
    return Solution(x=np.array(xs), objective=risk.objective(c, pb.prob), scenario_costs=c,
                    expected_cost=float(np.dot(pb.prob, c)), cvar_cost=float(cvar(c, pb.prob, risk.alpha)),
                    y=np.array(ys))


@dataclass(frozen=True)
class ValueOfInformation:
    rp: Solution
    ws: float
    ev_x: np.ndarray
    ev: float
    eev: float

    @property
    def evpi(self) -> float:
        return self.rp.objective - self.ws

    @property
    def vss(self) -> float:
        return self.eev - self.rp.objective


def value_of_information(pb: TwoStageProblem, risk: Risk = Risk(), *, rp: Solution | None = None) -> ValueOfInformation:
    """RP, WS, EV, EEV and from them EVPI = RP − WS and VSS = EEV − RP (Birge & Louveaux ch. 4).

    EEV is +inf when the mean-scenario decision leaves some scenario without feasible recourse.
    """
    rp = rp if rp is not None else solve_recourse_problem(pb, risk)
    ws = wait_and_see(pb, risk).objective
    evs = _solve(pb.mean_scenario(), Risk())
    try:
        eev = evaluate(pb, evs.x, risk).objective
    except InfeasibleError:
        eev = float("inf")
    # the LP optimum can sit a rounding error on the wrong side; the definitions guarantee the order
    tol = 1e-7 * max(1.0, abs(rp.objective))
    if rp.objective < ws <= rp.objective + tol:
        ws = rp.objective
    if rp.objective - tol <= eev < rp.objective:
        eev = rp.objective
    return ValueOfInformation(rp=rp, ws=ws, ev_x=evs.x, ev=evs.objective, eev=eev)
