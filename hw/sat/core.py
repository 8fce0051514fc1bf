"""SAT core: the three engines of the CEST paper's Fig. 1 around on-chip buffers, driven by a
command stream.

::

    din ─> [LOAD: beats -> rows] ─> any buffer      any buffer ─> [DRAIN: rows -> beats] ─> dout
    cmd ─> [controller: one command at a time] ─> busy, error, cycles

    W (compressed weights) ─w─┐
    X (x-bus rows) ─────────x─┼─> STCE (R x C) ─y─> O (results; the next fold's partial sums)
    O (partial sums) ─────acc─┘
    M, V, G ─> WUVE (SGDLanes) ─> M (w'), V (v'), D (w_lp)
    D ─[forward: direct | backward: L x L transposer]─> OSRE (TopKLanes) ─> W (values, indices)

Every buffer is an :class:`amaranth.lib.memory.Memory` with one synchronous read port and one
write port (1R1W, block-RAM friendly); the command in progress owns them. Commands (stream
``cmd``, one at a time; fields in :func:`command_layout`):

* ``LOAD  sel=buffer a=row n0=rows``: take ``n0 * beats(buffer)`` beats from ``din``;
* ``DRAIN sel=buffer a=row n0=rows``: send the rows on ``dout`` (``last`` on the final beat);
* ``GEMM  a=W row b=X row c=O row n0=T n1=folds n2=tiles flag=accumulate``: pass
  ``p = tile * folds + fold`` streams W rows ``a + p*R ...`` and X rows ``b + fold*T + t``
  through the array, partial sums from O rows ``c + tile*T + t`` (zero for fold 0 unless
  ``flag``) and results back to them, so folds chain exactly as :mod:`sim.sat.driver`;
* ``SGD   a=M/V/G row b=D row n0=rows``: one WUVE step per element, ``w'`` and ``v'`` back to
  M and V, the ``in_fmt`` copy to D;
* ``PRUNE a=D row b=W row c=stride n0=groups n1=column block flag=backward``: N:M top-K of
  ``n0`` groups of ``m`` values per lane, ``n0 * n`` compressed rows into W columns
  ``[n1*L, n1*L + L)``; forward feeds D rows ``a + s`` to the lanes (lane = row position),
  backward reads ``L x L`` blocks (D rows ``a + blk*c + l``) through a transposer (lane =
  row of the block, the sequence runs along the rows);
* ``SET   sel=register value=bits``: ``lr``, ``mu``, ``wd`` (``decay`` when decoupled).

A command whose ranges do not fit its buffers (or with a zero count, an unknown op, buffer or
register) is rejected: nothing is read or written and ``error`` is set until the next command.
"""

from contextlib import contextmanager
from dataclasses import replace
from enum import IntEnum
from typing import NamedTuple

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..hier import instantiate, part
from ..params import Design, Param, _bool, _fmt, optional
from ..timing import Timed
from .config import (MAX_ARRAY_LATENCY, MAX_DIM, MAX_LANES, MAX_M, MAX_SGD_LATENCY, PAPER,
                     SatConfig, resolve)
from .isa import Buf, Op, Reg, field_widths, table as command_table
from .osre import TopKLanes
from .stce import SystolicArray
from .transposer import Transposer
from .wuve import SGDLanes

__all__ = ["SatCore", "Transposer", "Op", "Buf", "Reg", "command_layout", "DESIGNS"]

#: Width of the ``cycles`` status output.
CYCLE_WIDTH = 32


class _S(IntEnum):
    IDLE = 0
    CHECK = 1
    LOAD = 2
    DRAIN = 3
    GEMM = 4
    SGD = 5
    PRUNE = 6


def command_layout(addr_width, count_width, value_width):
    """Payload of the ``cmd`` stream (fields: :func:`hw.sat.isa.field_widths`)."""
    return data.StructLayout(field_widths(addr_width, count_width, value_width))


def _pick(sel, choices):
    """``choices[sel]`` (a dict of int keys to values) as a chain of multiplexers; 0 for
    other keys."""
    result = Const(0)
    for key, value in choices.items():
        result = Mux(sel == key, value, result)
    return result


