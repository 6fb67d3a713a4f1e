"""Cost engines, from wafer to token: silicon, servers and clusters, finance, ownership vs cloud, cost of
work, and Monte Carlo over uncertain parameters. Every formula is a numpy function that broadcasts."""

from chipplan.cost.finance import annuity_payment, capital_recovery_factor, present_value, total_interest
from chipplan.cost.silicon import (
    YIELD_MODELS,
    ChipRecipe,
    chip_cost,
    classic_dies_per_wafer,
    die_cost,
    die_yield,
    gross_dies_per_wafer,
    recipe_for,
)
from chipplan.cost.tco import custom_server_requirements, system_tco, tco_params
from chipplan.cost.uncertainty import monte_carlo
from chipplan.cost.work import cost_per_million_tokens, tokens_per_s_from_inference_engine, training_run_cost

__all__ = ["YIELD_MODELS", "ChipRecipe", "annuity_payment", "capital_recovery_factor", "chip_cost",
           "classic_dies_per_wafer", "cost_per_million_tokens", "custom_server_requirements", "die_cost", "die_yield",
           "gross_dies_per_wafer", "monte_carlo", "present_value", "recipe_for", "system_tco", "tco_params",
           "tokens_per_s_from_inference_engine", "total_interest", "training_run_cost"]
