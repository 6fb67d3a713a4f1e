"""Layout candidates and the layout rules, shared by the training and the serving search.

The dimensions and the rules are declared in ``chipplan.specs.layout``; this module holds their formulas.

* ``rule_checks`` / ``invalid_code``: which rule (``RULES``) a layout breaks, for training or serving.
* ``expand``: every candidate layout of every configuration, as flat arrays (one element per candidate,
  grouped by configuration). Open sizes (tp, pp, cp, ep) run over the divisors of the accelerator count that
  the rules leave possible (so ``pp = 35`` on 280 accelerators is a candidate, stated or not); the other open
  fields over their declared ``values``. Candidates breaking a rule are dropped after each stage, keeping each
  configuration's first candidate so that one without a valid layout can still report the rule it breaks.
* ``serving_layouts``: the (tp, pp, ep) candidates of one serving replica; ``serving_tp_sizes`` their tp sizes
  for many rows at once (the predict table's inference rows fill and search tp over the same sizes).
* ``layout_error``: one line saying why a configuration has no valid layout.

Training and serving apply the same rules (``RULES``). The deliberate differences, the only ones:

* the step rules 6–8 (global batch, micro-batch, sequence split, interleaving) concern training only;
* serving evaluates one replica: ``dp`` and ``cp`` are 1 inside it (replicas are counted separately), so the
  shared rule 5 "ep divides tp·dp·cp" reads "ep divides tp" until attention data parallelism is modelled;
* the serving search (``serving_layouts``, with no accelerator count) tries tp within the scale-up domain
  (every decode step all-reduces over tp) and pipelines only once tp fills the domain, over ``SERVING_PP``
  stages; stated sizes may go beyond, within the rules.

>>> divisors(280).tolist()
[1, 2, 4, 5, 7, 8, 10, 14, 20, 28, 35, 40, 56, 70, 140, 280]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chipplan.errors import FieldError
from chipplan.perf.columns import Columns
from chipplan.specs.layout import DIMENSIONS_BY_NAME, RULES, TRAINING_ONLY, TRAINING_SEARCHED

#: Searched training fields, in the order candidates are enumerated.
LAYOUT_FIELDS = tuple(d.name for d in TRAINING_SEARCHED)
#: Sizes whose candidates are divisors of the accelerator count; enumerated (and filtered) first.
STRUCTURAL = tuple(d.name for d in TRAINING_SEARCHED if d.divides_accelerators)
VALUES = {d.name: np.array(d.values, dtype=float) for d in TRAINING_SEARCHED if not d.divides_accelerators}
#: The value of each enumerated (non-size) field that no rule refuses whatever the rest of the layout: one
#: virtual stage, micro-batch 1, no ZeRO sharding, no recompute (rules 6, 8 and 10 then hold or fail on the
#: other fields alone).
NEUTRAL = {"vpp": 1.0, "micro_batch": 1.0, "zero_stage": 0.0, "recompute": 0.0}
#: Pipeline stages ``chipplan serve`` tries when no accelerator count is given.
SERVING_PP = (1, 2, 4)


def divisors(n: int) -> np.ndarray:
    """The divisors of a positive integer, ascending."""
    n = int(n)
    small = np.arange(1, int(np.sqrt(n)) + 1)
    small = small[n % small == 0]
    return np.unique(np.concatenate([small, n // small]))


def _divides(a: Any, b: Any) -> Any:
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    return (a > 0) & (np.mod(b, np.where(a > 0, a, 1.0)) == 0)


def rule_checks(model: Columns, lay: Columns, *, n_gpu: Any, domain: Any, global_batch_seqs: Any = None,
                seq_len: Any = None, serving: bool = False) -> list[tuple[int, Any]]:
    """(rule code, True where the layout keeps the rule) for every rule that applies (``RULES``)."""
    tp, pp, dp, cp, ep = lay.tp, lay.pp, lay.dp, lay.cp, lay.ep
    domain = np.maximum(domain, 1.0)
    checks = {
        1: lambda: np.abs(tp * pp * dp * cp - n_gpu) < 0.5,
        2: lambda: _divides(tp, model.n_heads),
        3: lambda: pp <= model.n_layers,
        4: lambda: np.where(model.n_experts > 0, _divides(ep, model.n_experts), ep == 1),
        5: lambda: _divides(ep, tp * dp * cp),
        6: lambda: _divides(dp * lay.micro_batch, global_batch_seqs),
        7: lambda: _divides(cp, seq_len),
        # Stages may hold unequal layer counts, and Megatron can count the embedding and the loss as pipeline
        # layers, so a virtual stage needs one of the n_layers + 2 slots.
        8: lambda: np.where(pp > 1, pp * lay.vpp <= model.n_layers + 2, lay.vpp == 1),
        # A stated tp and cp beyond the domain are costed (their traffic crosses the scale-out network), not
        # refused: long-context recipes state them.
        9: lambda: (tp * cp <= domain * 2) | (lay.get("tp_cp_stated", 0.0) > 0),
        # An empty field is filled only with what the row's software stack could run (chipplan.perf.stacks).
        10: lambda: ~(((lay.get("recompute", 0.0) == 1) & (lay.get("allows_selective", 1.0) == 0))
                      | ((lay.get("vpp", 1.0) > 1) & (lay.get("allows_interleave", 1.0) == 0))
                      | ((lay.get("zero_stage", 0.0) > 0) & (lay.get("allows_zero", 1.0) == 0))
                      | (lay.get("zero_stage", 0.0) > lay.get("max_zero", 3.0))),
    }
    return [(k, checks[k]()) for k in RULES if not (serving and k in TRAINING_ONLY)]


def invalid_code(model: Columns, lay: Columns, *, n_gpu: Any, global_batch_seqs: Any = None, seq_len: Any = None,
                 domain: Any, serving: bool = False) -> np.ndarray:
    """0 where the layout is valid, else the code (``RULES``) of the first rule it breaks."""
    checks = rule_checks(model, lay, n_gpu=n_gpu, domain=domain, global_batch_seqs=global_batch_seqs,
                         seq_len=seq_len, serving=serving)
    code = np.zeros(np.broadcast(*[c for _, c in checks]).shape, dtype=np.int8)
    for k, ok in reversed(checks):
        code = np.where(ok, code, np.int8(k))
    return code


def _quotient(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b as an integer where b divides a, else 1 (a stated size that breaks rule 1 is reported by it)."""
    q = a / b
    return np.where(np.abs(q - np.round(q)) < 1e-9, np.round(q), 1.0).astype(np.int64)


