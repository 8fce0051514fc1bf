"""STCE core: a weight-stationary systolic array of uMACs for dense and N:M sparse GEMM.

Array row ``r`` holds, in every column ``c``, one stationary weight (value and in-group
index) of reduction position ``r`` and output column ``c``. Each cycle an *activation row*
enters: for every array row a group of ``group`` activations (the M activations of the
N:M group that row's weights belong to; for dense GEMM only slot 0 is used), plus one partial
sum per column. Activations move right one PE per cycle; partial sums move down, each uMAC
adding ``round(w * x[idx])`` to the partial sum from above::

    psum_in[c] --> PE(0,c) --> PE(1,c) --> ... --> PE(R-1,c) --> deskew --> y[c]
                     ^ x bus of row 0 (skew 0)    ^ x bus of row R-1 (skew (R-1)*add_latency)

so ``y[c] = (...((psum_in[c] + p(0,c)) + p(1,c)) + ...) + p(R-1,c)``: a sequential chain
in row order (the accumulation order the golden model follows). Folds of a longer reduction
chain through ``psum_in``. Weights are double-buffered: ``rows`` transfers on ``w`` fill a
shadow copy (the first transfer lands in row 0), and an activation row flagged ``first``
switches each PE to it as the flag passes, so loading the next fold hides behind the current one.
"""

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..arith import mux_tree
from ..fp.add import add_steps
from ..fp.fmac import accumulate_steps, fused_supported, product_steps
from ..fp.mul import mul_steps
from ..fp.pipeline import Step, build_pipeline, delay
from ..fp.recode import rec_width, recode
from ..hier import instantiate, part
from ..params import Design, Param, _bool, _fmt, check_dsp_latency, check_format, check_int
from ..timing import Timed
from .config import (MAX_ARRAY_LATENCY, MAX_DIM, MAX_M, PAPER, array_latency, index_width,
                     swap_wave)

__all__ = ["SystolicArray", "STALL_LEVELS"]

#: Register levels of the array's stall tree: the decision (next to the skid buffer), a root,
#: one copy per row (and one for the columns and control), one leaf per consumer. ``y``
#: back-pressure stops the array this many cycles later; the output skid buffer holds
#: ``STALL_LEVELS + 1`` result rows.
STALL_LEVELS = 4


