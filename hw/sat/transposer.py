"""L x L corner turn of the SAT core: the OSRE's backward (transposed) read of D.

The PRUNE command's backward mode reads ``L x L`` blocks of D rows and feeds the OSRE lanes
their columns (lane = row of the block), so that N:M groups run along the rows of the stored
weight (:class:`hw.sat.core.SatCore`).
"""

from amaranth.hdl import Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["Transposer"]


class Transposer(wiring.Component):
    """``L x L`` corner turn: rows in on ``i``, columns out on ``o`` (``o[l] = block[l][s]``).

    A ``start`` pulse arms it for ``columns`` output columns: it takes ``ceil(columns / L)``
    blocks of ``L`` rows and emits ``L`` columns of each (fewer of the last). One ``L x L``
    store serves both directions alternately: while a block stored as rows is read out by
    columns, the next block's row ``k`` is written into column ``k`` once that column has been
    read (and vice versa), so one row in and one column out per cycle is sustained.

    The store is ``L`` banks of ``L`` words (LUT RAM, asynchronous read), cell ``(r, c)`` in
    bank ``(r + c) mod L`` at address ``r``: a row and a column each touch every bank once,
    so a line is written and read in one cycle through two rotators (by the line number)
    instead of a multiplexer per cell.
    """

    def __init__(self, *, lanes, width, count_width):
        """``lanes`` = L, ``width`` bits per value, ``count_width`` bits of ``columns``."""
        self.lanes, self.width = lanes, width
        layout = data.ArrayLayout(width, lanes)
        super().__init__({"start": In(1), "columns": In(count_width),
                          "i": In(stream.Signature(layout)),
                          "o": Out(stream.Signature(layout))})

    def _mod(self, value):
        """``value mod L`` for ``0 <= value < 2 L``."""
        n = self.lanes
        return Mux(value >= n, value - n, value)[:max(1, (n - 1).bit_length())]

    def _rotate(self, words, amount):
        """``out[j] = words[(j + amount) mod L]`` (``amount < L``), one 2:1 level per bit."""
        n = self.lanes
        for bit in range(len(amount)):
            step = (1 << bit) % n
            words = [Mux(amount[bit], words[(j + step) % n], words[j]) for j in range(n)]
        return words

    def elaborate(self, platform):
        m = Module()
        n = self.lanes
        by_cols = Signal()                      # lines are columns (else rows)
        fill = Signal(range(n + 1))             # next line to write
        emit = Signal(range(n + 1))             # next line to read
        resident = Signal(range(n + 1))         # columns to emit of the stored block
        to_fill = Signal(len(self.columns))     # columns not yet stored

        m.d.comb += self.o.valid.eq(emit < resident)
        emitted = self.o.valid & self.o.ready
        free = (resident == 0) | (fill < emit) | ((fill == emit) & emitted)
        m.d.comb += self.i.ready.eq((to_fill != 0) & (fill < n) & free)
        written = self.i.valid & self.i.ready

        # line k, element y is cell (k, y) (rows) or (y, k) (columns): bank (k + y) mod L, at
        # address k (rows) or y = (bank - k) mod L (columns)
        aw = max(1, (n - 1).bit_length())
        line_w, line_r = fill[:aw], emit[:aw]
        wdata = self._rotate([self.i.payload[y] for y in range(n)],
                             self._mod(Const(n, aw + 1) - line_w))
        rdata = []
        for b in range(n):
            # depth >= 2: a one-word memory would have a zero-width address (L = 1)
            m.submodules[f"bank{b}"] = bank = Memory(shape=unsigned(self.width),
                                                     depth=max(n, 2), init=[])
            wr, rd = bank.write_port(), bank.read_port(domain="comb")
            m.d.comb += [wr.addr.eq(Mux(by_cols, self._mod(b + n - line_w), line_w)),
                         wr.data.eq(wdata[b]), wr.en.eq(written),
                         rd.addr.eq(Mux(by_cols, self._mod(b + n - line_r), line_r))]
            rdata.append(rd.data)
        out = self._rotate(rdata, line_r)
        m.d.comb += [self.o.payload[lane].eq(out[lane]) for lane in range(n)]

        emit_next, fill_next = emit + emitted, fill + written
        with m.If(self.start):
            m.d.sync += [by_cols.eq(0), fill.eq(0), emit.eq(0), resident.eq(0),
                         to_fill.eq(self.columns)]
        with m.Elif((emit_next >= resident) & ((fill_next == n) | (to_fill == 0))):
            m.d.sync += [fill.eq(0), emit.eq(0), resident.eq(0)]
            with m.If(fill_next == n):          # a block is complete: it becomes resident
                chunk = Mux(to_fill > n, n, to_fill)
                m.d.sync += [by_cols.eq(~by_cols), resident.eq(chunk),
                             to_fill.eq(to_fill - chunk)]
        with m.Else():
            m.d.sync += [emit.eq(emit_next), fill.eq(fill_next)]
        return m
