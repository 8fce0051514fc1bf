"""SparTANN relative-index decoder: CSC entries in, entries with absolute rows out.

Each entry's row is ``row = prev + delta + 1`` (one adder), ``prev = -1`` at the start of a
column and after an entry with ``last = 1`` (docs/spartann/index.md); fillers occupy their row
like any entry. Rows are ``row_bits`` wide (they wrap beyond ``2**row_bits - 1``).
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..params import FORMAT_HELP, Design, Param, _fmt
from ..timing import Pipelined
from ..fp.unit import check_format, check_int
from .encoder import MAX_IDX_BITS, check_idx_bits, entry_layout

__all__ = ["IndexDecoder", "decoded_layout", "MAX_ROW_BITS", "DESIGNS"]

#: Largest ``row_bits`` accepted.
MAX_ROW_BITS = 32


def decoded_layout(fmt, row_bits):
    """A decoded entry: ``value``, absolute ``row``, ``filler``, ``last``."""
    return data.StructLayout({"value": fmt.width, "row": row_bits, "filler": 1, "last": 1})


class IndexDecoder(Pipelined, wiring.Component):
    """Stream ``i`` of :func:`~hw.spartann.encoder.entry_layout` to stream ``o`` of
    :func:`decoded_layout`, one entry per cycle.

    ``latency = 1``: ``o`` is a register (``i.ready = ~o.valid | o.ready``); ``latency = 0``:
    combinational (``o.valid = i.valid``, ``i.ready = o.ready``).
    """

    def __init__(self, fmt="fp32", idx_bits=6, row_bits=12, *, latency=1):
        self.fmt = check_format("fmt", fmt)
        self._idx_bits = check_idx_bits(idx_bits)
        self._row_bits = check_int("row_bits", row_bits, 1, MAX_ROW_BITS)
        self._latency = check_int("latency", latency, 0, 1)
        super().__init__({
            "i": In(stream.Signature(entry_layout(self.fmt, idx_bits))),
            "o": Out(stream.Signature(decoded_layout(self.fmt, row_bits))),
        })

    @property
    def idx_bits(self):
        return self._idx_bits

    @property
    def row_bits(self):
        return self._row_bits


    @property
    def port_doc(self):
        return {
            "i__valid": "a CSC entry is presented", "i__ready": "the entry is accepted",
            "i__payload": f"value ({self.fmt.name}), delta ({self._idx_bits} bits), filler, last",
            "o__valid": f"a decoded entry ({self._latency} cycles after its input)",
            "o__ready": "the consumer takes the entry",
            "o__payload": f"value, row ({self._row_bits} bits), filler, last",
        }

    def elaborate(self, platform):
        m = Module()
        i, o = self.i, self.o
        prev = Signal(self._row_bits, init=(1 << self._row_bits) - 1, name="prev")
        row = Signal(self._row_bits, name="row")
        decoded = Signal(decoded_layout(self.fmt, self._row_bits), name="decoded")
        accept = Signal(name="accept")
        m.d.comb += [
            row.eq(prev + i.payload.delta + 1),
            decoded.value.eq(i.payload.value), decoded.row.eq(row),
            decoded.filler.eq(i.payload.filler), decoded.last.eq(i.payload.last),
            accept.eq(i.valid & i.ready),
        ]
        with m.If(accept):
            m.d.sync += prev.eq(decoded.row)
            with m.If(i.payload.last):
                m.d.sync += prev.eq(prev.init)
        if self._latency == 0:
            m.d.comb += [o.valid.eq(i.valid), o.payload.eq(decoded), i.ready.eq(o.ready)]
        else:
            m.d.comb += i.ready.eq(~o.valid | o.ready)
            with m.If(accept):
                m.d.sync += [o.valid.eq(1), o.payload.eq(decoded)]
            with m.Elif(o.ready):
                m.d.sync += o.valid.eq(0)
        return m


#: Registry entries (to merge into :data:`hw.designs.DESIGNS`).
DESIGNS = {
    "spartann_decoder": Design(
        IndexDecoder, "SparTANN relative-index decoder: row = prev + delta + 1",
        {"fmt": Param("fp32", _fmt, FORMAT_HELP),
         "idx_bits": Param(6, int, f"relative-index (delta) width, 1..{MAX_IDX_BITS}"),
         "row_bits": Param(12, int, f"absolute row width, 1..{MAX_ROW_BITS}"),
         "latency": Param(1, int, "0 (combinational) or 1 (registered output)")}),
}
