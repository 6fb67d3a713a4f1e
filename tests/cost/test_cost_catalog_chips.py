"""Every catalog accelerator with a die area and a node can be costed, with sensible numbers."""

import pytest

from chipplan import catalog
from chipplan.catalog import cost as cost_catalog
from chipplan.cost import silicon as si
from chipplan.errors import FieldError


def test_a_node_description_naming_two_nodes_resolves_to_the_compute_node():
    cat = cost_catalog.load()
    assert cat.node_name("TSMC N5 (XCD) + N6 (IOD)") == cat.node_name("N5")
    assert cat.node_name("TSMC 4NP") == cat.node_name("N4")
    with pytest.raises(FieldError, match="known"):
        cat.node_name("Intel 18A")


@pytest.mark.parametrize(("acc", "lo", "hi"), [
    ("h100-sxm-80gb", 2_500, 5_000),      # Raymond James ~$3.3k; Epoch 90 % CI $2.5k-8k
    ("b200-sxm-180gb", 5_000, 9_000),     # Silicon Analysts ~$6.4k
    ("mi300x", 3_000, 10_000),            # 8 XCD + 4 IOD + 8 HBM3 stacks on CoWoS
    ("cerebras-wse-3", 20_000, 500_000),  # one wafer, spare cores routed around
])
def test_catalog_chips_cost_in_their_published_ranges(acc, lo, hi):
    cat = cost_catalog.load()
    r = si.chip_cost(si.recipe_for(catalog.accelerator(acc), cat), cat)
    assert lo <= float(r["manufacturing_cost_usd"]) <= hi


def test_wafer_scale_spares_raise_yield_over_a_perfect_wafer():
    cat = cost_catalog.load()
    recipe = si.recipe_for(catalog.accelerator("cerebras-wse-3"), cat)
    with_spares = float(si.chip_cost(recipe, cat)["die_yield"])
    without = float(si.chip_cost(recipe, cat, harvest=(1.0, 1.0, 0.0))["die_yield"])
    assert with_spares > 0.3 and without < 1e-6
