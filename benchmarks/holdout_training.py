"""Held-out training figures: ``python -m benchmarks.holdout_training [CSV]``.

Predicts ``benchmarks/data/training_holdout.csv`` (rows kept out of every fit: no efficiency or interval table
was fitted on them, though some mechanisms were looked for because one of them missed; ``benchmarks/data/README.md``
lists which) and prints the share predicted, the median and 90th-percentile absolute percentage error, and how
many measured values the 80 % interval holds, overall and by source group.
"""

from __future__ import annotations

import sys

from chipplan.io import validate_file

HOLDOUT = "benchmarks/data/training_holdout.csv"


def main(path: str = HOLDOUT) -> None:
    res = validate_file(path)
    groups = [("all rows", res["overall"]), *res["by_group"].items()]
    for name, v in groups:
        s = v["tokens_per_s_per_gpu"]
        pct = {k: 100 * s[k] if s[k] is not None else float("nan")  # a group with no row predicted has no figures
               for k in ("median_ape", "p90_ape", "interval_coverage")}
        print(f"{name[:52]:52s} predicted {s['n_predicted']:3d}/{s['n_rows']:<3d} "
              f"median {pct['median_ape']:5.1f} %  p90 {pct['p90_ape']:5.1f} %  "
              f"80 % coverage {pct['interval_coverage']:5.1f} %")


if __name__ == "__main__":
    main(*sys.argv[1:])