class _RowReader:
    """The read side of a command, written once: ``issued`` rows requested of a buffer's
    read port, ``valid`` while the requested row is held on it. A row is requested
    (``issue``) when the held one is taken (``advance``: none held or ``ready``), the
    command is ``active`` and rows remain (``issued != total``, and not ``stall``).

    ``gated``: ``advance`` includes ``active`` (the port is enabled only while active).
    ``names``: the Verilog names of ``valid`` and ``issued`` (``"$signal"`` is Amaranth's
    name for an anonymous signal; the names are fixed so the generated Verilog does not
    change)."""

    def __init__(self, active, ready, total, width, *, names=("$signal", "$signal"),
                 stall=None, gated=False):
        self.active, self.gated = active, gated
        self.valid = Signal(name=names[0])
        self.issued = Signal(width, name=names[1])
        if gated:
            self.advance = active & (~self.valid | ready)
            self.issue = self.advance & (self.issued != total)
        else:
            self.advance = ~self.valid | ready
            self.issue = active & self.advance & (self.issued != total)
        if stall is not None:
            self.issue = self.issue & ~stall

    def read(self, port, addr):
        """Drive read ``port`` at ``addr`` (enabled when the held row advances)."""
        return [port.addr.eq(addr), port.en.eq(self.advance)]

    def restart(self):
        return [self.valid.eq(0), self.issued.eq(0)]

    def hold(self, m, *also):
        """The read register: a row is held after an issue (``also``: other registers that
        advance with it)."""
        with m.If(self.advance if self.gated else self.active & self.advance):
            m.d.sync += [self.valid.eq(self.issue), *also]

    @contextmanager
    def count(self, m):
        """Count an issued row (the ``with`` block adds updates on the same issue)."""
        with m.If(self.issue):
            m.d.sync += self.issued.eq(self.issued + 1)
            yield


class _Run(NamedTuple):
    """What the command datapaths share while elaborating (see :meth:`SatCore._check`)."""
    state: Signal            # controller state (_S)
    cur: Signal              # the command in progress
    done: Signal             # it completes this cycle
    starts: dict             # {Op: its start pulse}
    total: Signal            # rows written / beats the command counts to
    total_in: Signal         # rows it reads
    registers: dict          # {Reg: configuration register}


