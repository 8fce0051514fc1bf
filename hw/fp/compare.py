"""Comparison, maximum/minimum and absolute value."""

from amaranth.hdl import Cat, Const, Mux

from .pipeline import Step
from .unit import FloatUnit, check_format
from .unpack import unpack

__all__ = ["FloatCompare", "FloatAbs"]


class FloatCompare(FloatUnit):
    """IEEE quiet comparison of ``a`` and ``b`` plus IEEE 754-2019 ``maximum``/``minimum``.

    Outputs ``less``, ``equal``, ``greater`` (all 0 when unordered), ``unordered`` (a NaN is
    present), ``max`` and ``min`` (canonical NaN if either is NaN; -0 < +0).

    With ``magnitude=True`` the comparison is of ``|a|`` and ``|b|`` and ``max``/``min``
    return the original operand of larger/smaller magnitude; on equal magnitudes ``max``
    is ``a`` and ``min`` is ``b`` (the lower index wins), as top-K sorting needs.
    """

    DEFAULT_LATENCY = 2

    def __init__(self, fmt="fp32", *, magnitude=False, latency=None, tag_width=0):
        self.fmt = check_format("fmt", fmt)
        if not isinstance(magnitude, bool):
            raise ValueError(f"magnitude must be a bool, not {magnitude!r}")
        self.magnitude = magnitude
        w = self.fmt.width
        super().__init__({"a": w, "b": w},
                         {"less": 1, "equal": 1, "greater": 1, "unordered": 1, "max": w, "min": w},
                         latency=latency, tag_width=tag_width)

    def steps(self):
        fmt, magnitude = self.fmt, self.magnitude

        def classify(m, v):
            ua, ub = unpack(m, fmt, v["a"], "a"), unpack(m, fmt, v["b"], "b")
            return {"a": v["a"], "b": v["b"], "nan": ua["is_nan"] | ub["is_nan"],
                    "both_zero": ua["is_zero"] & ub["is_zero"],
                    "mag_lt": ua["mag"] < ub["mag"], "mag_eq": ua["mag"] == ub["mag"]}

        def compare(m, v):
            a, b, nan = v["a"], v["b"], v["nan"]
            mag_lt, mag_eq = v["mag_lt"], v["mag_eq"]
            sa, sb, mag = a[fmt.width - 1], b[fmt.width - 1], a[:fmt.width - 1]
            canonical = Const(fmt.canonical_nan, fmt.width)
            if magnitude:
                lt, eq = mag_lt, mag_eq
                big, small = Mux(mag_lt, b, a), Mux(mag_lt, a, b)
            else:
                eq = v["both_zero"] | (a == b)
                lt = ~eq & Mux(sa != sb, sa, Mux(sa, ~mag_lt & ~mag_eq, mag_lt))
                # Equal values differ at most in the sign of zero: AND/OR the sign bits.
                tie_max, tie_min = Cat(mag, sa & sb), Cat(mag, sa | sb)
                big = Mux(eq, tie_max, Mux(lt, b, a))
                small = Mux(eq, tie_min, Mux(lt, a, b))
            return {
                "less": lt & ~nan, "equal": eq & ~nan, "greater": ~lt & ~eq & ~nan, "unordered": nan,
                "max": Mux(nan, canonical, big), "min": Mux(nan, canonical, small),
            }

        return [Step("classify", classify, 1.5), Step("compare", compare, 1.5)]


class FloatAbs(FloatUnit):
    """``result = |x|`` (sign cleared); a NaN becomes the canonical quiet NaN."""

    DEFAULT_LATENCY = 1

    def __init__(self, fmt="fp32", *, latency=None, tag_width=0):
        self.fmt = check_format("fmt", fmt)
        w = self.fmt.width
        super().__init__({"x": w}, {"result": w}, latency=latency, tag_width=tag_width)

    def steps(self):
        fmt = self.fmt

        def absolute(m, v):
            u = unpack(m, fmt, v["x"], "x")
            return {"result": Mux(u["is_nan"], fmt.canonical_nan, Cat(u["mag"], Const(0, 1)))}

        return [Step("abs", absolute, 0.5)]
