"""Parallel layout of a training or serving job."""

from __future__ import annotations

from dataclasses import dataclass

from chipplan.errors import FieldError
from chipplan.specs._check import one_of, positive_int

RECOMPUTE = ("none", "selective", "full")


@dataclass(frozen=True, kw_only=True, slots=True)
class Parallelism:
    """How a job is split over accelerators.

    ``tp·pp·dp·cp`` is the accelerator count; experts are sharded ``ep``-ways over ranks of one pipeline
    stage (Megatron-Core folds expert parallelism into ``tp·dp·cp``), so ``ep`` must divide ``tp·dp·cp``.
    ``vpp`` is the number of virtual pipeline stages per device (interleaved 1F1B); ``zero_stage`` 3 is FSDP.
    """

    tp: int = 1
    pp: int = 1
    dp: int = 1
    cp: int = 1
    ep: int = 1
    vpp: int = 1
    micro_batch: int = 1
    zero_stage: int = 1
    recompute: str = "none"
    sequence_parallel: bool = True

    def __post_init__(self) -> None:
        for f in ("tp", "pp", "dp", "cp", "ep", "vpp", "micro_batch"):
            positive_int(f"parallelism.{f}", getattr(self, f))
        positive_int("parallelism.zero_stage", self.zero_stage, allow_zero=True)
        if self.zero_stage > 3:
            raise FieldError("parallelism.zero_stage", "must be 0, 1, 2 or 3", self.zero_stage)
        one_of("parallelism.recompute", self.recompute, RECOMPUTE)
        if (self.tp * self.dp * self.cp) % self.ep:
            raise FieldError("parallelism.ep", f"must divide tp*dp*cp={self.tp * self.dp * self.cp}", self.ep)

    @property
    def n_accelerators(self) -> int:
        return self.tp * self.pp * self.dp * self.cp
