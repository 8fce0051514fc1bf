"""Unfused multiply-add ``a * b + c``: the MAC and the ``alpha * x + y`` lane."""

from .add import add_steps
from .mul import mul_steps
from .pipeline import carry
from .unit import FloatUnit, check_dsp, check_format, dsp_stages

__all__ = ["FloatMulAdd"]


class FloatMulAdd(FloatUnit):
    """``result = round(round(a * b) + c)``: the product is rounded to ``c_fmt`` first,
    then added to ``c`` (unfused). With FP16 operands and an FP32 ``c`` the product is
    exact, so this is the mixed-precision MAC of SAT; with one format it is SparTANN's
    ``alpha * x + y`` lane.

    Ports: ``i.payload = {a, b, c[, tag]}``, ``o.payload = {result[, tag]}``.
    ``dsp="ecp5"``: the significand products in instantiated ECP5 ``MULT18X18D`` cells with
    their registers (:func:`~hw.fp.mul.mul_steps`); default latency one more (24).
    """

    DEFAULT_LATENCY = 23

    def __init__(self, ab_fmt="fp16", c_fmt="fp32", *, latency=None, tag_width=0, dsp=None):
        self.ab_fmt = check_format("ab_fmt", ab_fmt)
        self.c_fmt = check_format("c_fmt", c_fmt)
        self.dsp = check_dsp(dsp)
        super().__init__({"a": self.ab_fmt.width, "b": self.ab_fmt.width, "c": self.c_fmt.width},
                         {"result": self.c_fmt.width}, latency=latency, tag_width=tag_width)

    @property
    def product_is_exact(self):
        """True when every product of two ``ab_fmt`` values is representable in ``c_fmt``."""
        ab, c = self.ab_fmt, self.c_fmt
        min_product_exp = 2 * (ab.emin - ab.man_bits)
        return (2 * ab.sig_bits <= c.sig_bits and min_product_exp >= c.emin - c.man_bits
                and 2 * (ab.emax + 1) <= c.emax)

    def steps(self):
        product = carry(mul_steps(self.ab_fmt, self.ab_fmt, self.c_fmt, out="product",
                                  dsp=self.dsp, stages=dsp_stages(self.dsp, self.latency)),
                        ["c"])
        return product + add_steps(self.c_fmt, a="product", b="c")
