"""L x L corner turn of the SAT core: the OSRE's backward (transposed) read of D.

The PRUNE command's backward mode reads ``L x L`` blocks of D rows and feeds the OSRE lanes
their columns (lane = row of the block), so that N:M groups run along the rows of the stored
weight (:class:`hw.sat.core.SatCore`).
"""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Transposer"]


class Transposer(wiring.Component):
    """``L x L`` corner turn: rows in on ``i``, columns out on ``o`` (``o[l] = block[l][s]``).

    A ``start`` pulse arms it for ``columns`` output columns: it takes ``ceil(columns / L)``
    blocks of ``L`` rows and emits ``L`` columns of each (fewer of the last). One register
    array serves both directions alternately: while a block stored as rows is read out by
    columns, the next block's row ``k`` is written into column ``k`` once that column has been
    read (and vice versa), so one row in and one column out per cycle is sustained.
    """

    def __init__(self, *, lanes, width, count_width):
        """``lanes`` = L, ``width`` bits per value, ``count_width`` bits of ``columns``."""
        self.lanes, self.width = lanes, width
        layout = data.ArrayLayout(width, lanes)
        super().__init__({"start": In(1), "columns": In(count_width),
                          "i": In(stream.Signature(layout)),
                          "o": Out(stream.Signature(layout))})

    def elaborate(self, platform):
        m = Module()
        n = self.lanes
        cell = [[Signal(self.width, name=f"cell{r}_{c}", reset_less=True) for c in range(n)]
                for r in range(n)]
        by_cols = Signal()                      # lines are columns (else rows)
        fill = Signal(range(n + 1))             # next line to write
        emit = Signal(range(n + 1))             # next line to read
        resident = Signal(range(n + 1))         # columns to emit of the stored block
        to_fill = Signal(len(self.columns))     # columns not yet stored

        m.d.comb += self.o.valid.eq(emit < resident)
        for lane in range(n):
            m.d.comb += self.o.payload[lane].eq(Mux(
                by_cols, Cat(*(cell[lane][c] for c in range(n))).word_select(emit, self.width),
                Cat(*(cell[r][lane] for r in range(n))).word_select(emit, self.width)))
        emitted = self.o.valid & self.o.ready
        free = (resident == 0) | (fill < emit) | ((fill == emit) & emitted)
        m.d.comb += self.i.ready.eq((to_fill != 0) & (fill < n) & free)
        written = self.i.valid & self.i.ready
        with m.If(written):
            for k in range(n):
                for y in range(n):
                    with m.If(by_cols & (fill == k)):
                        m.d.sync += cell[y][k].eq(self.i.payload[y])
                    with m.If(~by_cols & (fill == k)):
                        m.d.sync += cell[k][y].eq(self.i.payload[y])

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
