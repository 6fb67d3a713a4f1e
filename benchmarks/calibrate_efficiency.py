"""Refit the per-family efficiencies of catalog/data/efficiency.yaml on a validation table.

Only the few named global parameters of a family are free; the objective is the mean over source groups of
each group's median absolute percentage error, plus half the 90th percentile over all rows of that family,
so no single row or source can pull a constant its way.
Run: ``python -m benchmarks.calibrate_efficiency [CSV[,CSV...] [FAMILY ...]]``; it prints the values to copy into
efficiency.yaml (it does not edit the file).
"""

from __future__ import annotations

import sys

import numpy as np
from scipy.optimize import minimize

from chipplan import catalog
from chipplan.io import read_table, validate_frame

FREE = {
    "ampere": ["matmul_fraction", "attention_fraction", "kernel_overhead_s", "matmul_half_dim"],
    "hopper": ["matmul_fraction", "matmul_fraction_fp8", "attention_fraction", "kernel_overhead_s",
               "matmul_half_dim"],
    "blackwell": ["matmul_fraction", "matmul_fraction_fp8", "tp_overlap", "ep_overlap"],
}
FAMILY_OF = {"a100": "ampere", "h100": "hopper", "h200": "hopper", "h800": "hopper", "b200": "blackwell",
             "gb200": "blackwell", "gb300": "blackwell"}
# Physically plausible ranges: a fit that leaves them is absorbing something the physics lacks.
BOUNDS = {"matmul_fraction": (0.5, 0.9), "matmul_fraction_fp8": (0.4, 0.8), "attention_fraction": (0.25, 0.75),
          "kernel_overhead_s": (5e-6, 1.5e-4), "matmul_half_dim": (16.0, 512.0), "tp_overlap": (0.0, 0.95),
          "ep_overlap": (0.0, 0.95)}


def main(paths: str = "../shared/validation/training_calibration.csv", *only: str) -> None:
    """``paths``: one CSV or several joined by commas (each source group still counts once)."""
    import pandas as pd

    df = pd.concat([read_table(p) for p in paths.split(",")], ignore_index=True)
    eff = catalog.load().efficiency
    for fam, names in FREE.items():
        if only and fam not in only:
            continue
        sub = df[df["hardware_id"].str.split("-").str[0].map(FAMILY_OF) == fam].reset_index(drop=True)
        x0 = np.log([max(eff[fam][n], 0.05) for n in names])  # log space: start overlaps off zero

        def loss(x: np.ndarray, fam: str = fam, names: list[str] = names, sub=sub) -> float:
            for n, v in zip(names, np.exp(x), strict=True):
                eff[fam][n] = float(np.clip(v, *BOUNDS[n]))
            res = validate_frame(sub)
            groups = [g["tokens_per_s_per_gpu"]["median_ape"] for g in res["by_group"].values()]
            # Each source group counts once, so the most numerous source cannot pull the constants its way.
            return float(np.mean(groups)) + 0.5 * res["overall"]["tokens_per_s_per_gpu"]["p90_ape"]

        res = minimize(loss, x0, method="Nelder-Mead", options={"maxfev": 120, "xatol": 0.01, "fatol": 1e-4})
        loss(res.x)
        print(fam, f"loss={res.fun:.4f}", {n: round(float(eff[fam][n]), 6) for n in names})


if __name__ == "__main__":
    main(*sys.argv[1:])
