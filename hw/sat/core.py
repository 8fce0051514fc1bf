"""SAT core: the three engines of the CEST paper's Fig. 1 around on-chip buffers, driven by a
command stream.

::

    din ─> LD [LOAD: beats -> rows] ─> any buffer   any buffer ─> ST [DRAIN: rows -> beats] ─> dout
    cmd ─> check ─> [pend] ─> in-order dispatch to LD / EX / ST ─> busy, error, cycles

    W (compressed weights) ─w─┐
    X banks ─> router ──────x─┼─> STCE (R x C) ─y─> O (results; the next fold's partial sums)
    O (partial sums) ─────acc─┘
    M, V, G ─> WUVE (SGDLanes) ─> M (w'), V (v'), D (w_lp)
    D ─[forward: direct | backward: L x L transposer]─> OSRE (TopKLanes) ─> W (values, indices)

Every buffer is a :class:`~hw.sat.buffer.SatBuffer` (a memory emitted as its own module, one per
shape) with one write port (LD or EX) and one
synchronous read port (EX or ST); O has a second read port for ST; X is ``x_groups`` banks one
group wide, read by the data router (compact activations, :mod:`hw.sat.isa`). The three units
(LD, EX, ST) run at once; a command is dispatched in program order when its unit is idle and
it conflicts with no running command (:func:`hw.sat.isa.conflicts`). Commands (stream
``cmd``; fields in :func:`command_layout`; the GEMM's X side: :mod:`hw.sat.isa`):

* ``LOAD  sel=buffer a=row n0=rows``: take ``n0 * beats(buffer)`` beats from ``din``;
* ``DRAIN sel=buffer a=row n0=rows``: send the rows on ``dout`` (``last`` on the final beat);
* ``GEMM  sel=N a=W row b=X row c=O row n0=T n1=folds n2=tiles n3=Kg flag=accumulate``:
  pass ``p = tile * folds + fold`` streams W rows ``a + p*R ...`` and, per activation row
  ``t``, the router's bus row (array row ``r``: X group ``b*xg + t*Kg + (fold*R + r) // N``,
  zero past ``Kg*N``) through the array, partial sums from O rows ``c + tile*T + t`` (zero for
  fold 0 unless ``flag``) and results back to them, so folds chain exactly as
  :mod:`sim.sat.driver`;
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

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..arith import bounded, bounded_product, lut_product, mux_tree
from ..hier import instantiate, part
from ..params import Design, Param, _bool, _fmt, optional
from ..timing import Timed
from .config import (MAX_ARRAY_LATENCY, MAX_DIM, MAX_LANES, MAX_M, MAX_SGD_LATENCY, PAPER,
                     SatConfig, resolve)
from .isa import (GROUP_EXTRA_BITS, UNITS, Buf, Op, Reg, Unit, field_widths,
                  table as command_table)
from .buffer import SatBuffer
from .osre import TopKLanes
from .stce import SystolicArray
from .transposer import Transposer
from .wuve import SGDLanes

__all__ = ["SatCore", "Transposer", "Op", "Buf", "Reg", "command_layout", "DESIGNS"]

#: Width of the ``cycles`` status output.
CYCLE_WIDTH = 32


class _X(IntEnum):
    """What the EX unit runs."""
    GEMM = 0
    SGD = 1
    PRUNE = 2


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
    command is ``active`` and rows remain (``more``, by default ``issued != total``; and not
    ``stall``).

    ``gated``: ``advance`` includes ``active`` (the port is enabled only while active).
    ``names``: the Verilog names of ``valid`` and ``issued`` (``"$signal"`` is Amaranth's
    name for an anonymous signal; the names are fixed so the generated Verilog does not
    change)."""

    def __init__(self, active, ready, total, width, *, names=("$signal", "$signal"),
                 stall=None, gated=False, more=None):
        self.active, self.gated = active, gated
        self.valid = Signal(name=names[0])
        self.issued = Signal(width, name=names[1])
        self.counted = more is None              # else ``issued`` is not kept
        more = (self.issued != total) if more is None else more
        if gated:
            self.advance = active & (~self.valid | ready)
            self.issue = self.advance & more
        else:
            self.advance = ~self.valid | ready
            self.issue = active & self.advance & more
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
            if self.counted:
                m.d.sync += self.issued.eq(self.issued + 1)
            yield


class _Unit(NamedTuple):
    """One unit: ``cur`` (the command it runs; in its start cycle the dispatch register),
    ``busy`` (running, from the cycle after ``start`` to its ``done`` cycle), ``start`` (the
    command leaves dispatch for it), ``done`` (its last cycle)."""
    cur: Signal
    busy: Signal
    start: Signal
    done: Signal


class _Dispatch(NamedTuple):
    units: dict              # {Unit: _Unit}
    ex_state: Signal         # what EX runs (_X)
    registers: dict          # {Reg: configuration register}
    w_rows: Signal           # the dispatch register's GEMM W rows, folds * tiles * rows


