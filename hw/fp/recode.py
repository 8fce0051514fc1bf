"""Recoded floats: subnormals normalized once, so a datapath that takes them needs no
leading-zero count per operation.

A recoded ``fmt`` value is ``fmt.width + 1`` bits, ``{man, rexp, sign}`` (LSB first):
``rexp`` has ``exp_bits + 1`` bits; 0 encodes a zero, all ones an infinity (``man`` 0) or a
NaN (``man`` 1: the payload is dropped, so ``man[0]`` alone tells the two apart), anything
else the normal number ``1.man * 2**(rexp - rec_bias(fmt))``, subnormals of ``fmt`` included
(``rec_bias = bias + man_bits``: the smallest subnormal has ``rexp`` 1). With flush-to-zero
a subnormal recodes to the zero of its sign instead.
"""

from amaranth.hdl import Cat, Const, Mux

from .bits import leading_zeros, materialize

__all__ = ["rec_width", "rec_bias", "recodable", "recode", "rec_fields"]


def rec_width(fmt):
    return fmt.width + 1


def rec_bias(fmt):
    return fmt.bias + fmt.man_bits


def recodable(fmt):
    """True when every finite ``rexp`` (1 .. emax + rec_bias) stays below the all-ones code."""
    return fmt.emax + rec_bias(fmt) < (1 << (fmt.exp_bits + 1)) - 1


def recode(m, fmt, bits, ftz=False, name="rec"):
    """Recode packed ``fmt`` bits (a Value); returns the recoded Value."""
    bits = materialize(m, bits, f"{name}_bits")
    mb, eb = fmt.man_bits, fmt.exp_bits
    man, field, sign = bits[:mb], bits[mb:mb + eb], bits[-1]
    special = Const((1 << (eb + 1)) - 1, eb + 1)
    normal_exp = Mux(field == fmt.exp_max_field, special, field + mb)
    if ftz:
        rexp = Mux(field == 0, 0, normal_exp)
        rman = Mux(field == 0, 0, man)                             # a zero has man 0
    else:
        lz = leading_zeros(m, man, f"{name}_lz")                   # mb when man == 0
        # subnormal: leading 1 at bit mb-1-lz becomes the hidden bit; rexp = mb - lz
        rexp = Mux(field == 0, Mux(man == 0, 0, mb - lz), normal_exp)
        rman = Mux(field == 0, (man << (lz + 1))[:mb], man)
    # a NaN's payload is dropped: man 1 (an infinity keeps man 0), so one bit tells them apart
    rman = Mux((field == fmt.exp_max_field) & (man != 0), 1, rman)
    return materialize(m, Cat(rman, rexp[:eb + 1], sign), name)


def rec_fields(fmt, rec):
    """Fields of a recoded Value: ``sign``, ``rexp``, ``sig`` (hidden bit included, 0 for
    zeros), ``is_zero``, ``is_inf``, ``is_nan``."""
    mb, eb = fmt.man_bits, fmt.exp_bits
    man, rexp = rec[:mb], rec[mb:mb + eb + 1]
    special = rexp.all()
    return {"sign": rec[-1], "rexp": rexp, "sig": Cat(man, rexp.any()),
            "is_zero": ~rexp.any(), "is_inf": special & ~man[0],
            "is_nan": special & man[0]}