class Candidates(Columns):
    """Candidate layouts of configurations: the fields the search sets are held per candidate; every other column
    (model, hardware, batch) is gathered from the configurations' ``base`` by ``rows`` only when first read, so
    the search never copies the columns of a candidate it drops, nor columns nothing reads."""

    def __init__(self, base: Columns, rows: np.ndarray, own: dict[str, np.ndarray]):
        super().__init__()
        self._base, self._rows, self._own = base, rows, set(own)
        for k, v in own.items():
            dict.__setitem__(self, k, v)

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self._own.add(key)

    def __missing__(self, key: str) -> np.ndarray:
        v = self._base[key]  # KeyError when no such column
        v = v[self._rows] if v.ndim else v
        dict.__setitem__(self, key, v)
        return v

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or key in self._base

    def get(self, key: str, default: Any = None) -> Any:
        if key in self:  # dict.get would not gather a base column (__missing__)
            return self[key]
        return default

    @property
    def rows(self) -> np.ndarray:
        """The configuration (index into ``base``) of each candidate."""
        return self._rows

    def select(self, idx: Any) -> Candidates:
        """The candidates ``idx`` (an index or a mask), with their own fields."""
        return Candidates(self._base, self._rows[idx], {k: dict.__getitem__(self, k)[idx] for k in self._own})


def _bound(field: str, c: Columns) -> tuple[np.ndarray, np.ndarray]:
    """Per candidate: the integer whose divisors are possible values of ``field`` given the fields already
    chosen (rules 1, 2, 4, 5, 7), and the largest value the rules allow (3, 9)."""
    n = np.round(c.n_gpu).astype(np.int64)
    if field == "tp":
        return np.gcd(n, np.round(c.n_heads).astype(np.int64)), 2 * np.maximum(c.scale_up_domain, 1.0)
    if field == "pp":
        return _quotient(n, c.tp), c.n_layers
    if field == "cp":
        return np.gcd(_quotient(n, c.tp * c.pp), np.round(c.seq_len).astype(np.int64)), \
            2 * np.maximum(c.scale_up_domain, 1.0) / c.tp
    if field == "ep":
        experts = np.round(c.n_experts).astype(np.int64)
        return np.where(experts > 0, np.gcd(_quotient(n, c.pp), experts), 1), np.full(len(n), np.inf)
    raise KeyError(field)


