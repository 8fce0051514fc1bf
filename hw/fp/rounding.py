"""Normalize, round to nearest even and pack: the common back end of every FP unit.

Units hand over an exact (or sticky-jammed) intermediate ``sig * 2**(exp - bias - (W-1))``
where ``sig`` is ``W`` bits wide and ``exp`` is a signed, *biased* exponent of ``sig``'s MSB
in the output format, plus class flags. Two pipeline steps follow:

* ``normalize``: leading-zero count, then one left shift -- or, when the result is below
  the normal range, a right shift with sticky so it lands on the subnormal grid.
* ``round``: round-to-nearest-even on the kept ``man_bits + 1`` bits, carry into the
  exponent, overflow to infinity, and the special cases (canonical NaN, inf, signed zero).
"""

from amaranth.hdl import Cat, Const, Mux, Signal, signed, unsigned

from .bits import clamp, leading_zeros, shift_right_sticky
from .pipeline import Step

__all__ = ["round_pack_steps", "pad_sig"]


def pad_sig(fmt, sig):
    """Append zero LSBs so ``sig`` has at least ``fmt.man_bits + 3`` bits (kept + guard + 1)."""
    need = fmt.man_bits + 3 - len(sig)
    return Cat(Const(0, need), sig) if need > 0 else sig


def round_pack_steps(fmt, exp_width, out="result"):
    """Steps consuming ``sign, exp, sig, sticky, is_nan, is_inf, is_zero`` and producing
    ``out`` (default ``result``). ``exp_width`` is the signed width that holds every ``exp`` the unit makes."""
    exp_shape = signed(exp_width + 2)

    def normalize(m, v):
        sig = v["sig"]
        width = len(sig)
        exp = v["exp"].as_signed()
        lz = leading_zeros(m, sig)
        room = Signal(exp_shape)                    # left shift allowed before subnormal
        m.d.comb += room.eq(exp - 1)
        go_left = room >= lz
        left_amount = Mux(go_left, lz, clamp(room.as_unsigned(), width))
        right_amount = clamp((-room).as_unsigned(), width + 1)
        right_sig, right_sticky = shift_right_sticky(sig, right_amount)
        underflow = room < 0
        new_sig = Mux(underflow, right_sig, (sig << left_amount)[:width])
        new_exp = Mux(underflow, 1, exp - Mux(underflow, 0, left_amount))
        out = {k: v[k] for k in ("sign", "is_nan", "is_inf")}
        out.update(sig=new_sig, exp=new_exp.as_signed(),
                   sticky=v["sticky"] | (underflow & right_sticky),
                   is_zero=v["is_zero"] | ((sig == 0) & ~v["sticky"]))
        return out

    def round_(m, v):
        sig, width = v["sig"], len(v["sig"])
        kept = sig[width - fmt.sig_bits:]
        guard = sig[width - fmt.sig_bits - 1]
        rest = sig[:width - fmt.sig_bits - 1].any() | v["sticky"]
        rounded = kept + (guard & (rest | kept[0]))
        magnitude = Signal(signed(exp_width + fmt.man_bits + 4))
        m.d.comb += magnitude.eq(((v["exp"] - 1) << fmt.man_bits) + rounded)
        overflow = magnitude >= fmt.inf
        sign = v["sign"]
        result = Signal(unsigned(fmt.width))
        with m.If(v["is_nan"]):
            m.d.comb += result.eq(fmt.canonical_nan)
        with m.Elif(v["is_inf"] | overflow):
            m.d.comb += result.eq(Cat(Const(fmt.inf, fmt.width - 1), sign))
        with m.Elif(v["is_zero"]):
            m.d.comb += result.eq(Cat(Const(0, fmt.width - 1), sign))
        with m.Else():
            m.d.comb += result.eq(Cat(magnitude[:fmt.width - 1], sign))
        return {out: result}

    return [Step("normalize", normalize, 2.0), Step("round", round_, 1.5)]
