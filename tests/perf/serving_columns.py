"""The model, hardware and efficiency columns the serving engine reads for one catalog model, chip, precision
and engine profile: what ``chipplan.perf.serving`` builds, for the tests that call ``chipplan.perf.inference``
directly."""

from __future__ import annotations

from chipplan import catalog
from chipplan.perf import efficiency, serving_engines
from chipplan.perf.columns import Columns
from chipplan.perf.hardware_cols import hardware_row


def serving_columns(model_id: str, hw_id: str, prec: str, engine: str) -> tuple[Columns, Columns, Columns]:
    acc, sys_ = catalog.hardware(hw_id)
    row = hardware_row(acc, prec, sys_)
    fam = row.pop("family")
    e = serving_engines.attach(efficiency.for_families([fam]), [engine], [fam])
    return (Columns(catalog.model(model_id).to_columns()), Columns(row), Columns({k: v[0] for k, v in e.items()}))
