"""Golden model of one SparTANN core executing a *program* (docs/spartann/index.md).

A program is a list of commands (dicts), executed in order:

=========================================  ==================================================
``{"op": "load_a", "vectors": V}``         ``V`` (n, T) bit patterns into Dense Buf A rows 0..n-1
``{"op": "load_b", "vectors": V}``         likewise into Dense Buf B
``{"op": "load_sparse", "entries": E}``    CSC entries (:class:`sim.spartann.csc.Entry`) of a job
``{"op": "load_cols", "addr": A,           per-column address and skip bit of the job
"skip": S[, "end": E]}``                   (``end``: each column's end in the Sparse Buf,
                                           default the loaded entries' own)
``{"op": "run_bp"}`` / ``{"op": "run_wu"}``  one job (:func:`run_job`) on the halves
                                           ``"a_half"``, ``"b_half"``, ``"out_half"``
``{"op": "drain_out", "count": n}``        Out Buf rows 0..n-1 thresholded with ``theta``
                                           (:func:`csc.sparsify`), statistics merged, rows
                                           cleared to +0; the (n, T) result is drained
``{"op": "drain_b", "count": n}``          Dense Buf B rows 0..n-1 raw, cleared to +0
``{"op": "set_theta", "bits": b}``         threshold (datapath format)
``{"op": "set_target", "bits": b}``        DTS target sparsity (FP32 pattern)
``{"op": "clear_stats"}``                  statistics to (0, 0, +0)
``{"op": "set_pad_lanes", "count": p}``    the last ``min(p, T - 1)`` lanes are padding:
                                           drained thresholded, left out of the statistics
``{"op": "dts_update"}``                   ``theta = dts.dts_update(theta, target, stats)``
                                           (FP32; bf16 widened / rounded RNE), clear stats
=========================================  ==================================================

Dense Buf A, Dense Buf B and the Out Buf have two halves each (``a[h]``, ``b[h]``, ``out[h]``
in :attr:`CoreModel.halves`; ``a`` / ``b`` / ``out`` are half 0): loads and drains name theirs
with ``"half"`` (default 0), runs with ``"a_half"`` / ``"b_half"`` / ``"out_half"``
(:func:`hw.spartann.isa.dense_halves`). :meth:`CoreModel.execute` returns the drained arrays
in command order.  Capacity and
range violations raise ``ValueError`` naming the buffer and the sizes; with ``reject=True``
the commands the core rejects (:func:`hw.spartann.isa.rejected`: unknown opcodes, counts
beyond a buffer, a run whose Sparse Buf and column table disagree on the column count) change
nothing and count in ``errors``, as on the core. The core runs commands concurrently
(:mod:`hw.spartann.isa`), but only commands that touch different data, so this sequential
model is exact.

One job (:func:`run_job`) in the hardware's accumulation order: for every non-filler entry
``(v, row m)`` of column ``c`` (columns whose skip bit is set are passed over), all lanes at
once, unfused and each operation rounded in ``fmt``::

    BP:  out[addr[c]] = round(out[addr[c]] + round(v * b[m]))
    WU:  b[m]         = round(b[m]         + round(v * a[addr[c]]))

Entries are applied in stream order (columns in job order, rows ascending); the hardware
never reorders two updates of the same accumulator row, so this loop is exact.
"""

import numpy as np

from hw.fp.format import parse_format
from hw.params import check_int
from hw.spartann.config import SpartannConfig
from hw.spartann.isa import column_ends, dense_halves, rejected
from sim.fp import golden as fp
from . import csc, dts

__all__ = ["CoreModel", "OPS", "run_job", "columns_of", "PHASES"]

PHASES = ("bp", "wu")

OPS = ("load_a", "load_b", "load_sparse", "load_cols", "run_bp", "run_wu", "drain_out",
       "drain_b", "set_theta", "set_target", "clear_stats", "dts_update", "set_pad_lanes")

_FP32 = parse_format("fp32")


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

    ``entries``: CSC entries (:class:`sim.spartann.csc.Entry`), ``addr``/``skip``: per column,
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


