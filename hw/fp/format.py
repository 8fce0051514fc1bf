"""IEEE-754-style binary floating-point formats."""

import functools
from dataclasses import dataclass

__all__ = ["FloatFormat", "FP32", "FP16", "BF16", "PRESETS", "parse_format", "format_args"]

#: Range of exponent / mantissa widths accepted (the golden model computes in int64).
EXP_BITS_RANGE = (2, 11)
MAN_BITS_RANGE = (1, 23)


@dataclass(frozen=True)
class FloatFormat:
    """A binary interchange-style format: 1 sign bit, ``exp_bits`` exponent bits and
    ``man_bits`` stored mantissa (trailing significand) bits, with subnormals, +-0,
    +-inf and NaN encoded as in IEEE 754."""

    exp_bits: int
    man_bits: int

    def __post_init__(self):
        for name, value, (lo, hi) in (("exp_bits", self.exp_bits, EXP_BITS_RANGE),
                                      ("man_bits", self.man_bits, MAN_BITS_RANGE)):
            if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
                raise ValueError(f"FloatFormat {name} must be an integer in [{lo}, {hi}], "
                                 f"not {value!r}")

    # -- derived constants --------------------------------------------------------------
    @property
    def width(self):
        return 1 + self.exp_bits + self.man_bits

    @property
    def sig_bits(self):
        """Significand precision including the hidden bit."""
        return self.man_bits + 1

    @property
    def bias(self):
        return (1 << (self.exp_bits - 1)) - 1

    @property
    def emax(self):
        return self.bias

    @property
    def emin(self):
        return 1 - self.bias

    @property
    def exp_max_field(self):
        return (1 << self.exp_bits) - 1

    @property
    def sign_mask(self):
        return 1 << (self.width - 1)

    @property
    def canonical_nan(self):
        """Canonical quiet NaN: sign 0, exponent all ones, only the quiet bit set."""
        return (self.exp_max_field << self.man_bits) | (1 << (self.man_bits - 1))

    @property
    def inf(self):
        return self.exp_max_field << self.man_bits

    @property
    def max_normal(self):
        return ((self.exp_max_field - 1) << self.man_bits) | ((1 << self.man_bits) - 1)

    @property
    def name(self):
        for name, fmt in PRESETS.items():
            if fmt == self:
                return name
        return f"e{self.exp_bits}m{self.man_bits}"

    def __str__(self):
        return self.name


FP32 = FloatFormat(8, 23)
FP16 = FloatFormat(5, 10)
BF16 = FloatFormat(8, 7)
PRESETS = {"fp32": FP32, "fp16": FP16, "bf16": BF16}


def parse_format(value):
    """Accept a FloatFormat, a preset name (``"fp16"``) or ``"eXmY"``."""
    if isinstance(value, FloatFormat):
        return value
    if isinstance(value, str):
        key = value.strip().lower()
        if key in PRESETS:
            return PRESETS[key]
        if key.startswith("e") and "m" in key:
            e, _, m = key[1:].partition("m")
            if e.isdigit() and m.isdigit():
                return FloatFormat(int(e), int(m))
    raise ValueError(f"unknown float format {value!r}; use one of {sorted(PRESETS)} "
                     f"or 'eXmY' (e.g. 'e4m3')")


def format_args(function):
    """Decorator: every ``str`` argument of ``function`` is a float format name and becomes a
    :class:`FloatFormat` (:func:`parse_format`), so a function written for FloatFormat
    parameters also takes ``"fp16"``, ``"bf16"`` or ``"e4m3"``. For functions whose only
    string parameters are formats."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        args = [parse_format(a) if isinstance(a, str) else a for a in args]
        kwargs = {k: parse_format(v) if isinstance(v, str) else v for k, v in kwargs.items()}
        return function(*args, **kwargs)
    return wrapper
