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

from ..fp.add import add_steps
from ..fp.mul import mul_steps
from ..fp.pipeline import build_pipeline, delay
from ..hier import instantiate, part
from ..params import Design, Param, _bool, _fmt, check_format, check_int
from ..timing import Timed
from .config import (MAX_ARRAY_LATENCY, MAX_DIM, MAX_M, PAPER, array_latency, index_width,
                     swap_wave)

__all__ = ["SystolicArray"]


class SystolicArray(Timed, wiring.Component):
    """``rows`` x ``cols`` uMACs; ``group`` activations per row bus (M; 1 for dense-only).

    Streams: ``x`` (activation row: ``groups[rows][group]``, ``acc[cols]``, ``first``),
    ``w`` (one weight row: ``values[cols]``, ``indices[cols]``), ``y`` (``cols`` results).
    One activation row per cycle; ``y`` back-pressure stalls the whole array.
    """

    def __init__(self, *, rows, cols, group=1, in_fmt="fp16", acc_fmt="fp32",
                 mul_latency=2, add_latency=3, hierarchical=True):
        self.rows = check_int("rows", rows, 1, MAX_DIM)
        self.cols = check_int("cols", cols, 1, MAX_DIM)
        self.group = check_int("group", group, 1, MAX_M)
        self.in_fmt = check_format("in_fmt", in_fmt)
        self.acc_fmt = check_format("acc_fmt", acc_fmt)
        self.mul_latency = check_int("mul_latency", mul_latency, 0, MAX_ARRAY_LATENCY)
        self.add_latency = check_int("add_latency", add_latency, 0, MAX_ARRAY_LATENCY)
        self.index_width = index_width(self.group)
        self.hierarchical = bool(hierarchical)
        # only elaborated when instantiated (hierarchical) or used for its datapath (flat)
        self.pe = part(SystolicPE, group=self.group, in_fmt=self.in_fmt, acc_fmt=self.acc_fmt,
                       mul_latency=self.mul_latency, add_latency=self.add_latency)
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
        """Shadow weight rows, the load counter and the swap-wave counter."""
        shadow = [Signal(self.w.payload.shape(), name=f"shadow{r}") for r in range(self.rows)]
        loaded = Signal(range(self.rows + 1))
        wave = Signal(range(self.swap_wave + 1))
        load = self.w.valid & self.w.ready
        m.d.comb += self.w.ready.eq((loaded < self.rows) & (wave == 0))
        with m.If(load):
            m.d.sync += [shadow[r].eq(shadow[r + 1]) for r in range(self.rows - 1)]
            m.d.sync += [shadow[-1].eq(self.w.payload), loaded.eq(loaded + 1)]
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

    def elaborate(self, platform):
        m = Module()
        rows, cols = self.rows, self.cols
        enable = Signal()
        m.d.comb += enable.eq(~(self.y.valid & ~self.y.ready))
        shadow, loaded, wave = self._weights(m)

        blocked = self.x.valid & self.x.payload.first & (loaded < rows)
        m.d.comb += self.x.ready.eq(enable & ~blocked)
        accept = self.x.valid & self.x.ready
        with m.If(accept & self.x.payload.first):
            m.d.sync += [loaded.eq(0), wave.eq(self.swap_wave)]
        with m.Elif(enable & (wave != 0)):
            m.d.sync += wave.eq(wave - 1)

        bus_layout = self.pe.bus_layout
        psums = [delay(m, self.x.payload.acc[c], c + self.mul_latency, enable, f"psum_in{c}")
                 for c in range(cols)]
        for r in range(rows):
            bus = Signal(bus_layout, name=f"bus{r}_in")
            m.d.comb += [bus.group.eq(self.x.payload.groups[r]),
                         bus.first.eq(accept & self.x.payload.first)]
            bus = delay(m, bus, r * self.add_latency, enable, f"skew{r}_", reset_less=False)
            for c in range(cols):
                weight = Signal(self.pe.weight_layout, name=f"pe{r}_{c}_w")
                m.d.comb += [weight.value.eq(shadow[r].values[c]),
                             weight.index.eq(shadow[r].indices[c])]
                bus, psums[c] = self._pe(m, f"pe{r}_{c}", enable, bus, weight, psums[c])

        valid = delay(m, accept, self.latency - 1, enable, "valid", reset_less=False)
        with m.If(enable):
            m.d.sync += self.y.valid.eq(valid)
            for c in range(cols):
                m.d.sync += self.y.payload[c].eq(delay(m, psums[c], cols - 1 - c, enable,
                                                       f"deskew{c}_"))
        return m


class SystolicPE(wiring.Component):
    """One uMAC of the array: ``psum_out = psum_in + round(w * x[w.index])`` (``mul_latency``
    + ``add_latency`` stages), the stationary weight switched in by the ``first`` flag of the
    bus, and the activation bus passed on to the right one cycle later. Everything advances
    only while ``enable``. With ``hierarchical=True`` the array instantiates this module
    (emitted once as ``module_name``) instead of inlining it in every position."""

    def __init__(self, *, group, in_fmt, acc_fmt, mul_latency, add_latency):
        self.group, self.in_fmt, self.acc_fmt = group, in_fmt, acc_fmt
        self.mul_latency, self.add_latency = mul_latency, add_latency
        self.bus_layout = data.StructLayout({
            "group": data.ArrayLayout(in_fmt.width, group), "first": 1})
        self.weight_layout = data.StructLayout({"value": in_fmt.width,
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
                f"_m{self.mul_latency}_a{self.add_latency}")

    def datapath(self, m, enable, bus, weight, psum, name):
        """Build the PE's logic into ``m``; returns ``(bus_out, psum_out)``."""
        active = Signal.like(weight, name=f"{name}_active")
        selected = Signal.like(weight, name=f"{name}_sel")
        m.d.comb += selected.eq(Mux(bus.first, weight, active))
        with m.If(enable & bus.first):
            m.d.sync += active.eq(weight)
        x = bus.group[0] if self.group == 1 else bus.group[selected.index]
        product, _, _ = build_pipeline(
            m, mul_steps(self.in_fmt, self.in_fmt, self.acc_fmt, out="product"),
            {"a": selected.value, "b": x}, Const(1), self.mul_latency, enable=enable)
        total, _, _ = build_pipeline(
            m, add_steps(self.acc_fmt, a="psum", b="product"),
            {"psum": psum, "product": product["product"]}, Const(1), self.add_latency,
            enable=enable)
        bus_out = delay(m, bus, 1, enable, f"{name}_x", reset_less=False)
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
         "hierarchical": Param(True, _bool, "emit the PE once and instantiate it (else inline)")},
        test_params={"rows": 2, "cols": 2}),
}
