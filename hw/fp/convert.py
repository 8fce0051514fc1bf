"""Conversion between floating-point formats (exact widening, RNE narrowing)."""

from amaranth.hdl import Const

from .bits import as_signed_exp, signed_width
from .pipeline import Step
from .rounding import pad_sig, round_pack_steps
from .unit import FloatUnit, check_format
from .unpack import unpack

__all__ = ["FloatConvert", "convert_steps"]


def convert_steps(fmt_in, fmt_out, x="x", out="result"):
    offset = fmt_out.bias - fmt_in.bias
    exp_w = signed_width(1 + offset, fmt_in.exp_max_field + offset)

    def decode(m, v):
        u = unpack(m, fmt_in, v[x], "x")
        return {
            "sign": u["sign"],
            "exp": (as_signed_exp(u["exp"]) + offset)[:exp_w].as_signed(),
            "sig": pad_sig(fmt_out, u["sig"]), "sticky": Const(0, 1),
            "is_nan": u["is_nan"], "is_inf": u["is_inf"], "is_zero": u["is_zero"],
        }

    return [Step("decode", decode, 0.5), *round_pack_steps(fmt_out, exp_w, out)]


class FloatConvert(FloatUnit):
    """``result = x`` converted from ``in_fmt`` to ``out_fmt``: exact when widening; when
    narrowing, round to nearest even, overflow to inf, underflow to subnormal or zero.
    NaN becomes the canonical quiet NaN of ``out_fmt``.

    Ports: ``i.payload = {x[, tag]}``, ``o.payload = {result[, tag]}``.
    """

    DEFAULT_LATENCY = 8

    def __init__(self, in_fmt="fp16", out_fmt="fp32", *, latency=None, tag_width=0):
        self.in_fmt = check_format("in_fmt", in_fmt)
        self.out_fmt = check_format("out_fmt", out_fmt)
        super().__init__({"x": self.in_fmt.width}, {"result": self.out_fmt.width},
                         latency=latency, tag_width=tag_width)

    def steps(self):
        return convert_steps(self.in_fmt, self.out_fmt)