def _expand_field(cols: Candidates, field: str, open_: np.ndarray) -> Candidates:
    """Each candidate whose configuration leaves ``field`` open becomes one candidate per possible value
    (ascending, in place); the others are kept as they are."""
    if not open_.any():
        return cols
    if field in VALUES:
        universe = VALUES[field]
        ok = np.ones((len(open_), len(universe)), dtype=bool)
    else:
        g, cap = _bound(field, cols)
        top = int(min(np.max(np.minimum(g[open_], cap[open_])), np.max(g[open_])))
        universe_i = np.arange(1, max(top, 1) + 1)
        gu = np.unique(g[open_])
        universe_i = universe_i[(gu[:, None] % universe_i[None, :] == 0).any(axis=0)]
        universe = universe_i.astype(float)
        ok = (g[:, None] % universe_i[None, :] == 0) & (universe[None, :] <= cap[:, None] + 1e-9)
        ok[:, 0] = True  # 1 is always a candidate, so every configuration keeps one
    ok[~open_] = False
    ok[~open_, 0] = True
    ci, vi = np.nonzero(ok)
    out = cols.select(ci)
    out[field] = np.where(open_[ci], universe[vi], out[field])
    return out


def _filter(cols: Candidates) -> Candidates:
    """Drop candidates that break a rule, keeping each configuration's first candidate."""
    code = invalid_code(cols, cols, n_gpu=cols.n_gpu, global_batch_seqs=cols.global_batch_seqs,
                        seq_len=cols.seq_len, domain=cols.scale_up_domain)
    rows = cols.rows
    first = np.r_[True, rows[1:] != rows[:-1]]
    return cols.select((code == 0) | first)


def _derive_dp(cols: Columns) -> None:
    derived = np.maximum(np.floor(cols.n_gpu / (cols.tp * cols.pp * cols.cp) + 1e-9), 1.0)
    # A stated dp is kept (and rule 1 rejects candidates that then miss the accelerator count).
    cols["dp"] = np.where(cols.dp_stated > 0, cols.dp_stated, derived) if "dp_stated" in cols else derived


def expand(base: dict[str, np.ndarray], missing: dict[str, np.ndarray]) -> tuple[Candidates, np.ndarray]:
    """Every valid training layout of every configuration (and the first candidate of those with none).

    ``base`` maps every column (model, hardware, ``n_gpu``, ``global_batch_seqs``, ``seq_len``, the layout
    fields with any value where open, optionally ``dp_stated`` > 0) to arrays of ``n`` configurations;
    ``missing`` maps each field of ``LAYOUT_FIELDS`` to a boolean array (True where open). Returns the
    candidate columns (``dp`` derived as ``n_gpu / (tp·pp·cp)`` unless stated) and, for each candidate, the
    index of its configuration; candidates are grouped by configuration, in ascending order of the fields.

    Only the fields a configuration leaves open are enumerated, and only the layout fields are carried per
    candidate (``Candidates``): the model and hardware columns are read through the configuration index. The
    sizes come first, one at a time, each over the values the fields before it leave possible; then the rules
    are checked (with micro-batch 1 and vpp 1, necessary conditions, so no valid layout is lost) and the
    remaining fields enumerated on the survivors only. This keeps the arrays small for mixture-of-experts
    models and large accelerator counts.
    """
    src = Columns(base)
    n = len(next(iter(src.values())))
    # An open field holds, until it is enumerated, the value no rule can refuse (NEUTRAL), so each filter below
    # drops only candidates that every value of the fields still open would leave invalid.
    cols = Candidates(src, np.arange(n), {f: np.where(missing[f], NEUTRAL[f], src[f]) if f in NEUTRAL else src[f]
                                          for f in LAYOUT_FIELDS})
    for f in STRUCTURAL:
        cols = _expand_field(cols, f, missing[f][cols.rows])
    _derive_dp(cols)
    cols = _filter(cols)
    for f in LAYOUT_FIELDS:
        if f not in STRUCTURAL:
            opened = missing[f][cols.rows]
            if opened.any():
                cols = _filter(_expand_field(cols, f, opened))
    return cols, cols.rows


