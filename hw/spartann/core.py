"""SparTANN core: buffers, MAC lanes, BP/WU schedulers, sparsifier, DTS and command port.

The host sends commands on ``cmd`` (:mod:`hw.spartann.isa`). Each runs on a unit (dense
loads, sparse loads, column loads, run, drain, control); the core takes them in order, one a
cycle, each when its unit is idle and it conflicts with no running command
(:func:`hw.spartann.isa.conflicts`), so loads and drains overlap runs while results equal
sequential execution. ``busy`` / ``unit_busy`` show the running units; ``errors`` counts
rejected commands. Data streams accept only while their load command runs; ``out`` carries
drained T-vectors (``last`` on the final vector of a drain). Everything follows
docs/spartann/index.md; the scheduling is in :mod:`hw.spartann.engine`.

Buffers (``amaranth.lib.memory``, one sync read and one write port each, all +0 at reset),
every one double (two halves, one memory each, so a load or drain uses one while a run uses
the other): Dense Buf A (``a_rows``), Dense Buf B (``b_rows``) and the Out Buf (``out_rows``),
their halves named by the commands (``arg``, :func:`hw.spartann.isa.dense_halves`); the
Sparse Buf (``sparse_depth`` entries in rows of ``sparse_beat``, one ``sparse_in`` beat a
row) and the column table (``{addr, skip, end}`` descriptors from ``col_in``), their halves
renamed in program order.

Drains read one row per cycle (the read is issued when the row before it has been taken),
clear it to +0 in the same cycle (the read returns the old contents) and send it through the
threshold lanes (``DRAIN_OUT``: dropped elements +0, statistics counted) or straight to
``out`` (``DRAIN_B``). ``DTS_UPDATE`` runs :class:`~hw.spartann.dts.DTSUnit` on ``theta``,
``target`` and the statistics (FP32; other formats are widened exactly and the new threshold
rounded to nearest even), stores the new ``theta`` and clears the statistics.

Performance counters of the last run: ``run_cycles`` (from slot 0 to the later of the last
scheduler action and the last write-back, inclusive) and ``run_macs`` (updates written).
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..fp.convert import FloatConvert
from ..fp.format import FP32
from ..fp.pipeline import delay
from ..hier import part
from ..params import Design, Param, _fmt, optional
from .isa import (ARG_BITS, HALF_BIT, RESOURCES, RUN_HALF_BITS, TARGET_BITS, UNIT, UNITS, Op,
                  cmd_layout, col_layout, dense_layout, footprint, out_layout,
                  sparse_beat_layout, table as command_table)
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
            "sparse_in": In(stream.Signature(sparse_beat_layout(self.fmt, p.idx_bits,
                                                                p.sparse_beat))),
            "col_in": In(stream.Signature(col_layout(p.a_rows, p.out_rows, p.sparse_depth))),
            "out": Out(stream.Signature(out_layout(p.T, self.fmt))),
            "busy": Out(1), "theta": Out(w), "target": Out(TARGET_BITS),
            "elements": Out(COUNT_BITS), "zeros": Out(COUNT_BITS), "max_abs": Out(w),
            "run_cycles": Out(32), "run_macs": Out(32),
            "unit_busy": Out(len(UNITS)), "errors": Out(8),
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
            "cmd__ready": "the command's unit is idle and it conflicts with no running "
                          "command (hw.spartann.isa.conflicts); commands in order",
            "dense_in__payload": f"{p.T} x {fmt} (lane l at bit l*{self.fmt.width}); "
                                 "taken only during LOAD_A / LOAD_B",
            "sparse_in__payload": f"{p.sparse_beat} CSC entries: value ({fmt}), delta "
                                  f"({p.idx_bits} bits), filler, last; taken only during "
                                  "LOAD_SPARSE",
            "col_in__payload": "column descriptor: addr, skip, end; taken only during "
                               "LOAD_COLS",
            "out__payload": f"{p.T} x {fmt} drained values and last (final vector of a drain)",
            "busy": "a command is executing (any unit busy)",
            "unit_busy": "one bit per unit (hw.spartann.isa.UNITS order) running a command",
            "errors": "commands rejected since reset (saturating at 255)",
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
                "wu_window": p.wu_window, "sparse_beat": p.sparse_beat,
                "read_stages": p.read_stages,
                "dts_cycles": self.dts_cycles,
                "throughput": self.throughput}

    # -- hardware -----------------------------------------------------------------------------
    def elaborate(self, platform):
        m = Module()
        p, fmt, T, K = self.params, self.fmt, self.params.T, self.params.sparse_beat
        words = dense_layout(T, fmt)
        kbits = (K - 1).bit_length()

        def memory(name, shape, depth):
            m.submodules[name] = mem = Memory(shape=shape, depth=depth, init=[])
            return mem.read_port(), mem.write_port()

        # Double Dense Buf A / B and Out Buf: one memory per half (ports: [half] = (rd, wr)).
        a_ports = [memory(f"buf_a{h}", words, p.a_rows) for h in range(2)]
        b_ports = [memory(f"buf_b{h}", words, p.b_rows) for h in range(2)]
        o_ports = [memory(f"buf_out{h}", words, p.out_rows) for h in range(2)]
        # Double Sparse Buf (rows of K entries) and column table: one memory per half.
        beat = sparse_beat_layout(fmt, p.idx_bits, K)
        desc = col_layout(p.a_rows, p.out_rows, p.sparse_depth)
        s_ports = [memory(f"buf_sparse{h}", beat, -(-p.sparse_depth // K)) for h in range(2)]
        d_ports = [memory(f"col_desc{h}", desc, p.max_cols) for h in range(2)]

        # -- dispatch (hw.spartann.isa: units, footprints, conflicts) ----------------------------
        cmd = self.cmd.payload
        accept = Signal()
        unit_busy = {u: Signal(name=f"{u}_busy") for u in UNITS}
        masks = {u: (Signal(len(RESOURCES), name=f"{u}_reads"),
                     Signal(len(RESOURCES), name=f"{u}_writes")) for u in UNITS}
        cur_s, cur_c = Signal(init=1), Signal(init=1)          # halves filled last
        ncols_s = [Signal(range(p.sparse_depth + 1), name=f"ncols_s{h}") for h in range(2)]
        ncols_c = [Signal(range(p.max_cols + 1), name=f"ncols_c{h}") for h in range(2)]
        errors = Signal(8)

        def bit(name):
            return Const(1 << RESOURCES.index(name), len(RESOURCES))

        def half_bit(prefix, half):
            return Mux(half, bit(f"{prefix}1"), bit(f"{prefix}0"))

        def is_op(*ops):
            return _any_of(cmd.op == o for o in ops)

        head_r, head_w = Signal(len(RESOURCES)), Signal(len(RESOURCES))
        fill_s, fill_c = ~cur_s, ~cur_c
        arg = cmd.arg
        with m.Switch(cmd.op):
            for op_ in Op:
                with m.Case(op_):
                    fp = footprint(op_)        # halves 0: resolved below
                    hs = fill_s if op_ == Op.LOAD_SPARSE else cur_s
                    hc = fill_c if op_ == Op.LOAD_COLS else cur_c
                    run = op_ in (Op.RUN_BP, Op.RUN_WU)
                    dense = {f"{x}0": half_bit(x, arg[RUN_HALF_BITS[k]] if run
                                               else arg[HALF_BIT])
                             for x, k in (("A", "a_half"), ("B", "b_half"),
                                          ("OUT", "out_half"))}

                    def res(n, hs=hs, hc=hc, dense=dense):
                        return {"S0": half_bit("S", hs), "C0": half_bit("C", hc),
                                **dense}.get(n, bit(n))
                    m.d.comb += [head_r.eq(_any_of(res(n) for n in sorted(fp.reads))),
                                 head_w.eq(_any_of(res(n) for n in sorted(fp.writes)))]
            with m.Default():
                m.d.comb += [head_r.eq(0), head_w.eq(0)]
        run_r = _any_of(Mux(unit_busy[u], masks[u][0], 0) for u in UNITS)
        run_w = _any_of(Mux(unit_busy[u], masks[u][1], 0) for u in UNITS)
        unit_free = Signal()
        with m.Switch(cmd.op):
            for op_ in Op:
                with m.Case(op_):
                    m.d.comb += unit_free.eq(~unit_busy[UNIT[op_]])
            with m.Default():
                m.d.comb += unit_free.eq(1)
        conflict = ((head_w & (run_r | run_w)) | (head_r & run_w)).any()
        m.d.comb += [self.cmd.ready.eq(unit_free & ~conflict),
                     accept.eq(self.cmd.valid & self.cmd.ready)]

        # Rejection (checked at acceptance; a rejected load takes and drops its data).
        count = arg[:HALF_BIT]                 # loads and drains: the count below the half bit
        bad = Signal()
        with m.Switch(cmd.op):
            for op_, limit in ((Op.LOAD_A, p.a_rows), (Op.LOAD_B, p.b_rows),
                               (Op.LOAD_SPARSE, p.sparse_depth), (Op.LOAD_COLS, p.max_cols),
                               (Op.DRAIN_OUT, p.out_rows), (Op.DRAIN_B, p.b_rows)):
                with m.Case(op_):
                    m.d.comb += bad.eq(count > limit)
            with m.Case(Op.RUN_BP, Op.RUN_WU):
                m.d.comb += bad.eq(Mux(cur_s, ncols_s[1], ncols_s[0])
                                   != Mux(cur_c, ncols_c[1], ncols_c[0]))
            with m.Case(*(o for o in Op if o not in (Op.LOAD_A, Op.LOAD_B, Op.LOAD_SPARSE,
                                                    Op.LOAD_COLS, Op.DRAIN_OUT, Op.DRAIN_B,
                                                    Op.RUN_BP, Op.RUN_WU))):
                m.d.comb += bad.eq(0)
            with m.Default():
                m.d.comb += bad.eq(1)                          # unknown opcode
        good = accept & ~bad
        with m.If(accept & bad & (errors != 255)):
            m.d.sync += errors.eq(errors + 1)

        def start(unit, *ops, data=False):
            """A command of ``ops`` taken on ``unit`` this cycle (``data``: rejected ones too)."""
            return (good | (accept & bad & data)) & is_op(*ops)

        m.d.comb += [self.busy.eq(_any_of(unit_busy.values())),
                     self.unit_busy.eq(Cat(*(unit_busy[u] for u in UNITS))),
                     self.errors.eq(errors)]

        def occupy(unit, ops, data=False):
            go = start(unit, *ops, data=data)
            with m.If(go):
                m.d.sync += [unit_busy[unit].eq(1), masks[unit][0].eq(Mux(bad, 0, head_r)),
                             masks[unit][1].eq(Mux(bad, 0, head_w))]
            return go

        # -- dense loads (LOAD_A / LOAD_B) -------------------------------------------------------
        d_go = occupy("dense", (Op.LOAD_A, Op.LOAD_B), data=True)
        d_count, d_cnt = Signal(ARG_BITS), Signal(ARG_BITS)
        d_to_b, d_drop, d_half = Signal(), Signal(), Signal()
        with m.If(d_go):
            m.d.sync += [d_count.eq(count), d_cnt.eq(0), d_to_b.eq(cmd.op == Op.LOAD_B),
                         d_drop.eq(bad), d_half.eq(arg[HALF_BIT])]
        d_loading = unit_busy["dense"] & (d_cnt != d_count)
        m.d.comb += self.dense_in.ready.eq(d_loading)
        dense_take = self.dense_in.valid & self.dense_in.ready
        with m.If(dense_take):
            m.d.sync += d_cnt.eq(d_cnt + 1)
        with m.If(unit_busy["dense"] & (d_cnt == d_count)):
            m.d.sync += unit_busy["dense"].eq(0)
        dense_write = dense_take & ~d_drop
        for h, (_, wr) in enumerate(a_ports):
            m.d.comb += [wr.en.eq(dense_write & ~d_to_b & (d_half == h)), wr.addr.eq(d_cnt),
                         wr.data.eq(self.dense_in.payload)]

        # -- sparse loads (LOAD_SPARSE: K entries a beat into the free half) ---------------------
        s_go = occupy("sparse", (Op.LOAD_SPARSE,), data=True)
        s_count, s_beats, s_cnt = Signal(ARG_BITS), Signal(ARG_BITS), Signal(ARG_BITS)
        s_half, s_drop = Signal(), Signal()
        with m.If(s_go):
            m.d.sync += [s_count.eq(arg), s_beats.eq((arg + (K - 1)) >> kbits), s_cnt.eq(0),
                         s_half.eq(fill_s), s_drop.eq(bad)]
        with m.If(good & is_op(Op.LOAD_SPARSE)):
            m.d.sync += cur_s.eq(fill_s)
            with m.If(fill_s):
                m.d.sync += ncols_s[1].eq(0)
            with m.Else():
                m.d.sync += ncols_s[0].eq(0)
        m.d.comb += self.sparse_in.ready.eq(unit_busy["sparse"] & (s_cnt != s_beats))
        sparse_take = self.sparse_in.valid & self.sparse_in.ready
        with m.If(sparse_take):
            m.d.sync += s_cnt.eq(s_cnt + 1)
        with m.If(unit_busy["sparse"] & (s_cnt == s_beats)):
            m.d.sync += unit_busy["sparse"].eq(0)
        base = Signal(ARG_BITS)
        m.d.comb += base.eq(s_cnt << kbits)
        lasts = [self.sparse_in.payload[k].last & (base + k < s_count) for k in range(K)]
        popcount = sum((Value.cast(x) for x in lasts), Value.cast(0))
        for h, (_, wr) in enumerate(s_ports):
            m.d.comb += [wr.en.eq(sparse_take & ~s_drop & (s_half == h)), wr.addr.eq(s_cnt),
                         wr.data.eq(self.sparse_in.payload)]
            with m.If(sparse_take & ~s_drop & (s_half == h)):
                m.d.sync += ncols_s[h].eq(ncols_s[h] + popcount)

        # -- column descriptors (LOAD_COLS into the free half) -----------------------------------
        c_go = occupy("cols", (Op.LOAD_COLS,), data=True)
        c_count, c_cnt = Signal(ARG_BITS), Signal(ARG_BITS)
        c_half, c_drop = Signal(), Signal()
        with m.If(c_go):
            m.d.sync += [c_count.eq(arg), c_cnt.eq(0), c_half.eq(fill_c), c_drop.eq(bad)]
        with m.If(good & is_op(Op.LOAD_COLS)):
            m.d.sync += cur_c.eq(fill_c)
            with m.If(fill_c):
                m.d.sync += ncols_c[1].eq(arg)
            with m.Else():
                m.d.sync += ncols_c[0].eq(arg)
        m.d.comb += self.col_in.ready.eq(unit_busy["cols"] & (c_cnt != c_count))
        col_take = self.col_in.valid & self.col_in.ready
        with m.If(col_take):
            m.d.sync += c_cnt.eq(c_cnt + 1)
        with m.If(unit_busy["cols"] & (c_cnt == c_count)):
            m.d.sync += unit_busy["cols"].eq(0)
        for h, (_, wr) in enumerate(d_ports):
            m.d.comb += [wr.en.eq(col_take & ~c_drop & (c_half == h)), wr.addr.eq(c_cnt),
                         wr.data.eq(self.col_in.payload)]

        # -- run: scheduler (S0, S1), buffer reads (S1 -> S2), lanes, write-back --------------
        tags = tag_layout(p.b_rows, p.a_rows, p.out_rows)
        sched = self._embed(m, "scheduler", part(
            Scheduler,
            contexts=self.loop_latency, fmt=fmt, idx_bits=p.idx_bits,
            sparse_depth=p.sparse_depth, max_cols=p.max_cols, b_rows=p.b_rows, a_rows=p.a_rows,
            out_rows=p.out_rows, window=p.wu_window))
        lanes = self._embed(m, "lanes", part(MacLanes, T=T, fmt=fmt, latency=p.mac_latency,
                                             tag=tags))
        r_go = occupy("run", (Op.RUN_BP, Op.RUN_WU))
        wu, r_half_s, r_half_c = Signal(), Signal(), Signal()
        r_a, r_b, r_o = Signal(), Signal(), Signal()          # Dense Buf A / B, Out Buf halves
        r_ncols = Signal(range(p.max_cols + 1))
        with m.If(r_go):
            m.d.sync += [wu.eq(cmd.op == Op.RUN_WU), r_half_s.eq(cur_s), r_half_c.eq(cur_c),
                         r_ncols.eq(Mux(cur_c, ncols_c[1], ncols_c[0])),
                         r_a.eq(arg[RUN_HALF_BITS["a_half"]]),
                         r_b.eq(arg[RUN_HALF_BITS["b_half"]]),
                         r_o.eq(arg[RUN_HALF_BITS["out_half"]])]
        running = unit_busy["run"]
        issue = sched.issue
        lane = Signal(max(kbits, 1))
        with m.If(sched.sparse_en):
            m.d.sync += lane.eq(sched.sparse_addr[:kbits] if kbits else 0)
        s_row = Signal(beat)
        d_row = Signal(desc)
        m.d.comb += [s_row.eq(Mux(r_half_s, s_ports[1][0].data, s_ports[0][0].data)),
                     d_row.eq(Mux(r_half_c, d_ports[1][0].data, d_ports[0][0].data))]
        for rd, _ in s_ports:
            m.d.comb += [rd.addr.eq(sched.sparse_addr >> kbits), rd.en.eq(sched.sparse_en)]
        for rd, _ in d_ports:
            m.d.comb += rd.addr.eq(sched.col_addr)
        m.d.comb += [
            sched.start.eq(r_go), sched.wu.eq(wu), sched.ncols.eq(r_ncols),
            sched.col_end.eq(d_row.end), sched.col_desc.eq(d_row),
            sched.sparse_data.eq(s_row[lane] if K > 1 else s_row[0]),
        ]
        for rd, _ in a_ports:
            m.d.comb += rd.addr.eq(issue.addr)
        # The scheduler reads column 0 in the cycle it starts: the halves as the run takes them.
        with m.If(r_go):
            m.d.comb += [sched.ncols.eq(Mux(cur_c, ncols_c[1], ncols_c[0])),
                         d_row.eq(Mux(cur_c, d_ports[1][0].data, d_ports[0][0].data))]
        s2_valid = Signal()
        s2 = Signal(issue.shape(), name="s2", reset_less=True)
        m.d.sync += [s2_valid.eq(issue.valid), s2.eq(issue)]
        def data(ports, half):
            return Mux(half, Value.cast(ports[1][0].data), Value.cast(ports[0][0].data))
        b_run = data(b_ports, r_b)
        x = Mux(wu, data(a_ports, r_a), b_run)
        y = Mux(wu, b_run, data(o_ports, r_o))
        # read_stages registers between the read data and the lanes (none: same cycle)
        stages = p.read_stages
        valids = [s2_valid]
        for k in range(stages):
            valids.append(delay(m, valids[-1], 1, name=f"rd_valid{k}", reset_less=False))
        reading = Cat(*valids[:-1]).any() if stages else Const(0)   # not yet in the lanes
        m.d.comb += [lanes.valid.eq(valids[-1]), lanes.alpha.eq(delay(m, s2.value, stages, None,
                                                                       "rd_alpha")),
                     lanes.x.eq(delay(m, x, stages, None, "rd_x")),
                     lanes.y.eq(delay(m, y, stages, None, "rd_y")),
                     lanes.tag.row.eq(delay(m, s2.row, stages, None, "rd_row")),
                     lanes.tag.addr.eq(delay(m, s2.addr, stages, None, "rd_addr"))]
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
            with m.If(~sched.busy & ~reading & ~lanes.busy):
                m.d.sync += unit_busy["run"].eq(0)
        with m.If(sched.start):
            m.d.sync += [run_cnt.eq(0), run_cycles.eq(0), run_macs.eq(0)]

        # -- drains -------------------------------------------------------------------------
        thr = self._embed(m, "threshold", part(ThresholdLanes, T, fmt, latency=p.thr_latency))
        o_go = occupy("drain", (Op.DRAIN_OUT, Op.DRAIN_B))
        o_count, o_cnt, out_cnt = Signal(ARG_BITS), Signal(ARG_BITS), Signal(ARG_BITS)
        to_thr, rd_valid = Signal(), Signal()      # rd_valid: a drained row waits on the port
        dr_half = Signal()
        with m.If(o_go):
            m.d.sync += [o_count.eq(count), o_cnt.eq(0), out_cnt.eq(0), rd_valid.eq(0),
                         to_thr.eq(cmd.op == Op.DRAIN_OUT), dr_half.eq(arg[HALF_BIT])]
        draining = unit_busy["drain"]
        theta, target = Signal(fmt.width), Signal(TARGET_BITS)
        pad_lanes = Signal(range(max(T, 2)))      # SET_PAD_LANES: lanes left out of the stats
        sink_ready = Mux(to_thr, thr.i.ready, self.out.ready)
        rd_issue = Signal()
        m.d.comb += rd_issue.eq(draining & (o_cnt != o_count) & (~rd_valid | sink_ready))
        with m.If(rd_issue):
            m.d.sync += [o_cnt.eq(o_cnt + 1), rd_valid.eq(1)]
        with m.Elif(rd_valid & sink_ready):
            m.d.sync += rd_valid.eq(0)
        m.d.comb += [
            thr.theta.eq(theta), thr.pad_lanes.eq(pad_lanes),
            thr.i.valid.eq(draining & to_thr & rd_valid),
            thr.i.payload.eq(data(o_ports, dr_half)),
            thr.o.ready.eq(draining & to_thr & self.out.ready),
            self.out.valid.eq(draining & Mux(to_thr, thr.o.valid, rd_valid)),
            self.out.payload.values.eq(Mux(to_thr, Value.cast(thr.o.payload.values),
                                           data(b_ports, dr_half))),
            self.out.payload.last.eq(out_cnt == o_count - 1),
        ]
        with m.If(self.out.valid & self.out.ready):
            m.d.sync += out_cnt.eq(out_cnt + 1)
        with m.If(draining & (out_cnt == o_count)):
            m.d.sync += unit_busy["drain"].eq(0)

        # -- shared buffer ports (conflicting commands never run together) --------------------
        # Per half: the drain, a dense load or the run (never two on one half: conflicts).
        for h in range(2):
            (b_rd, b_wr), (o_rd, o_wr) = b_ports[h], o_ports[h]
            drain_b = draining & ~to_thr & (dr_half == h)
            drain_o = draining & to_thr & (dr_half == h)
            m.d.comb += [
                b_rd.addr.eq(Mux(drain_b, o_cnt, issue.row)), b_rd.en.eq(~drain_b | rd_issue),
                o_rd.addr.eq(Mux(drain_o, o_cnt, issue.addr)), o_rd.en.eq(~drain_o | rd_issue),
            ]
            with m.If(drain_b):
                m.d.comb += [b_wr.en.eq(rd_issue), b_wr.addr.eq(o_cnt), b_wr.data.eq(0)]
            with m.Elif(unit_busy["dense"] & d_to_b & (d_half == h)):
                m.d.comb += [b_wr.en.eq(dense_write), b_wr.addr.eq(d_cnt),
                             b_wr.data.eq(self.dense_in.payload)]
            with m.Else():
                m.d.comb += [b_wr.en.eq(write_back & wu & (r_b == h)),
                             b_wr.addr.eq(lanes.o_tag.row), b_wr.data.eq(lanes.result)]
            with m.If(drain_o):
                m.d.comb += [o_wr.en.eq(rd_issue), o_wr.addr.eq(o_cnt), o_wr.data.eq(0)]
            with m.Else():
                m.d.comb += [o_wr.en.eq(write_back & ~wu & (r_o == h)),
                             o_wr.addr.eq(lanes.o_tag.addr), o_wr.data.eq(lanes.result)]

        # -- control: registers, statistics and DTS -------------------------------------------
        m.d.comb += [self.theta.eq(theta), self.target.eq(target)]
        with m.If(good):
            with m.If(is_op(Op.SET_THETA)):
                m.d.sync += theta.eq(arg)
            with m.Elif(is_op(Op.SET_TARGET)):
                m.d.sync += target.eq(arg)
            with m.Elif(is_op(Op.SET_PAD_LANES)):
                m.d.sync += pad_lanes.eq(Mux(arg < T, arg, T - 1))
        occupy("ctrl", (Op.DTS_UPDATE,))
        dts = self._embed(m, "dts", part(DTSUnit, counter_width=COUNT_BITS))
        stats = thr.stats
        m.d.comb += [self.elements.eq(stats.elements), self.zeros.eq(stats.zeros),
                     self.max_abs.eq(stats.max_abs)]
        dts_sent = Signal()
        dts_on = unit_busy["ctrl"]
        dts_done = dts.o.valid & dts.o.ready
        m.d.comb += [
            dts.i.valid.eq(dts_on & ~dts_sent), dts.o.ready.eq(dts_on),
            dts.i.payload.theta.eq(self._widen(m, "theta", theta)),
            dts.i.payload.max_abs.eq(self._widen(m, "max_abs", stats.max_abs)),
            dts.i.payload.target.eq(target), dts.i.payload.elements.eq(stats.elements),
            dts.i.payload.zeros.eq(stats.zeros),
            thr.clear.eq((good & is_op(Op.CLEAR_STATS)) | dts_done),
        ]
        with m.If(dts.i.valid & dts.i.ready):
            m.d.sync += dts_sent.eq(1)
        with m.If(dts_done):
            m.d.sync += [theta.eq(self._narrow(m, dts.o.payload.theta_next)), dts_sent.eq(0),
                         unit_busy["ctrl"].eq(0)]
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
