"""Jobs: what is run, on what, how."""

from __future__ import annotations

from dataclasses import dataclass

from chipplan.errors import FieldError
from chipplan.specs._check import one_of, positive_int
from chipplan.specs.hardware import Accelerator, System
from chipplan.specs.model import Model
from chipplan.specs.parallel import Parallelism
from chipplan.units import PRECISIONS


@dataclass(frozen=True, kw_only=True, slots=True)
class TrainingJob:
    """One training step configuration: model × hardware × layout × batch.

    ``precision`` is the matrix-multiply format (``fp8`` means FP8 GEMMs with BF16 elsewhere, as in
    Transformer Engine). ``global_batch_seqs`` sequences of ``seq_len`` tokens form one optimizer step.
    """

    model: Model
    accelerator: Accelerator
    system: System | None = None
    parallelism: Parallelism
    global_batch_seqs: int
    seq_len: int
    precision: str = "bf16"

    def __post_init__(self) -> None:
        positive_int("global_batch_seqs", self.global_batch_seqs)
        positive_int("seq_len", self.seq_len)
        one_of("precision", self.precision, PRECISIONS)
        self.accelerator.peak_flops_per_s(self.precision)  # raises if the chip lacks the format
        par = self.parallelism
        per_replica = self.global_batch_seqs / (par.dp * par.micro_batch)
        if per_replica != int(per_replica):
            raise FieldError("micro_batch", f"dp*micro_batch={par.dp * par.micro_batch} must divide "
                             f"global_batch_seqs={self.global_batch_seqs}", par.micro_batch)
        if self.model.n_heads % par.tp:
            raise FieldError("tp", f"must divide n_heads={self.model.n_heads}", par.tp)
        if self.model.is_moe and self.model.n_experts % par.ep:
            raise FieldError("ep", f"must divide n_experts={self.model.n_experts}", par.ep)
        if self.seq_len % par.cp:
            raise FieldError("cp", f"must divide seq_len={self.seq_len}", par.cp)

    @property
    def n_accelerators(self) -> int:
        return self.parallelism.n_accelerators

    @property
    def global_batch_tokens(self) -> int:
        return self.global_batch_seqs * self.seq_len
