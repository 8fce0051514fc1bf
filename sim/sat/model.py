"""Functional model of the SAT core (``hw/sat/core.py``) executing commands.

The model keeps every buffer as an array of elements (bit patterns), executes commands with the
engines' golden models (:func:`sim.sat.stce.systolic_fold`, :func:`sim.sat.osre.topk_group`,
:func:`sim.sat.wuve.sgd_lane`), packs rows into stream beats exactly as the RTL does, and
predicts each command's cycle count when the streams never stall (:meth:`SatCoreModel.cycles`,
from :mod:`sim.sat.cycles`). The host side (command programs) is :mod:`sim.sat.driver`.
"""

from dataclasses import dataclass
from collections.abc import Mapping

import numpy as np

from hw.sat.config import SatConfig, resolve
from hw.sat.isa import FIELD_NAMES, Buf, Op, Reg, field_widths, problem
from sim.sat.cycles import REJECTED_CYCLES, command_cycles
from sim.sat.osre import topk_group
from sim.sat.stce import systolic_fold
from sim.sat.wuve import sgd_lane

__all__ = ["Command", "SatCoreModel"]


@dataclass(frozen=True)
class Command:
    """One ``cmd`` word (field meaning per op: :data:`hw.sat.isa.COMMANDS`)."""
    op: int
    sel: int = 0
    flag: int = 0
    a: int = 0
    b: int = 0
    c: int = 0
    n0: int = 0
    n1: int = 0
    n2: int = 0
    n3: int = 0
    value: int = 0


