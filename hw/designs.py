"""Registry of the designs the generator knows, with their parameters and defaults.

Used by the command line (``python -m hw``), ``make verilog`` and the test-suite.
"""

from .fp.add import FloatAdd
from .fp.compare import FloatAbs, FloatCompare
from .fp.convert import FloatConvert
from .fp.div import FloatDiv
from .fp.mul import FloatMul
from .fp.muladd import FloatMulAdd
from .fp.fmac import FloatFusedMAC
from .sat import DESIGNS as SAT_DESIGNS
from .spartann import core as spartann_core, decoder, dts, encoder, threshold
from .fp import itof
from .params import FMT, Design, Param, _bool, _fmt, unit_params

#: ``dsp`` of the multiplier-based units: hard multipliers by instantiation (hw/fp/dsp_*.py).
DSP = Param("none", str, "hard multiplier instantiated with its registers: none (inferred "
                         "from *) or ecp5 (MULT18X18D)")

__all__ = ["Param", "Design", "DESIGNS", "build", "design_name"]

DESIGNS = {
    "fp_add": Design(FloatAdd, "a + b or a - b (input sub), round to nearest even",
                     unit_params(fmt=FMT)),
    "fp_mul": Design(FloatMul, "a * b rounded once to out_fmt (default: fmt)",
                     unit_params(fmt=FMT,
                                 out_fmt=Param(None, _fmt, "result format (default: fmt)"),
                                 dsp=DSP)),
    "fp_mac": Design(FloatMulAdd, "mixed-precision MAC: round(a * b) + c, product in c_fmt",
                     unit_params(ab_fmt=Param("fp16", _fmt, "operand format of a and b"),
                                 c_fmt=Param("fp32", _fmt,
                                             "accumulator format of c and the result"),
                                 dsp=DSP)),
    "fp_fmac": Design(FloatFusedMAC, "fused MAC: round(a * b + c), one rounding (FP16xFP16+FP32)",
                      unit_params(ab_fmt=Param("fp16", _fmt, "operand format of a and b"),
                                  c_fmt=Param("fp32", _fmt,
                                              "accumulator format of c and the result"),
                                  ftz=Param(False, _bool,
                                            "flush subnormal a, b, c to zero"))),
    "fp_axpy": Design(lambda fmt, **kw: FloatMulAdd(fmt, fmt, **kw),
                      "alpha * x + y lane, unfused (a = alpha, b = x, c = y)",
                      unit_params(fmt=FMT, dsp=DSP)),
    "fp_convert": Design(FloatConvert, "format conversion (exact widening, RNE narrowing)",
                         unit_params(in_fmt=Param("fp16", _fmt, "input format"),
                                     out_fmt=Param("fp32", _fmt, "output format"))),
    "fp_div": Design(FloatDiv, "a / b correctly rounded, pipelined restoring division",
                     unit_params(fmt=FMT)),
    "fp_compare": Design(FloatCompare, "lt/eq/gt/unordered and IEEE maximum/minimum",
                         unit_params(fmt=FMT,
                                     magnitude=Param(False, _bool, "compare |a| with |b|"))),
    "fp_abs": Design(FloatAbs, "|x|, NaN to canonical NaN", unit_params(fmt=FMT)),
}
DESIGNS.update(itof.DESIGNS)
DESIGNS.update(SAT_DESIGNS)
for _engine in (threshold, encoder, decoder, dts, spartann_core):
    DESIGNS.update(_engine.DESIGNS)


def build(design, **params):
    """Build design ``design`` (a DESIGNS key); returns ``(component, parameters used)``."""
    if design not in DESIGNS:
        raise ValueError(f"unknown design {design!r}; choose from {sorted(DESIGNS)}")
    return DESIGNS[design].build(**params)


def design_name(design, params):
    """A module name that carries the parameters that differ from the defaults."""
    defaults = DESIGNS[design].params
    parts = [design]
    for key, value in params.items():
        if value != defaults[key].default and value is not None:
            parts.append(f"{key.replace('_', '')}{value}".replace(".", "p"))
    return "_".join(parts).lower()
