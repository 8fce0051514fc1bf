"""Golden model of SparTANN's sparsifier and sparse format (docs/spartann/index.md).

Values are bit patterns of a float format. An element is *dropped* when it is +-0 or
``|x| < theta`` (IEEE: NaN compares false and is kept); dropped elements become +0.
Statistics over the elements seen: ``elements``, ``zeros`` (dropped) and ``max_abs``
(largest ``|x|`` over the finite elements, from +0).

A column is encoded as entries ``(value, delta, filler, last)``: ``delta`` zero rows are
skipped before the entry (``row = prev + delta + 1``, ``prev = -1`` at column start), a
filler carries no value and only advances the row, ``last`` marks the column's final
entry; an empty column is a single filler with ``delta = 0``.
"""

from typing import NamedTuple

import numpy as np

from hw.fp.format import parse_format
from sim.fp import golden as fp

__all__ = ["Entry", "Stats", "drop_mask", "sparsify", "stats", "merge_stats",
           "encode_column", "encode", "decode", "entry_count", "COUNTER_MAX"]

#: Statistics counters saturate here (32-bit).
COUNTER_MAX = 2**32 - 1


class Entry(NamedTuple):
    value: int      # bit pattern (+0 in a filler)
    delta: int
    filler: int     # 0 / 1
    last: int       # 0 / 1


class Stats(NamedTuple):
    elements: int
    zeros: int
    max_abs: int    # bit pattern


def _bits(fmt, x):
    return np.asarray(x, dtype=np.uint64) & np.uint64((1 << fmt.width) - 1)


def drop_mask(x_bits, theta_bits, fmt="fp32"):
    """True where an element is dropped: ``x == +-0`` or ``|x| < theta`` (NaN is kept)."""
    fmt = parse_format(fmt)
    x = _bits(fmt, x_bits)
    mag = fp.abs_(fmt, x)
    zero = (x & np.uint64(fmt.sign_mask - 1)) == 0
    below = fp.compare(fmt, mag, np.full_like(x, int(theta_bits)))["lt"] == 1
    return zero | below


def sparsify(x_bits, theta_bits, fmt="fp32"):
    """``x`` with dropped elements replaced by +0 (other bits unchanged), and the drop mask."""
    fmt = parse_format(fmt)
    x = _bits(fmt, x_bits)
    drop = drop_mask(x, theta_bits, fmt)
    return np.where(drop, np.uint64(0), x), drop


def stats(x_bits, theta_bits, fmt="fp32"):
    """Statistics of one batch of elements (any shape)."""
    fmt = parse_format(fmt)
    x = _bits(fmt, x_bits).ravel()
    drop = drop_mask(x, theta_bits, fmt)
    mag = x & np.uint64(fmt.sign_mask - 1)
    finite = (mag >> np.uint64(fmt.man_bits)) != fmt.exp_max_field
    # For non-negative finite values, magnitude order is bit order.
    max_abs = int(mag[finite].max()) if finite.any() else 0
    return Stats(min(x.size, COUNTER_MAX), min(int(drop.sum()), COUNTER_MAX), max_abs)


def merge_stats(a: Stats, b: Stats, fmt="fp32"):
    """Statistics of two batches seen one after the other (counters saturate)."""
    return Stats(min(a.elements + b.elements, COUNTER_MAX), min(a.zeros + b.zeros, COUNTER_MAX),
                 max(a.max_abs, b.max_abs))


def encode_column(column_bits, idx_bits, theta_bits=0, fmt="fp32"):
    """Entries of one column (rows ascending) after thresholding with ``theta``."""
    fmt = parse_format(fmt)
    if not 1 <= idx_bits <= 16:
        raise ValueError(f"idx_bits must be in 1..16, not {idx_bits!r}")
    col = _bits(fmt, column_bits).ravel()
    kept = np.flatnonzero(~drop_mask(col, theta_bits, fmt))
    dmax = (1 << idx_bits) - 1
    entries, prev = [], -1
    for m in kept:
        gap = int(m) - prev - 1
        while gap > dmax:
            entries.append(Entry(0, dmax, 1, 0))
            prev += dmax + 1
            gap -= dmax + 1
        entries.append(Entry(int(col[m]), gap, 0, 0))
        prev = int(m)
    if not entries:
        entries.append(Entry(0, 0, 1, 0))
    entries[-1] = entries[-1]._replace(last=1)
    return entries


def encode(matrix_bits, idx_bits, theta_bits=0, fmt="fp32"):
    """Entries of every column of ``matrix_bits`` (shape ``(M, columns)``), column order."""
    matrix = np.asarray(matrix_bits)
    if matrix.ndim != 2:
        raise ValueError(f"matrix_bits must be 2-D (rows, columns), not shape {matrix.shape}")
    out = []
    for c in range(matrix.shape[1]):
        out.extend(encode_column(matrix[:, c], idx_bits, theta_bits, fmt))
    return out


def decode(entries, rows):
    """Dense ``(rows, columns)`` uint64 matrix from entries (fillers and dropped rows +0).

    Raises ``ValueError`` if an entry decodes past ``rows`` or the last column is unterminated.
    """
    columns, col, prev = [], np.zeros(rows, dtype=np.uint64), -1
    for e in entries:
        row = prev + e.delta + 1
        if row >= rows:
            raise ValueError(f"entry decodes to row {row}, beyond rows = {rows}")
        if not e.filler:
            col[row] = e.value
        prev = row
        if e.last:
            columns.append(col)
            col, prev = np.zeros(rows, dtype=np.uint64), -1
    if prev != -1:
        raise ValueError("the last column has no entry with last = 1")
    return np.stack(columns, axis=1) if columns else np.zeros((rows, 0), dtype=np.uint64)


def entry_count(kept_rows, idx_bits):
    """Entries a column costs, given its kept rows (ascending)."""
    dmax, prev, count = (1 << idx_bits) - 1, -1, 0
    for m in kept_rows:
        count += 1 + (int(m) - prev - 1) // (dmax + 1)
        prev = int(m)
    return max(count, 1)