class SatCoreModel:
    """Buffers, configuration registers and command semantics of one SAT core."""

    def __init__(self, config=None, timing=None, **overrides):
        """``config``: a :class:`~hw.sat.config.SatConfig`, a mapping of its fields (e.g. a
        manifest's ``parameters``) or ``None`` (:func:`~hw.sat.config.resolve` of
        ``overrides``); ``timing``: :attr:`hw.sat.core.SatCore.timing` (for :meth:`cycles`)."""
        if config is None:
            config = resolve(**overrides)
        elif isinstance(config, Mapping):
            config = SatConfig(**{k: v for k, v in config.items() if k != "preset"})
        self.config, self.timing = config, timing
        self.rows, self.cols, self.n, self.m, self.lanes = (
            config.rows, config.cols, config.n, config.m, config.lanes)
        self.in_fmt, self.acc_fmt = config.in_format, config.acc_format
        self.grad_fmt, self.master_fmt = config.grad_format, config.master_format
        self.index_width = config.index_width
        self.depth = config.depth
        lanes = self.lanes
        self.x_groups = config.x_groups
        self.shape = {Buf.W: (self.cols, 2), Buf.X: (self.x_groups, self.m), Buf.O: (self.cols,),
                      Buf.M: (lanes,), Buf.V: (lanes,), Buf.G: (lanes,), Buf.D: (lanes,)}
        self.elem_width = config.element_width
        self.row_width = config.row_width
        self.data_width = config.data_width
        self.beats = config.beats
        self.mem = {b: np.zeros((self.depth[b], *self.shape[b]), np.uint64) for b in Buf}
        self.registers = {r: 0 for r in Reg}
        self.widths = field_widths(config.addr_width, config.count_width,
                                   self.master_fmt.width)

    # -- encoding ----------------------------------------------------------------------------
    def encode(self, cmd):
        """The ``cmd`` payload bits of ``cmd``."""
        word, offset = 0, 0
        for name in FIELD_NAMES:
            value, width = int(getattr(cmd, name)), self.widths[name]
            if not 0 <= value < 1 << width:
                raise ValueError(f"command field {name}={value} does not fit {width} bits")
            word |= value << offset
            offset += width
        return word

    def pack_row(self, buf, row):
        """Row elements (shape ``self.shape[buf]``) -> the row's bits."""
        row = np.asarray(row, dtype=np.uint64).reshape(self.shape[buf])
        if buf == Buf.W:
            elems = [int(v) | int(i) << self.in_fmt.width for v, i in row]
        else:
            elems = [int(e) for e in row.reshape(-1)]
        width, word = self.elem_width[buf], 0
        for k, e in enumerate(elems):
            word |= (e & ((1 << width) - 1)) << (k * width)
        return word

    def unpack_row(self, buf, word):
        width = self.elem_width[buf]
        count = self.row_width[buf] // width
        elems = [(word >> (k * width)) & ((1 << width) - 1) for k in range(count)]
        if buf == Buf.W:
            mask = (1 << self.in_fmt.width) - 1
            elems = [(e & mask, e >> self.in_fmt.width) for e in elems]
        return np.array(elems, dtype=np.uint64).reshape(self.shape[buf])

    def to_beats(self, buf, word):
        dw = self.data_width
        return [(word >> (k * dw)) & ((1 << dw) - 1) for k in range(self.beats[buf])]

    def from_beats(self, buf, beats):
        word = sum(int(b) << (k * self.data_width) for k, b in enumerate(beats))
        return word & ((1 << self.row_width[buf]) - 1)

    # -- validation --------------------------------------------------------------------------
    def problem(self, cmd):
        """Why the core rejects ``cmd`` (``None`` when it is accepted;
        :func:`hw.sat.isa.problem`)."""
        return problem(cmd, self.config)

    # -- execution ---------------------------------------------------------------------------
    def execute(self, cmd, din):
        """Run ``cmd``, taking LOAD beats from the iterator ``din``. Returns
        ``(dout beats as (data, last) pairs, error flag)``."""
        if self.problem(cmd) is not None:
            return [], 1
        op, mem = cmd.op, self.mem
        out = []
        if op == Op.LOAD:
            buf = Buf(cmd.sel)
            for r in range(cmd.n0):
                word = self.from_beats(buf, [next(din) for _ in range(self.beats[buf])])
                mem[buf][cmd.a + r] = self.unpack_row(buf, word)
        elif op == Op.DRAIN:
            buf = Buf(cmd.sel)
            for r in range(cmd.n0):
                out += [(b, 0) for b in self.to_beats(buf, self.pack_row(buf, mem[buf][cmd.a + r]))]
            out[-1] = (out[-1][0], 1)
        elif op == Op.GEMM:
            self._gemm(cmd)
        elif op == Op.SGD:
            self._sgd(cmd)
        elif op == Op.PRUNE:
            self._prune(cmd)
        elif op == Op.SET:
            self.registers[Reg(cmd.sel)] = cmd.value
        return out, 0

    def bus_rows(self, cmd, fold):
        """``(T, rows, m)``: the array's bus rows the data router forms from the compact X
        groups for ``fold`` of GEMM ``cmd`` (:mod:`hw.sat.isa`, *compact activations*)."""
        t, kg, n, r = cmd.n0, cmd.n3, cmd.sel, self.rows
        flat = self.mem[Buf.X].reshape(-1, self.m)
        bus = np.zeros((t, r, self.m), np.uint64)
        base = cmd.b * self.x_groups + kg * np.arange(t)
        for row in range(r):
            kk = fold * r + row
            if kk < kg * n:
                bus[:, row] = flat[base + kk // n]
        return bus

    def _gemm(self, cmd):
        t, folds, tiles, r = cmd.n0, cmd.n1, cmd.n2, self.rows
        w, o = self.mem[Buf.W], self.mem[Buf.O]
        buses = [self.bus_rows(cmd, fold) for fold in range(folds)]
        for tile in range(tiles):
            out = slice(cmd.c + tile * t, cmd.c + (tile + 1) * t)
            for fold in range(folds):
                p = tile * folds + fold
                weights = w[cmd.a + p * r:cmd.a + (p + 1) * r]
                groups = buses[fold]
                chained = fold > 0 or cmd.flag
                acc = o[out] if chained else np.zeros((t, self.cols), np.uint64)
                o[out] = systolic_fold(groups, weights[..., 0], weights[..., 1], acc,
                                       self.in_fmt, self.acc_fmt)

    def _sgd(self, cmd):
        rows, c = slice(cmd.a, cmd.a + cmd.n0), self.registers
        w_new, v_new, w_lp = sgd_lane(
            self.mem[Buf.G][rows], self.mem[Buf.M][rows], self.mem[Buf.V][rows],
            c[Reg.LR], c[Reg.MU], c[Reg.WD], self.grad_fmt, self.master_fmt, self.in_fmt,
            self.config.decoupled_wd)
        self.mem[Buf.M][rows], self.mem[Buf.V][rows] = w_new, v_new
        self.mem[Buf.D][cmd.b:cmd.b + cmd.n0] = w_lp

    def lane_sequences(self, cmd):
        """(lanes, columns) values the OSRE lanes receive for PRUNE ``cmd``."""
        d, lanes, columns = self.mem[Buf.D], self.lanes, cmd.n0 * self.m
        if not cmd.flag:
            return d[cmd.a:cmd.a + columns].T
        blocks = -(-columns // lanes)
        seq = np.concatenate([d[cmd.a + b * cmd.c:cmd.a + b * cmd.c + lanes]
                              for b in range(blocks)], axis=1)
        return seq[:, :columns]

    def _prune(self, cmd):
        seq = self.lane_sequences(cmd)
        values, indices = topk_group(seq.reshape(self.lanes, cmd.n0, self.m), self.n,
                                     self.in_fmt)
        w = self.mem[Buf.W]
        for lane in range(self.lanes):
            col = cmd.n1 * self.lanes + lane
            if col >= self.cols:
                break
            rows = cmd.b + np.arange(cmd.n0 * self.n)
            w[rows, col, 0] = values[lane].reshape(-1)
            w[rows, col, 1] = indices[lane].reshape(-1)

    # -- timing ------------------------------------------------------------------------------
    def cycles(self, cmd):
        """Cycles from acceptance to completion + 1 (the ``cycles`` status), without stalls
        (:func:`sim.sat.cycles.command_cycles`; a rejected command takes 2)."""
        if self.timing is None:
            raise ValueError("cycles() needs the core's timing (SatCore.timing)")
        if self.problem(cmd) is not None:
            return REJECTED_CYCLES
        return command_cycles(cmd, self.timing)
