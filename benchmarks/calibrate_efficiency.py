"""Refit the per-family efficiencies of catalog/data/efficiency.yaml on validation tables, and measure
how well the constants carry to source groups they did not see.

Only the few named global parameters of a family are free (``chipplan.io.crossval.FREE``); the objective is the
mean over source groups of each group's median absolute percentage error, plus half the 90th percentile over
all rows of that family, so no single row or source can pull a constant its way.

Run ``python -m benchmarks.calibrate_efficiency [CSV[,CSV...] [FAMILY ...]]``: it prints the values to copy into
efficiency.yaml (it does not edit the file). ``python -m benchmarks.calibrate_efficiency --logo CSV[,CSV...]``
prints leave-one-source-group-out figures instead (each fold refits without one group and predicts it).
"""

from __future__ import annotations

import sys

import pandas as pd

from chipplan.io import crossval, read_table

DEFAULT = "../shared/validation/training_calibration.csv"


def _read(paths: str) -> pd.DataFrame:
    return pd.concat([read_table(p) for p in paths.split(",")], ignore_index=True)


def main(paths: str = DEFAULT, *only: str) -> None:
    """``paths``: one CSV or several joined by commas (each source group still counts once)."""
    if paths == "--logo":
        return logo(*(only or (DEFAULT,)))
    with crossval.efficiencies_restored() as eff:
        fitted = crossval.fit_families(_read(paths), list(only) or None, eff=eff)
    for fam, vals in fitted.items():
        print(fam, {n: round(v, 6) for n, v in vals.items()})


def logo(paths: str = DEFAULT) -> None:
    res = crossval.training_logo(_read(paths), progress=lambda g: print("fold:", g, flush=True))
    cv = crossval.cross_validate(res)
    for g, v in [("all rows", cv["overall"]), *cv["by_group"].items()]:
        i, o = v["in_sample"], v["out_of_sample"]
        print(f"{g[:58]:58s} {o['n_predicted']:4d}/{o['n_rows']:<4d} in-sample {100 * i['median_ape']:5.1f} % "
              f"p90 {100 * i['p90_ape']:5.1f} %   left out {100 * o['median_ape']:5.1f} % "
              f"p90 {100 * o['p90_ape']:5.1f} % cov {100 * (o['interval_coverage'] or 0):5.1f} %")


if __name__ == "__main__":
    main(*sys.argv[1:])
