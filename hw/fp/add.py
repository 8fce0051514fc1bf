"""Floating-point adder/subtractor (one format, round to nearest even)."""

from amaranth.hdl import Cat, Const, Mux, signed

from .bits import as_signed_exp, clamp, clear_low, shift_right_sticky
from .pipeline import Step
from .rounding import round_pack_steps
from .unit import FloatUnit, check_format
from .unpack import unpack

__all__ = ["FloatAdd", "add_steps"]

GUARD_BITS = 3


def swap_operands(v, exp_bits, keep=()):
    """The ``swap`` step of an adder: the larger-magnitude operand (``v["swap"]``: b) becomes
    ``big``, the exponent difference ``diff`` (``exp_bits`` wide); ``keep`` names values
    passed through unchanged."""
    sw = v["swap"]
    return {
        "sign": Mux(v["is_inf"], v["inf_sign"], Mux(sw, v["sign_b"], v["sign_a"])),
        "eff_sub": v["eff_sub"], "zero_sign": v["zero_sign"], **{k: v[k] for k in keep},
        "big_exp": Mux(sw, v["exp_b"], v["exp_a"]),
        "diff": Mux(sw, v["exp_b"] - v["exp_a"], v["exp_a"] - v["exp_b"])[:exp_bits],
        "big_sig": Mux(sw, v["sig_b"], v["sig_a"]),
        "small_sig": Mux(sw, v["sig_a"], v["sig_b"]),
        "is_nan": v["is_nan"], "is_inf": v["is_inf"],
    }


def add_steps(fmt, a="a", b="b", sub=None, *, classify=None, room=True, compact=False):
    """Datapath steps computing ``result = a + b`` (``a - b`` where value ``sub`` is 1).

    Order: classify and compare magnitudes; swap so ``|big| >= |small|``; align ``small``
    by the exponent difference, jamming shifted-out bits into a sticky LSB; add or
    subtract; then the rounding steps (no subnormal right shift: the sum's exponent is never
    below the larger operand's). An exact zero sum takes ``zero_sign``.

    ``classify`` (a :class:`Step`) replaces the first step, for operands that arrive
    already unpacked (the fused MAC's product): it returns ``swap, eff_sub, sign_a, sign_b,
    zero_sign, exp_a, exp_b, sig_a, sig_b, is_nan, is_inf, inf_sign`` as the default does.
    ``room``, ``compact``: see :func:`~hw.fp.rounding.round_pack_steps`.
    """
    sig_w = fmt.sig_bits + GUARD_BITS + 1          # hidden bit .. guard bits, sticky LSB
    exp_w = fmt.exp_bits + 3

    def classify_(m, v):
        ua, ub = unpack(m, fmt, v[a], "a"), unpack(m, fmt, v[b], "b")
        sign_b = ub["sign"] ^ v[sub] if sub else ub["sign"]
        eff_sub = ua["sign"] ^ sign_b
        return {
            "swap": ub["mag"] > ua["mag"], "eff_sub": eff_sub,
            "sign_a": ua["sign"], "sign_b": sign_b, "zero_sign": ua["sign"] & sign_b,
            "exp_a": ua["exp"], "exp_b": ub["exp"], "sig_a": ua["sig"], "sig_b": ub["sig"],
            "is_nan": ua["is_nan"] | ub["is_nan"] | (ua["is_inf"] & ub["is_inf"] & eff_sub),
            "is_inf": ua["is_inf"] | ub["is_inf"],
            "inf_sign": Mux(ua["is_inf"], ua["sign"], sign_b),
        }

    def swap(m, v):
        return swap_operands(v, fmt.exp_bits)

    def align_coarse(m, v):
        """Shift ``small`` right by the multiple-of-8 part of the difference (sticky kept)."""
        small = Cat(Const(0, GUARD_BITS), v["small_sig"])
        amount = clamp(v["diff"], len(small))
        shifted, sticky = shift_right_sticky(small, clear_low(amount, 3))
        out = {k: v[k] for k in v if k not in ("small_sig", "diff")}
        out.update(small=shifted, sticky=sticky, fine=amount[:3])
        return out

    def align_fine(m, v):
        shifted, sticky = shift_right_sticky(v["small"], v["fine"])
        out = {k: v[k] for k in v if k not in ("sticky", "fine")}
        out["small"] = Cat(sticky | v["sticky"], shifted)
        return out

    def add(m, v):
        big = Cat(Const(0, GUARD_BITS + 1), v["big_sig"])
        total = Mux(v["eff_sub"], big - v["small"], big + v["small"])[:sig_w + 1]
        return {
            "sign": v["sign"], "zero_sign": v["zero_sign"],
            "exp": as_signed_exp(v["big_exp"] + 1),
            "sig": total, "sticky": Const(0, 1),
            "is_nan": v["is_nan"], "is_inf": v["is_inf"], "is_zero": Const(0, 1),
        }

    first = classify or Step("classify", classify_, 2.0)
    return [first, Step("swap", swap, 1.5),
            Step("align_coarse", align_coarse, 1.5), Step("align_fine", align_fine, 1.5),
            Step("add", add, 2.0),
            *round_pack_steps(fmt, exp_w, underflow=False, room=room, compact=compact)]


class FloatAdd(FloatUnit):
    """``result = a + b`` or ``a - b`` (input ``sub``), rounded to nearest even.

    Ports: ``i.payload = {a, b, sub[, tag]}``, ``o.payload = {result[, tag]}``.
    """

    DEFAULT_LATENCY = 12

    def __init__(self, fmt="fp32", *, latency=None, tag_width=0):
        self.fmt = check_format("fmt", fmt)
        w = self.fmt.width
        super().__init__({"a": w, "b": w, "sub": 1}, {"result": w},
                         latency=latency, tag_width=tag_width)

    def steps(self):
        return add_steps(self.fmt, sub="sub")
