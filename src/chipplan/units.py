"""Unit conversions at the edge. Inside chipplan everything is SI: s, B, FLOP, W, USD.

Catalog keys and CLI flags use friendly units (``tflops``, ``gb``, ``gbps``); they are converted once,
at load, with the constants below.
"""

TERA = 1e12
GIGA = 1e9
MEGA = 1e6
GB = 1e9  # decimal gigabyte, as vendors quote HBM and link bandwidth
GIB = 2**30
MIB = 2**20
MB = 1e6
TB = 1e12
BITS_PER_BYTE = 8
SECONDS_PER_HOUR = 3600.0
SECONDS_PER_DAY = 86400.0
DAYS_PER_YEAR = 365.25  # Julian year
DAYS_PER_QUARTER = DAYS_PER_YEAR / 4  # 91.3125 d
HOURS_PER_YEAR = DAYS_PER_YEAR * 24  # 8766 h
HOURS_PER_QUARTER = HOURS_PER_YEAR / 4  # 2191.5 h

# Standard-normal quantiles, in standard deviations: a two-sided 80 % interval (p10-p90) is ``±Z80·sd`` (every
# prediction's interval is ``value·exp(±Z80·sd)``), a two-sided 90 % interval (p5-p95) ``±Z90·sd``.
Z80 = 1.2816  # quantile of 0.90, to 4 decimals (as every interval chipplan has reported)
Z90 = 1.6448536269514722  # quantile of 0.95

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
