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

from .bits import clamp, clear_low, leading_zeros, shift_right_sticky
from .pipeline import Step

__all__ = ["round_pack_steps", "pad_sig"]


def pad_sig(fmt, sig):
    """Append zero LSBs so ``sig`` has at least ``fmt.man_bits + 3`` bits (kept + guard + 1)."""
    need = fmt.man_bits + 3 - len(sig)
    return Cat(Const(0, need), sig) if need > 0 else sig


def round_pack_steps(fmt, exp_width, out="result", *, underflow=True, room=True,
                     compact=False):
    """Steps consuming ``sign, exp, sig, sticky, is_nan, is_inf, is_zero`` (and optionally
    ``zero_sign``, the sign of an exact zero result) and producing
    ``out`` (default ``result``). ``exp_width`` is the signed width that holds every ``exp``
    the unit makes. Steps: ``lzc``, ``plan``, ``shift_coarse``, ``shift_fine``, ``guard``, ``round``,
    ``pack``.

    ``underflow=False``: the unit never hands over an ``exp`` below 1 (adders: the exponent of
    the larger operand), so the right shift onto the subnormal grid is left out.
    ``room=False`` (implies no underflow): no result is ever subnormal (the fused MAC of
    formats where that is proven, with flush-to-zero inputs), so the normalizing shift is the
    leading-zero count itself and the ``plan`` step is left out."""
    exp_shape = signed(exp_width + 2)
    flags = ("sign", "is_nan", "is_inf")
    underflow = underflow and room

    def lzc(m, v):
        sig = v["sig"]
        out = {k: v[k] for k in flags + ("sig", "exp", "sticky")}
        exact_zero = (sig == 0) & ~v["sticky"]
        if "zero_sign" in v:                        # sign of an exact zero (adders)
            out["sign"] = Mux(exact_zero & ~v["is_inf"], v["zero_sign"], v["sign"])
        out.update(lz=leading_zeros(m, sig), is_zero=v["is_zero"] | exact_zero)
        if not room_:
            out["left"] = out.pop("lz")
            return out
        room = Signal(exp_shape)                    # left shift allowed before subnormal
        m.d.comb += room.eq(v["exp"].as_signed() - 1)
        out["room"] = room
        if underflow:
            deficit = Signal(exp_shape)             # right shift needed when room < 0
            m.d.comb += deficit.eq(1 - v["exp"].as_signed())
            out.update(underflow=room < 0, right=clamp(deficit.as_unsigned(), len(sig) + 1))
        return out

    def plan(m, v):
        """Shift amounts: left by the leading zeros, unless that would go below the normal
        range; then right by the deficit instead."""
        width, room, lz = len(v["sig"]), v["room"], v["lz"]
        keep = ("sig", "exp", "sticky", "is_zero") + (("underflow", "right") if underflow else ())
        out = {k: v[k] for k in flags + keep}
        out["left"] = Mux(room >= lz, lz, clamp(room.as_unsigned(), width))
        return out

    def shift_coarse(m, v):
        """Normalizing shift, multiple-of-4 part (left, or right onto the subnormal grid)."""
        sig, width = v["sig"], len(v["sig"])
        left_sig = (sig << clear_low(v["left"], 2))[:width]
        left_exp = (v["exp"].as_signed() - v["left"]).as_signed()
        out = {k: v[k] for k in flags + ("is_zero",)}
        if not underflow:
            out.update(sig=left_sig, exp=left_exp, sticky=v["sticky"], fine=v["left"][:2])
            return out
        underflow_ = v["underflow"]
        right_sig, right_sticky = shift_right_sticky(sig, clear_low(v["right"], 2))
        out.update(underflow=underflow_, sig=Mux(underflow_, right_sig, left_sig),
                   exp=Mux(underflow_, 1, left_exp).as_signed(),
                   sticky=v["sticky"] | (underflow_ & right_sticky),
                   fine=Mux(underflow_, v["right"][:2], v["left"][:2]))
        return out

    def shift_fine(m, v):
        sig, width = v["sig"], len(v["sig"])
        out = {k: v[k] for k in flags + ("is_zero",)}
        if underflow:
            right_sig, right_sticky = shift_right_sticky(sig, v["fine"])
            out.update(sig=Mux(v["underflow"], right_sig, (sig << v["fine"])[:width]),
                       sticky=v["sticky"] | (v["underflow"] & right_sticky))
        else:
            out.update(sig=(sig << v["fine"])[:width], sticky=v["sticky"])
        if compact:
            out.update(exp=v["exp"], over=v["exp"].as_signed() >= fmt.exp_max_field)
            return out
        # The result's exponent field is exp - 1 + hidden bit + rounding carry: precompute
        # the three candidates and their overflow flags here, off the rounding path.
        for j in range(3):
            field = Signal(exp_shape, name=f"exp_field{j}")
            m.d.comb += field.eq(v["exp"].as_signed() - 1 + j)
            out[f"exp{j}"] = field[:fmt.exp_bits]
            out[f"over{j}"] = v["exp"].as_signed() >= fmt.exp_max_field + 1 - j
        return out

    def guard(m, v):
        """Round-to-nearest-even increment and whether it carries out of the significand."""
        sig, width = v["sig"], len(v["sig"])
        kept = sig[width - fmt.sig_bits:]
        guard_bit = sig[width - fmt.sig_bits - 1]
        rest = sig[:width - fmt.sig_bits - 1].any() | v["sticky"]
        inc = guard_bit & (rest | kept[0])
        out = {k: v[k] for k in flags + ("is_zero", "exp0", "exp1", "exp2",
                                         "over0", "over1", "over2")}
        out.update(man=kept[:fmt.man_bits], hidden=kept[fmt.man_bits], inc=inc,
                   carry=inc & kept[:fmt.man_bits].all())   # mantissa overflows
        return out

    def round_(m, v):
        """Select the exponent field ``exp - 1 + hidden + carry``: the carry out of the
        mantissa moves a subnormal to the smallest normal, or a normal up one binade."""
        pick = Signal(2)
        m.d.comb += pick.eq(v["hidden"] + v["carry"])
        out = {k: v[k] for k in flags + ("is_zero", "inc", "man")}
        out.update(exp_field=Mux(pick == 2, v["exp2"], Mux(pick == 1, v["exp1"], v["exp0"])),
                   overflow=Mux(pick == 2, v["over2"], Mux(pick == 1, v["over1"], v["over0"])))
        return out

    def pack(m, v):
        sign = v["sign"]
        man = (v["man"] + v["inc"])[:fmt.man_bits]
        result = Signal(unsigned(fmt.width))
        # A Mux chain, not If/Elif: a flag that is constant 0 (itof's is_nan) would make
        # Yosys emit an overlapping casez, which Verilator -Wall flags (CASEOVERLAP).
        m.d.comb += result.eq(Mux(v["is_nan"], fmt.canonical_nan,
                                  Mux(v["is_inf"] | v["overflow"],
                                      Cat(Const(fmt.inf, fmt.width - 1), sign),
                                      Mux(v["is_zero"], Cat(Const(0, fmt.width - 1), sign),
                                          Cat(man, v["exp_field"], sign)))))
        return {out: result}

    def guard_compact(m, v):
        """Increment decision and the exponent field before rounding: ``exp`` for a normal
        significand, 0 for a subnormal one (its ``exp`` is 1)."""
        sig, width = v["sig"], len(v["sig"])
        kept = sig[width - fmt.sig_bits:]
        rest = sig[:width - fmt.sig_bits - 1].any() | v["sticky"]
        hidden = kept[fmt.man_bits]
        out = {k: v[k] for k in flags + ("is_zero", "over")}
        out.update(inc=sig[width - fmt.sig_bits - 1] & (rest | kept[0]),
                   packed=Cat(kept[:fmt.man_bits], v["exp"][:fmt.exp_bits] & hidden.replicate(
                       fmt.exp_bits)))
        return out

    def round_compact(m, v):
        out = {k: v[k] for k in flags + ("is_zero", "over")}
        out["packed"] = (v["packed"] + v["inc"])[:fmt.width - 1]
        return out

    def pack_compact(m, v):
        sign = v["sign"]
        result = Signal(unsigned(fmt.width))
        m.d.comb += result.eq(Mux(v["is_nan"], fmt.canonical_nan,
                                  Mux(v["is_inf"] | v["over"],
                                      Cat(Const(fmt.inf, fmt.width - 1), sign),
                                      Mux(v["is_zero"], Cat(Const(0, fmt.width - 1), sign),
                                          Cat(v["packed"], sign)))))
        return {out: result}

    room_ = room
    plan_step = [Step("plan", plan, 1.5)] if room else []
    if compact:
        if underflow:
            raise ValueError("compact rounding needs underflow=False")
        return [Step("lzc", lzc, 2.0), *plan_step, Step("shift_coarse", shift_coarse, 1.5),
                Step("shift_fine", shift_fine, 1.5), Step("guard", guard_compact, 1.5),
                Step("round", round_compact, 1.5), Step("pack", pack_compact, 1.0)]
    return [Step("lzc", lzc, 2.0), *plan_step, Step("shift_coarse", shift_coarse, 1.5),
            Step("shift_fine", shift_fine, 1.5), Step("guard", guard, 1.5),
            Step("round", round_, 0.5), Step("pack", pack, 1.5)]
