"""Floating-point multiplier with independent operand and result formats."""

from amaranth.hdl import Cat, Const

from .bits import as_signed_exp, signed_width
from .pipeline import Step, delay
from .rounding import pad_sig, round_pack_steps
from .unit import FloatUnit, check_format, check_dsp, dsp_stages
from .unpack import unpack

__all__ = ["FloatMul", "mul_steps", "DSP_BITS"]

#: Widest significand multiplied as one product (an 18x18 hard multiplier).
DSP_BITS = 18


def mul_steps(fmt_a, fmt_b, fmt_out, a="a", b="b", out="result", *, dsp=None, stages=0):
    """Steps computing the exact product ``a * b`` rounded once to ``fmt_out``.

    ``dsp="ecp5"``: every significand product is an instantiated ECP5 ``MULT18X18D``
    (:func:`hw.fp.dsp_ecp5.ecp5_mult`) holding ``stages`` (0..3) of the pipeline's
    registers; ``None``: ``*`` operators, mapped by the synthesis tool."""
    offset = fmt_out.bias + 1 - fmt_a.bias - fmt_b.bias
    exp_lo, exp_hi = 2 + offset, fmt_a.exp_max_field + fmt_b.exp_max_field + offset
    exp_w = signed_width(exp_lo, exp_hi)

    def decode(m, v):
        ua, ub = unpack(m, fmt_a, v[a], "a"), unpack(m, fmt_b, v[b], "b")
        invalid = (ua["is_inf"] & ub["is_zero"]) | (ua["is_zero"] & ub["is_inf"])
        return {
            "sign": ua["sign"] ^ ub["sign"],
            "exp": (as_signed_exp(ua["exp"]) + as_signed_exp(ub["exp"]) + offset)[:exp_w].as_signed(),
            "sig_a": ua["sig"], "sig_b": ub["sig"],
            "is_nan": ua["is_nan"] | ub["is_nan"] | invalid,
            "is_inf": ua["is_inf"] | ub["is_inf"],
            "is_zero": ua["is_zero"] | ub["is_zero"],
        }

    keep = ("sign", "exp", "is_nan", "is_inf", "is_zero")
    half_a, half_b = (fmt_a.sig_bits + 1) // 2, (fmt_b.sig_bits + 1) // 2
    sig_w = fmt_a.sig_bits + fmt_b.sig_bits
    # Significands that fit one hard multiplier (ECP5 MULT18X18D, Xilinx DSP48E2 27x18) form
    # one product. Wider ones (FP32: 24 bits): inferred (``dsp=None``), two products of the
    # whole ``a`` and half of ``b`` (24 x 12: one DSP48E2 each; Yosys splits each into two
    # MULT18X18D on ECP5); instantiated (``dsp="ecp5"``), four half-width partial products, one
    # MULT18X18D each. The steps and their weights are the same in every case.
    single = max(fmt_a.sig_bits, fmt_b.sig_bits) <= DSP_BITS

    def partial(m, v):
        a, b = v["sig_a"], v["sig_b"]
        out_v = {k: v[k] for k in keep}
        if single:
            out_v["sig_ab"] = a * b
        else:
            out_v.update(lo=a * b[:half_b], hi=a * b[half_b:])
        return out_v

    def decode_dsp(m, v):
        """The significands for the cells' input registers; the operands go on raw."""
        sig = lambda fmt, x: Cat(x[:fmt.man_bits], x[fmt.man_bits:fmt.width - 1].any())
        return {"sig_a": sig(fmt_a, v[a]), "sig_b": sig(fmt_b, v[b]),
                "raw_a": v[a], "raw_b": v[b]}

    def partial_dsp(m, v, enable=None):
        """:func:`partial` with one MULT18X18D per product, ``stages`` registers inside;
        alongside, behind the cells' input and pipeline stages, the operands are unpacked,
        then the exponents summed (the work of ``decode``, two register stages deep)."""
        from .dsp_ecp5 import ecp5_mult
        first, second = min(1, stages), min(1, max(0, stages - 1))
        ua, ub = (unpack(m, fmt, delay(m, v[f"raw_{k}"], first, enable, f"partial_raw_{k}_d"),
                         f"partial_{k}") for k, fmt in (("a", fmt_a), ("b", fmt_b)))
        fields = {"sign": ua["sign"] ^ ub["sign"],
                  "exp_a": ua["exp"], "exp_b": ub["exp"],
                  "is_nan": ua["is_nan"] | ub["is_nan"]
                  | (ua["is_inf"] & ub["is_zero"]) | (ua["is_zero"] & ub["is_inf"]),
                  "is_inf": ua["is_inf"] | ub["is_inf"],
                  "is_zero": ua["is_zero"] | ub["is_zero"]}
        f = {k: delay(m, x, second, enable, f"partial_{k}_d") for k, x in fields.items()}
        decoded = {k: f[k] for k in keep if k != "exp"}
        decoded["exp"] = (as_signed_exp(f["exp_a"]) + as_signed_exp(f["exp_b"])
                          + offset)[:exp_w].as_signed()
        out_v = {k: delay(m, decoded[k], stages - first - second, enable, f"partial_{k}_d2")
                 for k in keep}
        a_sig, b_sig = v["sig_a"], v["sig_b"]
        pairs = ({"sig_ab": (a_sig, b_sig)} if single else
                 {"ll": (a_sig[:half_a], b_sig[:half_b]), "lh": (a_sig[:half_a], b_sig[half_b:]),
                  "hl": (a_sig[half_a:], b_sig[:half_b]), "hh": (a_sig[half_a:], b_sig[half_b:])})
        out_v.update({k: ecp5_mult(m, x, y, stages, f"dsp_{k}", enable)
                      for k, (x, y) in pairs.items()})
        return out_v

    def combine(m, v):
        out_v = {k: v[k] for k in keep}
        if single:
            out_v["sig_ab"] = v["sig_ab"]
        elif dsp is None:                       # two products: summed in the next step
            out_v.update(lo=v["lo"], hi=v["hi"])
        else:
            out_v.update(lo=v["ll"] + (v["lh"] << half_b), hi=v["hl"] + (v["hh"] << half_b))
        return out_v

    def accumulate(m, v):
        out_v = {k: v[k] for k in keep}
        shift = half_b if dsp is None else half_a
        product = v["sig_ab"] if single else v["lo"] + (v["hi"] << shift)
        out_v["sig"] = pad_sig(fmt_out, product[:sig_w])
        out_v["sticky"] = Const(0, 1)
        return out_v

    product = (Step("partial", partial_dsp, 3.0, stages) if dsp is not None
               else Step("partial", partial, 3.0))
    first = Step("decode", decode_dsp if dsp is not None else decode, 1.5)
    return [first, product,
            Step("combine", combine, 1.5), Step("accumulate", accumulate, 1.5), *round_pack_steps(fmt_out, exp_w, out)]


