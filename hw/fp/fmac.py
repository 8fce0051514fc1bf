"""Fused mixed-precision MAC ``result = round(a * b + c)``: the exact product of two
``ab_fmt`` operands goes unrounded into the ``c_fmt`` adder (one alignment, one
normalization, one rounding). For FP16 x FP16 + FP32 the product is exact in FP32, so the
results equal the unfused ``round(round(a * b) + c)`` bit for bit.

Datapath (see docs/fp/fmac.md): ``recode`` (subnormal operands normalized,
:mod:`hw.fp.recode`) -> ``multiply`` (significand product, one hard multiplier; exponent sum;
special cases) -> ``product`` (one-bit normalization: the product of two normalized
significands is in [1, 4)) -> the adder's steps with ``classify`` replaced by one that takes
the unpacked product as is (:func:`hw.fp.add.add_steps`).
"""

from amaranth.hdl import Cat, Const, Mux

from ..params import check_format
from .add import swap_operands
from .bits import as_signed_exp, leading_zeros, materialize
from .pipeline import Step, carry, delay
from .recode import rec_bias, rec_fields, recodable, recode
from .unit import FloatUnit
from .unpack import unpack

__all__ = ["FloatFusedMAC", "fused_supported", "check_fused", "product_steps",
           "accumulate_steps"]


def fused_supported(ab, c):
    """Formats the fused datapath handles: the product significand fits ``c``'s, every
    nonzero product is a normal ``c`` number, and no nonzero result is subnormal (the
    smallest nonzero ``|a*b + c|`` is at least the smallest product times
    ``2**-(c.man_bits + 1)``). FP16 x FP16 + FP32 and e4m3 x e4m3 + BF16 qualify;
    BF16 x BF16 + FP32 does not (its products under- and overflow FP32)."""
    low = 2 * (ab.emin - ab.man_bits)
    return (recodable(ab) and 2 * ab.sig_bits <= c.sig_bits and 2 * (ab.emax + 1) <= c.emax
            and low - c.man_bits - 1 >= c.emin)


def check_fused(ab, c):
    if not fused_supported(ab, c):
        raise ValueError(f"the fused MAC does not support ab_fmt={ab.name} with c_fmt={c.name} "
                         "(needs a product that fits c_fmt's significand and normal range, "
                         "e.g. fp16 x fp16 + fp32)")


def product_steps(ab, c, a="a", b="b", *, ftz=False, recoded=False, dsp=None, stages=0,
                  name="p"):
    """Steps from ``a``, ``b`` (packed ``ab``, or recoded when ``recoded``) to the unpacked
    product ``p_sign, p_exp`` (biased ``c`` exponent of its leading bit, 0 for a zero
    product), ``p_sig`` (``c.sig_bits`` wide, leading bit set unless zero), ``p_nan``,
    ``p_inf``.

    ``dsp="ecp5"``: the significand product is an instantiated ECP5 ``MULT18X18D``
    (:func:`hw.fp.dsp_ecp5.ecp5_mult`) holding ``stages`` (0..3) of the pipeline's registers;
    ``name`` prefixes its instance (unique per datapath in one module)."""
    width = 2 * ab.sig_bits
    # leading-bit exponent of the significand product: rexp_a + rexp_b + offset (+1 if the
    # product is >= 2): product bit (width-1) weighs 2**(ra + rb - 2 rec_bias + 1)
    offset = c.bias - 2 * rec_bias(ab)

    def recode_(m, v):
        return {"ra": recode(m, ab, v[a], ftz, "ra"), "rb": recode(m, ab, v[b], ftz, "rb")}

    def multiply(m, v, enable=None):
        ra, rb = v["ra"], v["rb"]
        if dsp is not None:
            from .dsp_ecp5 import ecp5_mult
            sig = lambda r: rec_fields(ab, r)["sig"]
            p_wide = ecp5_mult(m, sig(ra), sig(rb), stages, f"{name}_dsp", enable)
            # the operands travel beside the multiplier; their classes are decoded after it
            ra, rb = (delay(m, r, stages, enable, f"{name}_{k}_d") for k, r in (("ra", ra),
                                                                                  ("rb", rb)))
        fa, fb = rec_fields(ab, ra), rec_fields(ab, rb)
        out = {
            "p_sign": fa["sign"] ^ fb["sign"],
            "p_base": fa["rexp"] + fb["rexp"] + offset,
            "p_zero": fa["is_zero"] | fb["is_zero"],
            "p_nan": fa["is_nan"] | fb["is_nan"] | (fa["is_inf"] & fb["is_zero"])
            | (fa["is_zero"] & fb["is_inf"]),
            "p_inf": fa["is_inf"] | fb["is_inf"],
        }
        return {**out, "p_wide": fa["sig"] * fb["sig"] if dsp is None else p_wide}

    def product(m, v):
        wide = v["p_wide"][:width]
        top = wide[-1]
        sig = Mux(top, wide, wide << 1)[:width]
        exp = Mux(v["p_zero"], 0, v["p_base"] + top)[:c.exp_bits]
        return {"p_sign": v["p_sign"], "p_exp": exp,
                "p_sig": Cat(Const(0, c.sig_bits - width), sig),
                "p_nan": v["p_nan"], "p_inf": v["p_inf"]}

    ka, kb = (a, b) if recoded else ("ra", "rb")
    if dsp is None:
        mul_step = Step("multiply", lambda m, v: multiply(m, {"ra": v[ka], "rb": v[kb]}), 3.0)
    else:
        mul_step = Step("multiply",
                        lambda m, v, en: multiply(m, {"ra": v[ka], "rb": v[kb]}, en), 3.0, stages)
    if recoded:
        return [mul_step, Step("product", product, 1.0)]
    return [Step("recode", recode_, 2.0), mul_step,
            Step("product", product, 1.0)]


