"""Bit-exact, vectorized golden model of the floating-point operators.

Every operand and result is a raw bit pattern (any integer array or scalar in, ``np.uint64``
array out) of a :class:`~hw.fp.format.FloatFormat` (every public function also takes a format
name, ``"fp16"``, ``"bf16"``, ``"e4m3"``: :func:`hw.fp.format.format_args`).  Arithmetic is done on exact integers
(int64): a finite value is ``sig * 2**exp`` with an integer significand ``sig`` (hidden bit
included) and ``exp`` the weight of its last bit.  Each operation builds an integer that
rounds exactly like the true result (guard bits plus a sticky bit "jammed" into the LSB)
and hands it to :func:`_round_pack`, the single round-to-nearest-even routine.

Numerical contract: IEEE 754 RNE with subnormals (no flush-to-zero), overflow to inf, and
every NaN result replaced by the format's canonical quiet NaN (sNaN inputs included).
"""

from typing import NamedTuple

import numpy as np

from hw.fp.format import FloatFormat, format_args

__all__ = ["add", "mul", "muladd", "axpy", "convert", "div", "abs_", "compare",
           "canonicalize_nan", "is_nan", "to_float64", "from_float64"]


class _Unpacked(NamedTuple):
    sign: np.ndarray    # 0 / 1
    sig: np.ndarray     # integer significand, hidden bit included (0 for zeros)
    exp: np.ndarray     # weight of the significand's LSB: value = sig * 2**exp
    inf: np.ndarray
    nan: np.ndarray


def _bits(fmt: FloatFormat, x):
    """Raw bit patterns as int64, masked to the format width."""
    return np.asarray(x).astype(np.int64) & ((1 << fmt.width) - 1)


def _unpack(fmt: FloatFormat, x) -> _Unpacked:
    """Split bit patterns into sign, integer significand and LSB exponent plus class flags."""
    bits = _bits(fmt, x)
    m = fmt.man_bits
    field = (bits >> m) & fmt.exp_max_field
    man = bits & ((1 << m) - 1)
    special = field == fmt.exp_max_field
    return _Unpacked(sign=bits >> (fmt.width - 1),
                     sig=np.where(field > 0, man | (1 << m), man),
                     exp=np.maximum(field, 1) - fmt.bias - m,
                     inf=special & (man == 0), nan=special & (man != 0))


def _bit_length(x):
    """Vectorized ``int.bit_length`` of non-negative int64 values."""
    x = np.asarray(x, dtype=np.int64)
    n = np.zeros_like(x)
    for step in (32, 16, 8, 4, 2, 1):
        big = (x >> step) > 0
        n += np.where(big, step, 0)
        x = np.where(big, x >> step, x)
    return n + (x > 0)


def _round_pack(fmt: FloatFormat, sign, sig, exp):
    """Round ``(-1)**sign * sig * 2**exp`` (0 <= sig < 2**61) to ``fmt`` with RNE.

    Handles normalization, subnormal results (the result's LSB weight never drops below
    ``emin - man_bits``), the carry of a round-up into the next binade and overflow to inf.
    Zero significands give a zero with the given sign.
    """
    m = fmt.man_bits
    top = np.where(sig > 0, exp + _bit_length(sig) - 1, fmt.emin)   # weight of leading 1
    lsb = np.maximum(top, fmt.emin) - m                               # weight of result LSB
    shift = lsb - exp
    rs = np.clip(shift, 0, 62)       # beyond 62 (sig < 2**61) everything is below half an ulp
    kept = sig >> rs
    rem = sig - (kept << rs)
    half = (np.int64(1) << rs) >> 1
    up = (rs > 0) & ((rem > half) | ((rem == half) & ((kept & 1) == 1)))
    kept = (kept + up) << np.clip(-shift, 0, m + 1)                 # exact left shift
    # Adding the hidden bit into the (exponent - 1) field makes subnormal -> normal and
    # binade carries come out right without special cases.
    mag = ((lsb + m - fmt.emin) << m) + kept
    mag = np.where(top > fmt.emax, fmt.inf, mag)       # a carry out of emax gives inf itself
    return (np.asarray(sign, dtype=np.int64) << (fmt.width - 1)) | mag


def _finish(fmt: FloatFormat, result, nan, inf, sign):
    """Override finite results with canonical NaN / signed inf and return uint64 bits."""
    signed_inf = (np.asarray(sign, dtype=np.int64) << (fmt.width - 1)) | fmt.inf
    out = np.where(nan, fmt.canonical_nan, np.where(inf, signed_inf, result))
    return out.astype(np.uint64)