class FloatMul(FloatUnit):
    """``result = a * b`` rounded to nearest even in ``out_fmt`` (default: ``fmt``).

    ``b_fmt`` and ``out_fmt`` default to ``fmt``. Ports: ``i.payload = {a, b[, tag]}``,
    ``o.payload = {result[, tag]}``. ``dsp="ecp5"``: the significand products in
    instantiated ECP5 ``MULT18X18D`` cells with their registers (:func:`mul_steps`); default
    latency one more (12).
    """

    DEFAULT_LATENCY = 11

    def __init__(self, fmt="fp32", *, b_fmt=None, out_fmt=None, latency=None, tag_width=0,
                 dsp=None):
        self.fmt = check_format("fmt", fmt)
        self.b_fmt = check_format("b_fmt", b_fmt) if b_fmt is not None else self.fmt
        self.out_fmt = check_format("out_fmt", out_fmt) if out_fmt is not None else self.fmt
        self.dsp = check_dsp(dsp)
        super().__init__({"a": self.fmt.width, "b": self.b_fmt.width},
                         {"result": self.out_fmt.width}, latency=latency, tag_width=tag_width)

    def steps(self):
        return mul_steps(self.fmt, self.b_fmt, self.out_fmt, dsp=self.dsp,
                         stages=dsp_stages(self.dsp, self.latency))
