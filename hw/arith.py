"""Integer arithmetic and selection written for what synthesis makes of them.

:func:`mux_tree` selects by a tree of 2:1 multiplexers on the index bits.

Yosys maps every ``$mul`` with operands of two bits or more to DSP slices (``synth_xilinx``:
DSP48E2; ``synth_ecp5``: MULT18X18D), and has no per-cell opt-out. The SAT core's command
checks and counters multiply command fields; written with ``*`` they took 8 DSP48E2 that
belong to the arithmetic. :func:`lut_product` writes such a product as a sum of shifted
partial products (adders on carry chains); :func:`bounded_product` narrows the operands
first where a range check bounds the product.
"""

from math import isqrt

from amaranth.hdl import Const, Mux, Value

__all__ = ["mux_tree", "lut_product", "bounded", "bounded_product"]


def mux_tree(items, index):
    """``items[index]`` as a tree of 2:1 multiplexers on the bits of ``index``, LSB first (a
    Value index into an array view becomes a wide shifter in Yosys: about 5x the LUTs for a
    bus of 8). ``items`` need not be a power of two long; an index past the end gives some
    item."""
    items, bit = [items[i] for i in range(len(items))], 0
    while len(items) > 1:
        items = [Mux(index[bit], items[i + 1], items[i]) if i + 1 < len(items) else items[i]
                 for i in range(0, len(items), 2)]
        bit += 1
    return items[0]


def lut_product(a, b):
    """``a * b`` of two unsigned values (or ints) as ``len(a) + len(b)`` bits: one partial
    product per bit of the narrower operand (per set bit of a constant), added as a tree."""
    if isinstance(a, int) and isinstance(b, int):
        return Const(a * b)
    if isinstance(a, int):
        a, b = b, a
    a = Value.cast(a)
    if isinstance(b, int):
        width = len(a) + max(1, b.bit_length())
        terms = [a << i for i in range(b.bit_length()) if b >> i & 1]
    else:
        b = Value.cast(b)
        if len(b) > len(a):
            a, b = b, a
        width = len(a) + len(b)
        terms = [Mux(b[i], a, 0) << i for i in range(len(b))]
    if not terms:
        return Const(0, width)
    while len(terms) > 1:
        pairs = [terms[i] + terms[i + 1] for i in range(0, len(terms) - 1, 2)]
        terms = pairs + terms[len(pairs) * 2:]
    return terms[0][:width]


def bounded(a, limit):
    """``(fits, low)``: whether ``a <= limit`` and the low bits of ``a`` that hold any value up
    to ``limit`` (``a`` itself where it is that narrow). Where a check needs ``a <= limit``
    anyway, the rest of it may use ``low`` (a narrower product)."""
    bits = max(1, int(limit).bit_length())
    a = Value.cast(a)
    if len(a) <= bits:
        return Const(1), a
    return a <= limit, a[:bits]


def bounded_product(a, b, limit):
    """``(fits, product)`` for a check ``a * b <= limit`` (unsigned): where ``fits``,
    ``product`` is ``a * b``; where not, ``a * b > limit``. Unless an operand is 0, the larger
    operand is at most ``limit`` and the smaller at most ``isqrt(limit)`` (or the product
    exceeds ``limit``), so the product has ``log2(limit) / 2`` partial products, not
    ``log2(limit)``."""
    a, b = Value.cast(a), Value.cast(b)
    swap = a < b
    big, small = Mux(swap, b, a), Mux(swap, a, b)
    big_fits, big_low = bounded(big, limit)
    small_fits, small_low = bounded(small, isqrt(limit))
    return (small == 0) | (big_fits & small_fits), lut_product(big_low, small_low)