def accumulate_steps(c, c_key="c", *, ftz=False):
    """Steps adding the unpacked product (:func:`product_steps`) to ``c_key`` (packed ``c``),
    rounding once: ``result``. An accumulate-oriented FP adder (the layout of
    :func:`hw.fp.add.add_steps`, cut down to what the fused MAC needs):

    - ``classify``: unpack ``c`` only; ``|p| > |c|`` decides the swap;
    - ``swap``, ``align_coarse``, ``align_fine``: the smaller operand shifted right by the
      exponent difference, 3 guard bits and a sticky LSB;
    - ``add``: one adder (the subtrahend inverted, carry in), not an adder and a subtractor;
    - ``lzc``, ``shift_coarse``, ``shift_fine``: one normalization. Its shift needs no limit
      against the subnormal range: a nonzero product makes every nonzero result normal
      (:func:`fused_supported`), and with a zero product the result is ``c`` itself, whose
      significand sits exactly one place below the sum's carry bit (shift 1);
    - ``guard``, ``round``: round to nearest even as one increment of ``{exp, man}``, the
      special results (NaN, infinities, overflow, zeros) forced into the incrementer's input.

    With ``ftz`` a subnormal ``c`` counts as a zero of its sign.
    """
    guard_bits = 3
    sig_w = c.sig_bits + guard_bits + 1          # hidden bit .. guard bits, sticky LSB
    flags = ("sign", "is_nan", "is_inf")

    def classify(m, v):
        uc = unpack(m, c, v[c_key], "c")
        sig_c = uc["sig"]
        if ftz:
            sig_c = materialize(m, Mux(uc["sig"][-1], sig_c, 0), "c_sig_ftz")
        p_mag = Cat(v["p_sig"][:c.man_bits], v["p_exp"])
        return {
            "swap": p_mag > uc["mag"], "eff_sub": uc["sign"] ^ v["p_sign"],
            "sign_a": uc["sign"], "sign_b": v["p_sign"],
            "zero_sign": uc["sign"] & v["p_sign"],
            "exp_a": uc["exp"], "exp_b": v["p_exp"], "sig_a": sig_c, "sig_b": v["p_sig"],
            "is_nan": uc["is_nan"] | v["p_nan"] | (uc["is_inf"] & v["p_inf"]
                                                   & (uc["sign"] ^ v["p_sign"])),
            "is_inf": uc["is_inf"] | v["p_inf"],
            "inf_sign": Mux(uc["is_inf"], uc["sign"], v["p_sign"]),
            "p_zero": v["p_exp"] == 0,
        }

    def swap(m, v):
        """The swap; also ``low16``, the OR of the bits the 16s level of the alignment can
        shift out, taken from each operand before the swap (two small ORs and a 2:1
        multiplexer, not an OR of 16 multiplexed bits)."""
        out = swap_operands(v, c.exp_bits, keep=("p_zero",))
        low = 16 - guard_bits
        out["low16"] = Mux(v["swap"], v["sig_a"][:low].any(), v["sig_b"][:low].any())
        return out

    def align_coarse(m, v):
        """Shift ``small`` right by the exponent difference (saturated at 31: every bit out),
        16s and 4s here, 1s next, with the OR of the bits shifted out (sticky). The 16s come
        first so that their 16-bit OR runs on this step's input, beside the 4s level, not
        behind it: the reverse order (1s, 4s, then 16s next to the adder) saved 2 xcup LUTs
        in the SAT PE and cost it a third of its ECP5 clock (112 vs 157 MHz at 4 + 8 stages
        with ``dsp="ecp5"``, docs/fp/fmac.md)."""
        small = Cat(Const(0, guard_bits), v["small_sig"])
        diff = v["diff"]
        amount = diff[:5] | diff[5:].any().replicate(5)
        small, _ = _shift_level(small, amount[4:5], 16, right=True)
        sticky16 = amount[4] & v["low16"]
        small, sticky4 = _shift_level(small, amount[2:4], 4, right=True)
        out = {k: v[k] for k in v if k not in ("small_sig", "diff", "low16")}
        out.update(small=small, sticky=sticky16 | sticky4, fine=amount[:2])
        return out

    def align_fine(m, v):
        shifted, sticky = _shift_level(v["small"], v["fine"], 1, right=True)
        out = {k: v[k] for k in v if k not in ("sticky", "fine")}
        out["small"] = Cat(sticky | v["sticky"], shifted)
        return out

    def add(m, v):
        sub = v["eff_sub"]
        big = Cat(Const(0, guard_bits + 1), v["big_sig"], Const(0, 1))
        small = Cat(v["small"], Const(0, 1)) ^ sub.replicate(sig_w + 1)
        total = (big + small + sub)[:sig_w + 1]     # big - small = big + ~small + 1
        return {"sign": v["sign"], "zero_sign": v["zero_sign"], "p_zero": v["p_zero"],
                "exp": v["big_exp"] + 1, "sig": total,
                "is_nan": v["is_nan"], "is_inf": v["is_inf"]}

    def lzc(m, v):
        sig = v["sig"]
        lz = leading_zeros(m, sig)
        exact_zero = lz == len(sig)           # the count saturates at the width
        return {"sign": Mux(exact_zero & ~v["is_inf"], v["zero_sign"], v["sign"]),
                "is_nan": v["is_nan"], "is_inf": v["is_inf"], "is_zero": exact_zero,
                "sig": sig, "exp": v["exp"],
                "left": lz if ftz else Mux(v["p_zero"], 1, lz)}

    def shift_coarse(m, v):
        """Normalizing left shift by ``left`` (0 .. width): 1s and 4s here, 16s next.

        The four bits below the round bit (3 guard bits, sticky) only feed ``rest``, their
        OR after the shift: taken here from the low bits and ``left``. The shifter skips
        the two lowest bits: a shift of 3 or more means the big operand lost at least
        two leading places, which only a subtraction of operands at most one place apart
        can do, and then nothing is below bit 2."""
        sig, left = v["sig"], v["left"]
        low = sig[:4]
        rest = ((low[0] & (left <= 3)) | (low[1] & (left <= 2)) | (low[2] & (left <= 1))
                | (low[3] & (left == 0)))
        sig = Cat(Const(0, 2), sig[2:])
        sig, _ = _shift_level(sig, left[:2], 1, right=False)
        sig, _ = _shift_level(sig, left[2:4], 4, right=False)
        out = {k: v[k] for k in flags + ("is_zero",)}
        out.update(sig=sig, rest=rest, exp=(as_signed_exp(v["exp"]) - left).as_signed())
        if len(left) > 4:                     # no 16s level for narrow formats (e.g. bf16)
            out["fine"] = left[4:]
        return out

    def shift_fine(m, v):
        sig = v["sig"]
        if "fine" in v:
            sig, _ = _shift_level(sig, v["fine"], 16, right=False)
        out = {k: v[k] for k in flags + ("is_zero",)}
        out.update(sig=sig, rest=v["rest"], exp=v["exp"], over=v["exp"] >= c.exp_max_field)
        return out

    def guard(m, v):
        """Increment decision; ``{exp, man}`` before rounding (exponent field 0 for a
        subnormal significand, whose ``exp`` is 1); the special results forced in."""
        sig, width = v["sig"], len(v["sig"])
        kept = sig[width - c.sig_bits:]
        rest = v["rest"]
        hidden = kept[c.man_bits]
        special = v["is_nan"] | v["is_inf"] | v["over"] | v["is_zero"]
        forced = Mux(v["is_nan"], c.canonical_nan, Mux(v["is_zero"], 0, c.inf))
        packed = Cat(kept[:c.man_bits], v["exp"][:c.exp_bits] & hidden.replicate(c.exp_bits))
        sign = Mux(v["is_nan"], c.canonical_nan >> (c.width - 1), v["sign"])
        return {"sign": sign,
                "inc": sig[width - c.sig_bits - 1] & (rest | kept[0]) & ~special,
                "packed": Mux(special, forced, packed)[:c.width - 1]}

    def round_(m, v):
        return {"result": Cat((v["packed"] + v["inc"])[:c.width - 1], v["sign"])}

    return [Step("classify", classify, 2.0), Step("swap", swap, 1.5),
            Step("align_coarse", align_coarse, 1.5), Step("align_fine", align_fine, 1.5),
            Step("add", add, 2.0), Step("lzc", lzc, 2.0),
            Step("shift_coarse", shift_coarse, 1.5), Step("shift_fine", shift_fine, 1.5),
            Step("guard", guard, 1.5), Step("round", round_, 1.5)]