class _Fanout:
    """A row-wide port over the X banks (LOAD writes, DRAIN reads whole rows)."""

    def __init__(self, addr_width, width, name):
        self.addr = Signal(addr_width, name=f"{name}_addr")
        self.en = Signal(name=f"{name}_en")
        self.data = Signal(width, name=f"{name}_data")


class _Port(NamedTuple):
    """One port of a buffer: ``addr``, ``data`` (written or read), ``en``."""
    addr: Signal
    data: Signal
    en: Signal


class _Ports(NamedTuple):
    wr: dict                 # {Buf: write port} (X: _Fanout)
    rd: dict                 # {Buf: the read port EX and ST share} (X: _Fanout)
    o_st: object             # O's second read port (ST)
    banks: list              # X banks: [(write port, read port)]


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
        self.x_groups = config.x_groups
        self.x_shift = self.x_groups.bit_length() - 1

        # The engines are emitted once each as their own Verilog module (hw.hier).
        self.array = part(SystolicArray, rows=config.rows, cols=config.cols, group=config.m,
                          in_fmt=self.in_fmt, acc_fmt=self.acc_fmt,
                          mul_latency=config.mul_latency, add_latency=config.add_latency,
                          dsp=config.dsp)
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
                    f"_m{config.mul_latency}_a{config.add_latency}"
                    + (f"_{config.dsp}" if config.dsp else ""),
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
        """Every parameter as built (``sgd_latency``: the WUVE lanes' own when ``None``;
        ``dsp``: ``"none"`` for products inferred by the tool)."""
        return {**self.config.as_dict(), "sgd_latency": self.wuve.latency,
                "dsp": self.config.dsp or "none"}

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
        for name, engine in self.engines.items():
            instantiate(m, name, engine, self.module_names[name])
        ports = self._memories(m)
        d = self._dispatch(m)
        self._load(m, d.units[Unit.LD], ports)
        self._drain(m, d.units[Unit.ST], ports)
        ex = d.units[Unit.EX]
        self._gemm(m, ex, d.ex_state, d.w_rows, ports)
        self._sgd(m, ex, d.ex_state, d.registers, ports)
        self._prune(m, ex, d.ex_state, ports)
        return m

    def buffer_parts(self):
        """``{instance name: SatBuffer}``: the buffers (:class:`hw.sat.buffer.SatBuffer`, one
        Verilog module per shape); X is ``x_groups`` banks one group wide."""
        parts = {}
        for buf in Buf:
            if buf == Buf.X:
                continue
            two = buf == Buf.O
            parts[f"{buf.name.lower()}buf"] = part(
                SatBuffer, self.depth[buf], self.row_width[buf],
                granularity=self.elem_width if buf == Buf.W else None,
                read_ports=2 if two else 1, transparent=two)
        for i in range(self.x_groups):
            parts[f"xbuf{i}"] = part(SatBuffer, self.depth[Buf.X], self.m * self.in_fmt.width)
        return parts

    def _memories(self, m):
        """The buffers (:meth:`buffer_parts`): each a write port (LD or EX) and a read port
        (EX or ST); O has a second read port for ST (a DRAIN of O runs while a GEMM works on
        other O rows); X is ``x_groups`` banks one group wide (the router reads a window of
        consecutive groups, LOAD/DRAIN whole rows across the banks). Returns :class:`_Ports`
        (X: :class:`_Fanout` row ports over the banks)."""
        wr, rd, banks, o_st = {}, {}, [], None
        for name, buffer in self.buffer_parts().items():
            bus = instantiate(m, name, buffer, buffer.module_name,
                              buffer.signature.create(path=(name,)))
            w, r = _Port(bus.w_addr, bus.w_data, bus.w_en), _Port(bus.r_addr, bus.r_data, bus.r_en)
            if name.startswith("xbuf"):
                banks.append((w, r))
                continue
            buf = Buf[name[0].upper()]
            wr[buf], rd[buf] = w, r
            if buf == Buf.O:
                o_st = _Port(bus.s_addr, bus.s_data, bus.s_en)
        group_w = self.m * self.in_fmt.width
        addr_w = len(banks[0][0].addr)
        wr[Buf.X] = _Fanout(addr_w, self.row_width[Buf.X], "xrow_w")
        rd[Buf.X] = _Fanout(addr_w, self.row_width[Buf.X], "xrow_r")
        for i, (w, r) in enumerate(banks):
            m.d.comb += [w.addr.eq(wr[Buf.X].addr), w.en.eq(wr[Buf.X].en),
                         w.data.eq(wr[Buf.X].data[i * group_w:(i + 1) * group_w]),
                         r.addr.eq(rd[Buf.X].addr), r.en.eq(rd[Buf.X].en),   # GEMM overrides
                         rd[Buf.X].data[i * group_w:(i + 1) * group_w].eq(r.data)]
        return _Ports(wr, rd, o_st, banks)

    def _dispatch(self, m):
        """The dispatch register and the three units: a command is accepted into ``pend``
        together with its check (:meth:`_check`, computed on ``cmd`` as it is taken); it
        leaves when rejected (``error``), or when its unit is free and it conflicts with
        no running command (:func:`hw.sat.isa.conflicts`, from the footprints the units keep);
        then its unit starts it. Drives ``cmd.ready``, ``busy``, ``error``, ``cycles``."""
        pend, pend_valid = Signal(self.cmd_layout, name="pend"), Signal(name="pend_valid")
        leave = Signal()
        m.d.comb += self.cmd.ready.eq(~pend_valid | leave)
        # The check runs on the command as it is accepted and its results are registered
        # with it: the dispatch decision starts from registers (no cycle added).
        ok_in, fp_in, w_rows_in = self._check(m, self.cmd.payload)
        ok, w_rows = Signal(name="pend_ok"), Signal(len(w_rows_in), name="pend_w_rows")
        fp = {buf: tuple(Signal(len(v), name=f"pend_{v.name}") for v in fp_in[buf])
              for buf in Buf}
        with m.If(self.cmd.valid & self.cmd.ready):
            m.d.sync += [pend.eq(self.cmd.payload), pend_valid.eq(1), ok.eq(ok_in),
                         w_rows.eq(w_rows_in)]
            m.d.sync += [k.eq(v) for buf in Buf for k, v in zip(fp[buf], fp_in[buf])]
        with m.Elif(leave):
            m.d.sync += pend_valid.eq(0)

        registers = {r: Signal(self.master_fmt.width, name=f"cfg_{r.name.lower()}")
                     for r in Reg}
        units, busy, blockers = {}, {}, []
        for unit in Unit:
            lower = unit.name.lower()
            busy[unit] = Signal(name=f"{lower}_busy")
            held = Signal(self.cmd_layout, name=f"{lower}_cmd")
            start, done = Signal(name=f"{lower}_start"), Signal(name=f"{lower}_done")
            cur = Signal(self.cmd_layout, name=f"{lower}_cur")
            m.d.comb += cur.eq(Mux(start, pend, held))
            # the running command's footprint: per buffer reads, writes, [lo, hi)
            keep = {buf: (Signal(name=f"{lower}_{buf.name.lower()}_r"),
                          Signal(name=f"{lower}_{buf.name.lower()}_w"),
                          Signal(len(fp[buf][2]), name=f"{lower}_{buf.name.lower()}_lo"),
                          Signal(len(fp[buf][3]), name=f"{lower}_{buf.name.lower()}_hi"))
                    for buf in Buf}
            with m.If(start):
                m.d.sync += [held.eq(pend), busy[unit].eq(1)]
                for buf in Buf:
                    m.d.sync += [k.eq(v) for k, v in zip(keep[buf], fp[buf])]
            with m.If(done):
                m.d.sync += busy[unit].eq(0)
            hit = Const(0)
            for buf in Buf:
                r1, w1, lo1, hi1 = fp[buf]
                r2, w2, lo2, hi2 = keep[buf]
                touch = (r1 | w1) & (r2 | w2)
                overlap = (lo1 < hi2) & (lo2 < hi1)
                shared = (w1 & w2) | ((r1 & r2) if buf != Buf.O else Const(0))
                hit = hit | shared | (touch & overlap & (w1 | w2))
            blockers.append(busy[unit] & hit)
            units[unit] = _Unit(cur, busy[unit], start, done)

        unit_of = _pick(pend.op, {op: int(u) for op, u in UNITS.items()})
        unit_busy = _pick(unit_of, {int(u): busy[u] for u in Unit})
        go = pend_valid & ok & ~unit_busy & ~Cat(*blockers).any()
        m.d.comb += leave.eq(pend_valid & (~ok | go))
        with m.If(leave):
            m.d.sync += self.error.eq(~ok)
        ex_state = Signal(range(len(_X)), name="ex_op")
        for op, unit in UNITS.items():
            if op == Op.SET:
                with m.If(go & (pend.op == Op.SET)):
                    for r in Reg:
                        with m.If(pend.sel == r):
                            m.d.sync += registers[r].eq(pend.value)
                continue
            with m.If(go & (pend.op == op)):
                m.d.comb += units[unit].start.eq(1)
                if unit == Unit.EX:
                    m.d.sync += ex_state.eq(_X[op.name])

        any_busy = pend_valid | Cat(*busy.values()).any()
        counter = Signal(CYCLE_WIDTH)
        m.d.comb += self.busy.eq(any_busy)
        with m.If(self.cmd.valid & self.cmd.ready & ~any_busy):
            m.d.sync += counter.eq(1)
        with m.Elif(any_busy):
            m.d.sync += [counter.eq(counter + 1), self.cycles.eq(counter + 1)]
        return _Dispatch(units, ex_state, registers, w_rows)

    def _check(self, m, cmd):
        """``(ok, footprint, w_rows)`` of ``cmd``: whether it runs (:func:`hw.sat.isa.problem`
        is ``None``), per buffer ``(reads, writes, lo, hi)`` (:func:`hw.sat.isa.footprint`),
        and a GEMM's W rows (``folds * tiles * rows``)."""
        depth, rows, xg = self.depth, self.rows, self.x_groups
        sel_depth = _pick(cmd.sel, {buf: depth[buf] for buf in Buf})
        fits = cmd.a + cmd.n0 <= sel_depth
        ok = {}
        ok[Op.LOAD] = ok[Op.DRAIN] = (cmd.sel < len(Buf)) & (cmd.n0 != 0) & fits
        # Products of command fields in LUTs, on operands narrowed to the ranges the checks
        # allow (hw.arith.bounded_product: where a product does not "fit", it exceeds a bound
        # the check needs anyway, so the result is unchanged).
        w_fit, passes = bounded_product(cmd.n1, cmd.n2, depth[Buf.W] // rows)   # folds*tiles
        x_fit, groups = bounded_product(cmd.n0, cmd.n3, depth[Buf.X] * xg)      # X groups
        o_fit, o_rows = bounded_product(cmd.n2, cmd.n0, depth[Buf.O])           # tiles*T
        passes, groups, o_rows = (self._named(m, v, f"check_{n}") for v, n in
                                  ((passes, "passes"), (groups, "groups"), (o_rows, "o_rows")))
        w_rows = self._named(m, lut_product(passes, rows), "check_w_rows")   # W rows read
        # with x_fit, n3 <= depth[X] * xg; with w_fit, n1 <= depth[W] // rows
        n3 = cmd.n3[:(depth[Buf.X] * xg).bit_length()]
        n1 = cmd.n1[:max(1, (depth[Buf.W] // rows).bit_length())]
        kept = lut_product(n3, cmd.sel[:self.m.bit_length()])              # Kc = Kg * N
        x_end = cmd.b * xg + groups
        ok[Op.GEMM] = ((cmd.n0 != 0) & (cmd.n1 != 0) & (cmd.n2 != 0) & (cmd.n3 != 0)
                       & (cmd.sel != 0) & (cmd.sel <= self.m) & w_fit & x_fit & o_fit
                       & (kept <= lut_product(n1, rows))
                       & (kept > lut_product((n1 - 1)[:len(n1)], rows))     # n1 >= 1 here
                       & (cmd.a + w_rows <= depth[Buf.W])
                       & (x_end <= depth[Buf.X] * xg)
                       & (cmd.c + o_rows <= depth[Buf.O]))
        ok[Op.SGD] = ((cmd.n0 != 0) & (cmd.a + cmd.n0 <= depth[Buf.M])
                      & (cmd.b + cmd.n0 <= depth[Buf.D]))
        p_fit, n0p = bounded(cmd.n0, depth[Buf.W] // self.n)      # W rows n0 * n
        columns = lut_product(n0p, self.m)
        p_rows = self._named(m, lut_product(n0p, self.n), "check_p_rows")     # W rows written
        blocks = (columns + (self.lanes - 1)) // self.lanes
        s_fit, stride = bounded_product((blocks - 1)[:len(blocks)], cmd.c, depth[Buf.D])
        read_end = Mux(cmd.flag, cmd.a + stride + self.lanes, cmd.a + columns)
        ok[Op.PRUNE] = ((cmd.n0 != 0) & p_fit & (s_fit | ~cmd.flag)
                        & (cmd.n1 < self.col_blocks) & (read_end <= depth[Buf.D])
                        & (cmd.b + p_rows <= depth[Buf.W]))
        ok[Op.SET] = cmd.sel < len(Reg)
        valid = _pick(cmd.op, {op: v for op, v in ok.items()})

        width = 2 * self.count_width + 16
        fp = {}
        for buf in Buf:
            lower = buf.name.lower()
            reads, writes = Signal(name=f"fp_{lower}_r"), Signal(name=f"fp_{lower}_w")
            lo, hi = Signal(width, name=f"fp_{lower}_lo"), Signal(width, name=f"fp_{lower}_hi")
            fp[buf] = (reads, writes, lo, hi)
            sel = cmd.sel == buf
            cases = {   # op: (reads, writes, lo, hi)
                Op.LOAD: (0, sel, cmd.a, cmd.a + cmd.n0),
                Op.DRAIN: (sel, 0, cmd.a, cmd.a + cmd.n0),
            }
            if buf == Buf.W:
                cases[Op.GEMM] = (1, 0, cmd.a, cmd.a + w_rows)
                cases[Op.PRUNE] = (0, 1, cmd.b, cmd.b + p_rows)
            elif buf == Buf.X:
                cases[Op.GEMM] = (1, 0, cmd.b, cmd.b + ((groups + xg - 1) >> self.x_shift))
            elif buf == Buf.O:
                cases[Op.GEMM] = (1, 1, cmd.c, cmd.c + o_rows)
            elif buf in (Buf.M, Buf.V, Buf.G):
                cases[Op.SGD] = (1, buf != Buf.G, cmd.a, cmd.a + cmd.n0)
            elif buf == Buf.D:
                cases[Op.SGD] = (0, 1, cmd.b, cmd.b + cmd.n0)
                cases[Op.PRUNE] = (1, 0, cmd.a, read_end)
            for index, (op, (r, w, first, end)) in enumerate(cases.items()):
                with (m.If if index == 0 else m.Elif)(cmd.op == op):
                    m.d.comb += [reads.eq(r), writes.eq(w), lo.eq(first), hi.eq(end)]
        return valid, fp, w_rows

    @staticmethod
    def _named(m, value, name):
        """``value`` as one named signal (an expression used twice is built twice)."""
        signal = Signal(len(value), name=name)
        m.d.comb += signal.eq(value)
        return signal

    def _load(self, m, u, ports):
        """LOAD (unit LD): assemble rows from ``din`` beats (LSB first) and write them."""
        cur, done, active = u.cur, u.done, u.busy
        dw, beats, wr = self.data_width, self.beats, ports.wr
        most = max(beats.values())
        beat = Signal(range(max(most, 2)), name="load_beat")     # >= 1 bit
        row = Signal(self.count_width, name="load_row")
        stash = [Signal(dw, name=f"load_beat{b}") for b in range(most - 1)]
        last_beat = _pick(cur.sel, {buf: beats[buf] - 1 for buf in Buf})
        m.d.comb += self.din.ready.eq(active)
        take = self.din.valid & active
        word = Cat(*(Mux(beat == b, self.din.payload, stash[b]) for b in range(most - 1)),
                   self.din.payload)
        with m.If(u.start):
            m.d.sync += [beat.eq(0), row.eq(0)]
        with m.If(take):
            for b in range(most - 1):
                with m.If(beat == b):
                    m.d.sync += stash[b].eq(self.din.payload)
            with m.If(beat == last_beat):
                m.d.sync += [beat.eq(0), row.eq(row + 1)]
                with m.If(row + 1 == cur.n0):
                    m.d.comb += done.eq(1)
            with m.Else():
                m.d.sync += beat.eq(beat + 1)
        for buf in Buf:
            with m.If(take & (beat == last_beat) & (cur.sel == buf)):
                m.d.comb += [wr[buf].addr.eq(cur.a + row), wr[buf].data.eq(word),
                             wr[buf].en.eq(-1)]

    def _drain(self, m, u, ports):
        """DRAIN (unit ST): read rows and send them as beats (``last`` on the final beat).
        O is read through its second read port, the other buffers through the port they
        share with EX (the dispatcher never runs both on one buffer)."""
        cur, done, active = u.cur, u.done, u.busy
        dw, beats = self.data_width, self.beats
        rd = {**ports.rd, Buf.O: ports.o_st}
        most = max(beats.values())
        beat = Signal(range(max(most, 2)), name="drain_beat")    # >= 1 bit
        sent = Signal(self.count_width, name="drain_sent")       # rows fully sent
        last_beat = _pick(cur.sel, {buf: beats[buf] - 1 for buf in Buf})
        row = Signal(most * dw)
        m.d.comb += row.eq(_pick(cur.sel, {buf: rd[buf].data for buf in Buf}))
        end_of_row = beat == last_beat
        take = self.dout.valid & self.dout.ready
        reader = _RowReader(active, take & end_of_row, cur.n0, self.count_width,
                            names=("drain_valid", "drain_issued"), gated=True)
        m.d.comb += [self.dout.valid.eq(reader.valid),
                     self.dout.payload.data.eq(row.word_select(beat, dw) if most > 1 else row),
                     self.dout.payload.last.eq(end_of_row & (sent + 1 == cur.n0))]
        for buf in Buf:
            with m.If(active & (cur.sel == buf)):
                m.d.comb += reader.read(rd[buf], cur.a + reader.issued)
        with m.If(u.start):
            m.d.sync += [beat.eq(0), reader.issued.eq(0), sent.eq(0), reader.valid.eq(0)]
        with m.Else():
            reader.hold(m)
            with reader.count(m):
                pass
            with m.If(take):
                m.d.sync += beat.eq(Mux(end_of_row, 0, beat + 1))
                with m.If(end_of_row):
                    m.d.sync += sent.eq(sent + 1)
                    with m.If(sent + 1 == cur.n0):
                        m.d.comb += done.eq(1)

    def _router(self, m, cur, start, fold_end, tile_end):
        """The data router's state: per array row ``r`` its group ``K[r] = (f*R + r) // N``
        within the activation row and ``(f*R + r) mod N``, stepped per fold by the constants
        ``R // N`` and ``R mod N`` (tables over N, so no divider). Returns ``K`` and the
        remainders ``(f*R + r) mod N``."""
        rows, n, mw = self.rows, cur.sel, self.m
        kw = self.count_width + GROUP_EXTRA_BITS + 1
        rw = max(1, mw.bit_length())
        r_quot = _pick(n, {v: Const(rows // v, kw) for v in range(1, mw + 1)})
        r_rem = _pick(n, {v: Const(rows % v, rw) for v in range(1, mw + 1)})
        k, rem = [], []
        for r in range(rows):
            k_r, rem_r = Signal(kw, name=f"route_k{r}"), Signal(rw, name=f"route_rem{r}")
            k0 = _pick(n, {v: Const(r // v, kw) for v in range(1, mw + 1)})
            rem0 = _pick(n, {v: Const(r % v, rw) for v in range(1, mw + 1)})
            carry = rem_r + r_rem >= n
            with m.If(start | tile_end):
                m.d.sync += [k_r.eq(k0), rem_r.eq(rem0)]
            with m.Elif(fold_end):
                m.d.sync += [k_r.eq(k_r + r_quot + carry),
                             rem_r.eq(rem_r + r_rem - Mux(carry, n, 0))]
            k.append(k_r)
            rem.append(rem_r)
        return k, rem

    def _route_choices(self, n, q):
        """Per array row ``r``: ``(offsets, pick)``. Row ``r`` reads the group ``d = (q + r)
        // N`` places after the window's first (``q = f*R mod N``, row 0's remainder); over
        every ``N`` in 1..m and ``q < N``, ``d`` takes only the values ``offsets`` (at most
        ``2m``, not ``R``), and ``pick`` is ``d``'s place among them (a table over ``N, q``)."""
        out, key = [], Cat(q, n[:self.m.bit_length()])
        for r in range(self.rows):
            cases = {(v, j): (j + r) // v for v in range(1, self.m + 1) for j in range(v)}
            offsets = sorted(set(cases.values()))
            width = max(1, (len(offsets) - 1).bit_length())
            table = _pick(key, {j | v << len(q): Const(offsets.index(d), width)
                                for (v, j), d in cases.items()})
            out.append((offsets, table))
        return out

    def _rotate(self, m, banks, rot):
        """``banks`` rotated by ``rot``: item ``j`` is bank ``(rot + j) mod xg`` (a barrel
        rotator, one 2:1 level per bit of ``rot``)."""
        if len(banks) == 1:
            return banks
        width = len(banks[0])
        vec = Cat(*banks)
        for bit in range(len(rot)):
            vec = Mux(rot[bit], vec.rotate_right(width << bit), vec)
        rotated = Signal(len(vec), name="route_rotated")
        m.d.comb += rotated.eq(vec)
        return [rotated[j * width:(j + 1) * width] for j in range(len(banks))]

    def _gemm(self, m, u, ex_state, w_rows, ports):
        """GEMM (unit EX): feed W rows and the router's bus rows (with partial sums from O)
        to the array; write its results to O. A chained row waits until the previous fold's
        result for it is written (the O read port is transparent, so it may read in the very
        cycle of that write). Rows are counted by tile, fold and activation row (no product
        of the counts); ``w_rows``: the command's W rows (``folds * tiles * rows``) in its start
        cycle."""
        array, rd, wr = self.array, ports.rd, ports.wr
        cur, done = u.cur, u.done
        cw = self.count_width
        active = u.busy & (ex_state == _X.GEMM)
        start = u.start & (cur.op == Op.GEMM)
        t_last, f_last = cur.n0 - 1, cur.n1 - 1
        total_in = Signal(2 * cw + 16, name="gemm_total_in")       # weight rows
        # -- weights: total_in rows from W, in order
        w = _RowReader(active, array.w.ready, total_in, len(total_in),
                       names=("gemm_w_valid", "w_issued"))
        w_row = data.ArrayLayout(data.StructLayout({"value": self.in_fmt.width,
                                                    "index": self.index_width}), self.cols)
        w_view = w_row(rd[Buf.W].data)
        m.d.comb += [array.w.valid.eq(w.valid)]
        for c in range(self.cols):
            m.d.comb += [array.w.payload.values[c].eq(w_view[c].value),
                         array.w.payload.indices[c].eq(w_view[c].index)]
        # -- activations (through the router) and partial sums
        x_first, x_zero = Signal(name="x_first"), Signal(name="x_zero")
        x_t, x_f = Signal(cw, name="x_t"), Signal(cw, name="x_f")
        o_ptr, o_base = Signal(cw + 1, name="o_ptr"), Signal(cw + 1, name="o_base")
        inflight = Signal(cw + 8, name="inflight")
        y_write = array.y.valid & active
        chained = (x_f != 0) | cur.flag
        hazard = (x_f != 0) & (inflight - y_write >= cur.n0)
        x_tile, x_more = Signal(cw, name="x_tile"), Signal(name="x_more")
        x = _RowReader(active, array.x.ready, None, 1, names=("gemm_x_valid", "x_issued"),
                       stall=hazard, more=x_more)
        row_end = x.issue & (x_t == t_last)
        k, rem = self._router(m, cur, start, row_end & (x_f != f_last),
                              row_end & (x_f == f_last))
        gw = len(k[0]) + 1 + self.x_shift + cw
        t_base = Signal(gw, name="route_base")          # first group of activation row t
        x_base = Cat(Const(0, self.x_shift), cur.b)     # first group of the operand
        window = Signal(gw, name="route_window")        # row 0's group: the window's first
        m.d.comb += window.eq(t_base + k[0])
        shift, xg = self.x_shift, self.x_groups
        rot = Signal(max(1, shift), name="route_rot")   # the window's first bank
        zero = [Signal(name=f"route_zero{r}") for r in range(self.rows)]
        held = [rot.eq(window[:shift] if shift else 0)]
        held += [zero[r].eq(k[r] >= cur.n3) for r in range(self.rows)]
        choice = self._route_choices(cur.sel, rem[0])
        picks = [Signal(len(table), name=f"route_pick{r}")
                 for r, (_, table) in enumerate(choice)]
        held += [p.eq(table) for p, (_, table) in zip(picks, choice)]
        rotated = self._rotate(m, [r.data for _, r in ports.banks], rot)
        for r, (offsets, _) in enumerate(choice):
            m.d.comb += array.x.payload.groups[r].eq(
                Mux(zero[r], 0, mux_tree([rotated[j] for j in offsets], picks[r])))
        m.d.comb += [array.x.valid.eq(x.valid), array.x.payload.first.eq(x_first)]
        for c in range(self.cols):
            acc_w = self.acc_fmt.width
            m.d.comb += array.x.payload.acc[c].eq(
                Mux(x_zero, 0, rd[Buf.O].data[c * acc_w:(c + 1) * acc_w]))
        # -- results
        y_t, y_f = Signal(cw, name="y_t"), Signal(cw, name="y_f")
        y_ptr, y_base = Signal(cw + 1, name="y_ptr"), Signal(cw + 1, name="y_base")
        y_tile = Signal(cw, name="y_tile")
        m.d.comb += array.y.ready.eq(1)

        with m.If(active):
            m.d.comb += [*w.read(rd[Buf.W], cur.a + w.issued), *x.read(rd[Buf.O], o_ptr),
                         wr[Buf.O].addr.eq(y_ptr), wr[Buf.O].data.eq(array.y.payload),
                         wr[Buf.O].en.eq(y_write)]
            for i, (_, port) in enumerate(ports.banks):
                # bank i holds the window's group at row upper if i >= window mod xg, else
                # the next row (the window wraps around the banks)
                upper = window[shift:] + (window[:shift] > i) if i < xg - 1 else window[shift:]
                m.d.comb += [port.addr.eq(upper), port.en.eq(x.advance)]
        with m.If(start):
            m.d.sync += [*w.restart(), x.valid.eq(0), x_t.eq(0), x_f.eq(0),
                         x_tile.eq(0), x_more.eq(1), o_ptr.eq(cur.c), o_base.eq(cur.c),
                         t_base.eq(x_base), inflight.eq(0), y_t.eq(0), y_f.eq(0),
                         y_tile.eq(0), y_ptr.eq(cur.c), y_base.eq(cur.c),
                         total_in.eq(w_rows)]
        with m.Else():
            w.hold(m)
            with w.count(m):
                pass
            x.hold(m, x_first.eq(x_t == 0), x_zero.eq(~chained), *held)
            m.d.sync += inflight.eq(inflight + x.issue - y_write)
            with x.count(m):
                with m.If(x_t != t_last):
                    m.d.sync += [x_t.eq(x_t + 1), t_base.eq(t_base + cur.n3),
                                 o_ptr.eq(o_ptr + 1)]
                with m.Else():
                    m.d.sync += [x_t.eq(0), t_base.eq(x_base)]
                    with m.If(x_f != f_last):    # next fold of this tile: same O rows
                        m.d.sync += [x_f.eq(x_f + 1), o_ptr.eq(o_base)]
                    with m.Else():               # next tile: X from the start, next O rows
                        m.d.sync += [x_f.eq(0), o_ptr.eq(o_base + cur.n0),
                                     o_base.eq(o_base + cur.n0), x_tile.eq(x_tile + 1)]
                        with m.If(x_tile == cur.n2 - 1):
                            m.d.sync += x_more.eq(0)
            with m.If(y_write):
                with m.If((y_t == t_last) & (y_f == f_last) & (y_tile == cur.n2 - 1)):
                    m.d.comb += done.eq(1)
                with m.If(y_t != t_last):
                    m.d.sync += [y_t.eq(y_t + 1), y_ptr.eq(y_ptr + 1)]
                with m.Else():
                    m.d.sync += y_t.eq(0)
                    with m.If(y_f != f_last):
                        m.d.sync += [y_f.eq(y_f + 1), y_ptr.eq(y_base)]
                    with m.Else():
                        m.d.sync += [y_f.eq(0), y_ptr.eq(y_base + cur.n0),
                                     y_base.eq(y_base + cur.n0), y_tile.eq(y_tile + 1)]

    def _sgd(self, m, u, ex_state, registers, ports):
        """SGD (unit EX): stream M/V/G rows through the WUVE lanes; write w', v' back and
        w_lp to D."""
        wuve, rd, wr = self.wuve, ports.rd, ports.wr
        cur, done = u.cur, u.done
        active = u.busy & (ex_state == _X.SGD)
        reader = _RowReader(active, wuve.i.ready, cur.n0, self.count_width,
                            names=("sgd_valid", "sgd_issued"))
        written = Signal(self.count_width, name="sgd_written")
        for name, reg in zip(wuve.config_names, Reg):
            m.d.comb += getattr(wuve, name).eq(registers[reg])
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
        with m.If(u.start & (cur.op == Op.SGD)):
            m.d.sync += [*reader.restart(), written.eq(0)]
        with m.Else():
            reader.hold(m)
            with reader.count(m):
                pass
            with m.If(result):
                m.d.sync += written.eq(written + 1)
                with m.If(written + 1 == cur.n0):
                    m.d.comb += done.eq(1)

    def _prune(self, m, u, ex_state, ports):
        """PRUNE (unit EX): D rows (forward) or D blocks through the transposer (backward)
        into the OSRE lanes; each group's ``n`` kept values and indices become ``n`` W rows,
        written into the column block ``n1`` (the W port writes one column per enable bit)."""
        osre, tr, rd, wr = self.osre, self.transposer, ports.rd, ports.wr
        cur, done = u.cur, u.done
        active = u.busy & (ex_state == _X.PRUNE)
        start = u.start & (cur.op == Op.PRUNE)
        lanes, backward = self.lanes, cur.flag
        columns = cur.n0 * self.m
        blocks = (columns + (lanes - 1)) // lanes
        total = Signal(2 * self.count_width + 16, name="prune_total")        # W rows
        total_in = Signal(2 * self.count_width + 16, name="prune_total_in")  # D rows
        ready = Mux(backward, tr.i.ready, osre.i.ready)
        reader = _RowReader(active, ready, total_in, len(total_in),
                            names=("prune_valid", "prune_issued"))
        in_block = Signal(range(max(lanes, 2)), name="prune_in_block")      # >= 1 bit
        block_base = Signal(self.count_width + 1, name="prune_block_base")
        addr = Mux(backward, block_base + in_block, cur.a + reader.issued)
        m.d.comb += [tr.start.eq(start & backward), tr.columns.eq(columns),
                     tr.i.valid.eq(reader.valid & backward), tr.i.payload.eq(rd[Buf.D].data),
                     tr.o.ready.eq(active & osre.i.ready),
                     osre.i.valid.eq(active & Mux(backward, tr.o.valid, reader.valid)),
                     osre.i.payload.eq(Mux(backward, tr.o.payload.as_value(),
                                           rd[Buf.D].data))]
        # -- writer: n rows per group
        j = Signal(range(max(self.n, 2)), name="prune_j")      # >= 1 bit
        written = Signal(len(total), name="prune_written")
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
        with m.If(start):
            m.d.sync += [*reader.restart(), in_block.eq(0), block_base.eq(cur.a),
                         j.eq(0), written.eq(0), total.eq(cur.n0 * self.n),
                         total_in.eq(Mux(backward, blocks * lanes, columns))]
        with m.Else():
            reader.hold(m)
            with reader.count(m):
                m.d.sync += in_block.eq(in_block + 1)
                with m.If(in_block == lanes - 1):
                    m.d.sync += [in_block.eq(0), block_base.eq(block_base + cur.c)]
            with m.If(write):
                m.d.sync += [written.eq(written + 1), j.eq(Mux(j == self.n - 1, 0, j + 1))]
                with m.If(written + 1 == total):
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
    "dsp": "uMAC products: none (inferred by the tool) or ecp5 (instantiated MULT18X18D "
           "cells with their registers; mul_latency >= 2)",
    "decoupled_wd": "WUVE SGDW mode (third register is the decay factor)",
    "data_width": "din/dout beat width in bits (multiple of 8)",
    "wbuf_depth": "weight buffer rows", "xbuf_depth": "activation (x-bus) buffer rows",
    "obuf_depth": "output / partial-sum buffer rows",
    "sgd_depth": "rows of each of the master, momentum and gradient buffers",
    "dbuf_depth": "dense low-precision weight buffer rows",
}
_KINDS = {"in_fmt": _fmt, "acc_fmt": _fmt, "grad_fmt": _fmt, "master_fmt": _fmt,
          "decoupled_wd": _bool, "dsp": str}

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
