"""hw/arith.py: products in LUTs, exhaustively over small operands (Amaranth simulator)."""

import pytest
from amaranth.hdl import Elaboratable, Module, Signal
from amaranth.sim import Simulator

from hw.arith import bounded_product, lut_product, mux_tree


class _Products(Elaboratable):
    def __init__(self, limit, constant):
        self.limit, self.constant = limit, constant
        self.a, self.b = Signal(5), Signal(4)
        self.product, self.scaled, self.bounded = Signal(9), Signal(10), Signal(9)
        self.fits = Signal()

    def elaborate(self, platform):
        m = Module()
        fits, bounded = bounded_product(self.a, self.b, self.limit)
        m.d.comb += [self.product.eq(lut_product(self.a, self.b)),
                     self.scaled.eq(lut_product(self.constant, self.a)),
                     self.fits.eq(fits), self.bounded.eq(bounded)]
        return m


@pytest.mark.parametrize("limit,constant", [(0, 0), (1, 1), (5, 3), (16, 6), (31, 7),
                                            (100, 12)])
def test_products_exhaustive(limit, constant):
    """Every 5-bit x 4-bit pair: ``lut_product`` is the product, a constant factor too, and
    ``bounded_product`` either fits (and is the product) or the product exceeds ``limit``."""
    dut = _Products(limit, constant)

    async def bench(ctx):
        for a in range(32):
            for b in range(16):
                ctx.set(dut.a, a)
                ctx.set(dut.b, b)
                await ctx.delay(1e-9)
                assert ctx.get(dut.product) == a * b
                assert ctx.get(dut.scaled) == constant * a
                if ctx.get(dut.fits):
                    assert ctx.get(dut.bounded) == a * b, (a, b)
                else:
                    assert a * b > limit, (a, b)

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("count", [1, 2, 5, 8, 11])
def test_mux_tree_selects(count):
    """``mux_tree`` over ``count`` items (powers of two or not) returns item ``index``."""
    index, out = Signal(4), Signal(8)
    m = Module()
    m.d.comb += out.eq(mux_tree([17 * i + 3 for i in range(count)], index))

    async def bench(ctx):
        for i in range(count):
            ctx.set(index, i)
            await ctx.delay(1e-9)
            assert ctx.get(out) == 17 * i + 3

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