class CoreModel:
    """State of one core of ``config`` (:class:`~hw.spartann.config.SpartannConfig`; its
    implementation parameters change no result): buffers ``a``, ``b``, ``out`` ((rows, T)
    uint64), the loaded ``entries`` / ``addr`` / ``skip``, ``theta``, ``target`` and
    ``stats``."""

    def __init__(self, config, *, reject=False):
        if not isinstance(config, SpartannConfig):
            raise TypeError(f"config must be a SpartannConfig, not {config!r}")
        self.config = c = config
        self.T, self.fmt, self.idx_bits = c.T, c.format, c.idx_bits
        self.a_rows, self.b_rows, self.out_rows = c.a_rows, c.b_rows, c.out_rows
        self.sparse_depth, self.max_cols = c.sparse_depth, c.max_cols
        self.reject = reject
        self.reset()

    def reset(self):
        """Power-on state: buffers +0, no job loaded, theta = target = +0, stats cleared."""
        #: Per buffer ("a", "b", "out"): its two halves, (rows, T) uint64 arrays.
        self.halves = {name: [np.zeros((rows, self.T), dtype=np.uint64) for _ in range(2)]
                       for name, rows in (("a", self.a_rows), ("b", self.b_rows),
                                          ("out", self.out_rows))}
        self.entries, self.addr, self.skip, self.end = [], [], [], None
        self.errors = 0
        self.theta = 0
        self.target = 0
        self.stats = csc.Stats(0, 0, 0)
        self.pad_lanes = 0

    a = property(lambda self: self.halves["a"][0], doc="Dense Buf A half 0")
    b = property(lambda self: self.halves["b"][0], doc="Dense Buf B half 0")
    out = property(lambda self: self.halves["out"][0], doc="Out Buf half 0")

    # -- helpers -------------------------------------------------------------------------
    def _word(self, name, value, width=None):
        width = self.fmt.width if width is None else width
        value = int(value)
        if not 0 <= value < 1 << width:
            raise ValueError(f"{name} must be a {width}-bit pattern, not {value:#x}")
        return value

    def _vectors(self, name, rows, vectors):
        v = np.asarray(vectors)
        if v.ndim != 2 or v.shape[1] != self.T:
            raise ValueError(f"{name}: vectors must have shape (n, T={self.T}), not {v.shape}")
        if v.shape[0] > rows:
            raise ValueError(f"{name}: {v.shape[0]} vectors do not fit {rows} rows")
        if v.size and (v.astype(np.uint64) >> np.uint64(self.fmt.width)).any():
            raise ValueError(f"{name}: vectors hold values wider than {self.fmt.width} bits")
        return v.astype(np.uint64)

    def _count(self, name, rows, count):
        check_int(f"{name} count", count, 0)
        if count > rows:
            raise ValueError(f"{name}: count {count} exceeds {rows} rows")
        return count

    # -- commands ------------------------------------------------------------------------
    def _load_sparse(self, entries):
        entries = [csc.Entry(*e) for e in entries]
        if len(entries) > self.sparse_depth:
            raise ValueError(f"sparse buffer: {len(entries)} entries exceed "
                             f"sparse_depth = {self.sparse_depth}")
        dmax = (1 << self.idx_bits) - 1
        for i, e in enumerate(entries):
            self._word(f"entry {i} value", e.value)
            if not 0 <= e.delta <= dmax:
                raise ValueError(f"entry {i}: delta {e.delta} exceeds {dmax} "
                                 f"(idx_bits = {self.idx_bits})")
            if e.filler not in (0, 1) or e.last not in (0, 1):
                raise ValueError(f"entry {i}: filler/last must be 0 or 1")
        if entries and not entries[-1].last:
            raise ValueError("sparse buffer: the last column has no entry with last = 1")
        columns = sum(e.last for e in entries)
        if columns > self.max_cols and not self.reject:
            raise ValueError(f"column table: {columns} columns exceed max_cols = {self.max_cols}")
        self.entries = entries

    def _load_cols(self, addr, skip, end=None):
        addr, skip = [int(a) for a in addr], [int(s) for s in skip]
        if end is not None and len(end) != len(addr):
            raise ValueError(f"column table: {len(addr)} addresses but {len(end)} ends")
        if len(addr) != len(skip):
            raise ValueError(f"column table: {len(addr)} addresses but {len(skip)} skip bits")
        if len(addr) > self.max_cols:
            raise ValueError(f"column table: {len(addr)} columns exceed "
                             f"max_cols = {self.max_cols}")
        if any(s not in (0, 1) for s in skip):
            raise ValueError("column table: skip bits must be 0 or 1")
        self.addr, self.skip = addr, skip
        self.end = None if end is None else [int(e) for e in end]

    def _run(self, phase, ha, hb, ho):
        columns = columns_of(self.entries)
        if len(columns) != len(self.addr):
            raise ValueError(f"{phase}: {len(columns)} columns in the sparse buffer but "
                             f"{len(self.addr)} in the column table")
        if self.end is not None and self.end != column_ends(self.entries):
            raise ValueError(f"{phase}: column ends {self.end} differ from the Sparse Buf's "
                             f"{column_ends(self.entries)}")
        rows = self.out_rows if phase == "bp" else self.a_rows
        target = "out buffer" if phase == "bp" else "dense buffer A"
        live = [a for a, s in zip(self.addr, self.skip) if not s]
        for a in live:
            if not 0 <= a < rows:
                raise ValueError(f"{phase}: column address {a} outside {target} ({rows} rows)")
        if phase == "bp" and len(set(live)) != len(live):
            raise ValueError("bp: columns of one job must have distinct addresses")
        for col in columns:
            if col and col[-1][0] >= self.b_rows:
                raise ValueError(f"{phase}: entry row {col[-1][0]} outside dense buffer B "
                                 f"({self.b_rows} rows)")
        h = self.halves
        h["b"][hb], h["out"][ho] = run_job(phase, self.entries, self.addr, self.skip,
                                           h["a"][ha], h["b"][hb], h["out"][ho], self.fmt)

    def _drain_out(self, count, half):
        self._count("drain_out", self.out_rows, count)
        out = self.halves["out"][half]
        rows = out[:count].copy()
        kept, _ = csc.sparsify(rows, self.theta, self.fmt)
        counted = rows[:, :self.T - self.pad_lanes]
        self.stats = csc.merge_stats(self.stats, csc.stats(counted, self.theta, self.fmt),
                                     self.fmt)
        out[:count] = 0
        return kept.reshape(count, self.T)

    def _drain_b(self, count, half):
        self._count("drain_b", self.b_rows, count)
        b = self.halves["b"][half]
        rows = b[:count].copy()
        b[:count] = 0
        return rows

    def _dts_update(self):
        if self.fmt == _FP32:
            self.theta = int(dts.dts_update(self.theta, self.target, self.stats))
        else:
            widen = lambda x: int(fp.convert(np.uint64(x), self.fmt, _FP32))
            wide = self.stats._replace(max_abs=widen(self.stats.max_abs))
            new = dts.dts_update(widen(self.theta), self.target, wide)
            self.theta = int(fp.convert(np.uint64(int(new)), _FP32, self.fmt))
        self.stats = csc.Stats(0, 0, 0)

    def step(self, cmd):
        """Execute one command; returns the drained array or ``None``."""
        op = cmd.get("op") if isinstance(cmd, dict) else None
        if self.reject and (op == "raw" or op in OPS and rejected(
                cmd, self.config, (sum(1 for e in self.entries if e[3]), len(self.addr)))):
            if op == "raw" and 0 <= int(cmd["opcode"]) < len(OPS):
                raise ValueError("raw: a known opcode needs its program form")
            self.errors = min(self.errors + 1, 255)
            return None
        if op not in OPS:
            raise ValueError(f"op must be one of {OPS}, not {op!r}")
        h = dense_halves(cmd)
        if op == "load_a":
            v = self._vectors("dense buffer A", self.a_rows, cmd["vectors"])
            self.halves["a"][h["a_half"]][:len(v)] = v
        elif op == "load_b":
            v = self._vectors("dense buffer B", self.b_rows, cmd["vectors"])
            self.halves["b"][h["b_half"]][:len(v)] = v
        elif op == "load_sparse":
            self._load_sparse(cmd["entries"])
        elif op == "load_cols":
            self._load_cols(cmd["addr"], cmd["skip"], cmd.get("end"))
        elif op in ("run_bp", "run_wu"):
            self._run(op[4:], h["a_half"], h["b_half"], h["out_half"])
        elif op == "drain_out":
            return self._drain_out(cmd["count"], h["out_half"])
        elif op == "drain_b":
            return self._drain_b(cmd["count"], h["b_half"])
        elif op == "set_theta":
            self.theta = self._word("theta", cmd["bits"])
        elif op == "set_target":
            self.target = self._word("target", cmd["bits"], 32)
        elif op == "set_pad_lanes":
            self.pad_lanes = min(check_int("set_pad_lanes count", cmd["count"], 0,
                                           (1 << 32) - 1), self.T - 1)
        elif op == "clear_stats":
            self.stats = csc.Stats(0, 0, 0)
        else:
            self._dts_update()
        return None

    def execute(self, program):
        """Run every command of ``program``; returns the drained (n, T) arrays in order."""
        drained = []
        for cmd in program:
            result = self.step(cmd)
            if result is not None:
                drained.append(result)
        return drained
