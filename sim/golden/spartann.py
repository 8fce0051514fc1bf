"""Golden model of one SparTANN job (BP or WU), in the hardware's accumulation order.

For every non-filler entry ``(v, row m)`` of column ``c`` (columns whose skip bit is set are
passed over), all lanes at once, unfused and each operation rounded in ``fmt``::

    BP:  out[addr[c]] = round(out[addr[c]] + round(v * b[m]))
    WU:  b[m]         = round(b[m]         + round(v * a[addr[c]]))

Entries are applied in stream order (columns in job order, rows ascending); the hardware
never reorders two updates of the same accumulator row, so this loop is exact.
"""

import numpy as np

from hw.fp.format import parse_format
from . import fp

__all__ = ["run_job", "columns_of", "PHASES"]

PHASES = ("bp", "wu")


def columns_of(entries):
    """Split decoded entries into columns: a list of ``[(row, value, filler), ...]``."""
    columns, col, prev = [], [], -1
    for e in entries:
        row = prev + e.delta + 1
        col.append((row, e.value, e.filler))
        prev = row
        if e.last:
            columns.append(col)
            col, prev = [], -1
    if col:
        raise ValueError("the last column has no entry with last = 1")
    return columns


def run_job(phase, entries, addr, skip, a, b, out, fmt="fp32"):
    """Apply one job; returns the updated ``(b, out)`` (uint64 arrays, copies).

    ``entries``: CSC entries (:class:`sim.golden.csc.Entry`), ``addr``/``skip``: per column,
    ``a``/``b``/``out``: ``(rows, T)`` bit-pattern arrays of Dense Buf A, B and Out Buf.
    """
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}, not {phase!r}")
    fmt = parse_format(fmt)
    a = np.asarray(a, dtype=np.uint64)
    b = np.array(b, dtype=np.uint64)
    out = np.array(out, dtype=np.uint64)
    columns = columns_of(entries)
    if len(columns) != len(addr) or len(addr) != len(skip):
        raise ValueError(f"{len(columns)} columns in the entries, {len(addr)} addresses, "
                         f"{len(skip)} skip bits")
    for col, c_addr, c_skip in zip(columns, addr, skip):
        if c_skip:
            continue
        for row, value, filler in col:
            if filler:
                continue
            if phase == "bp":
                out[c_addr] = fp.axpy(np.uint64(value), b[row], out[c_addr], fmt)
            else:
                b[row] = fp.axpy(np.uint64(value), a[c_addr], b[row], fmt)
    return b, out
