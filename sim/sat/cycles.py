"""Cycle model of a tiled GEMM on the STCE systolic array (no stalls on the streams).

Passes (column tile x fold) stream ``T`` activation rows back to back. A pass cannot start
before (a) its shadow weights are loaded: the previous pass's switch wave (``swap_wave``
cycles) must clear and ``rows`` weight rows must load, and (b) for folds after the first, the
previous fold's result row ``t`` has left the array (``latency`` cycles, plus one cycle for the
driver to hand it back as the partial sum).
"""

from math import ceil

__all__ = ["gemm_cycles"]


def gemm_cycles(t, k, cout, n, group, rows, cols, mul_latency, add_latency):
    """Cycles from reset release to the last result of ``(T x K) * (K x Cout)`` at N:M."""
    latency = rows * add_latency + cols + mul_latency
    swap_wave = (rows - 1) * add_latency + cols
    folds = max(1, ceil(k * n // group / rows))
    tiles = ceil(cout / cols)
    start = rows + 1                                   # first weights load, then the x row
    for p in range(tiles * folds):
        if p == tiles * folds - 1:
            break
        dependent = (p + 1) % folds != 0               # next pass continues this tile's chain
        period = max(t, swap_wave + rows + 1, latency + 1 if dependent else 0)
        start += period
    return start + t - 1 + latency