class SatCore(Timed, wiring.Component):
    """The SAT core (see the module docstring), built from one :class:`SatConfig` (default
    :data:`SatConfig.PAPER <hw.sat.config.SatConfig>`); keyword ``overrides`` replace its
    fields (``SatCore(SatConfig.SMALL, rows=4)``).

    Ports: ``cmd`` (in, :func:`command_layout`), ``din`` (in, ``data_width`` bits), ``dout``
    (out, ``{data, last}``), status outputs ``busy``, ``error`` and ``cycles`` (cycles from
    the last command's acceptance to its completion + 1: back to back, the next command is
    accepted that many cycles after it).
    """

    def __init__(self, config=PAPER, /, **overrides):
        if not isinstance(config, SatConfig):
            raise TypeError(f"config must be a SatConfig, not {config!r}")
        self.config = config = replace(config, **overrides) if overrides else config
        self.rows, self.cols, self.n, self.m = config.rows, config.cols, config.n, config.m
        self.lanes, self.data_width = config.lanes, config.data_width
        self.decoupled_wd = config.decoupled_wd
        self.in_fmt, self.acc_fmt = config.in_format, config.acc_format
        self.grad_fmt, self.master_fmt = config.grad_format, config.master_format
        self.depth = config.depth
        self.index_width = config.index_width
        self.elem_width = config.element_width[Buf.W]               # one W column
        self.row_width, self.beats = config.row_width, config.beats
        self.col_blocks = config.col_blocks
        self.addr_width, self.count_width = config.addr_width, config.count_width

        # The engines are emitted once each as their own Verilog module (hw.hier).
        self.array = part(SystolicArray, rows=config.rows, cols=config.cols, group=config.m,
                          in_fmt=self.in_fmt, acc_fmt=self.acc_fmt,
                          mul_latency=config.mul_latency, add_latency=config.add_latency)
        self.wuve = part(SGDLanes, lanes=config.lanes, grad_fmt=self.grad_fmt,
                         master_fmt=self.master_fmt, weight_out_fmt=self.in_fmt,
                         latency=config.sgd_latency, decoupled_wd=config.decoupled_wd)
        self.osre = part(TopKLanes, lanes=config.lanes, n=config.n, m=config.m,
                         fmt=self.in_fmt)
        self.transposer = part(Transposer, lanes=config.lanes, width=self.in_fmt.width,
                               count_width=self.count_width + 8)
        self.engines = {"stce": self.array, "wuve": self.wuve, "osre": self.osre,
                        "transposer": self.transposer}
        rows, cols, lanes, n, m = config.rows, config.cols, config.lanes, config.n, config.m
        f = {k: getattr(self, k).name for k in ("in_fmt", "acc_fmt", "grad_fmt", "master_fmt")}
        self.module_names = {
            "stce": f"sat_stce_{rows}x{cols}_g{m}_{f['in_fmt']}_{f['acc_fmt']}"
                    f"_m{config.mul_latency}_a{config.add_latency}",
            "wuve": f"sat_wuve_l{lanes}_{f['grad_fmt']}_{f['master_fmt']}_{f['in_fmt']}"
                    f"_lat{self.wuve.latency}" + ("_sgdw" if config.decoupled_wd else ""),
            "osre": f"sat_osre_l{lanes}_n{n}_m{m}_w{self.in_fmt.width}",
            "transposer": f"sat_transposer_l{lanes}_w{self.in_fmt.width}"
                          f"_c{self.count_width + 8}",
        }
        self.cmd_layout = command_layout(self.addr_width, self.count_width,
                                         self.master_fmt.width)
        super().__init__({
            "cmd": In(stream.Signature(self.cmd_layout)),
            "din": In(stream.Signature(config.data_width)),
            "dout": Out(stream.Signature(data.StructLayout({"data": config.data_width,
                                                            "last": 1}))),
            "busy": Out(1), "error": Out(1), "cycles": Out(CYCLE_WIDTH),
        })

    # -- queryable timing (the cycle model in sim/sat/cycles.py reads these) --------
    @property
    def timing(self):
        """Latencies the command cycle counts depend on."""
        return {"array_latency": self.array.latency, "swap_wave": self.array.swap_wave,
                "rows": self.rows, "wuve_latency": self.wuve.latency,
                "osre_latency": self.osre.latency, "lanes": self.lanes, "n": self.n,
                "m": self.m, "beats": {b.name: v for b, v in self.beats.items()}}

    # -- what the manifest records (hw.generate.manifest) -----------------------------------
    #: Module of the command cycle model (its ``CYCLE_MODEL``: formulas over :attr:`timing`).
    cycle_model = "sim.sat.cycles"

    @property
    def timing_properties(self):
        return self.timing

    @property
    def built_parameters(self):
        """Every parameter as built (``sgd_latency``: the WUVE lanes' own when ``None``)."""
        return {**self.config.as_dict(), "sgd_latency": self.wuve.latency}

    @property
    def command_set(self):
        """:func:`hw.sat.isa.table` for this core, each buffer with its depth and row
        layout (element ``k`` of a row at bit ``k * element_width``; rows travel on din/dout
        as ``beats`` beats, LSB first)."""
        info = command_table(self.addr_width, self.count_width, self.master_fmt.width)
        elem = {Buf.W: self.elem_width, Buf.X: self.in_fmt.width, Buf.O: self.acc_fmt.width,
                Buf.M: self.master_fmt.width, Buf.V: self.master_fmt.width,
                Buf.G: self.grad_fmt.width, Buf.D: self.in_fmt.width}
        for name, entry in info["enums"]["Buf"].items():
            b = Buf[name]
            entry.update(depth=self.depth[b], row_width=self.row_width[b],
                         beats=self.beats[b], elements=self.row_width[b] // elem[b],
                         element_width=elem[b])
        info["enums"]["Buf"]["W"]["element_fields"] = {
            "value": {"offset": 0, "width": self.in_fmt.width},
            "index": {"offset": self.in_fmt.width, "width": self.index_width}}
        return info

    @property
    def port_doc(self):
        return {
            "cmd__valid": "a command is presented", "cmd__ready": "idle: the command is taken",
            "cmd__payload": "command: op, sel, flag, a, b, c, n0, n1, n2, value",
            "din__valid": "a data beat is presented", "din__ready": "a LOAD takes the beat",
            "din__payload": f"{self.data_width}-bit beat; rows span ceil(width/"
                            f"{self.data_width}) beats, LSB first",
            "dout__valid": "a DRAIN beat is presented", "dout__ready": "the host takes it",
            "dout__payload": "data beat and last (final beat of the DRAIN)",
            "busy": "a command is in progress", "error": "the last command was rejected",
            "cycles": "cycles of the last command (acceptance to completion, + 1)",
        }

    # -- elaboration ------------------------------------------------------------------------
    def elaborate(self, platform):
        m = Module()
        array, wuve, osre, tr = self.array, self.wuve, self.osre, self.transposer
        for name, engine in self.engines.items():
            instantiate(m, name, engine, self.module_names[name])
        rd, wr = {}, {}
        for buf in Buf:
            mem = Memory(shape=unsigned(self.row_width[buf]), depth=self.depth[buf], init=[])
            m.submodules[f"{buf.name.lower()}buf"] = mem
            wr[buf] = mem.write_port(granularity=self.elem_width if buf == Buf.W else None)
            rd[buf] = mem.read_port(transparent_for=(wr[buf],) if buf == Buf.O else ())

        state = Signal(range(len(_S)))
        cur = Signal(self.cmd_layout)
        done = Signal()                         # the running command completes this cycle
        counter = Signal(CYCLE_WIDTH)
        m.d.comb += [self.cmd.ready.eq(state == _S.IDLE), self.busy.eq(state != _S.IDLE)]
        with m.If(self.cmd.valid & self.cmd.ready):
            m.d.sync += [cur.eq(self.cmd.payload), state.eq(_S.CHECK), counter.eq(1),
                         self.error.eq(0)]
        with m.Elif(state != _S.IDLE):
            m.d.sync += counter.eq(counter + 1)
        with m.If(done):
            m.d.sync += [state.eq(_S.IDLE), self.cycles.eq(counter + 1)]

        k = self._check(m, state, cur, done)
        self._load(m, k, wr)
        self._drain(m, k, rd)
        self._gemm(m, k, array, rd, wr)
        self._sgd(m, k, wuve, rd, wr)
        self._prune(m, k, osre, tr, rd, wr)
        return m

    def _check(self, m, state, cur, done):
        """CHECK state: validate ``cur``; run SET; start the command or reject it. Returns
        what the commands share (:class:`_Run`: the start pulse of each op, the totals they
        count to, the configuration registers)."""
        depth = self.depth
        op_ok = {}
        sel_depth = _pick(cur.sel, {buf: depth[buf] for buf in Buf})
        fits = cur.a + cur.n0 <= sel_depth
        op_ok[Op.LOAD] = op_ok[Op.DRAIN] = (cur.sel < len(Buf)) & (cur.n0 != 0) & fits
        passes = cur.n1 * cur.n2
        op_ok[Op.GEMM] = ((cur.n0 != 0) & (cur.n1 != 0) & (cur.n2 != 0)
                          & (cur.a + passes * self.rows <= depth[Buf.W])
                          & (cur.b + cur.n1 * cur.n0 <= depth[Buf.X])
                          & (cur.c + cur.n2 * cur.n0 <= depth[Buf.O]))
        op_ok[Op.SGD] = ((cur.n0 != 0) & (cur.a + cur.n0 <= depth[Buf.M])
                         & (cur.b + cur.n0 <= depth[Buf.D]))
        columns = cur.n0 * self.m
        blocks = (columns + (self.lanes - 1)) // self.lanes
        read_end = Mux(cur.flag, cur.a + (blocks - 1) * cur.c + self.lanes, cur.a + columns)
        op_ok[Op.PRUNE] = ((cur.n0 != 0) & (cur.n1 < self.col_blocks)
                           & (read_end <= depth[Buf.D])
                           & (cur.b + cur.n0 * self.n <= depth[Buf.W]))
        op_ok[Op.SET] = cur.sel < len(Reg)

        registers = {r: Signal(self.master_fmt.width, name=f"cfg_{r.name.lower()}")
                     for r in Reg}
        # Totals the running command counts to, set when it starts.
        total = Signal(2 * self.count_width + 16)       # rows written / beats / ...
        total_in = Signal(2 * self.count_width + 16)    # rows read
        starts = {op: Signal(name=f"start_{op.name.lower()}") for op in Op}
        targets = {Op.LOAD: _S.LOAD, Op.DRAIN: _S.DRAIN, Op.GEMM: _S.GEMM, Op.SGD: _S.SGD,
                   Op.PRUNE: _S.PRUNE}
        totals = {Op.LOAD: (cur.n0, cur.n0), Op.DRAIN: (cur.n0, cur.n0),
                  Op.GEMM: (passes * cur.n0, passes * self.rows), Op.SGD: (cur.n0, cur.n0),
                  Op.PRUNE: (cur.n0 * self.n, Mux(cur.flag, blocks * self.lanes, columns))}
        with m.If(state == _S.CHECK):
            for index, op in enumerate(Op):
                with (m.If if index == 0 else m.Elif)(cur.op == op):
                    with m.If(~op_ok[op]):
                        m.d.sync += self.error.eq(1)
                        m.d.comb += done.eq(1)
                    with m.Else():
                        if op == Op.SET:
                            for r in Reg:
                                with m.If(cur.sel == r):
                                    m.d.sync += registers[r].eq(cur.value)
                            m.d.comb += done.eq(1)
                        else:
                            m.d.comb += starts[op].eq(1)
                            m.d.sync += [state.eq(targets[op]), total.eq(totals[op][0]),
                                         total_in.eq(totals[op][1])]
            with m.Else():
                m.d.sync += self.error.eq(1)
                m.d.comb += done.eq(1)
        return _Run(state, cur, done, starts, total, total_in, registers)

    def _load(self, m, k, wr):
        """LOAD: assemble rows from ``din`` beats (LSB first) and write them."""
        cur, starts, done = k.cur, k.starts, k.done
        dw, beats = self.data_width, self.beats
        most = max(beats.values())
        beat = Signal(range(max(most, 2)))      # >= 1 bit: no zero-width wire when most == 1
        row = Signal(self.count_width)
        stash = [Signal(dw, name=f"load_beat{b}") for b in range(most - 1)]
        last_beat = _pick(cur.sel, {buf: beats[buf] - 1 for buf in Buf})
        active = k.state == _S.LOAD
        m.d.comb += self.din.ready.eq(active)
        take = self.din.valid & active
        word = Cat(*(Mux(beat == b, self.din.payload, stash[b]) for b in range(most - 1)),
                   self.din.payload)
        with m.If(starts[Op.LOAD]):
            m.d.sync += [beat.eq(0), row.eq(0)]
        with m.If(take):
            for b in range(most - 1):
                with m.If(beat == b):
                    m.d.sync += stash[b].eq(self.din.payload)
            with m.If(beat == last_beat):
                m.d.sync += [beat.eq(0), row.eq(row + 1)]
                with m.If(row + 1 == k.total):
                    m.d.comb += done.eq(1)
            with m.Else():
                m.d.sync += beat.eq(beat + 1)
        for buf in Buf:
            with m.If(take & (beat == last_beat) & (cur.sel == buf)):
                m.d.comb += [wr[buf].addr.eq(cur.a + row), wr[buf].data.eq(word),
                             wr[buf].en.eq(-1)]

    def _drain(self, m, k, rd):
        """DRAIN: read rows and send them as beats (``last`` on the command's final beat)."""
        cur, done = k.cur, k.done
        dw, beats = self.data_width, self.beats
        most = max(beats.values())
        beat = Signal(range(max(most, 2)))      # >= 1 bit (stays 0 when most == 1)
        sent = Signal(self.count_width)         # rows fully sent
        last_beat = _pick(cur.sel, {buf: beats[buf] - 1 for buf in Buf})
        row = Signal(most * dw)
        m.d.comb += row.eq(_pick(cur.sel, {buf: rd[buf].data for buf in Buf}))
        active = k.state == _S.DRAIN
        end_of_row = beat == last_beat
        take = self.dout.valid & self.dout.ready
        reader = _RowReader(active, take & end_of_row, k.total, self.count_width,
                            names=("valid", "issued"), gated=True)
        m.d.comb += [self.dout.valid.eq(reader.valid),
                     self.dout.payload.data.eq(row.word_select(beat, dw) if most > 1 else row),
                     self.dout.payload.last.eq(end_of_row & (sent + 1 == k.total))]
        for buf in Buf:
            with m.If(active & (cur.sel == buf)):
                m.d.comb += reader.read(rd[buf], cur.a + reader.issued)
        with m.If(k.starts[Op.DRAIN]):
            m.d.sync += [beat.eq(0), reader.issued.eq(0), sent.eq(0), reader.valid.eq(0)]
        with m.Else():
            reader.hold(m)
            with reader.count(m):
                pass
            with m.If(take):
                m.d.sync += beat.eq(Mux(end_of_row, 0, beat + 1))
                with m.If(end_of_row):
                    m.d.sync += sent.eq(sent + 1)
                    with m.If(sent + 1 == k.total):
                        m.d.comb += done.eq(1)

    def _gemm(self, m, k, array, rd, wr):
        """GEMM: feed W rows and X rows (with partial sums from O) to the array; write its
        results to O. A chained row waits until the previous fold's result for it is written
        (the O read port is transparent, so it may read in the very cycle of that write)."""
        cur, done = k.cur, k.done
        cw = self.count_width
        active = k.state == _S.GEMM
        t_last, f_last = cur.n0 - 1, cur.n1 - 1
        # -- weights: total_in rows from W, in order
        w = _RowReader(active, array.w.ready, k.total_in, len(k.total_in),
                       names=("$signal", "w_issued"))
        w_row = data.ArrayLayout(data.StructLayout({"value": self.in_fmt.width,
                                                    "index": self.index_width}), self.cols)
        w_view = w_row(rd[Buf.W].data)
        m.d.comb += [array.w.valid.eq(w.valid)]
        for c in range(self.cols):
            m.d.comb += [array.w.payload.values[c].eq(w_view[c].value),
                         array.w.payload.indices[c].eq(w_view[c].index)]
        # -- activations and partial sums
        x_first, x_zero = Signal(), Signal()
        x_t, x_f = Signal(cw), Signal(cw)
        x_ptr, o_ptr, o_base = Signal(cw + 1), Signal(cw + 1), Signal(cw + 1)
        inflight = Signal(cw + 8)
        y_write = array.y.valid & active
        chained = (x_f != 0) | cur.flag
        hazard = (x_f != 0) & (inflight - y_write >= cur.n0)
        x = _RowReader(active, array.x.ready, k.total, len(k.total),
                       names=("$signal", "x_issued"), stall=hazard)
        m.d.comb += [array.x.valid.eq(x.valid), array.x.payload.first.eq(x_first),
                     array.x.payload.groups.eq(rd[Buf.X].data)]
        for c in range(self.cols):
            acc_w = self.acc_fmt.width
            m.d.comb += array.x.payload.acc[c].eq(
                Mux(x_zero, 0, rd[Buf.O].data[c * acc_w:(c + 1) * acc_w]))
        # -- results
        y_t, y_f = Signal(cw), Signal(cw)
        y_ptr, y_base, y_count = Signal(cw + 1), Signal(cw + 1), Signal(len(k.total))
        m.d.comb += array.y.ready.eq(1)

        with m.If(active):
            m.d.comb += [*w.read(rd[Buf.W], cur.a + w.issued),
                         *x.read(rd[Buf.X], x_ptr), *x.read(rd[Buf.O], o_ptr),
                         wr[Buf.O].addr.eq(y_ptr), wr[Buf.O].data.eq(array.y.payload),
                         wr[Buf.O].en.eq(y_write)]
        with m.If(k.starts[Op.GEMM]):
            m.d.sync += [*w.restart(), x.valid.eq(0), x_t.eq(0), x_f.eq(0),
                         x.issued.eq(0), x_ptr.eq(cur.b), o_ptr.eq(cur.c), o_base.eq(cur.c),
                         inflight.eq(0), y_t.eq(0), y_f.eq(0), y_ptr.eq(cur.c),
                         y_base.eq(cur.c), y_count.eq(0)]
        with m.Else():
            w.hold(m)
            with w.count(m):
                pass
            x.hold(m, x_first.eq(x_t == 0), x_zero.eq(~chained))
            m.d.sync += inflight.eq(inflight + x.issue - y_write)
            with x.count(m):
                with m.If(x_t != t_last):
                    m.d.sync += [x_t.eq(x_t + 1), x_ptr.eq(x_ptr + 1), o_ptr.eq(o_ptr + 1)]
                with m.Else():
                    m.d.sync += x_t.eq(0)
                    with m.If(x_f != f_last):    # next fold of this tile: same O rows
                        m.d.sync += [x_f.eq(x_f + 1), x_ptr.eq(x_ptr + 1), o_ptr.eq(o_base)]
                    with m.Else():               # next tile: X from the start, next O rows
                        m.d.sync += [x_f.eq(0), x_ptr.eq(cur.b), o_ptr.eq(o_base + cur.n0),
                                     o_base.eq(o_base + cur.n0)]
            with m.If(y_write):
                m.d.sync += y_count.eq(y_count + 1)
                with m.If(y_count + 1 == k.total):
                    m.d.comb += done.eq(1)
                with m.If(y_t != t_last):
                    m.d.sync += [y_t.eq(y_t + 1), y_ptr.eq(y_ptr + 1)]
                with m.Else():
                    m.d.sync += y_t.eq(0)
                    with m.If(y_f != f_last):
                        m.d.sync += [y_f.eq(y_f + 1), y_ptr.eq(y_base)]
                    with m.Else():
                        m.d.sync += [y_f.eq(0), y_ptr.eq(y_base + cur.n0),
                                     y_base.eq(y_base + cur.n0)]

    def _sgd(self, m, k, wuve, rd, wr):
        """SGD: stream M/V/G rows through the WUVE lanes; write w', v' back and w_lp to D."""
        cur, done = k.cur, k.done
        active = k.state == _S.SGD
        reader = _RowReader(active, wuve.i.ready, k.total, self.count_width,
                            names=("$signal", "issued"))
        written = Signal(self.count_width)
        for name, reg in zip(wuve.config_names, Reg):
            m.d.comb += getattr(wuve, name).eq(k.registers[reg])
        gw, mw = self.grad_fmt.width, self.master_fmt.width
        m.d.comb += wuve.i.valid.eq(reader.valid)
        for lane in range(self.lanes):
            m.d.comb += [wuve.i.payload[lane].g.eq(rd[Buf.G].data[lane * gw:(lane + 1) * gw]),
                         wuve.i.payload[lane].w.eq(rd[Buf.M].data[lane * mw:(lane + 1) * mw]),
                         wuve.i.payload[lane].v.eq(rd[Buf.V].data[lane * mw:(lane + 1) * mw])]
        out = wuve.o.payload
        result = wuve.o.valid & active
        m.d.comb += wuve.o.ready.eq(1)
        with m.If(active):
            for buf in (Buf.M, Buf.V, Buf.G):
                m.d.comb += reader.read(rd[buf], cur.a + reader.issued)
            m.d.comb += [wr[Buf.M].addr.eq(cur.a + written), wr[Buf.V].addr.eq(cur.a + written),
                         wr[Buf.D].addr.eq(cur.b + written),
                         wr[Buf.M].data.eq(Cat(*(out[l].w for l in range(self.lanes)))),
                         wr[Buf.V].data.eq(Cat(*(out[l].v for l in range(self.lanes)))),
                         wr[Buf.D].data.eq(Cat(*(out[l].w_lp for l in range(self.lanes)))),
                         wr[Buf.M].en.eq(result), wr[Buf.V].en.eq(result),
                         wr[Buf.D].en.eq(result)]
        with m.If(k.starts[Op.SGD]):
            m.d.sync += [*reader.restart(), written.eq(0)]
        with m.Else():
            reader.hold(m)
            with reader.count(m):
                pass
            with m.If(result):
                m.d.sync += written.eq(written + 1)
                with m.If(written + 1 == k.total):
                    m.d.comb += done.eq(1)

    def _prune(self, m, k, osre, tr, rd, wr):
        """PRUNE: D rows (forward) or D blocks through the transposer (backward) into the
        OSRE lanes; each group's ``n`` kept values and indices become ``n`` W rows, written
        into the column block ``n1`` (the W port writes one column per enable bit)."""
        cur, starts, done = k.cur, k.starts, k.done
        active = k.state == _S.PRUNE
        lanes, backward = self.lanes, cur.flag
        ready = Mux(backward, tr.i.ready, osre.i.ready)
        reader = _RowReader(active, ready, k.total_in, len(k.total_in),
                            names=("$signal", "issued"))
        in_block = Signal(range(max(lanes, 2)))  # >= 1 bit (stays 0 when lanes == 1)
        block_base = Signal(self.count_width + 1)
        addr = Mux(backward, block_base + in_block, cur.a + reader.issued)
        m.d.comb += [tr.start.eq(starts[Op.PRUNE] & backward), tr.columns.eq(cur.n0 * self.m),
                     tr.i.valid.eq(reader.valid & backward), tr.i.payload.eq(rd[Buf.D].data),
                     tr.o.ready.eq(active & osre.i.ready),
                     osre.i.valid.eq(active & Mux(backward, tr.o.valid, reader.valid)),
                     osre.i.payload.eq(Mux(backward, tr.o.payload.as_value(),
                                           rd[Buf.D].data))]
        # -- writer: n rows per group
        j = Signal(range(max(self.n, 2)))       # >= 1 bit (stays 0 when n == 1)
        written = Signal(len(k.total))
        write = active & osre.o.valid
        m.d.comb += osre.o.ready.eq(active & (j == self.n - 1))
        w_row = data.ArrayLayout(data.StructLayout({"value": self.in_fmt.width,
                                                    "index": self.index_width}), self.cols)
        word = Signal(w_row)
        for c in range(self.cols):
            lane_out = osre.o.payload[c % lanes]
            pick = j if self.n > 1 else 0
            m.d.comb += [word[c].value.eq(lane_out.values[pick]),
                         word[c].index.eq(lane_out.indices[pick])]
        enables = Cat(*(cur.n1 == c // lanes for c in range(self.cols)))
        with m.If(active):
            m.d.comb += [*reader.read(rd[Buf.D], addr),
                         wr[Buf.W].addr.eq(cur.b + written), wr[Buf.W].data.eq(word),
                         wr[Buf.W].en.eq(Mux(write, enables, 0))]
        with m.If(starts[Op.PRUNE]):
            m.d.sync += [*reader.restart(), in_block.eq(0), block_base.eq(cur.a),
                         j.eq(0), written.eq(0)]
        with m.Else():
            reader.hold(m)
            with reader.count(m):
                m.d.sync += in_block.eq(in_block + 1)
                with m.If(in_block == lanes - 1):
                    m.d.sync += [in_block.eq(0), block_base.eq(block_base + cur.c)]
            with m.If(write):
                m.d.sync += [written.eq(written + 1), j.eq(Mux(j == self.n - 1, 0, j + 1))]
                with m.If(written + 1 == k.total):
                    m.d.comb += done.eq(1)


def _build(preset="paper", **overrides):
    return SatCore(resolve(preset, **overrides))


_HELP = {
    "rows": f"array rows (reduction positions), 1..{MAX_DIM}",
    "cols": f"array columns (output channels), 1..{MAX_DIM}",
    "n": "values kept per group by the OSRE (N of N:M)",
    "m": f"group size M (array bus width, OSRE group), 2..{MAX_M}",
    "in_fmt": "activation / weight format (also WUVE's low-precision weight copy)",
    "acc_fmt": "partial-sum format", "grad_fmt": "gradient format",
    "master_fmt": "master weight / momentum format",
    "lanes": f"WUVE and OSRE lanes, a divisor of cols, 1..{MAX_LANES} (not given: the "
             f"largest divisor of cols up to the preset's)",
    "mul_latency": f"array multiplier stages, 0..{MAX_ARRAY_LATENCY}",
    "add_latency": f"array adder stages, 0..{MAX_ARRAY_LATENCY}",
    "sgd_latency": f"WUVE pipeline stages, 1..{MAX_SGD_LATENCY} (default: the lane's own)",
    "decoupled_wd": "WUVE SGDW mode (third register is the decay factor)",
    "data_width": "din/dout beat width in bits (multiple of 8)",
    "wbuf_depth": "weight buffer rows", "xbuf_depth": "activation (x-bus) buffer rows",
    "obuf_depth": "output / partial-sum buffer rows",
    "sgd_depth": "rows of each of the master, momentum and gradient buffers",
    "dbuf_depth": "dense low-precision weight buffer rows",
}
_KINDS = {"in_fmt": _fmt, "acc_fmt": _fmt, "grad_fmt": _fmt, "master_fmt": _fmt,
          "decoupled_wd": _bool}

#: Registry entry (to merge into :data:`hw.designs.DESIGNS`). Every parameter defaults to
#: the preset's value (``None``: take it from ``preset``).
DESIGNS = {
    "sat_core": Design(
        _build, "SAT core: STCE array, WUVE and OSRE lanes, on-chip buffers, command port",
        {"preset": Param("paper", str, "parameter set: paper or small"),
         **{name: Param(None, optional(_KINDS.get(name, int)),
                        f"{_HELP[name]} (default: preset's, paper {value})")
            for name, value in PAPER.as_dict().items()}},
        test_params={"preset": "small"}),
}