def _select(cond, x: _Unpacked, y: _Unpacked) -> _Unpacked:
    """Element-wise ``x if cond else y`` over all fields."""
    return _Unpacked(*(np.where(cond, p, q) for p, q in zip(x, y)))


@format_args
def canonicalize_nan(fmt: FloatFormat, bits):
    """Replace every NaN pattern by ``fmt.canonical_nan``; other patterns pass unchanged."""
    bits = _bits(fmt, bits)
    return np.where(is_nan(fmt, bits), fmt.canonical_nan, bits).astype(np.uint64)


@format_args
def is_nan(fmt: FloatFormat, bits):
    """Boolean mask of NaN patterns (quiet or signalling, any sign)."""
    return _unpack(fmt, bits).nan


@format_args
def add(fmt: FloatFormat, a, b, sub=None):
    """``a + b`` (``a - b`` where ``sub`` is non-zero), rounded once to ``fmt``.

    An exact zero sum is +0 unless both (effective) operands are -0.
    """
    x, y = _unpack(fmt, a), _unpack(fmt, b)
    if sub is not None:
        y = y._replace(sign=y.sign ^ (np.asarray(sub) != 0))
    hi_first = x.exp >= y.exp
    hi, lo = _select(hi_first, x, y), _select(hi_first, y, x)
    # Align to the larger exponent; an operand more than man_bits+3 places below the
    # other only matters as a sticky bit (jammed into the LSB of the far-shifted sum).
    dist = hi.exp - lo.exp
    shift = np.minimum(dist, fmt.man_bits + 3)
    big = hi.sig << shift
    small = np.where(dist > shift, (lo.sig != 0).astype(np.int64), lo.sig)
    total = np.where(hi.sign == 1, -big, big) + np.where(lo.sign == 1, -small, small)
    sign = np.where(total != 0, total < 0, hi.sign & lo.sign)
    result = _round_pack(fmt, sign, np.abs(total), hi.exp - shift)
    nan = x.nan | y.nan | (x.inf & y.inf & (x.sign != y.sign))
    return _finish(fmt, result, nan, x.inf | y.inf, np.where(x.inf, x.sign, y.sign))


@format_args
def mul(a, b, fmt_a: FloatFormat, fmt_b: FloatFormat = None, fmt_out: FloatFormat = None):
    """Exact product of ``a`` (``fmt_a``) and ``b`` (``fmt_b``, default ``fmt_a``) rounded
    once to ``fmt_out`` (default ``fmt_a``).  inf * 0 is NaN; the sign is always the xor."""
    fmt_b, fmt_out = fmt_b or fmt_a, fmt_out or fmt_a
    x, y = _unpack(fmt_a, a), _unpack(fmt_b, b)
    sign = x.sign ^ y.sign
    result = _round_pack(fmt_out, sign, x.sig * y.sig, x.exp + y.exp)
    nan = x.nan | y.nan | (x.inf & (y.sig == 0)) | (y.inf & (x.sig == 0))
    return _finish(fmt_out, result, nan, x.inf | y.inf, sign)


@format_args
def muladd(a, b, c, fmt_ab: FloatFormat, fmt_c: FloatFormat):
    """Unfused ``a * b + c``: the product is rounded to ``fmt_c``, then the sum."""
    return add(fmt_c, mul(a, b, fmt_ab, fmt_ab, fmt_c), c)


@format_args
def axpy(alpha, x, y, fmt: FloatFormat):
    """Unfused ``alpha * x + y`` with every operand and both roundings in ``fmt``."""
    return muladd(alpha, x, y, fmt, fmt)


@format_args
def convert(x, fmt_in: FloatFormat, fmt_out: FloatFormat):
    """Convert between formats: exact when widening, RNE (overflow to inf, gradual
    underflow) when narrowing."""
    u = _unpack(fmt_in, x)
    return _finish(fmt_out, _round_pack(fmt_out, u.sign, u.sig, u.exp), u.nan, u.inf, u.sign)


def _normalize(fmt: FloatFormat, u: _Unpacked):
    """Significand shifted so its leading 1 sits at bit ``man_bits`` (subnormals), and
    the matching LSB exponent.  Zeros stay zero."""
    shift = np.where(u.sig > 0, fmt.man_bits + 1 - _bit_length(u.sig), 0)
    return u.sig << shift, u.exp - shift


