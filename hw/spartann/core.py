"""SparTANN core: buffers, MAC lanes, BP/WU schedulers, sparsifier, DTS and command port.

The host sends commands on ``cmd`` (:mod:`hw.spartann.isa`); the core executes one at a
time (``cmd.ready`` while idle) and holds ``busy`` while a command runs. Data streams accept
only while their load command runs; ``out`` carries drained T-vectors (``last`` on the final
vector of a drain). Everything follows docs/spartann/index.md; the scheduling is in
:mod:`hw.spartann.engine`.

Buffers (``amaranth.lib.memory``, one sync read and one write port each, all +0 at reset):
Dense Buf A (``a_rows``), Dense Buf B (``b_rows``), Out Buf (``out_rows``), Sparse Buf
(``sparse_depth`` entries), the column end table (built while loading entries: entry index
after each ``last``) and the column descriptor table (``{addr, skip}`` from ``col_in``).

Drains read one row per cycle (the read is issued when the row before it has been taken),
clear it to +0 in the same cycle (the read returns the old contents) and send it through the
threshold lanes (``DRAIN_OUT``: dropped elements +0, statistics counted) or straight to
``out`` (``DRAIN_B``). ``DTS_UPDATE`` runs :class:`~hw.spartann.dts.DTSUnit` on ``theta``,
``target`` and the statistics (FP32; other formats are widened exactly and the new threshold
rounded to nearest even), stores the new ``theta`` and clears the statistics.

Performance counters of the last run: ``run_cycles`` (from slot 0 to the later of the last
scheduler action and the last write-back, inclusive) and ``run_macs`` (updates written).
"""

from amaranth.hdl import Module, Mux, Signal, Value
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..fp.convert import FloatConvert
from ..fp.format import FP32
from ..hier import part
from ..params import Design, Param, _fmt, optional
from .isa import (ARG_BITS, TARGET_BITS, Op, cmd_layout, col_layout, dense_layout,
                       entry_layout, out_layout, table as command_table)
from .dts import DTSUnit
from .engine import MacLanes, Scheduler, embed, module_name, tag_layout
from .config import HELP, NAMES, PRESETS, resolve
from .threshold import COUNT_BITS, ThresholdLanes

__all__ = ["SparTANNCore", "DESIGNS"]

IDLE, LOAD, RUN, DRAIN, DTS = range(5)


