"""SparTANN sparsifier + CSC encoder: dense column elements in, sparse entries out.

Input ``i``: one element per transfer, :func:`dense_layout` (``value`` and
``last_in_column``), the rows of a column in ascending order, columns one after the other.
Each element is thresholded with ``theta`` (:func:`hw.spartann.threshold.drop_flag`) and the
kept ones are encoded as in docs/spartann/index.md (:func:`entry_layout`: ``value``, ``delta``,
``filler``, ``last``), bit for bit :func:`sim.spartann.csc.encode`. ``stats`` are the running
statistics of every element accepted (:func:`sim.spartann.csc.stats`), emptied by ``clear``.

Microarchitecture. A zero run is counted as ``pending`` whole fillers plus a remainder
``rem`` (``run = pending * 2**idx_bits + rem``), so no filler is made for trailing zeros.
When a kept element arrives with ``pending > 0`` the input stalls (``ready`` low) while the
fillers go out, one per cycle; then the element is taken with ``delta = rem``. Whether an
entry is the last of its column is only known at the column's end, so every entry waits in a
one-entry *hold* register: the next entry pushes it out (``last = 0``); the column's end marks
it *closed* and it leaves with ``last = 1`` in the next cycle (or when the next entry
arrives). A column without a kept element pushes one filler (``delta 0``, closed). The hold
register feeds the output register ``o``.

Throughput: one element per cycle, plus one cycle per filler that precedes a kept value (the
filler of an empty column is free). Latency: 2 cycles from a column's last element to its
last entry on ``o``. Without back-pressure a batch takes :meth:`SparsifierEncoder.cycles`.
"""

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

from ..params import FORMAT_HELP, Design, Param, _fmt
from ..fp.unit import check_format, check_int
from .threshold import accumulate_stats, drop_flag, finite_magnitude, stats_layout

__all__ = ["SparsifierEncoder", "dense_layout", "entry_layout", "check_idx_bits", "LATENCY",
           "MAX_IDX_BITS", "MAX_ROWS", "DESIGNS"]

#: Cycles from a column's last element accepted to its last entry valid (no back-pressure).
LATENCY = 2
#: Largest relative-index width accepted.
MAX_IDX_BITS = 16
#: Largest ``max_rows`` accepted.
MAX_ROWS = 1 << 24


def check_idx_bits(idx_bits):
    return check_int("idx_bits", idx_bits, 1, MAX_IDX_BITS)


def dense_layout(fmt):
    """One dense element: its ``value`` and whether it is the last row of its column."""
    return data.StructLayout({"value": fmt.width, "last_in_column": 1})


def entry_layout(fmt, idx_bits):
    """One CSC entry (docs/spartann/index.md): ``value``, ``delta``, ``filler``, ``last``."""
    return data.StructLayout({"value": fmt.width, "delta": idx_bits, "filler": 1, "last": 1})