@format_args
def div(fmt: FloatFormat, a, b):
    """Correctly rounded ``a / b``.  0/0 and inf/inf are NaN, x/0 is a signed inf and
    x/inf a signed zero."""
    x, y = _unpack(fmt, a), _unpack(fmt, b)
    (xs, xe), (ys, ye) = _normalize(fmt, x), _normalize(fmt, y)
    guard = fmt.man_bits + 3                 # quotient keeps >= man_bits + 3 bits
    q, r = np.divmod(xs << guard, np.maximum(ys, 1))
    sign = x.sign ^ y.sign
    result = _round_pack(fmt, sign, (q << 1) | (r != 0), xe - ye - guard - 1)
    result = np.where(y.inf, sign << (fmt.width - 1), result)
    x_zero, y_zero = x.sig == 0, y.sig == 0
    nan = x.nan | y.nan | (x_zero & y_zero) | (x.inf & y.inf)
    return _finish(fmt, result, nan, x.inf | y_zero, sign)


@format_args
def abs_(fmt: FloatFormat, x):
    """``|x|``: clear the sign bit; NaN becomes the canonical NaN."""
    return canonicalize_nan(fmt, _bits(fmt, x) & ~fmt.sign_mask)


@format_args
def compare(fmt: FloatFormat, a, b, magnitude=False):
    """Quiet comparison of ``a`` and ``b`` (or of ``|a|`` and ``|b|`` when ``magnitude``).

    Returns a dict of uint64 arrays: ``lt``, ``eq``, ``gt``, ``unordered`` (0/1; -0 == +0,
    a NaN operand gives unordered=1 and lt=eq=gt=0) and ``max``, ``min`` (bit patterns,
    canonical NaN if either operand is NaN).  Plain mode follows IEEE 754-2019
    maximum/minimum with -0 < +0.  Magnitude mode returns the original operand with the
    larger / smaller magnitude; on equal magnitudes max returns ``a`` and min ``b``.
    """
    x, y = _bits(fmt, a), _bits(fmt, b)
    nan = is_nan(fmt, x) | is_nan(fmt, y)
    mx, my = x & ~fmt.sign_mask, y & ~fmt.sign_mask
    if magnitude:
        kx, ky = mx, my                                    # magnitude order = bit order
        a_max, a_min = mx >= my, mx < my                   # ties: max <- a, min <- b
    else:
        neg_x, neg_y = x != mx, y != my
        kx, ky = np.where(neg_x, -mx, mx), np.where(neg_y, -my, my)   # -0 == +0
        tx, ty = np.where(neg_x, -mx - 1, mx), np.where(neg_y, -my - 1, my)  # -0 < +0
        a_max, a_min = tx >= ty, tx <= ty
    ordered = ~nan
    flags = {"lt": ordered & (kx < ky), "eq": ordered & (kx == ky),
             "gt": ordered & (kx > ky), "unordered": nan}
    out = {k: v.astype(np.uint64) for k, v in flags.items()}
    out["max"] = np.where(nan, fmt.canonical_nan, np.where(a_max, x, y)).astype(np.uint64)
    out["min"] = np.where(nan, fmt.canonical_nan, np.where(a_min, x, y)).astype(np.uint64)
    return out


@format_args
def to_float64(fmt: FloatFormat, bits):
    """Exact value of each pattern as float64 (every supported format fits); NaN -> nan."""
    u = _unpack(fmt, bits)
    value = np.ldexp(u.sig.astype(np.float64), u.exp.astype(np.int32))
    value = np.where(u.inf, np.inf, np.where(u.nan, np.nan, value))
    return np.where(u.sign == 1, -value, value)


@format_args
def from_float64(fmt: FloatFormat, x):
    """Round float64 values to ``fmt`` (RNE, overflow to inf, gradual underflow).

    The float64 value itself is rounded exactly once, but a float64 that is already a
    rounded result (e.g. ``a * b`` computed in float64) may double-round: use this for
    exact values and tests only, never as a model of an operator.
    """
    x = np.asarray(x, dtype=np.float64)
    finite = np.isfinite(x)
    frac, exp = np.frexp(np.where(finite, np.abs(x), 0.0))
    sign = np.signbit(x).astype(np.int64)
    result = _round_pack(fmt, sign, np.ldexp(frac, 53).astype(np.int64), exp - 53)
    return _finish(fmt, result, np.isnan(x), np.isinf(x), sign)


__all__ += ["from_int"]