def _shift_level(x, sel, step, *, right):
    """``x`` shifted by ``step * sel`` (``sel`` a Value of one or two bits: a 2:1 or 4:1
    multiplexer per bit, one LUT6), right or left, width kept; for a right shift also the
    OR of the bits shifted out."""
    width = len(x)
    options = [(x >> (step * j) if right else x << (step * j))[:width]
               for j in range(1 << len(sel))]
    while len(options) > 1:                   # a tree on sel's bits, LSB first
        bit = sel[(len(sel) - 1) - (len(options).bit_length() - 2)]
        options = [Mux(bit, options[i + 1], options[i]) for i in range(0, len(options), 2)]
    if not right:
        return options[0], Const(0, 1)
    # sticky: group j (bits step*(j-1) .. step*j - 1) is shifted out when sel >= j
    sticky = Const(0, 1)
    for j in range(1, 1 << len(sel)):
        group = x[step * (j - 1):min(step * j, width)]
        if len(group):
            sticky = sticky | ((sel >= j) & group.any())
    return options[0], sticky


class FloatFusedMAC(FloatUnit):
    """``result = round(a * b + c)``, one rounding (see the module docstring).

    ``ftz`` (default False): subnormal ``a``, ``b`` and ``c`` count as zeros of their sign
    (no subnormal result can occur with the supported formats). Ports: ``i.payload =
    {a, b, c[, tag]}``, ``o.payload = {result[, tag]}``.
    """

    DEFAULT_LATENCY = 14

    def __init__(self, ab_fmt="fp16", c_fmt="fp32", *, ftz=False, latency=None, tag_width=0):
        self.ab_fmt = check_format("ab_fmt", ab_fmt)
        self.c_fmt = check_format("c_fmt", c_fmt)
        check_fused(self.ab_fmt, self.c_fmt)
        if not isinstance(ftz, bool):
            raise ValueError(f"ftz must be a bool, not {ftz!r}")
        self.ftz = ftz
        super().__init__({"a": self.ab_fmt.width, "b": self.ab_fmt.width, "c": self.c_fmt.width},
                         {"result": self.c_fmt.width}, latency=latency, tag_width=tag_width)

    def steps(self):
        product = carry(product_steps(self.ab_fmt, self.c_fmt, ftz=self.ftz), ["c"])
        return product + accumulate_steps(self.c_fmt, ftz=self.ftz)
