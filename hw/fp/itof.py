"""Unsigned integer to floating point, rounded to nearest even."""

from amaranth.hdl import Const

from ..params import FMT, Design, Param, unit_params
from .bits import signed_width
from .pipeline import Step
from .rounding import pad_sig, round_pack_steps
from .unit import FloatUnit, check_format, check_int

__all__ = ["IntToFloat", "itof_steps", "MAX_WIDTH", "DESIGNS"]

#: Widest integer accepted (the golden model ``sim.fp.golden.from_int`` takes 64 bits).
MAX_WIDTH = 64


def itof_steps(width, fmt, x="x", out="result"):
    """Steps converting the ``width``-bit unsigned integer ``x`` to ``fmt``: the integer is the
    significand, with its MSB at biased exponent ``bias + width - 1``; the common back end
    normalizes (never below the normal range: a non-zero integer is >= 1), rounds and
    overflows to +inf. Zero gives +0."""
    top = fmt.bias + width - 1
    exp_w = signed_width(-width, top + 1)

    def decode(m, v):
        return {"sign": Const(0, 1), "exp": Const(top, exp_w).as_signed(),
                "sig": pad_sig(fmt, v[x]), "sticky": Const(0, 1),
                "is_nan": Const(0, 1), "is_inf": Const(0, 1), "is_zero": Const(0, 1)}

    return [Step("decode", decode, 0.5), *round_pack_steps(fmt, exp_w, out)]


class IntToFloat(FloatUnit):
    """``result = x`` for an unsigned ``width``-bit integer ``x`` (1..64), rounded to nearest
    even in ``fmt`` (any format; a value too large for it becomes +inf). Exact when the
    integer fits the significand (``x < 2**(man_bits + 1)``, e.g. below 2**24 in FP32).

    Ports: ``i.payload = {x[, tag]}``, ``o.payload = {result[, tag]}``. Default latency:
    one register after every datapath step (8).
    """

    DEFAULT_LATENCY = 8

    def __init__(self, width=32, fmt="fp32", *, latency=None, tag_width=0):
        self.width = check_int("width", width, 1, MAX_WIDTH)
        self.fmt = check_format("fmt", fmt)
        super().__init__({"x": self.width}, {"result": self.fmt.width},
                         latency=latency, tag_width=tag_width)

    def steps(self):
        return itof_steps(self.width, self.fmt)


#: Registry entry (to merge into :data:`hw.designs.DESIGNS`).
DESIGNS = {
    "fp_itof": Design(IntToFloat, "unsigned integer to float, round to nearest even",
                      unit_params(width=Param(32, int, f"integer width, 1..{MAX_WIDTH}"),
                                  fmt=FMT)),
}
