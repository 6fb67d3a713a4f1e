"""Frozen, keyword-only value objects validated at construction. SI units inside."""

from chipplan.specs.hardware import FAMILIES, Accelerator, System
from chipplan.specs.layout import DIMENSIONS, RECOMPUTE, RULES, Dimension
from chipplan.specs.model import ATTENTION_KINDS, Model

__all__ = ["ATTENTION_KINDS", "DIMENSIONS", "FAMILIES", "RECOMPUTE", "RULES", "Accelerator", "Dimension", "Model",
           "System"]
