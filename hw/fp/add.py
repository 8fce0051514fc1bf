"""Floating-point adder/subtractor (one format, round to nearest even)."""

from amaranth.hdl import Cat, Const, Mux, signed

from .bits import as_signed_exp, clamp, shift_right_sticky
from .pipeline import Step
from .rounding import round_pack_steps
from .unit import FloatUnit, check_format
from .unpack import unpack

__all__ = ["FloatAdd", "add_steps"]

GUARD_BITS = 3


def add_steps(fmt, a="a", b="b", sub=None):
    """Datapath steps computing ``result = a + b`` (``a - b`` where value ``sub`` is 1).

    Order: swap so ``|big| >= |small|``; align ``small`` by the exponent difference,
    jamming shifted-out bits into a sticky LSB; add or subtract; normalize; round.
    """
    sig_w = fmt.sig_bits + GUARD_BITS + 1          # hidden bit .. guard bits, sticky LSB
    exp_w = fmt.exp_bits + 3

    def compare(m, v):
        ua, ub = unpack(m, fmt, v[a], "a"), unpack(m, fmt, v[b], "b")
        sign_b = ub["sign"] ^ v[sub] if sub else ub["sign"]
        swap = ub["mag"] > ua["mag"]
        big_sign = Mux(swap, sign_b, ua["sign"])
        eff_sub = ua["sign"] ^ sign_b
        return {
            "big_sign": big_sign, "eff_sub": eff_sub,
            "zero_sign": ua["sign"] & sign_b,
            "big_exp": Mux(swap, ub["exp"], ua["exp"]),
            "diff": Mux(swap, ub["exp"] - ua["exp"], ua["exp"] - ub["exp"])[:fmt.exp_bits],
            "big_sig": Mux(swap, ub["sig"], ua["sig"]),
            "small_sig": Mux(swap, ua["sig"], ub["sig"]),
            "is_nan": ua["is_nan"] | ub["is_nan"] | (ua["is_inf"] & ub["is_inf"] & eff_sub),
            "is_inf": ua["is_inf"] | ub["is_inf"],
            "inf_sign": Mux(ua["is_inf"], ua["sign"], sign_b),
        }

    def align(m, v):
        small = Cat(Const(0, GUARD_BITS), v["small_sig"])
        shifted, sticky = shift_right_sticky(small, clamp(v["diff"], len(small)))
        out = {k: v[k] for k in v if k not in ("small_sig", "diff")}
        out["small"] = Cat(sticky, shifted)
        return out

    def add(m, v):
        big = Cat(Const(0, GUARD_BITS + 1), v["big_sig"])
        total = Mux(v["eff_sub"], big - v["small"], big + v["small"])[:sig_w + 1]
        exact_zero = total == 0
        return {
            "sign": Mux(v["is_inf"], v["inf_sign"], Mux(exact_zero, v["zero_sign"], v["big_sign"])),
            "exp": as_signed_exp(v["big_exp"] + 1),
            "sig": total, "sticky": Const(0, 1),
            "is_nan": v["is_nan"], "is_inf": v["is_inf"], "is_zero": exact_zero,
        }

    return [Step("compare", compare, 1.5), Step("align", align, 1.5), Step("add", add, 1.5),
            *round_pack_steps(fmt, exp_w)]


class FloatAdd(FloatUnit):
    """``result = a + b`` or ``a - b`` (input ``sub``), rounded to nearest even.

    Ports: ``i.payload = {a, b, sub[, tag]}``, ``o.payload = {result[, tag]}``.
    """

    DEFAULT_LATENCY = 4

    def __init__(self, fmt="fp32", *, latency=None, tag_width=0):
        self.fmt = check_format("fmt", fmt)
        w = self.fmt.width
        super().__init__({"a": w, "b": w, "sub": 1}, {"result": w},
                         latency=latency, tag_width=tag_width)

    def steps(self):
        return add_steps(self.fmt, sub="sub")
