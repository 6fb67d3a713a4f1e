"""chipplan against the Blackwell, Gaudi 2, TPU, MI355X, H200 and same-software H100 rows collected in benchmarks/data/.

These rows are not in shared/validation; they check that the per-family efficiencies carry over to hardware
the shared tables lack (source list: benchmarks/data/README.md).
"""

from pathlib import Path

import pytest

from chipplan.io import validate_file

EXTRA = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "extra_training.csv"


@pytest.fixture(scope="module")
def result():
    return validate_file(EXTRA)


def test_every_published_layout_is_accepted(result):
    s = result["overall"]["tokens_per_s_per_gpu"]
    assert s["n_predicted"] == s["n_rows"] == 112  # uneven pipeline stages (126, 61, 94 layers) included


def test_error_on_hardware_the_shared_tables_lack(result):
    s = result["overall"]["tokens_per_s_per_gpu"]
    assert s["median_ape"] <= 0.20
    assert s["p90_ape"] <= 0.45