def serving_tp_sizes(n_heads: Any, domain: Any) -> tuple[np.ndarray, np.ndarray]:
    """The tensor-parallel sizes the serving search tries, for many rows at once: ``(sizes, tried)``, ``sizes``
    the whole numbers 1 … the largest scale-up domain and ``tried[row, k]`` True where ``sizes[k]`` divides the
    row's attention heads (rule 2) and fits its scale-up domain (every decode step all-reduces over tp).

    >>> sizes, tried = serving_tp_sizes([32, 40], [8, 8])
    >>> sizes[tried[0]].tolist(), sizes[tried[1]].tolist()
    ([1.0, 2.0, 4.0, 8.0], [1.0, 2.0, 4.0, 5.0, 8.0])
    """
    domain = np.maximum(np.nan_to_num(np.atleast_1d(np.asarray(domain, dtype=float)), nan=1.0), 1.0)
    heads = np.atleast_1d(np.asarray(n_heads, dtype=float))
    sizes = np.arange(1.0, np.floor(np.max(domain)) + 1.0)
    tried = (sizes[None, :] <= domain[:, None]) & (np.mod(heads[:, None], sizes[None, :]) == 0)
    return sizes, tried


def serving_layouts(n_heads: int, n_layers: int, n_experts: int, domain: int, *, tp: list[int] | None = None,
                    pp: list[int] | None = None, ep: list[int] | None = None) -> list[tuple[int, int, int]]:
    """(tp, pp, ep) candidates of one serving replica, when no accelerator count is given.

    tp: the stated sizes, else the divisors of ``n_heads`` within the scale-up domain; pp: the stated stages, else
    ``SERVING_PP`` once tp fills the domain, at most ``n_layers``; ep: the divisors of tp that divide the experts
    (rules 4, 5 with dp = cp = 1 in a replica), 1 for a dense model, kept to the stated sizes if any. A stated
    size that breaks a rule on its own (ep with the smallest tp it allows, tp = ep) is a FieldError naming it;
    stated sizes that no candidate combines are one naming ep.

    >>> serving_layouts(32, 32, 8, 8, tp=[2, 8])
    [(2, 1, 1), (2, 1, 2), (8, 1, 1), (8, 1, 2), (8, 1, 4), (8, 1, 8), (8, 2, 1), (8, 2, 2), (8, 2, 4), \
(8, 2, 8), (8, 4, 1), (8, 4, 2), (8, 4, 4), (8, 4, 8)]
    """
    domain = max(int(domain), 1)
    m = Columns(n_heads=n_heads, n_layers=n_layers, n_experts=n_experts)
    for name, sizes in (("tp", tp), ("pp", pp), ("ep", ep)):
        for v in sizes or []:
            DIMENSIONS_BY_NAME[name].code(v)  # a whole number within the declared range
            probe = {"tp": v if name in ("tp", "ep") else 1, "pp": v if name == "pp" else 1, "dp": 1, "cp": 1,
                     "ep": v if name == "ep" else 1}
            code = int(invalid_code(m, Columns(**probe), n_gpu=probe["tp"] * probe["pp"], domain=domain,
                                    serving=True))
            if code:
                raise FieldError(name, f"{RULES[code]} (scale-up domain {domain})", v)
    if tp:
        tps = list(tp)
    else:
        sizes, tried = serving_tp_sizes(n_heads, domain)
        tps = [int(t) for t in sizes[tried[0]]]
    out = []
    for t in tps:
        eps = [int(e) for e in divisors(t) if n_experts % e == 0] if n_experts > 0 else [1]
        eps = [e for e in eps if e in ep] if ep else eps
        pps = list(pp) if pp else [p for p in SERVING_PP if p == 1 or (t >= domain and p <= n_layers)]
        out.extend((t, p, e) for p in pps for e in eps)
    if not out:
        raise FieldError("ep", f"{RULES[5]}: none of the stated sizes divides a tried tp "
                               f"({', '.join(map(str, tps))})", ep[0] if ep and len(ep) == 1 else ep)
    return out


def layout_error(base: dict[str, np.ndarray], j: int, stated: bool) -> str:
    """One-line reason why configuration ``j`` of ``base`` has no valid layout: the first rule its stated
    layout breaks (with the layout), or, when fields were left open, that none of the candidates is valid."""
    c = Columns({k: np.asarray(v[j:j + 1]) for k, v in base.items()})
    _derive_dp(c)
    code = int(invalid_code(c, c, n_gpu=c.n_gpu, global_batch_seqs=c.global_batch_seqs, seq_len=c.seq_len,
                            domain=c.scale_up_domain)[0])
    if stated and code:
        return (f"layout: {RULES[code]} (tp={c.tp[0]:g}, pp={c.pp[0]:g}, dp={c.dp[0]:g}, cp={c.cp[0]:g}, "
                f"ep={c.ep[0]:g}, vpp={c.vpp[0]:g}, micro_batch={c.micro_batch[0]:g})")
    return "layout: no valid layout for the stated fields" + (f" ({RULES[code]})" if code else "")
