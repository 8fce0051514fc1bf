"""Floating-point divider: restoring division, one quotient bit per step, pipelined."""

from amaranth.hdl import Cat, Const, Mux

from .bits import as_signed_exp, leading_zeros, signed_width
from .pipeline import Step
from .rounding import round_pack_steps
from .unit import FloatUnit, check_format
from .unpack import unpack

__all__ = ["FloatDiv", "div_steps"]


def div_steps(fmt, a="a", b="b"):
    """Steps for ``a / b``: normalize both significands to [1, 2), produce ``Q = man_bits
    + 4`` quotient bits by restoring division (remainder != 0 is the sticky bit), round."""
    sig_w = fmt.sig_bits
    quotient_bits = fmt.man_bits + 4
    exp_w = signed_width(1 - fmt.exp_max_field - sig_w + fmt.bias,
                         fmt.exp_max_field + sig_w + fmt.bias)

    def decode(m, v):
        ua, ub = unpack(m, fmt, v[a], "a"), unpack(m, fmt, v[b], "b")
        return {
            "sign": ua["sign"] ^ ub["sign"], "exp_a": ua["exp"], "exp_b": ub["exp"],
            "sig_a": ua["sig"], "sig_b": ub["sig"],
            "is_nan": (ua["is_nan"] | ub["is_nan"] | (ua["is_zero"] & ub["is_zero"])
                       | (ua["is_inf"] & ub["is_inf"])),
            "is_inf": ua["is_inf"] | ub["is_zero"], "is_zero": ua["is_zero"] | ub["is_inf"],
        }

    def count(m, v):
        """Leading zeros of subnormal significands and the quotient's exponent."""
        out = {k: v[k] for k in ("sign", "sig_a", "sig_b", "is_nan", "is_inf", "is_zero")}
        out.update(exp_diff=as_signed_exp(v["exp_a"]) - as_signed_exp(v["exp_b"]) + fmt.bias,
                   lz_a=leading_zeros(m, v["sig_a"], "lz_a"),
                   lz_b=leading_zeros(m, v["sig_b"], "lz_b"))
        return out

    def normalize(m, v):
        """Shift subnormal significands up so both lie in [1, 2)."""
        out = {k: v[k] for k in ("sign", "is_nan", "is_inf", "is_zero")}
        out.update(exp=(v["exp_diff"] - v["lz_a"] + v["lz_b"])[:exp_w].as_signed(),
                   rem=(v["sig_a"] << v["lz_a"])[:sig_w],
                   divisor=(v["sig_b"] << v["lz_b"])[:sig_w])
        return out

    def make_bit(index):
        def bit(m, v):
            rem = v["rem"] if index == 0 else Cat(Const(0, 1), v["rem"])   # 2 * rem
            diff = rem - v["divisor"]
            take = ~diff[-1]                                          # rem >= divisor
            out = dict(v)
            out["rem"] = Mux(take, diff, rem)[:sig_w + 1]
            out["quotient"] = take if index == 0 else Cat(take, v["quotient"])
            return out
        return Step(f"qbit{index}", bit, 1.0)

    def finish(m, v):
        out = {k: v[k] for k in ("sign", "exp", "is_nan", "is_inf", "is_zero")}
        out.update(sig=v["quotient"], sticky=v["rem"].any())
        return out

    return [Step("decode", decode, 1.5), Step("count", count, 2.0),
            Step("normalize", normalize, 1.5),
            *[make_bit(i) for i in range(quotient_bits)],
            Step("sticky", finish, 0.5), *round_pack_steps(fmt, exp_w)]


class FloatDiv(FloatUnit):
    """``result = a / b`` correctly rounded (nearest even). Fully pipelined: one division
    per cycle; the ``man_bits + 4`` quotient-bit steps are spread over ``latency`` stages
    (default: one register after every step, ``man_bits + 15``: 38 for FP32, 25 for FP16).

    Ports: ``i.payload = {a, b[, tag]}``, ``o.payload = {result[, tag]}``.
    """


    def __init__(self, fmt="fp32", *, latency=None, tag_width=0):
        self.fmt = check_format("fmt", fmt)
        w = self.fmt.width
        if latency is None:
            latency = len(div_steps(self.fmt))
        super().__init__({"a": w, "b": w}, {"result": w}, latency=latency, tag_width=tag_width)

    def steps(self):
        return div_steps(self.fmt)