class SparTANNCore(wiring.Component):
    """The SparTANN core of ``preset`` (a :class:`~hw.spartann.config.SpartannConfig` or the
    name of one of its presets) with parameter ``overrides`` (its fields; ``None`` keeps the
    preset's). Sub-blocks (scheduler, lanes, threshold lanes, DTS) are emitted as their own
    Verilog modules (:func:`~hw.spartann.engine.embed`)."""

    def __init__(self, preset="paper", **overrides):
        #: The :class:`~hw.spartann.config.SpartannConfig` built.
        self.params = p = resolve(preset, **overrides)
        self.fmt = p.format
        w = self.fmt.width
        super().__init__({
            "cmd": In(stream.Signature(cmd_layout())),
            "dense_in": In(stream.Signature(dense_layout(p.T, self.fmt))),
            "sparse_in": In(stream.Signature(entry_layout(self.fmt, p.idx_bits))),
            "col_in": In(stream.Signature(col_layout(p.a_rows, p.out_rows))),
            "out": Out(stream.Signature(out_layout(p.T, self.fmt))),
            "busy": Out(1), "theta": Out(w), "target": Out(TARGET_BITS),
            "elements": Out(COUNT_BITS), "zeros": Out(COUNT_BITS), "max_abs": Out(w),
            "run_cycles": Out(32), "run_macs": Out(32),
        })

    # -- properties ---------------------------------------------------------------------------
    @property
    def T(self):
        return self.params.T

    @property
    def loop_latency(self):
        """Cycles from an update's slot to its write-back (read, multiply, add, write)."""
        return self.params.loop_latency

    @property
    def contexts(self):
        """BP column contexts (one slot each in turn): ``loop_latency``."""
        return self.loop_latency

    @property
    def mac_latency(self):
        return self.params.mac_latency

    @property
    def throughput(self):
        """Non-filler entries processed per cycle in steady state."""
        return 1

    @property
    def dts_cycles(self):
        """Cycles of the DTS unit from request to result."""
        return part(DTSUnit, counter_width=COUNT_BITS).cycles

    @property
    def port_doc(self):
        p, fmt = self.params, self.fmt.name
        return {
            "cmd__payload": f"op (4 bits, opcodes: hw.spartann.isa.Op) and arg "
                            f"({ARG_BITS} bits)",
            "cmd__ready": "the core is idle and takes the command",
            "dense_in__payload": f"{p.T} x {fmt} (lane l at bit l*{self.fmt.width}); "
                                 "taken only during LOAD_A / LOAD_B",
            "sparse_in__payload": f"CSC entry: value ({fmt}), delta ({p.idx_bits} bits), "
                                  "filler, last; taken only during LOAD_SPARSE",
            "col_in__payload": "column descriptor: addr, skip; taken only during LOAD_COLS",
            "out__payload": f"{p.T} x {fmt} drained values and last (final vector of a drain)",
            "busy": "a command is executing",
            "theta": f"threshold ({fmt})", "target": "DTS target sparsity (FP32)",
            "elements": "elements drained through the sparsifier (32-bit, saturating)",
            "zeros": "elements dropped by the sparsifier (32-bit, saturating)",
            "max_abs": f"largest finite |x| drained through the sparsifier ({fmt})",
            "run_cycles": "cycles of the last run, from slot 0 to its last write-back",
            "run_macs": "non-filler entries (T-lane updates) of the last run",
        }

    # -- what the manifest records (hw.generate.manifest) -------------------------------------
    #: Module of the command cycle model (its ``CYCLE_MODEL``: formulas over the parameters).
    cycle_model = "sim.spartann.cycles"
    #: AXI4-Stream TLAST per stream where it is not the payload's ``last`` field: sparse_in's
    #: ``last`` marks a column's final entry (data), not the end of a transfer.
    tlast = {"sparse_in": None}

    @property
    def built_parameters(self):
        return self.params.as_dict()

    @property
    def command_set(self):
        return command_table()

    @property
    def timing_properties(self):
        p = self.params
        return {"T": p.T, "mac_latency": p.mac_latency, "loop_latency": self.loop_latency,
                "contexts": self.contexts, "thr_latency": p.thr_latency,
                "wu_window": p.wu_window, "dts_cycles": self.dts_cycles,
                "throughput": self.throughput}

    # -- hardware -----------------------------------------------------------------------------
    def elaborate(self, platform):
        m = Module()
        p, fmt, T = self.params, self.fmt, self.params.T
        words = dense_layout(T, fmt)
        ptr = range(p.sparse_depth + 1)

        def memory(name, shape, depth):
            m.submodules[name] = mem = Memory(shape=shape, depth=depth, init=[])
            return mem.read_port(), mem.write_port()

        a_rd, a_wr = memory("buf_a", words, p.a_rows)
        b_rd, b_wr = memory("buf_b", words, p.b_rows)
        o_rd, o_wr = memory("buf_out", words, p.out_rows)
        s_rd, s_wr = memory("buf_sparse", entry_layout(fmt, p.idx_bits), p.sparse_depth)
        e_rd, e_wr = memory("col_end", ptr, p.max_cols)
        d_rd, d_wr = memory("col_desc", col_layout(p.a_rows, p.out_rows), p.max_cols)

        # -- command port -----------------------------------------------------------------------
        state = Signal(range(5))
        op = Signal.like(self.cmd.payload.op, name="op")
        count, cnt, out_cnt = (Signal(ARG_BITS, name=n) for n in ("count", "cnt", "out_cnt"))
        theta, target = Signal(fmt.width), Signal(TARGET_BITS)
        pad_lanes = Signal(range(max(T, 2)))      # SET_PAD_LANES: lanes left out of the stats
        ncols = Signal(range(p.max_cols + 1))
        wu = Signal()
        rd_valid = Signal()                         # a drained row waits on the read port
        cmd = self.cmd.payload
        accept = Signal()

        def is_op(*ops):
            return _any_of(cmd.op == o for o in ops)
        m.d.comb += [self.cmd.ready.eq(state == IDLE), accept.eq(self.cmd.valid & self.cmd.ready),
                     self.busy.eq(state != IDLE), self.theta.eq(theta), self.target.eq(target)]
        with m.If(accept):
            m.d.sync += [op.eq(cmd.op), count.eq(cmd.arg), cnt.eq(0), out_cnt.eq(0)]
            with m.If(is_op(Op.LOAD_A, Op.LOAD_B, Op.LOAD_COLS)):
                m.d.sync += state.eq(LOAD)
            with m.Elif(is_op(Op.LOAD_SPARSE)):
                m.d.sync += [state.eq(LOAD), ncols.eq(0)]
            with m.Elif(is_op(Op.RUN_BP, Op.RUN_WU)):
                m.d.sync += [state.eq(RUN), wu.eq(cmd.op == Op.RUN_WU)]
            with m.Elif(is_op(Op.DRAIN_OUT, Op.DRAIN_B)):
                m.d.sync += [state.eq(DRAIN), rd_valid.eq(0)]
            with m.Elif(is_op(Op.SET_THETA)):
                m.d.sync += theta.eq(cmd.arg)
            with m.Elif(is_op(Op.SET_TARGET)):
                m.d.sync += target.eq(cmd.arg)
            with m.Elif(is_op(Op.SET_PAD_LANES)):
                m.d.sync += pad_lanes.eq(Mux(cmd.arg < T, cmd.arg, T - 1))
            with m.Elif(is_op(Op.DTS_UPDATE)):
                m.d.sync += state.eq(DTS)

        # -- loads ----------------------------------------------------------------------------
        loading = (state == LOAD) & (cnt != count)
        m.d.comb += [self.dense_in.ready.eq(loading & ((op == Op.LOAD_A) | (op == Op.LOAD_B))),
                     self.sparse_in.ready.eq(loading & (op == Op.LOAD_SPARSE)),
                     self.col_in.ready.eq(loading & (op == Op.LOAD_COLS))]
        dense_take = self.dense_in.valid & self.dense_in.ready
        sparse_take = self.sparse_in.valid & self.sparse_in.ready
        col_take = self.col_in.valid & self.col_in.ready
        with m.If(dense_take | sparse_take | col_take):
            m.d.sync += cnt.eq(cnt + 1)
        with m.If((state == LOAD) & (cnt == count)):
            m.d.sync += state.eq(IDLE)
        m.d.comb += [
            a_wr.en.eq(dense_take & (op == Op.LOAD_A)), a_wr.addr.eq(cnt),
            a_wr.data.eq(self.dense_in.payload),
            s_wr.en.eq(sparse_take), s_wr.addr.eq(cnt), s_wr.data.eq(self.sparse_in.payload),
            e_wr.en.eq(sparse_take & self.sparse_in.payload.last), e_wr.addr.eq(ncols),
            e_wr.data.eq(cnt + 1),
            d_wr.en.eq(col_take), d_wr.addr.eq(cnt), d_wr.data.eq(self.col_in.payload),
        ]
        with m.If(e_wr.en):
            m.d.sync += ncols.eq(ncols + 1)

        # -- run: scheduler (S0, S1), buffer reads (S1 -> S2), lanes, write-back --------------
        tags = tag_layout(p.b_rows, p.a_rows, p.out_rows)
        sched = self._embed(m, "scheduler", part(
            Scheduler,
            contexts=self.loop_latency, fmt=fmt, idx_bits=p.idx_bits,
            sparse_depth=p.sparse_depth, max_cols=p.max_cols, b_rows=p.b_rows, a_rows=p.a_rows,
            out_rows=p.out_rows, window=p.wu_window))
        lanes = self._embed(m, "lanes", part(MacLanes, T=T, fmt=fmt, latency=p.mac_latency,
                                             tag=tags))
        running = state == RUN
        issue = sched.issue
        m.d.comb += [
            sched.start.eq(accept & is_op(Op.RUN_BP, Op.RUN_WU)),
            sched.wu.eq(wu), sched.ncols.eq(ncols),
            e_rd.addr.eq(sched.col_addr), d_rd.addr.eq(sched.col_addr),
            sched.col_end.eq(e_rd.data), sched.col_desc.eq(d_rd.data),
            s_rd.addr.eq(sched.sparse_addr), s_rd.en.eq(sched.sparse_en),
            sched.sparse_data.eq(s_rd.data),
            a_rd.addr.eq(issue.addr),
        ]
        s2_valid = Signal()
        s2 = Signal(issue.shape(), name="s2", reset_less=True)
        m.d.sync += [s2_valid.eq(issue.valid), s2.eq(issue)]
        x = Mux(wu, Value.cast(a_rd.data), Value.cast(b_rd.data))
        y = Mux(wu, Value.cast(b_rd.data), Value.cast(o_rd.data))
        m.d.comb += [lanes.valid.eq(s2_valid), lanes.alpha.eq(s2.value), lanes.x.eq(x),
                     lanes.y.eq(y), lanes.tag.row.eq(s2.row), lanes.tag.addr.eq(s2.addr)]
        write_back = lanes.o_valid

        run_cnt = Signal(32)
        run_cycles, run_macs = Signal(32), Signal(32)
        m.d.comb += [self.run_cycles.eq(run_cycles), self.run_macs.eq(run_macs)]
        with m.If(running):
            m.d.sync += run_cnt.eq(run_cnt + 1)
            with m.If(sched.action | write_back):
                m.d.sync += run_cycles.eq(run_cnt + 1)
            with m.If(write_back):
                m.d.sync += run_macs.eq(run_macs + 1)
            with m.If(~sched.busy & ~lanes.busy):
                m.d.sync += state.eq(IDLE)
        with m.If(sched.start):
            m.d.sync += [run_cnt.eq(0), run_cycles.eq(0), run_macs.eq(0)]

        # -- drains -------------------------------------------------------------------------
        thr = self._embed(m, "threshold", part(ThresholdLanes, T, fmt, latency=p.thr_latency))
        draining = state == DRAIN
        to_thr = op == Op.DRAIN_OUT
        sink_ready = Mux(to_thr, thr.i.ready, self.out.ready)
        rd_issue = Signal()
        m.d.comb += rd_issue.eq(draining & (cnt != count) & (~rd_valid | sink_ready))
        with m.If(rd_issue):
            m.d.sync += [cnt.eq(cnt + 1), rd_valid.eq(1)]
        with m.Elif(rd_valid & sink_ready):
            m.d.sync += rd_valid.eq(0)
        m.d.comb += [
            thr.theta.eq(theta), thr.pad_lanes.eq(pad_lanes),
            thr.i.valid.eq(draining & to_thr & rd_valid), thr.i.payload.eq(o_rd.data),
            thr.o.ready.eq(draining & to_thr & self.out.ready),
            self.out.valid.eq(draining & Mux(to_thr, thr.o.valid, rd_valid)),
            self.out.payload.values.eq(Mux(to_thr, Value.cast(thr.o.payload.values),
                                           Value.cast(b_rd.data))),
            self.out.payload.last.eq(out_cnt == count - 1),
        ]
        with m.If(self.out.valid & self.out.ready):
            m.d.sync += out_cnt.eq(out_cnt + 1)
        with m.If(draining & (out_cnt == count)):
            m.d.sync += state.eq(IDLE)

        # -- shared buffer ports --------------------------------------------------------------
        m.d.comb += [
            b_rd.addr.eq(Mux(draining, cnt, issue.row)), b_rd.en.eq(~draining | rd_issue),
            o_rd.addr.eq(Mux(draining, cnt, issue.addr)), o_rd.en.eq(~draining | rd_issue),
        ]
        with m.If(draining):
            m.d.comb += [b_wr.en.eq(rd_issue & ~to_thr), b_wr.addr.eq(cnt), b_wr.data.eq(0),
                         o_wr.en.eq(rd_issue & to_thr), o_wr.addr.eq(cnt), o_wr.data.eq(0)]
        with m.Elif(state == LOAD):
            m.d.comb += [b_wr.en.eq(dense_take & (op == Op.LOAD_B)), b_wr.addr.eq(cnt),
                         b_wr.data.eq(self.dense_in.payload)]
        with m.Else():
            m.d.comb += [b_wr.en.eq(write_back & wu), b_wr.addr.eq(lanes.o_tag.row),
                         b_wr.data.eq(lanes.result),
                         o_wr.en.eq(write_back & ~wu), o_wr.addr.eq(lanes.o_tag.addr),
                         o_wr.data.eq(lanes.result)]

        # -- statistics and DTS ---------------------------------------------------------------
        dts = self._embed(m, "dts", part(DTSUnit, counter_width=COUNT_BITS))
        stats = thr.stats
        m.d.comb += [self.elements.eq(stats.elements), self.zeros.eq(stats.zeros),
                     self.max_abs.eq(stats.max_abs)]
        dts_sent = Signal()
        dts_done = dts.o.valid & dts.o.ready
        m.d.comb += [
            dts.i.valid.eq((state == DTS) & ~dts_sent), dts.o.ready.eq(state == DTS),
            dts.i.payload.theta.eq(self._widen(m, "theta", theta)),
            dts.i.payload.max_abs.eq(self._widen(m, "max_abs", stats.max_abs)),
            dts.i.payload.target.eq(target), dts.i.payload.elements.eq(stats.elements),
            dts.i.payload.zeros.eq(stats.zeros),
            thr.clear.eq((accept & is_op(Op.CLEAR_STATS)) | dts_done),
        ]
        with m.If(dts.i.valid & dts.i.ready):
            m.d.sync += dts_sent.eq(1)
        with m.If(dts_done):
            m.d.sync += [theta.eq(self._narrow(m, dts.o.payload.theta_next)), dts_sent.eq(0),
                         state.eq(IDLE)]
        return m

    def _embed(self, m, name, component):
        """``component`` as its own Verilog module, named after the block and the core's
        parameters (one module per configuration)."""
        return embed(m, name, component, module_name(f"spartann_{name}",
                                                     **self.params.as_dict()))

    def _widen(self, m, name, value):
        """``value`` (datapath format) as FP32 bits (exact)."""
        if self.fmt == FP32:
            return value
        unit = self._embed(m, f"widen_{name}", part(FloatConvert, self.fmt, FP32, latency=0))
        m.d.comb += [unit.i.valid.eq(1), unit.i.payload.x.eq(value)]
        return unit.o.payload.result

    def _narrow(self, m, value):
        """FP32 ``value`` rounded to the datapath format (nearest even)."""
        if self.fmt == FP32:
            return value
        unit = self._embed(m, "narrow_theta", part(FloatConvert, FP32, self.fmt, latency=0))
        m.d.comb += [unit.i.valid.eq(1), unit.i.payload.x.eq(value)]
        return unit.o.payload.result


def _any_of(values):
    result = Value.cast(0)
    for value in values:
        result = result | value
    return result


def _preset(text):
    if text not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, not {text!r}")
    return text


_FROM = "(default: the preset's)"

#: Registry entry (to merge into :data:`hw.designs.DESIGNS`).
DESIGNS = {
    "spartann_core": Design(
        SparTANNCore,
        "SparTANN core: T alpha*x+y lanes, sparse-serial/dense-parallel BP and WU, sparsifier, DTS",
        {"preset": Param("paper", _preset, f"named configuration: {', '.join(PRESETS)}"),
         **{name: Param(None, optional(_fmt if name == "fmt" else int),
                        f"{HELP[name]} {_FROM}") for name in NAMES}},
        test_params={"preset": "small"}),
}