class SystolicArray(Timed, wiring.Component):
    """``rows`` x ``cols`` uMACs; ``group`` activations per row bus (M; 1 for dense-only).

    Streams: ``x`` (activation row: ``groups[rows][group]``, ``acc[cols]``, ``first``),
    ``w`` (one weight row: ``values[cols]``, ``indices[cols]``), ``y`` (``cols`` results).
    One activation row per cycle; ``y`` back-pressure stalls the whole array.
    """

    def __init__(self, *, rows, cols, group=1, in_fmt="fp16", acc_fmt="fp32",
                 mul_latency=2, add_latency=3, hierarchical=True, ftz=False, dsp=None):
        self.rows = check_int("rows", rows, 1, MAX_DIM)
        self.cols = check_int("cols", cols, 1, MAX_DIM)
        self.group = check_int("group", group, 1, MAX_M)
        self.in_fmt = check_format("in_fmt", in_fmt)
        self.acc_fmt = check_format("acc_fmt", acc_fmt)
        self.mul_latency = check_int("mul_latency", mul_latency, 0, MAX_ARRAY_LATENCY)
        self.add_latency = check_int("add_latency", add_latency, 0, MAX_ARRAY_LATENCY)
        self.index_width = index_width(self.group)
        self.hierarchical = bool(hierarchical)
        self.ftz = check_ftz(ftz, self.in_fmt, self.acc_fmt)
        # only elaborated when instantiated (hierarchical) or used for its datapath (flat)
        self.pe = part(SystolicPE, group=self.group, in_fmt=self.in_fmt, acc_fmt=self.acc_fmt,
                       mul_latency=self.mul_latency, add_latency=self.add_latency,
                       ftz=self.ftz, dsp=dsp)
        in_w, acc_w = self.in_fmt.width, self.acc_fmt.width
        x_layout = data.StructLayout({
            "groups": data.ArrayLayout(data.ArrayLayout(in_w, self.group), self.rows),
            "acc": data.ArrayLayout(acc_w, self.cols),
            "first": 1,
        })
        w_layout = data.StructLayout({
            "values": data.ArrayLayout(in_w, self.cols),
            "indices": data.ArrayLayout(self.index_width, self.cols),
        })
        super().__init__({
            "x": In(stream.Signature(x_layout)),
            "w": In(stream.Signature(w_layout)),
            "y": Out(stream.Signature(data.ArrayLayout(acc_w, self.cols))),
        })

    @property
    def latency(self):
        """Cycles from an activation row accepted on ``x`` to its results valid on ``y``."""
        return array_latency(self.rows, self.cols, self.mul_latency, self.add_latency)

    @property
    def throughput(self):
        """Activation rows per cycle."""
        return 1

    @property
    def swap_wave(self):
        """Cycles during which the shadow weights are still being switched in."""
        return swap_wave(self.rows, self.cols, self.add_latency)

    def _weights(self, m):
        """Shadow weight rows (values recoded for the fused uMAC), the load counter and the
        swap-wave counter."""
        layout = data.StructLayout({
            "values": data.ArrayLayout(self.pe.weight_layout["value"].shape, self.cols),
            "indices": data.ArrayLayout(self.index_width, self.cols)})
        shadow = [Signal(layout, name=f"shadow{r}") for r in range(self.rows)]
        incoming = Signal(layout, name="w_in")
        m.d.comb += incoming.indices.eq(self.w.payload.indices)
        for c in range(self.cols):
            value = self.w.payload.values[c]
            m.d.comb += incoming.values[c].eq(recode(m, self.in_fmt, value, self.ftz, f"w{c}_rec")
                                              if self.pe.fused else value)
        loaded = Signal(range(self.rows + 1))
        wave = Signal(range(self.swap_wave + 1))
        load = self.w.valid & self.w.ready
        m.d.comb += self.w.ready.eq((loaded < self.rows) & (wave == 0))
        with m.If(load):
            m.d.sync += [shadow[r].eq(shadow[r + 1]) for r in range(self.rows - 1)]
            m.d.sync += [shadow[-1].eq(incoming), loaded.eq(loaded + 1)]
        return shadow, loaded, wave

    def _pe(self, m, name, enable, bus, weight, psum):
        """One uMAC: inline, or an instance of the shared PE module (``hierarchical``).
        Returns its bus and partial-sum outputs."""
        if not self.hierarchical:
            return self.pe.datapath(m, enable, bus, weight, psum, name)
        bus_out = Signal(self.pe.bus_layout, name=f"{name}_bus")
        psum_out = Signal(self.acc_fmt.width, name=f"{name}_psum")
        instantiate(m, name, self.pe, self.pe.module_name,
                    {"enable": enable, "bus_in": bus, "weight": weight, "psum_in": psum,
                     "bus_out": bus_out, "psum_out": psum_out})
        return bus_out, psum_out

    @property
    def stall_latency(self):
        """Cycles from ``y`` back-pressure to the array stopping: the depth of the registered
        stall tree (:attr:`STALL_LEVELS`)."""
        return STALL_LEVELS

    @property
    def skid_depth(self):
        """Result rows the output skid buffer holds (``stall_latency + 1``)."""
        return STALL_LEVELS + 1

    @property
    def timing_properties(self):
        return {"stall_latency": self.stall_latency, "skid_depth": self.skid_depth,
                "swap_wave": self.swap_wave}

    def _stall_tree(self, m, go):
        """Registered, replicated copies of ``go`` (:attr:`STALL_LEVELS` cycles later): the
        decision's own register (its logic reads the skid buffer's level and the last valid
        register, so it sits there; the 4x4 array's critical path on ECP5 ran from them into
        the root), a root, one copy per array row and one for the columns and control, then
        one leaf per consumer: a PE, a delay line (all its stages), the control (made by the
        returned ``leaf(parent, name)``). Every register of the array advances on a leaf,
        all of which carry the same value in every cycle.
        The copies carry ``(* keep *)``: synthesis would otherwise merge them into one
        register (Yosys' ``opt_merge``, Vivado's equivalent-register removal); the flows of
        :mod:`hw.synth` put the attribute on their cells (:data:`hw.synth.flow.KEEP_REGISTERS`)."""
        def copy(parent, name):
            reg = Signal(init=1, name=name, attrs={"keep": "true"})
            m.d.sync += reg.eq(parent)
            return reg
        root = copy(copy(go, "adv_go"), "adv_root")
        row_mid = [copy(root, f"adv_row{r}") for r in range(self.rows)]
        col_mid = copy(root, "adv_cols")
        return row_mid, col_mid, copy

    def _skid(self, m, push, data):
        """The output skid buffer: ``skid_depth`` result rows; returns the level after this
        cycle's push and pop."""
        depth = self.skid_depth
        slots = [Signal(len(data), name=f"skid{i}") for i in range(depth)]
        wp, rp = Signal(range(depth)), Signal(range(depth))
        level = Signal(range(depth + 1))
        pop = self.y.valid & self.y.ready
        head = slots[0]
        for i in range(1, depth):
            head = Mux(rp == i, slots[i], head)
        m.d.comb += [self.y.valid.eq(level != 0), self.y.payload.eq(head)]
        step = lambda p: Mux(p == depth - 1, 0, p + 1)
        for i in range(depth):
            with m.If(push & (wp == i)):
                m.d.sync += slots[i].eq(data)
        with m.If(push):
            m.d.sync += wp.eq(step(wp))
        with m.If(pop):
            m.d.sync += rp.eq(step(rp))
        m.d.sync += level.eq(level + push - pop)
        return level + push - pop

    def elaborate(self, platform):
        m = Module()
        rows, cols = self.rows, self.cols
        go = Signal()
        row_mid, col_mid, copy = self._stall_tree(m, go)
        ctrl = copy(col_mid, "adv_ctrl")
        shadow, loaded, wave = self._weights(m)

        blocked = self.x.valid & self.x.payload.first & (loaded < rows)
        m.d.comb += self.x.ready.eq(ctrl & ~blocked)
        accept = self.x.valid & self.x.ready
        with m.If(accept & self.x.payload.first):
            m.d.sync += [loaded.eq(0), wave.eq(self.swap_wave)]
        with m.Elif(ctrl & (wave != 0)):
            m.d.sync += wave.eq(wave - 1)

        def stages(parent, count, name):
            """One leaf for all ``count`` stages of a delay line: with one enable the
            line maps to shift-register LUTs (SRL16/SRLC32 on Xilinx); a leaf per stage
            kept every stage in flip-flops."""
            leaf = copy(parent, f"adv_{name}") if count else None
            return [leaf] * count

        bus_layout = self.pe.bus_layout
        psums = [delay(m, self.x.payload.acc[c], c + self.mul_latency,
                       stages(col_mid, c + self.mul_latency, f"psum{c}_"), f"psum_in{c}")
                 for c in range(cols)]
        for r in range(rows):
            bus = Signal(bus_layout, name=f"bus{r}_in")
            m.d.comb += bus.first.eq(accept & self.x.payload.first)
            for i in range(self.group):
                x = self.x.payload.groups[r][i]
                # fused: each activation is recoded once, at its row's edge (not in every PE)
                m.d.comb += bus.group[i].eq(recode(m, self.in_fmt, x, self.ftz, f"x{r}_{i}_rec")
                                            if self.pe.fused else x)
            skew = r * self.add_latency
            bus = _delay_bus(m, bus, skew, stages(row_mid[r], skew, f"skew{r}_"), f"skew{r}_")
            for c in range(cols):
                weight = Signal(self.pe.weight_layout, name=f"pe{r}_{c}_w")
                m.d.comb += [weight.value.eq(shadow[r].values[c]),
                             weight.index.eq(shadow[r].indices[c])]
                enable = copy(row_mid[r], f"adv_pe{r}_{c}")
                bus, psums[c] = self._pe(m, f"pe{r}_{c}", enable, bus, weight, psums[c])

        valid = delay(m, accept, self.latency - 1, ctrl, "valid", reset_less=False)
        out = Signal(self.y.payload.shape(), name="out")
        for c in range(cols):
            deskew = cols - 1 - c
            m.d.comb += out[c].eq(delay(m, psums[c], deskew,
                                        stages(col_mid, deskew, f"deskew{c}_"), f"deskew{c}_"))
        push = Signal()
        m.d.comb += push.eq(ctrl & valid)
        level = self._skid(m, push, out.as_value())
        # the array may advance STALL_LEVELS cycles from now: at most STALL_LEVELS - 1 more
        # rows can be pushed before then, and one is being read
        m.d.comb += go.eq(level <= self.skid_depth - STALL_LEVELS)
        return m


