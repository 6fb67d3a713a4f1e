"""The small two-year scenario that the strategy tests vary (one training run, one serving load, H100s to buy
and rent), and the builder they share."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from chipplan.strategy import scenario as sc

_BASE = {
    "name": "small", "horizon_quarters": 8, "seed": 1, "monte_carlo_scenarios": 4000,
    "optimisation_scenarios": 64, "replications": 10,
    "demand": {"training": [{"name": "run", "accelerator_hours": 2.0e7, "start_quarter": 5, "deadline_quarter": 7}],
               "serving": [{"name": "chat", "users": 1.0e7, "tokens_per_user_per_day": 1000,
                            "growth_per_year": 1.0, "tokens_per_s_per_accelerator": 500}],
               "training_uncertainty": {"p5": 0.8, "p95": 1.3}},
    "routes": {"buy": {"uses": "merchant-h100", "max_units": 100000},
               "rent": {"uses": "cloud-reserved-h100", "max_units": 4000}},
    "unmet_penalty_usd_per_h100e_hour": 8.0,
}


def small(*, run: dict, routes: dict | None = None, **top: object) -> dict:
    """A fresh copy of the small scenario: ``run`` adds to the training run, ``routes`` to the routes, ``top`` to
    the top-level keys."""
    doc = copy.deepcopy(_BASE)
    doc["demand"]["training"][0].update(run)
    doc["routes"].update(routes or {})
    doc.update(copy.deepcopy(top))
    return doc


def build(tmp_path: Path, doc: dict, **kw) -> sc.StrategyInputs:
    """The strategy inputs of ``doc``, written to ``tmp_path`` as YAML and loaded as a user's file is."""
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(doc))
    return sc.build(sc.load(p), **kw)
