"""Bit-level helpers shared by the floating-point datapaths."""

from amaranth.hdl import Cat, Const, Mux, Signal, Value, unsigned
from amaranth.utils import bits_for, ceil_log2

__all__ = ["leading_zeros", "shift_right_sticky", "clamp", "as_signed_exp", "signed_width",
           "materialize", "clear_low"]


def materialize(m, value, name):
    """Drive a named comb Signal from ``value`` so later uses share one copy of the logic
    (Amaranth re-emits an expression tree at every use)."""
    value = Value.cast(value)
    if isinstance(value, Signal):
        return value
    sig = Signal(value.shape(), name=name)
    m.d.comb += sig.eq(value)
    return sig


def _lzc_pow2(x):
    """Leading-zero count of ``x`` (width a power of two, never all zero) as a tree."""
    n = len(x)
    if n == 2:
        return ~x[1], ~(x[0] | x[1])
    half = n // 2
    cnt_lo, zero_lo = _lzc_pow2(x[:half])
    cnt_hi, zero_hi = _lzc_pow2(x[half:])
    cnt = Cat(Mux(zero_hi, cnt_lo, cnt_hi), zero_hi)
    return cnt, zero_hi & zero_lo


def leading_zeros(m, x, name="lzc"):
    """Number of leading zeros of ``x``; ``len(x)`` when ``x`` is zero. Logarithmic depth."""
    x = materialize(m, x, f"{name}_in")
    width = len(x)
    # Append a 1 below the LSB so the count saturates at ``width``, then pad to 2**k.
    padded_width = 1 << ceil_log2(width + 1)
    padded = Cat(Const(0, padded_width - width - 1), Const(1, 1), x)
    cnt, _ = _lzc_pow2(padded)
    return materialize(m, cnt[:bits_for(width)], name)


def clear_low(value, bits):
    """``value`` with its ``bits`` least significant bits cleared (stays unsigned)."""
    value = Value.cast(value)
    if len(value) <= bits:
        return Const(0, len(value))
    return Cat(Const(0, bits), value[bits:])


def clamp(value, limit):
    """Unsigned ``min(value, limit)`` for a non-negative ``value``, narrowed to fit ``limit``."""
    value = Value.cast(value)
    if (1 << len(value)) - 1 <= limit:          # never above it: no constant comparison
        return value.as_unsigned()
    return Mux(value > limit, limit, value)[:bits_for(limit)]


def shift_right_sticky(x, amount):
    """``x >> amount`` and the OR of the bits shifted out. ``amount`` is clamped to len(x)."""
    x = Value.cast(x)
    width = len(x)
    amount = clamp(amount, width)
    shifted = (x >> amount)[:width]
    mask = ~(Const((1 << width) - 1, unsigned(width)) << amount)[:width]
    return shifted, (x & mask).any()


def as_signed_exp(value):
    """Reinterpret a non-negative unsigned Value as signed, adding a zero sign bit."""
    return Cat(value, Const(0, 1)).as_signed()


def signed_width(lo, hi):
    """Bits of a two's-complement signal holding every integer in ``[lo, hi]``."""
    return max(bits_for(lo, require_sign_bit=True), bits_for(hi, require_sign_bit=True))