def _delay_bus(m, bus, cycles, enable, name):
    """An activation bus delayed by ``cycles``: the ``first`` flag with a reset, the
    activations without (a reset on them costs a LUT per bit on Xilinx next to the enable)."""
    if cycles == 0:
        return bus
    out = Signal.like(bus, name=f"{name}bus")
    m.d.comb += [out.group.eq(delay(m, bus.group, cycles, enable, f"{name}g")),
                 out.first.eq(delay(m, bus.first, cycles, enable, f"{name}f", reset_less=False))]
    return out


def check_pe_dsp(dsp, fused, mul_latency):
    """``dsp``: None (``*``, mapped by the tool) or ``"ecp5"`` (an instantiated
    ``MULT18X18D`` with its registers; fused uMAC and ``mul_latency >= 2`` only)."""
    dsp = check_dsp_latency(dsp, mul_latency)
    if dsp and not fused:
        raise ValueError(f"dsp={dsp!r} needs the fused uMAC (in_fmt and acc_fmt of "
                         "hw.fp.fmac.fused_supported)")
    return dsp


def check_ftz(ftz, in_fmt, acc_fmt):
    """``ftz`` as a bool; flush-to-zero needs the fused MAC (:func:`fused_supported`)."""
    if not isinstance(ftz, bool):
        raise ValueError(f"ftz must be a bool, not {ftz!r}")
    if ftz and not fused_supported(in_fmt, acc_fmt):
        raise ValueError(f"ftz=True needs the fused MAC, which does not support in_fmt="
                         f"{in_fmt.name} with acc_fmt={acc_fmt.name}")
    return ftz


