"""Run-level throughput: what a whole training campaign averages, not what one step runs at.

Many published figures are run averages (tokens ÷ accelerator-hours, or a time to train). Between the steps a
run also spends time on:

* **interruptions**: each costs the work since the last checkpoint and a restart (``goodput`` in
  ``chipplan.perf.plan``, Young's optimal checkpoint interval);
* **restarts**, modelled as ``restart_time_s = job_restart_latency_s + checkpoint bytes / storage read
  bandwidth`` (catalog/data/reliability.yaml; the decomposition of Huawei's MindCluster resumable-training guide);
* **checkpoint writes** (in ``goodput``);
* **batch ramps**: the first part of a run at smaller global batches, where a fixed layout runs fewer
  micro-batches per step and so a larger pipeline bubble share (``ramp_factor``).

``run_tokens_per_s = step_tokens_per_s × goodput × ramp_factor``. Evaluation passes and data-loader stalls are not
modelled (they are not in the sources this catalog holds).

The goodput model reproduces the Llama 3 run: 419 interruptions in 54 days on 16,384 H100 for a 405B model give
a goodput of ~0.92, and Meta reports "higher than 90 % effective training time" (``tests/perf/test_run.py``).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from chipplan import catalog


def reliability(name: str) -> float:
    """One number of catalog/data/reliability.yaml."""
    return float(catalog.load().reliability[name]["value"])


def restart_time_s(params: Any, *, checkpoint_bytes_per_param: float | None = None,
                   storage_read_bytes_per_s: float | None = None, job_restart_latency_s: float | None = None
                   ) -> np.ndarray:
    """Seconds from an interruption to training again: the job's restart latency plus loading the checkpoint.

    >>> float(restart_time_s(405e9, checkpoint_bytes_per_param=14, storage_read_bytes_per_s=2e12,
    ...                      job_restart_latency_s=600))
    602.835
    """
    cbp = checkpoint_bytes_per_param if checkpoint_bytes_per_param is not None else reliability(
        "checkpoint_bytes_per_param")
    bw = storage_read_bytes_per_s if storage_read_bytes_per_s is not None else reliability("storage_read_bytes_per_s")
    lat = job_restart_latency_s if job_restart_latency_s is not None else reliability("job_restart_latency_s")
    return lat + np.asarray(params, dtype=float) * cbp / bw


def ramp_factor(step_time_final: Any, step_time_stages: Any, batch_final: Any, batch_stages: Any,
                ramp_share: Any) -> np.ndarray:
    """Run-average over steady-state throughput for a run whose first ``ramp_share`` of tokens is a batch ramp.

    ``batch_stages`` (rows × points) are global batches along the ramp, evenly spaced in tokens (a linear ramp
    sampled at its points), with ``step_time_stages`` their step times; the rest of the run runs at
    ``batch_final`` with ``step_time_final``. Throughput at a batch ``b`` is ``b / t(b)``, so::

        factor = 1 / (1 − f + f · mean_k[(t_k / b_k) / (t_final / b_final)])

    >>> ramp_factor(1.0, [[1.5]], 2.0, [[2.0]], 0.5).tolist()  # half the run at 2/3 of the speed
    [0.8]
    """
    t_f = np.asarray(step_time_final, dtype=float)
    b_f = np.asarray(batch_final, dtype=float)
    per_token = np.asarray(step_time_stages, dtype=float) / np.asarray(batch_stages, dtype=float)
    rel = np.mean(per_token, axis=-1) / (t_f / b_f)
    f = np.clip(np.asarray(ramp_share, dtype=float), 0.0, 1.0)
    return 1.0 / (1.0 - f + f * rel)


def ramp_points(ramp: tuple[float, ...], points_per_segment: int = 4) -> np.ndarray:
    """Batches along a piecewise-linear ramp through ``ramp``'s values, evenly spaced in tokens (each segment
    between two listed values takes the same share of the ramp's tokens), excluding the final value.

    >>> ramp_points((512.0, 1024.0, 2048.0), 2).tolist()
    [640.0, 896.0, 1280.0, 1792.0]
    """
    out = []
    for a, b in itertools.pairwise(ramp):
        k = np.arange(points_per_segment) + 0.5
        out.append(a + (b - a) * k / points_per_segment)
    return np.concatenate(out) if out else np.asarray(ramp[-1:], dtype=float)
