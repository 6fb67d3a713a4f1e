"""Unit conversions at the edge. Inside chipplan everything is SI: s, B, FLOP, W, USD.

Catalog keys and CLI flags use friendly units (``tflops``, ``gb``, ``gbps``); they are converted once,
at load, with the constants below.
"""

TERA = 1e12
GIGA = 1e9
MEGA = 1e6
GB = 1e9  # decimal gigabyte, as vendors quote HBM and link bandwidth
GIB = 2**30
MB = 1e6
TB = 1e12
BITS_PER_BYTE = 8
SECONDS_PER_HOUR = 3600.0
SECONDS_PER_DAY = 86400.0
HOURS_PER_YEAR = 8766.0  # 365.25 days
HOURS_PER_QUARTER = HOURS_PER_YEAR / 4  # 2191.5 h

# Bytes per element for each numeric format chipplan knows.
BYTES_PER_ELEMENT: dict[str, float] = {
    "fp32": 4.0,
    "tf32": 4.0,
    "bf16": 2.0,
    "fp16": 2.0,
    "fp8": 1.0,
    "int8": 1.0,
    "fp4": 0.5,
    "int4": 0.5,
}
PRECISIONS = tuple(BYTES_PER_ELEMENT)


def gbps_to_bytes_per_s(gbit_per_s: float) -> float:
    """Network line rate in Gbit/s to bytes/s (400 Gb/s NDR → 5e10 B/s)."""
    return gbit_per_s * GIGA / BITS_PER_BYTE
