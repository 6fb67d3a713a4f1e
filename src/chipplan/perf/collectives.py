"""α–β cost of collectives on a two-level topology: a scale-up domain (NVLink/NVSwitch, NVL72, TPU ICI,
Infinity Fabric) joined by a scale-out network (InfiniBand/RoCE/Ethernet, one NIC share per accelerator).

A group of ``g`` ranks has ``k`` ranks in each scale-up domain and spans ``n = g / k`` domains. The
hierarchical algorithm (reduce-scatter inside the domain, all-reduce of the ``1/k`` shards across
domains, all-gather inside the domain) moves, per rank,

* all-reduce: ``2(k−1)/k · M / B_up + 2(n−1)/n · (M/k) / B_out``
* reduce-scatter or all-gather: half of that
* all-to-all: ``max(M·(k−1)/g / B_up, M·(g−k)/g / B_out)``

with ``M`` the full buffer per rank in bytes and ``B`` the achievable per-direction bandwidth per
accelerator (link peak × the family's link efficiency; the scale-out figure is one NIC's share, and with one NIC
per accelerator each rank carries ``1/k`` of the cross-domain traffic). Latency adds ``α·(2(k−1) + 2·log2 n)``
for an all-reduce (ring steps inside and tree steps across domains, NCCL's defaults for large messages; Thakur et
al. 2005) and ``α·(g−1)`` for an all-gather or reduce-scatter of ``g`` ranks: NCCL runs those as rings only (it
has no tree algorithm for them; NCCL documentation, "Collective Operations" and NCCL_ALGO).

Worked example: 1 GB all-reduced over 16 ranks, two 8-rank domains at 400 GB/s up and 50 GB/s out:
``2·7/8·1e9/400e9 + 2·1/2·(1e9/8)/50e9 = 4.375 ms + 2.5 ms``.

>>> k, n = group_split(16, 1, 8)
>>> float(k), float(n)
(8.0, 2.0)
>>> round(float(all_reduce_time(1e9, k, n, 400e9, 50e9)) * 1e3, 3)
6.875
"""

from __future__ import annotations

from typing import Any

import numpy as np

A = Any


def group_split(group: A, stride: A, domain: A) -> tuple[A, A]:
    """Ranks per domain ``k`` and domains ``n`` for a group of ``group`` ranks laid out ``stride`` apart."""
    group = np.asarray(group, dtype=float)
    per_domain = np.maximum(np.floor(np.asarray(domain, dtype=float) / np.maximum(stride, 1.0)), 1.0)
    k = np.minimum(group, per_domain)
    n = np.maximum(group / k, 1.0)
    return k, n


def _latency(k: A, n: A, alpha_s: A) -> A:
    return alpha_s * (2 * (k - 1) + 2 * np.log2(np.maximum(n, 1.0)))


def all_reduce_time(msg_bytes: A, k: A, n: A, bw_up: A, bw_out: A, alpha_s: A = 0.0) -> A:
    """Seconds for a hierarchical all-reduce of ``msg_bytes`` per rank (zero when the group is one rank)."""
    t = 2 * (k - 1) / k * msg_bytes / bw_up + 2 * (n - 1) / n * (msg_bytes / k) / bw_out
    return np.where(k * n > 1, t + _latency(k, n, alpha_s), 0.0)


def reduce_scatter_time(msg_bytes: A, k: A, n: A, bw_up: A, bw_out: A, alpha_s: A = 0.0) -> A:
    """Seconds for a reduce-scatter (or all-gather) whose full buffer is ``msg_bytes`` per rank.

    >>> round(float(reduce_scatter_time(1e9, 8, 1, 400e9, 50e9)) * 1e3, 4)  # 7/8 · 1 GB / 400 GB/s
    2.1875
    """
    t = (k - 1) / k * msg_bytes / bw_up + (n - 1) / n * (msg_bytes / k) / bw_out
    return np.where(k * n > 1, t + alpha_s * (k * n - 1), 0.0)


all_gather_time = reduce_scatter_time


def all_to_all_time(msg_bytes: A, k: A, n: A, bw_up: A, bw_out: A, alpha_s: A = 0.0, out_share: A = 1.0) -> A:
    """Seconds for an all-to-all in which each rank sends ``msg_bytes`` spread evenly over the group.

    ``out_share`` scales the bytes that leave the scale-up domain (below 1 when a routing limit sends each token
    once per destination node and forwards it inside the node).

    >>> round(float(all_to_all_time(1.6e9, 8, 2, 400e9, 50e9)) * 1e3, 3)  # 8/16 of 1.6 GB leaves the domain
    16.0
    """
    g = k * n
    t = np.maximum(msg_bytes * (k - 1) / g / bw_up, msg_bytes * out_share * (g - k) / g / bw_out)
    return np.where(g > 1, t + alpha_s * (k - 1 + np.maximum(n - 1, 0.0)), 0.0)


def p2p_time(msg_bytes: A, same_domain: A, bw_up: A, bw_out: A, alpha_s: A = 0.0) -> A:
    """Seconds to send ``msg_bytes`` to a neighbour (pipeline stages)."""
    return msg_bytes / np.where(same_domain, bw_up, bw_out) + alpha_s
