"""The parallel-layout dimensions, declared once.

A layout splits a job over accelerators: tensor (``tp``), pipeline (``pp``), data (``dp``), context (``cp``)
and expert (``ep``) parallelism, virtual pipeline stages (``vpp``), the micro-batch, the ZeRO stage and
activation recomputation. Each dimension is one ``Dimension`` below: its name (the engine field and the key in
every output's ``layout``), the CLI flag, the CSV column of the predict table, its allowed values, how its
candidates are found when a job leaves it open, and the rules (``RULES``) it takes part in. The training
search, the serving search (``chipplan.perf.candidates``), ``chipplan train``'s flags, the table reader and the
outputs all read this list.

Adding a dimension: declare it here (and its rule, if any, in ``RULES`` and in
``chipplan.perf.candidates.rule_checks``), then use it in the formulas that depend on it.

>>> [d.name for d in TRAINING_SEARCHED]
['tp', 'pp', 'cp', 'ep', 'vpp', 'micro_batch', 'zero_stage', 'recompute']
>>> DIMENSIONS_BY_NAME["micro_batch"].flag, DIMENSIONS_BY_NAME["micro_batch"].column
('--micro-batch', 'micro_batch_size')
>>> DIMENSIONS_BY_NAME["recompute"].code("full")
2.0
"""

from __future__ import annotations

from dataclasses import dataclass

from chipplan.errors import FieldError
from chipplan.specs.limits import Range

#: The largest size of an unbounded dimension (tp, pp, dp, ...): above any cluster a layout can describe.
MAX_SIZE = 10**6

#: Layout rules: code → the rule, in the order they are checked (the first one broken is reported). The
#: formulas are ``chipplan.perf.candidates.rule_checks``.
RULES: dict[int, str] = {
    1: "tp*pp*dp*cp must equal the number of accelerators",
    2: "tp must divide n_heads",
    3: "pp must not exceed n_layers",
    4: "ep must divide n_experts (and be 1 for a dense model)",
    5: "ep must divide tp*dp*cp",
    6: "dp*micro_batch must divide the global batch in sequences",
    7: "cp must divide seq_len",
    8: "pp*vpp must not exceed n_layers + 2 (embedding and loss stages) (and vpp must be 1 without pipelining)",
    9: "tp*cp must be at most twice the scale-up domain (tensor/context parallel traffic)",
    10: "the software stack cannot run it (selective recompute, virtual stages or ZeRO sharding it lacks)",
}
#: Rules about the training step (global batch, micro-batch, sequence split, interleaving); a serving layout
#: keeps all the others.
TRAINING_ONLY = frozenset({6, 7, 8, 10})


@dataclass(frozen=True, kw_only=True)
class Dimension:
    """One layout dimension.

    ``divides_accelerators``: a size whose candidates are the divisors of the accelerator count (any whole
    number that divides it may be stated or found, e.g. ``pp = 35`` on 280 accelerators). Otherwise the
    candidates are ``values``. ``choices`` name the values of a coded dimension (``recompute``: 0, 1, 2).
    ``derived``: not searched itself but computed from the others (``dp = n / (tp·pp·cp)``) unless stated.
    """

    name: str
    flag: str
    column: str
    description: str
    unit: str = "accelerators"
    lo: int = 1
    hi: int | None = None
    values: tuple[int, ...] = ()
    choices: tuple[str, ...] = ()
    divides_accelerators: bool = False
    derived: bool = False
    rules: tuple[int, ...] = ()
    training: bool = True
    serving: bool = False

    @property
    def key(self) -> str:
        """The key in every output's ``layout`` (the same as the engine field)."""
        return self.name

    @property
    def allowed(self) -> str:
        if self.choices:
            return f"one of {', '.join(self.choices)}"
        if self.hi is not None:
            return f"an integer in [{self.lo}, {self.hi}]"
        return f"an integer >= {self.lo}"

    @property
    def range(self) -> Range:
        """The numeric values a stated size may take (a coded dimension: its codes); the table and the
        command line check against it."""
        hi = len(self.choices) - 1 if self.choices else self.hi if self.hi is not None else MAX_SIZE
        return Range(low=self.lo, high=hi, unit=self.unit, integer=True)

    def code(self, value: object) -> float:
        """A stated value in the engines' numeric form; a FieldError names ``name`` and what is allowed."""
        if self.choices and isinstance(value, str):
            if value not in self.choices:
                raise FieldError(self.name, f"must be {self.allowed}", value)
            return float(self.choices.index(value))
        r = self.range
        if not r.allows(value):
            raise FieldError(self.name, f"must be an integer in [{r.low:g}, {r.high:g}]", value)
        return float(value)

    def name_of(self, code: float) -> int | str:
        """The output form of a numeric value: the choice name, or an int."""
        return self.choices[int(code)] if self.choices else int(code)