class SparsifierEncoder(wiring.Component):
    """Threshold + CSC encoder for columns of at most ``max_rows`` elements.

    Ports: ``theta`` (``fmt`` bits, hold it stable during a column), ``i`` (stream of
    :func:`dense_layout`), ``o`` (stream of :func:`entry_layout`), ``clear`` and ``stats``
    (:func:`hw.spartann.threshold.stats_layout`, registered; ``clear`` empties them and the
    element accepted in the same cycle is counted into the fresh ones).
    """

    def __init__(self, fmt="fp32", idx_bits=6, max_rows=4096):
        self.fmt = check_format("fmt", fmt)
        self._idx_bits = check_idx_bits(idx_bits)
        self._max_rows = check_int("max_rows", max_rows, 1, MAX_ROWS)
        super().__init__({
            "theta": In(self.fmt.width),
            "i": In(stream.Signature(dense_layout(self.fmt))),
            "o": Out(stream.Signature(entry_layout(self.fmt, idx_bits))),
            "clear": In(1),
            "stats": Out(stats_layout(self.fmt)),
        })

    @property
    def idx_bits(self):
        return self._idx_bits

    @property
    def max_rows(self):
        return self._max_rows

    @property
    def max_delta(self):
        """``D = 2**idx_bits - 1``, the largest relative index."""
        return (1 << self._idx_bits) - 1

    @property
    def latency(self):
        """Cycles from a column's last element accepted to its last entry on ``o``."""
        return LATENCY

    @property
    def throughput(self):
        """Elements accepted per cycle while no filler is due."""
        return 1

    def cycles(self, elements, fillers):
        """Cycles from the first element accepted to the last entry taken, both included,
        for ``elements`` streamed back to back without back-pressure; ``fillers`` counts the
        fillers that precede a kept value (each stalls the input one cycle)."""
        return elements + fillers + LATENCY

    @property
    def port_doc(self):
        fmt = self.fmt.name
        return {
            "theta": f"threshold ({fmt} bits): |x| < theta is dropped (and +-0); hold stable",
            "i__valid": "a dense element is presented",
            "i__ready": "accepted; low while fillers go out or o is full",
            "i__payload": f"value ({fmt}) and last_in_column",
            "o__valid": "a CSC entry is presented",
            "o__ready": "the consumer takes the entry",
            "o__payload": f"value ({fmt}), delta ({self._idx_bits} bits), filler, last",
            "clear": "empty the statistics (the element accepted this cycle counts)",
            "stats": "elements, zeros (32-bit, saturating), max_abs (largest finite |x|)",
        }

    def elaborate(self, platform):
        m = Module()
        fmt, dmax = self.fmt, self.max_delta
        i, o = self.i, self.o
        entry = data.StructLayout({"value": fmt.width, "delta": self._idx_bits, "filler": 1})

        # Zero-run counters: the run since the last entry is pending * (D + 1) + rem.
        rem = Signal(self._idx_bits, name="rem")
        pending = Signal(bits_for(self._max_rows // (dmax + 1)), name="pending")
        # Hold register: the newest entry; ``closed`` once its column has ended.
        hold = Signal(entry, name="hold")
        hold_valid, closed = Signal(name="hold_valid"), Signal(name="closed")

        value, lic = i.payload.value, i.payload.last_in_column
        drop = drop_flag(m, fmt, value, self.theta, "drop")
        o_free = Signal(name="o_free")
        filling = Signal(name="filling")        # a kept element waits for its fillers
        accept = Signal(name="accept")
        m.d.comb += [
            o_free.eq(~o.valid | o.ready),
            filling.eq(i.valid & ~drop & (pending != 0)),
            i.ready.eq(o_free & ~filling),
            accept.eq(i.valid & i.ready),
        ]

        push = Signal(name="push")              # ``new`` enters the hold register
        new = Signal(entry, name="new")
        new_closed = Signal(name="new_closed")
        with m.If(filling & o_free):
            m.d.comb += [push.eq(1), new.delta.eq(dmax), new.filler.eq(1)]
            m.d.sync += pending.eq(pending - 1)
        with m.Elif(accept & ~drop):
            m.d.comb += [push.eq(1), new.value.eq(value), new.delta.eq(rem),
                         new_closed.eq(lic)]
            m.d.sync += rem.eq(0)
        with m.Elif(accept & lic):              # a dropped element ends the column
            m.d.sync += [rem.eq(0), pending.eq(0)]
            with m.If(hold_valid & ~closed):
                m.d.sync += closed.eq(1)
            with m.Else():                      # no entry yet: the empty-column filler
                m.d.comb += [push.eq(1), new.filler.eq(1), new_closed.eq(1)]
        with m.Elif(accept):                    # a dropped element inside the column
            m.d.sync += rem.eq(rem + 1)
            with m.If(rem == dmax):
                m.d.sync += pending.eq(pending + 1)

        with m.If(push):
            m.d.sync += [hold.eq(new), hold_valid.eq(1), closed.eq(new_closed),
                         o.valid.eq(hold_valid), o.payload.eq(Cat(hold, closed))]
        with m.Elif(hold_valid & closed & o_free):
            m.d.sync += [hold_valid.eq(0), closed.eq(0), o.valid.eq(1),
                         o.payload.eq(Cat(hold, Const(1, 1)))]
        with m.Elif(o.ready):
            m.d.sync += o.valid.eq(0)

        accumulate_stats(m, self.stats, self.clear, accept, 1, drop,
                         finite_magnitude(fmt, value))
        return m


#: Registry entries (to merge into :data:`hw.designs.DESIGNS`).
DESIGNS = {
    "spartann_encoder": Design(
        SparsifierEncoder, "SparTANN sparsifier + CSC encoder (relative index, fillers)",
        {"fmt": Param("fp32", _fmt, FORMAT_HELP),
         "idx_bits": Param(6, int, f"relative-index (delta) width, 1..{MAX_IDX_BITS}"),
         "max_rows": Param(4096, int, f"longest column (rows M), 1..{MAX_ROWS}")}),
}
