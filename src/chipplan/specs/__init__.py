"""Frozen, keyword-only value objects validated at construction. SI units inside."""

from chipplan.specs.hardware import FAMILIES, Accelerator, System
from chipplan.specs.job import TrainingJob
from chipplan.specs.model import ATTENTION_KINDS, Model
from chipplan.specs.parallel import RECOMPUTE, Parallelism

__all__ = ["ATTENTION_KINDS", "FAMILIES", "RECOMPUTE", "Accelerator", "Model", "Parallelism", "System",
           "TrainingJob"]
