"""SAT core buffer: one on-chip memory of the core (W, X bank, O, M, V, G, D) as its own
Verilog module, emitted once per shape (:mod:`hw.hier`) and named after it,
``sat_buffer_<depth>x<width>`` (+ ``_g<bits>`` write granularity, ``_t`` first read port
transparent to the write port, ``_r2`` a second read port). The PAPER core's 38 buffers
(32 X banks) are five modules, so per-module synthesis (:mod:`hw.synth.modules`) maps each
shape to block RAM once.

One write port (``w_addr``, ``w_data``, ``w_en``: one bit per ``granularity`` bits) and one
or two synchronous read ports (``r_*``, ``s_*``: the row at ``addr`` is on ``data`` the cycle
after ``en``; ``data`` holds while ``en`` is low), exactly the ports of
:class:`amaranth.lib.memory.Memory` the core used inline (``en`` resets to 1 like theirs);
the contents start at zero.
"""

from amaranth.hdl import Module, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["SatBuffer"]


class SatBuffer(wiring.Component):
    """``depth`` rows of ``width`` bits (see the module docstring)."""

    def __init__(self, depth, width, *, granularity=None, read_ports=1, transparent=False):
        if read_ports not in (1, 2):
            raise ValueError(f"read_ports must be 1 or 2, not {read_ports!r}")
        if granularity is not None and width % granularity:
            raise ValueError(f"granularity {granularity} does not divide width {width}")
        self.depth, self.width, self.granularity = depth, width, granularity
        self.read_ports, self.transparent = read_ports, transparent
        aw = max(1, (depth - 1).bit_length())
        members = {"w_addr": In(aw), "w_data": In(width),
                   "w_en": In(width // granularity if granularity else 1)}
        for p in "rs"[:read_ports]:
            members.update({f"{p}_addr": In(aw), f"{p}_en": In(1, init=1),
                            f"{p}_data": Out(width)})
        super().__init__(members)

    @property
    def module_name(self):
        return (f"sat_buffer_{self.depth}x{self.width}"
                + (f"_g{self.granularity}" if self.granularity else "")
                + ("_t" if self.transparent else "") + ("_r2" if self.read_ports == 2 else ""))

    @property
    def bits(self):
        return self.depth * self.width

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = Memory(shape=unsigned(self.width), depth=self.depth, init=[])
        wr = mem.write_port(granularity=self.granularity)
        m.d.comb += [wr.addr.eq(self.w_addr), wr.data.eq(self.w_data), wr.en.eq(self.w_en)]
        for index, p in enumerate("rs"[:self.read_ports]):
            rd = mem.read_port(transparent_for=(wr,) if self.transparent and index == 0 else ())
            m.d.comb += [rd.addr.eq(getattr(self, f"{p}_addr")),
                         rd.en.eq(getattr(self, f"{p}_en")),
                         getattr(self, f"{p}_data").eq(rd.data)]
        return m
