"""Loopback load test of the web app: 2,000 ``POST /api/train`` requests against uvicorn on 127.0.0.1.

The app runs in its own process (``chipplan web``), the client is a thin asyncio HTTP/1.1 client over a bounded
number of keep-alive connections, and nothing leaves the loopback interface. Requests cycle over a few distinct
what-ifs, so the first of each runs the training engine and the rest are answered from the engine-result cache,
as repeated what-ifs from browsers are. Target: >= 200 requests/s with no errors.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REQUESTS = 2000
CONCURRENCY = 16
TARGET_RPS = 200.0
BODIES = [{"model": m, "hardware": h, "tokens": 15e12, "gpus": g}
          for m, h, g in (("llama-3.1-70b", "h100-sxm-80gb", 1024), ("llama-3.1-8b", "h100-sxm-80gb", 256),
                          ("llama-3.1-70b", "b200-sxm-180gb", 512), ("llama-3.1-405b", "h100-sxm-80gb", 16384))]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), to report the server's cost per request apart from
    the share of a busy machine it happened to get."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def _request(port: int, body: dict[str, Any]) -> bytes:
    data = json.dumps(body).encode()
    return (f"POST /api/train HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n").encode() + data


async def _connection(port: int, jobs: list[int], out: dict[str, Any]) -> None:
    """One keep-alive connection sending its share of the requests one after another (a thin HTTP/1.1 client,
    so the client's own CPU use stays small beside the server's)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    reqs = [_request(port, b) for b in BODIES]
    try:
        for i in jobs:
            t = time.perf_counter()
            writer.write(reqs[i % len(reqs)])
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = int(next(h.split(b":", 1)[1] for h in head.split(b"\r\n") if h.lower().startswith(
                b"content-length")))
            body = await reader.readexactly(length)
            if status != 200 or b'"n_accelerators"' not in body:
                out["errors"] += 1
            out["latencies"].append(time.perf_counter() - t)
    except (OSError, asyncio.IncompleteReadError, ValueError, StopIteration):
        out["errors"] += len(jobs) - len(out["latencies"])
    finally:
        writer.close()


async def _load(port: int, n: int, concurrency: int) -> dict[str, Any]:
    out: dict[str, Any] = {"errors": 0, "latencies": []}
    t0 = time.perf_counter()
    await asyncio.gather(*(_connection(port, list(range(c, n, concurrency)), out) for c in range(concurrency)))
    wall = time.perf_counter() - t0
    lat = sorted(out["latencies"])
    return {"requests": n, "concurrency": concurrency, "errors": out["errors"], "seconds": wall,
            "requests_per_s": n / wall, "latency_p50_ms": 1e3 * lat[len(lat) // 2],
            "latency_p99_ms": 1e3 * lat[int(0.99 * (len(lat) - 1))], "target_requests_per_s": TARGET_RPS}


def run(n: int = REQUESTS) -> dict[str, Any]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    store = tempfile.mkdtemp(prefix="chipplan-bench-web-")
    proc = subprocess.Popen([sys.executable, "-c", "from chipplan.cli import main; main()", "web", "--host",
                             "127.0.0.1", "--port", str(port), "--store", store],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ})
    try:
        import httpx

        deadline = time.time() + 60
        while True:
            try:
                if httpx.get(url + "/api/health", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline or proc.poll() is not None:
                raise RuntimeError("chipplan web did not start")
            time.sleep(0.2)
        for b in BODIES:  # warm the engine-result cache, as a browser's first what-if does
            httpx.post(url + "/api/train", json=b, timeout=120.0).raise_for_status()
        cpu0 = _cpu_seconds(proc.pid)
        res = asyncio.run(_load(port, n, CONCURRENCY))
        cpu = _cpu_seconds(proc.pid) - cpu0
        res["server_cpu_seconds"] = cpu
        res["requests_per_server_cpu_second"] = n / cpu if cpu > 0 else float("nan")
        res["load_average_1min"] = os.getloadavg()[0]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    res["meets_target"] = res["errors"] == 0 and res["requests_per_s"] >= TARGET_RPS
    return res


if __name__ == "__main__":
    r = run()
    print(f"POST /api/train: {r['requests']} requests, {r['requests_per_s']:.0f} req/s, {r['errors']} errors, "
          f"p50 {r['latency_p50_ms']:.1f} ms, p99 {r['latency_p99_ms']:.1f} ms; server "
          f"{r['requests_per_server_cpu_second']:.0f} requests per CPU-second "
          f"(load average {r['load_average_1min']:.1f})")
