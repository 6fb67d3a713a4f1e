"""Sweep chunks as Ray tasks. Local Ray (``--ray``) or an existing cluster (``--ray-address``).

Each task evaluates one chunk (``sweep.evaluate_chunk``: the chunk is fixed by the seed and its index) and
returns an Arrow table; results are consumed in chunk order, so the Parquet file is the same as in process.
Point a sweep at a cluster with ``chipplan codesign sweep FILE --designs N --out DIR --ray-address
ray://HEAD:10001`` (every node needs chipplan installed); the driver writes the files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa

from chipplan.errors import ChipplanError

MAX_IN_FLIGHT = 8


class RayUnavailableError(ChipplanError):
    """Ray is not installed or cannot be reached."""


def run_on_ray(evaluate_chunk: Callable[..., pa.Table], cfg_dict: dict[str, Any], work: list[tuple[int, int]],
               baseline: dict[str, float], *, address: str | None = None) -> Iterator[pa.Table]:
    """Run ``evaluate_chunk(cfg_dict, start, count, baseline)`` for every chunk as a Ray task, in order."""
    try:
        import ray
    except ModuleNotFoundError:
        raise RayUnavailableError("--ray: Ray is not installed; pip install 'chipplan[distributed]'") from None
    started = False
    if not ray.is_initialized():
        try:
            ray.init(address=address, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
        except Exception as e:  # connection errors differ between Ray versions
            raise RayUnavailableError(f"--ray-address: cannot connect to Ray at {address!r} ({e})") from None
        started = True
    try:
        task = ray.remote(evaluate_chunk)
        cfg_ref = ray.put(cfg_dict)
        base_ref = ray.put(baseline)
        pending: list[Any] = []
        it = iter(work)
        for start, count in it:
            pending.append(task.remote(cfg_ref, start, count, base_ref))
            if len(pending) >= MAX_IN_FLIGHT:
                yield ray.get(pending.pop(0))
        while pending:
            yield ray.get(pending.pop(0))
    finally:
        if started:
            ray.shutdown()