class SystolicPE(wiring.Component):
    """One uMAC of the array: ``psum_out = round(psum_in + w * x[w.index])`` (``mul_latency``
    + ``add_latency`` stages), the stationary weight switched in by the ``first`` flag of the
    bus, and the activation bus passed on to the right one cycle later. Everything advances
    only while ``enable``. With ``hierarchical=True`` the array instantiates this module
    (emitted once as ``module_name``) instead of inlining it in every position.

    Where the formats allow (:func:`hw.fp.fmac.fused_supported`: FP16 x FP16 + FP32) the
    uMAC is the fused MAC of :mod:`hw.fp.fmac`: the exact product goes unrounded into the
    adder, which equals rounding it first because it is exact; its weight and the activations
    on its bus arrive recoded (the array recodes them once, at its edges). Otherwise (BF16 x
    BF16 + FP32) the product is rounded to ``acc_fmt`` and then added. ``ftz``: subnormal
    operands and partial sums count as zeros (fused formats only). ``dsp="ecp5"``: the
    product in an instantiated ECP5 ``MULT18X18D`` holding :attr:`dsp_stages` registers
    (fused, ``mul_latency >= 2``; for ECP5 Fmax, see docs/fp/fmac.md)."""

    def __init__(self, *, group, in_fmt, acc_fmt, mul_latency, add_latency, ftz=False,
                 dsp=None):
        self.group = group
        self.in_fmt = check_format("in_fmt", in_fmt)
        self.acc_fmt = check_format("acc_fmt", acc_fmt)
        self.mul_latency, self.add_latency = mul_latency, add_latency
        self.ftz = check_ftz(ftz, self.in_fmt, self.acc_fmt)
        self.fused = fused_supported(self.in_fmt, self.acc_fmt)
        self.dsp = check_pe_dsp(dsp, self.fused, mul_latency)
        in_fmt, acc_fmt = self.in_fmt, self.acc_fmt
        # fused: the array recodes weights as they arrive and activations as they enter a row
        # (hw/fp/recode.py), so the PE needs no leading-zero count for either
        value_width = rec_width(in_fmt) if self.fused else in_fmt.width
        self.bus_layout = data.StructLayout({
            "group": data.ArrayLayout(value_width, group), "first": 1})
        self.weight_layout = data.StructLayout({"value": value_width,
                                                "index": index_width(group)})
        super().__init__({
            "enable": In(1), "bus_in": In(self.bus_layout), "weight": In(self.weight_layout),
            "psum_in": In(acc_fmt.width),
            "bus_out": Out(self.bus_layout), "psum_out": Out(acc_fmt.width),
        })

    @property
    def module_name(self):
        """Verilog module name, carrying every parameter (one module per configuration)."""
        return (f"sat_stce_pe_g{self.group}_{self.in_fmt.name}_{self.acc_fmt.name}"
                f"_m{self.mul_latency}_a{self.add_latency}" + ("_ftz" if self.ftz else "")
                + (f"_{self.dsp}" if self.dsp else ""))

    @property
    def select_stages(self):
        """Fabric registers between the activation select and the instantiated multiplier's
        input registers (``dsp``, ``mul_latency >= 5``): in an array the multipliers sit in
        fixed DSP columns, away from the select logic, so the route to them gets a cycle."""
        return 1 if self.dsp and self.mul_latency >= 5 else 0

    @property
    def dsp_stages(self):
        """Registers of the product side held by the instantiated multiplier (``dsp``): up
        to its three, after the bus register and :attr:`select_stages`, leaving one fabric
        register at the end."""
        return max(0, min(3, self.mul_latency - 2 - self.select_stages)) if self.dsp else 0

    def steps(self, name="pe"):
        """``(product steps, accumulate steps)``: the first run on the activation bus side
        (``mul_latency`` registers), the second on the partial-sum path (``add_latency``)."""
        i, a = self.in_fmt, self.acc_fmt
        if self.fused:
            return (product_steps(i, a, "ra", "rb", ftz=self.ftz, recoded=True, dsp=self.dsp,
                                  stages=self.dsp_stages, name=f"{name}_mul"),
                    accumulate_steps(a, "psum", ftz=self.ftz))
        return (mul_steps(i, i, a, out="product"), add_steps(a, a="psum", b="product"))

    def datapath(self, m, enable, bus, weight, psum, name):
        """Build the PE's logic into ``m``; returns ``(bus_out, psum_out)``.

        Fused with ``mul_latency >= 1``: the activation bus register (which passes the bus to
        the right) and the stationary-weight register (loaded as ``first`` passes) are the
        first pipeline stage; the activation is selected by the registered index behind them,
        so neither a weight multiplexer nor a copy of the activation is needed."""
        active = Signal.like(weight, name=f"{name}_active")
        with m.If(enable & bus.first):
            m.d.sync += active.eq(weight)
        mul, add = self.steps(name)
        if self.fused and self.mul_latency >= 1:
            bus_out = _delay_bus(m, bus, 1, enable, f"{name}_x")

            def select(m, v):
                return {"ra": v["ra"], "rb": mux_tree(v["group"], v["index"])}

            operands = {"group": bus_out.group, "index": active.index, "ra": active.value}
            steps, stages = [Step("select", select, 1.0), *mul], self.mul_latency - 1
            if self.select_stages:
                operands, _, _ = build_pipeline(m, steps[:1], operands, Const(1),
                                                self.select_stages, enable=enable)
                steps, stages = steps[1:], stages - self.select_stages
            product, _, _ = build_pipeline(m, steps, operands, Const(1), stages, enable=enable)
            total, _, _ = build_pipeline(m, add, {"psum": psum, **product}, Const(1),
                                         self.add_latency, enable=enable)
            return bus_out, total["result"]
        selected = Signal.like(weight, name=f"{name}_sel")
        m.d.comb += selected.eq(Mux(bus.first, weight, active))
        x = mux_tree(bus.group, selected.index)
        operands = {"ra": selected.value, "rb": x} if self.fused else {"a": selected.value, "b": x}
        product, _, _ = build_pipeline(m, mul, operands, Const(1), self.mul_latency,
                                       enable=enable)
        total, _, _ = build_pipeline(m, add, {"psum": psum, **product}, Const(1),
                                     self.add_latency, enable=enable)
        bus_out = _delay_bus(m, bus, 1, enable, f"{name}_x")
        return bus_out, total["result"]

    def elaborate(self, platform):
        m = Module()
        bus_out, psum_out = self.datapath(m, self.enable, self.bus_in, self.weight,
                                          self.psum_in, "pe")
        m.d.comb += [self.bus_out.eq(bus_out), self.psum_out.eq(psum_out)]
        return m