DIMENSIONS: tuple[Dimension, ...] = (
    Dimension(name="tp", flag="--tp", column="tp", description="tensor-parallel size", divides_accelerators=True,
              rules=(1, 2, 5, 9), serving=True),
    Dimension(name="pp", flag="--pp", column="pp", description="pipeline-parallel stages",
              divides_accelerators=True, rules=(1, 3, 8), serving=True),
    Dimension(name="dp", flag="--dp", column="dp", description="data-parallel replicas", divides_accelerators=True,
              derived=True, rules=(1, 5, 6)),
    Dimension(name="cp", flag="--cp", column="cp", description="context-parallel size", divides_accelerators=True,
              rules=(1, 5, 7, 9)),
    Dimension(name="ep", flag="--ep", column="ep", description="expert-parallel size (MoE)",
              divides_accelerators=True, rules=(4, 5), serving=True),
    Dimension(name="vpp", flag="--vpp", column="vpp", description="virtual pipeline stages per device", unit="stages",
              values=(1, 2, 3, 4, 5, 6, 7, 8, 12, 16), rules=(8,)),
    Dimension(name="micro_batch", flag="--micro-batch", column="micro_batch_size",
              description="micro-batch (sequences)", unit="sequences", values=(1, 2, 4, 8, 16, 32), rules=(6,)),
    # ZeRO-2 is searched as ZeRO-1: same step time here, more memory saved by neither stage's choice.
    Dimension(name="zero_stage", flag="--zero-stage", column="zero_stage", description="ZeRO stage (3 = FSDP)",
              unit="stage", lo=0, hi=3, values=(0, 1, 3)),
    Dimension(name="recompute", flag="--recompute", column="activation_recompute",
              description="activation recompute", unit="", lo=0, hi=2, values=(0, 1, 2),
              choices=("none", "selective", "full")),
)
DIMENSIONS_BY_NAME = {d.name: d for d in DIMENSIONS}
#: Training: every dimension; the search enumerates all but the derived ``dp``.
TRAINING = tuple(d for d in DIMENSIONS if d.training)
TRAINING_SEARCHED = tuple(d for d in TRAINING if not d.derived)
#: Serving (one replica): tp, pp, ep; dp counts replicas and cp is not modelled.
SERVING = tuple(d for d in DIMENSIONS if d.serving)
#: Activation-recompute names in code order (0 none, 1 selective, 2 full).
RECOMPUTE = DIMENSIONS_BY_NAME["recompute"].choices


def stated_layout(layout: dict[str, object] | None, dims: tuple[Dimension, ...] = TRAINING) -> dict[str, float]:
    """User-stated fields (``--tp`` …, None = open) in the engines' numeric form, checked against ``dims``."""
    by_name = {d.name: d for d in dims}
    out: dict[str, float] = {}
    for k, v in (layout or {}).items():
        if v is None:
            continue
        if k not in by_name:
            raise FieldError(f"layout.{k}", f"unknown field; allowed: {', '.join(by_name)}", k)
        out[k] = by_name[k].code(v)
    return out
