"""Registry of the designs the generator knows, with their parameters and defaults.

Used by the command line (``python -m hw``), ``make verilog`` and the test-suite.
"""

from dataclasses import dataclass, field
from typing import Callable

from .fp.add import FloatAdd
from .fp.compare import FloatAbs, FloatCompare
from .fp.convert import FloatConvert
from .fp.div import FloatDiv
from .fp.format import PRESETS, parse_format
from .fp.mul import FloatMul
from .fp.muladd import FloatMulAdd

__all__ = ["Param", "Design", "DESIGNS", "build", "design_name"]

FORMAT_HELP = f"float format: {', '.join(PRESETS)} or eXmY"


@dataclass(frozen=True)
class Param:
    default: object
    kind: Callable            # converts a command-line string to the value
    help: str


def _bool(text):
    if isinstance(text, bool):
        return text
    if str(text).lower() in ("1", "true", "yes", "on"):
        return True
    if str(text).lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected a boolean (true/false), not {text!r}")


def _fmt(text):
    return parse_format(text).name


def _latency(text):
    return None if text in (None, "default") else int(text)


LATENCY = Param(None, _latency, "pipeline register stages (default: the unit's own)")
TAG = Param(0, int, "width of the user tag that travels with each operation")


@dataclass(frozen=True)
class Design:
    factory: Callable
    description: str
    params: dict = field(default_factory=dict)

    def build(self, **overrides):
        unknown = set(overrides) - set(self.params)
        if unknown:
            raise ValueError(f"unknown parameter(s) {sorted(unknown)}; "
                             f"allowed: {sorted(self.params)}")
        values = {k: p.default for k, p in self.params.items()}
        values.update(overrides)
        return self.factory(**values), values


DESIGNS = {
    "fp_add": Design(FloatAdd, "a + b or a - b (input sub), round to nearest even",
                     {"fmt": Param("fp32", _fmt, FORMAT_HELP), "latency": LATENCY, "tag_width": TAG}),
    "fp_mul": Design(FloatMul, "a * b rounded once to out_fmt (default: fmt)",
                     {"fmt": Param("fp32", _fmt, FORMAT_HELP),
                      "out_fmt": Param(None, _fmt, "result format (default: fmt)"),
                      "latency": LATENCY, "tag_width": TAG}),
    "fp_mac": Design(FloatMulAdd, "mixed-precision MAC: round(a * b) + c, product in c_fmt",
                     {"ab_fmt": Param("fp16", _fmt, "operand format of a and b"),
                      "c_fmt": Param("fp32", _fmt, "accumulator format of c and the result"),
                      "latency": LATENCY, "tag_width": TAG}),
    "fp_axpy": Design(lambda fmt, **kw: FloatMulAdd(fmt, fmt, **kw),
                      "alpha * x + y lane, unfused (a = alpha, b = x, c = y)",
                      {"fmt": Param("fp32", _fmt, FORMAT_HELP), "latency": LATENCY,
                       "tag_width": TAG}),
    "fp_convert": Design(FloatConvert, "format conversion (exact widening, RNE narrowing)",
                         {"in_fmt": Param("fp16", _fmt, "input format"),
                          "out_fmt": Param("fp32", _fmt, "output format"),
                          "latency": LATENCY, "tag_width": TAG}),
    "fp_div": Design(FloatDiv, "a / b correctly rounded, pipelined restoring division",
                     {"fmt": Param("fp32", _fmt, FORMAT_HELP), "latency": LATENCY, "tag_width": TAG}),
    "fp_compare": Design(FloatCompare, "lt/eq/gt/unordered and IEEE maximum/minimum",
                         {"fmt": Param("fp32", _fmt, FORMAT_HELP),
                          "magnitude": Param(False, _bool, "compare |a| with |b|"),
                          "latency": LATENCY, "tag_width": TAG}),
    "fp_abs": Design(FloatAbs, "|x|, NaN to canonical NaN",
                     {"fmt": Param("fp32", _fmt, FORMAT_HELP), "latency": LATENCY, "tag_width": TAG}),
}


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