#: Registry entries (merged into :data:`hw.designs.DESIGNS`); defaults: the paper's array
#: (:data:`hw.sat.config.PAPER`).
DESIGNS = {
    "sat_stce": Design(
        lambda **kw: SystolicArray(**kw),
        "SAT STCE: weight-stationary R x C uMAC array (FP16 x FP16 -> FP32), dense and N:M",
        {"rows": Param(PAPER.rows, int, f"array rows (reduction positions), 1..{MAX_DIM}"),
         "cols": Param(PAPER.cols, int, f"array columns (output channels), 1..{MAX_DIM}"),
         "group": Param(PAPER.m, int,
                        f"activations per row bus: M of N:M (1 = dense only), 1..{MAX_M}"),
         "in_fmt": Param(PAPER.in_fmt, _fmt, "activation and weight format"),
         "acc_fmt": Param(PAPER.acc_fmt, _fmt, "partial-sum format"),
         "mul_latency": Param(PAPER.mul_latency, int,
                              f"multiplier register stages, 0..{MAX_ARRAY_LATENCY}"),
         "add_latency": Param(PAPER.add_latency, int,
                              f"adder register stages, 0..{MAX_ARRAY_LATENCY}"),
         "hierarchical": Param(True, _bool, "emit the PE once and instantiate it (else inline)"),
         "ftz": Param(False, _bool, "flush subnormal operands and partial sums to zero "
                                    "(fused formats only)")},
        test_params={"rows": 2, "cols": 2}),
}