@format_args
def from_int(value, fmt):
    """Unsigned integers (``0 <= value < 2**64``) rounded to ``fmt`` (RNE, overflow to +inf).

    Zero gives +0. Values of 2**61 and above are first narrowed to 61 bits with the shifted-out
    bits OR-ed into the LSB (a sticky bit; exact for RNE since 61 > ``man_bits + 2``).
    """
    v = np.asarray(value, dtype=np.uint64)
    wide = v >= np.uint64(1 << 61)
    narrowed = (v >> np.uint64(3)) | ((v & np.uint64(7)) != 0).astype(np.uint64)
    sig = np.where(wide, narrowed, v).astype(np.int64)
    exp = np.where(wide, 3, 0).astype(np.int64)
    result = _round_pack(fmt, np.zeros_like(sig), sig, exp)
    return _finish(fmt, result, np.zeros(sig.shape, bool), np.zeros(sig.shape, bool),
                   np.zeros_like(sig))


__all__ += ["fmac", "flush_subnormals"]


@format_args
def flush_subnormals(fmt: FloatFormat, bits):
    """Flush-to-zero: every subnormal pattern becomes the zero of its sign; others pass."""
    bits = _bits(fmt, bits)
    subnormal = ((bits >> fmt.man_bits) & fmt.exp_max_field) == 0
    return np.where(subnormal, bits & fmt.sign_mask, bits).astype(np.uint64)


@format_args
def fmac(a, b, c, fmt_ab: FloatFormat, fmt_c: FloatFormat, ftz=False):
    """Fused ``a * b + c``: the exact product plus ``c``, rounded once to ``fmt_c``.

    Equal to :func:`muladd` whenever the product is exact in ``fmt_c`` (FP16 x FP16 + FP32).
    ``ftz``: subnormal ``a``, ``b`` (``fmt_ab``) and ``c`` (``fmt_c``) count as zeros of
    their sign, and a subnormal result becomes the zero of its sign.
    """
    if ftz:
        a, b, c = (flush_subnormals(fmt_ab, a), flush_subnormals(fmt_ab, b),
                   flush_subnormals(fmt_c, c))
    x, y, z = _unpack(fmt_ab, a), _unpack(fmt_ab, b), _unpack(fmt_c, c)
    p_sign, p_sig, p_exp = x.sign ^ y.sign, x.sig * y.sig, x.exp + y.exp
    # Both operands on one grid: the larger (by leading-bit weight) with its leading 1 at
    # bit 58, the other shifted onto that grid, bits below it jammed into a sticky LSB.
    p_top = np.where(p_sig > 0, p_exp + _bit_length(p_sig), -(1 << 20))
    c_top = np.where(z.sig > 0, z.exp + _bit_length(z.sig), -(1 << 20))
    p_hi = p_top >= c_top
    hi_sign, lo_sign = np.where(p_hi, p_sign, z.sign), np.where(p_hi, z.sign, p_sign)
    hi_sig, lo_sig = np.where(p_hi, p_sig, z.sig), np.where(p_hi, z.sig, p_sig)
    hi_exp, lo_exp = np.where(p_hi, p_exp, z.exp), np.where(p_hi, z.exp, p_exp)
    up = 59 - _bit_length(hi_sig)
    grid = hi_exp - up
    big = hi_sig << up
    dist = lo_exp - grid                      # <= up: lo's leading bit is not above hi's
    right = np.clip(-dist, 0, 62)
    kept = np.where(dist >= 0, lo_sig << np.clip(dist, 0, 62), lo_sig >> right)
    lost = np.where(dist >= 0, 0, lo_sig - ((lo_sig >> right) << right)) != 0
    small = np.where(-dist >= 62, (lo_sig != 0).astype(np.int64), kept | lost)
    total = np.where(hi_sign == 1, -big, big) + np.where(lo_sign == 1, -small, small)
    sign = np.where(total != 0, total < 0, hi_sign & lo_sign)
    result = _round_pack(fmt_c, sign, np.abs(total), grid)
    if ftz:
        tiny = ((result >> fmt_c.man_bits) & fmt_c.exp_max_field) == 0
        result = np.where(tiny, result & fmt_c.sign_mask, result)
    p_inf = x.inf | y.inf
    nan = (x.nan | y.nan | z.nan | (x.inf & (y.sig == 0)) | (y.inf & (x.sig == 0))
           | (p_inf & z.inf & (p_sign != z.sign)))
    return _finish(fmt_c, result, nan, p_inf | z.inf, np.where(p_inf, p_sign, z.sign))
