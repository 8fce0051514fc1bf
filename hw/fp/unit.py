"""Base class of the pipelined floating-point units.

Every unit takes one operation per cycle on an always-ready input stream ``i`` and
emits its result ``latency`` cycles later on output stream ``o`` (``valid`` travels with
the data; the optional user ``tag`` travels unchanged). ``latency`` is a constructor
parameter; 0 gives a purely combinational unit (``clk``/``rst`` are then unused ports,
kept so that every latency has the same interface).
"""

from amaranth.hdl import Cat, ClockSignal, Module, ResetSignal, Signal, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..params import DSP_KINDS, check_dsp, check_format, check_int
from ..timing import Pipelined
from .pipeline import build_pipeline, place_registers

__all__ = ["FloatUnit", "check_int", "check_format", "check_dsp", "dsp_stages", "DSP_KINDS"]

MAX_LATENCY = 64
MAX_TAG_WIDTH = 64
def dsp_stages(dsp, latency):
    """Register stages a hard multiplier holds in a unit of ``latency`` stages: up to its
    three (inputs, pipeline, output), leaving at least one fabric register at the output."""
    return 0 if dsp is None else max(0, min(3, latency - 1))


class FloatUnit(Pipelined, wiring.Component):
    """Subclasses set ``self._in_fields`` / ``self._out_fields`` (name -> width) before
    calling ``super().__init__`` and implement :meth:`steps`."""

    #: Default latency of the unit (overridden per class).
    DEFAULT_LATENCY = 1
    #: Added to the default latency with a hard multiplier (``dsp``): its pipeline register.
    DSP_EXTRA_LATENCY = 1

    def __init__(self, in_fields, out_fields, *, latency=None, tag_width=0):
        if latency is None:
            latency = self.DEFAULT_LATENCY + (self.DSP_EXTRA_LATENCY
                                              if getattr(self, "dsp", None) else 0)
        self._latency = check_int("latency", latency, 0, MAX_LATENCY)
        self._tag_width = check_int("tag_width", tag_width, 0, MAX_TAG_WIDTH)
        tag = {"tag": tag_width} if tag_width else {}
        self._in_fields = dict(in_fields)
        self._out_fields = dict(out_fields)
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({**in_fields, **tag}), always_ready=True)),
            "o": Out(stream.Signature(data.StructLayout({**out_fields, **tag}), always_ready=True)),
        })

    # -- properties queried by tests, drivers and the manifest (latency, throughput: Pipelined)
    @property
    def tag_width(self):
        return self._tag_width

    @property
    def in_fields(self):
        return dict(self._in_fields)

    @property
    def out_fields(self):
        return dict(self._out_fields)

    @property
    def register_placement(self):
        """Per datapath step: (name, register stages after it)."""
        steps = self.steps()
        counts = place_registers([s.weight for s in steps], self.latency,
                                 [s.stages for s in steps])
        return [(s.name, c) for s, c in zip(steps, counts)]

    def steps(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def elaborate(self, platform):
        m = Module()
        values = {name: Value.cast(getattr(self.i.payload, name)) for name in self._in_fields}
        tag = {"tag": Value.cast(self.i.payload.tag)} if self._tag_width else {}
        values, valid, tag = build_pipeline(m, self.steps(), values, self.i.valid,
                                            self._latency, tag)
        m.d.comb += self.o.valid.eq(valid)
        if self._latency == 0:
            # Keep clk/rst ports so every latency has the same interface (unused here).
            m.d.comb += Signal(2, name="unused_clk_rst").eq(Cat(ClockSignal(), ResetSignal()))
        for name in self._out_fields:
            m.d.comb += getattr(self.o.payload, name).eq(values[name])
        if self._tag_width:
            m.d.comb += self.o.payload.tag.eq(tag["tag"])
        return m


def _port_doc(self):
    fields_in = ", ".join(self._in_fields)
    fields_out = ", ".join(self._out_fields)
    tag = " and the user tag" if self._tag_width else ""
    return {
        "i__valid": "an operation is presented this cycle (always accepted)",
        "i__payload": f"operands {fields_in}{tag} (see fields)",
        "o__valid": f"a result is presented this cycle ({self._latency} cycles after its input)",
        "o__payload": f"results {fields_out}{tag} (see fields)",
    }


FloatUnit.port_doc = property(_port_doc)
