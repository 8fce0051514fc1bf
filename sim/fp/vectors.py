"""TestFloat-style test vectors for any :class:`~hw.fp.format.FloatFormat`.

Every generator is deterministic for a given seed and returns exactly ``n`` raw bit
patterns per operand (``np.uint64``, below ``2**fmt.width``): special values first, then
cases aimed at the operation's hard spots (cancellation, ties, binade carries, overflow
and underflow edges), then random bit patterns and random values with nearby exponents.
"""

from math import isqrt

import numpy as np

from hw.fp.format import FloatFormat
from sim.fp import golden

__all__ = ["special_values", "unary", "binary", "mixed_binary", "ternary"]


# -- building blocks ---------------------------------------------------------------------
def _pack(fmt: FloatFormat, sign, field, man):
    """Bit patterns from sign / exponent-field / mantissa arrays (fields are clipped)."""
    field = np.clip(field, 0, fmt.exp_max_field)
    man = np.clip(man, 0, (1 << fmt.man_bits) - 1)
    return ((np.asarray(sign, dtype=np.int64) << (fmt.width - 1))
            | (np.asarray(field, dtype=np.int64) << fmt.man_bits) | man).astype(np.uint64)


def _finite(fmt: FloatFormat, rng, n, field=None, man=None, sign=None):
    """Random finite patterns; any of field / man / sign may be given instead (fields
    outside the finite range are clipped into it)."""
    field = rng.integers(0, fmt.exp_max_field, n) if field is None else field
    field = np.clip(field, 0, fmt.exp_max_field - 1)
    man = rng.integers(0, 1 << fmt.man_bits, n) if man is None else man
    sign = rng.integers(0, 2, n) if sign is None else sign
    return _pack(fmt, sign, field, man)


def _random_bits(fmt: FloatFormat, rng, n):
    return rng.integers(0, 1 << fmt.width, n).astype(np.uint64)


def _random_nan(fmt: FloatFormat, rng, n):
    """NaNs with random sign and payload (quiet and signalling)."""
    return _pack(fmt, rng.integers(0, 2, n), fmt.exp_max_field,
                 rng.integers(1, 1 << fmt.man_bits, n))


def _nudge(fmt: FloatFormat, bits, delta):
    """Move finite patterns ``delta`` ulps in magnitude (staying within [0, max_normal])."""
    bits = bits.astype(np.int64)
    mag = np.clip((bits & ~fmt.sign_mask) + delta, 0, fmt.max_normal)
    return ((bits & fmt.sign_mask) | mag).astype(np.uint64)


def _unique(values):
    """Drop duplicates, keeping the first occurrence order."""
    values = np.asarray(values, dtype=np.uint64)
    _, first = np.unique(values, return_index=True)
    return values[np.sort(first)]


def _split(n, parts):
    """``parts`` counts summing to ``n``."""
    return [n // parts + (i < n % parts) for i in range(parts)]


def _concat(pairs):
    """Concatenate a list of operand tuples column-wise."""
    return tuple(np.concatenate(col).astype(np.uint64) for col in zip(*pairs))


def _mix(fmt_args, rng, n, makers):
    """Split ``n`` evenly between case makers ``maker(*fmt_args, rng, count)``."""
    return _concat([make(*fmt_args, rng, count)
                    for make, count in zip(makers, _split(n, len(makers)))])


def _bit_length(x):
    """Bit length of non-negative ints below 2**53 (exact through float64)."""
    return np.frexp(np.asarray(x, dtype=np.float64))[1]


def _normal(fmt: FloatFormat, sign, sig, top):
    """Normal patterns with significand ``sig`` (<= man_bits+1 bits, its leading 1 at
    weight ``2**top``); the exponent is clipped to the normal range."""
    man = (sig << (fmt.man_bits + 1 - _bit_length(sig))) & ((1 << fmt.man_bits) - 1)
    return _pack(fmt, sign, np.clip(top + fmt.bias, 1, fmt.exp_max_field - 1), man)


def _exp_pairs(fa: FloatFormat, fb: FloatFormat, rng, total):
    """Exponent fields of a, b whose unbiased exponents sum (about) to ``total``."""
    lo = np.maximum(fa.emin, total - fb.emax)
    hi = np.maximum(np.minimum(fa.emax, total - fb.emin), lo)
    ea = lo + (rng.random(len(total)) * (hi - lo + 1)).astype(np.int64)
    return ea + fa.bias, total - ea + fb.bias      # below 1 is clipped to subnormal


# -- special values and unary operands ----------------------------------------------------
def special_values(fmt: FloatFormat):
    """Named special patterns (zeros, subnormal/normal extremes, +-1, 2 and their
    neighbours, inf, canonical qNaN, an sNaN (needs man_bits >= 2), all-ones NaN, each
    with both signs) followed by every exponent field with mantissa 0, 1, mid and
    all-ones, both signs.  Duplicates are removed, first occurrence kept."""
    m, top = fmt.man_bits, fmt.exp_max_field
    ones, one, min_normal = (1 << m) - 1, fmt.bias << m, 1 << m
    mags = [0, 1, ones, min_normal, min_normal + 1, fmt.max_normal, fmt.max_normal - 1,
            one, one + 1, one - 1, one + min_normal, one + min_normal - 1, fmt.inf]
    nans = [fmt.canonical_nan, fmt.inf | 1, fmt.inf | ones]
    sweep = [(f << m) | man for f in range(top + 1) for man in (0, 1, 1 << (m - 1), ones)]
    named = [s | v for v in mags for s in (0, fmt.sign_mask)]
    named += nans + [fmt.sign_mask | v for v in nans]
    return _unique(named + [s | v for v in sweep for s in (0, fmt.sign_mask)])


def unary(fmt: FloatFormat, n, seed, target: FloatFormat = None):
    """``n`` operands: special values, then random patterns, values at exponent-range
    boundaries, subnormals and, if ``target`` is given (conversions), values around the
    target format's range edges and rounding ties at its precision."""
    rng = np.random.default_rng(seed)
    specials = special_values(fmt)[:n]
    makers = [_random_bits, _boundary_values, _subnormals]
    if target is not None:
        makers.append(lambda f, r, k: _near_format(f, target, r, k))
    counts = _split(n - len(specials), len(makers))
    return np.concatenate([specials] + [make(fmt, rng, k) for make, k in zip(makers, counts)])


def _boundary_values(fmt: FloatFormat, rng, n):
    fields = np.array([0, 1, 2, fmt.bias - 1, fmt.bias, fmt.bias + 1,
                       fmt.exp_max_field - 2, fmt.exp_max_field - 1])
    fields = fields[(fields >= 0) & (fields < fmt.exp_max_field)]
    return _finite(fmt, rng, n, field=rng.choice(fields, n))


def _subnormals(fmt: FloatFormat, rng, n):
    return _finite(fmt, rng, n, field=0)


def _near_format(fmt: FloatFormat, target: FloatFormat, rng, n):
    """Values of ``fmt`` near ``target``'s overflow / underflow edges and its ties."""
    edges = np.array([target.emax, target.emax + 1, target.emin,
                      target.emin - target.man_bits - 1, target.emin - target.man_bits])
    top = rng.choice(edges, n) + rng.integers(-1, 1, n)
    man = rng.integers(0, 1 << fmt.man_bits, n)
    drop = fmt.man_bits - target.man_bits
    if drop > 0:     # half of them: exact tie pattern at the target's precision, +-1
        tie = ((man >> drop) << drop) | (1 << (drop - 1))
        man = np.where(rng.random(n) < 0.5, tie + rng.integers(-1, 2, n), man)
    return _finite(fmt, rng, n, field=top + fmt.bias, man=man)


# -- binary operands ------------------------------------------------------------------------
def binary(fmt: FloatFormat, n, seed, op="add"):
    """``n`` operand pairs ``(a, b)`` for ``op`` in {"add", "mul", "div", "compare"}."""
    if op not in _TARGETED:
        raise ValueError(f"unknown op {op!r}; use one of {sorted(_TARGETED)}")
    rng = np.random.default_rng(seed)
    specials = _special_pairs(special_values(fmt), special_values(fmt), n // 4)
    targeted = n // 2
    return _concat([specials, _TARGETED[op](fmt, rng, targeted),
                    _random_pairs(fmt, fmt, rng, n - len(specials[0]) - targeted)])


def mixed_binary(fmt_a: FloatFormat, fmt_b: FloatFormat, n, seed, fmt_out=None):
    """``n`` pairs for a mixed-format multiply ``a (fmt_a) * b (fmt_b) -> fmt_out``
    (default ``fmt_a``): specials, products at ``fmt_out``'s edges and ties, random."""
    fmt_out = fmt_out or fmt_a
    rng = np.random.default_rng(seed)
    specials = _special_pairs(special_values(fmt_a), special_values(fmt_b), n // 4)
    targeted = n // 2
    cases = _mix((fmt_a, fmt_b, fmt_out), rng, targeted, _MUL_CASES)
    return _concat([specials, cases,
                    _random_pairs(fmt_a, fmt_b, rng, n - len(specials[0]) - targeted)])


def _special_pairs(sa, sb, budget):
    """Cross product of the leading special values, at most ``budget`` pairs."""
    k = isqrt(budget)
    a, b = np.meshgrid(sa[:k], sb[:k], indexing="ij")
    return a.ravel(), b.ravel()


def _random_pairs(fa: FloatFormat, fb: FloatFormat, rng, n):
    """Half random bit patterns, half finite values with exponents at most 3 apart."""
    n_bits = n // 2
    field_a = rng.integers(0, fa.exp_max_field, n - n_bits)
    field_b = field_a - fa.bias + fb.bias + rng.integers(-3, 4, n - n_bits)
    return (np.concatenate([_random_bits(fa, rng, n_bits), _finite(fa, rng, n - n_bits, field_a)]),
            np.concatenate([_random_bits(fb, rng, n_bits), _finite(fb, rng, n - n_bits, field_b)]))


def _swap_some(rng, a, b):
    """Swap the operands of a random half of the pairs."""
    swap = rng.random(len(a)) < 0.5
    return np.where(swap, b, a), np.where(swap, a, b)


# add / subtract cases
def _add_cancel(fmt, rng, n):
    """b = -a moved by a few ulps: massive cancellation."""
    a = _finite(fmt, rng, n)
    return a, _nudge(fmt, a ^ np.uint64(fmt.sign_mask), rng.integers(-3, 4, n))


def _add_exp_diff(fmt, rng, n):
    """Exponent differences 0..man_bits+4 (mostly) and far beyond."""
    near = rng.integers(0, fmt.man_bits + 5, n)
    far = rng.integers(fmt.man_bits + 5, fmt.man_bits + 5 + fmt.exp_max_field, n)
    diff = np.where(rng.random(n) < 0.75, near, far)
    field_a = rng.integers(1, fmt.exp_max_field, n)
    return _swap_some(rng, _finite(fmt, rng, n, field_a), _finite(fmt, rng, n, field_a - diff))


def _add_ties(fmt, rng, n):
    """b's bits shifted out of a's precision are exactly 100..0 (a tie), +-1 ulp of b."""
    m = fmt.man_bits
    diff = rng.integers(1, m + 2, n)
    field_a = rng.integers(np.minimum(diff + 1, fmt.exp_max_field - 1), fmt.exp_max_field)
    man_b = ((rng.integers(0, 1 << m, n) >> diff) << diff) | ((1 << (diff - 1)) & ((1 << m) - 1))
    b = _finite(fmt, rng, n, field_a - diff, man_b)
    return _swap_some(rng, _finite(fmt, rng, n, field_a),
                      _nudge(fmt, b, rng.choice([-1, 0, 0, 1], n)))


def _add_carry(fmt, rng, n):
    """Same-sign sums whose mantissa overflows into the next binade."""
    m = fmt.man_bits
    field_a = rng.integers(1, fmt.exp_max_field, n)
    man_a = (1 << m) - 1 - rng.integers(0, 1 << min(m, 3), n)
    sign = rng.integers(0, 2, n)
    b = _finite(fmt, rng, n, field_a - rng.integers(0, 3, n), sign=sign)
    return _swap_some(rng, _finite(fmt, rng, n, field_a, man_a, sign), b)


def _add_overflow(fmt, rng, n):
    """Sums around max_normal + half an ulp (the overflow threshold)."""
    m, top = fmt.man_bits, fmt.exp_max_field - 1
    a = _nudge(fmt, _finite(fmt, rng, n, top, (1 << m) - 1), -rng.integers(0, 4, n))
    sign = (a >> np.uint64(fmt.width - 1)).astype(np.int64)
    b = _finite(fmt, rng, n, top - rng.integers(max(m - 2, 0), m + 3, n), sign=sign)
    return _swap_some(rng, a, b)


def _add_subnormal(fmt, rng, n):
    """Operands in the lowest binades: subnormal results and subnormal/normal transitions."""
    top = min(3, fmt.exp_max_field)
    return (_finite(fmt, rng, n, rng.integers(0, top, n)),
            _finite(fmt, rng, n, rng.integers(0, top, n)))


# multiply cases (generic in the operand and result formats)
def _mul_edges(fa, fb, rng, n, totals):
    """Normal-ish operands whose unbiased exponents sum to values drawn from ``totals``."""
    field_a, field_b = _exp_pairs(fa, fb, rng, rng.choice(totals, n))
    return _finite(fa, rng, n, field_a), _finite(fb, rng, n, field_b)


def _mul_overflow(fa, fb, fo, rng, n):
    """Products around fo's overflow threshold."""
    return _mul_edges(fa, fb, rng, n, np.arange(fo.emax - 1, fo.emax + 2))


def _mul_underflow(fa, fb, fo, rng, n):
    """Products in fo's subnormal range, around its min subnormal and below."""
    a, b = _mul_edges(fa, fb, rng, n, np.arange(fo.emin - fo.man_bits - 3, fo.emin + 2))
    sub = rng.random(n) < 0.2          # some with a subnormal operand
    a = np.where(sub, _finite(fa, rng, n, 0), a)
    return _swap_some(rng, a, b) if fa == fb else (a, b)


def _odd_sig(rng, m, zeros):
    """Normal significands (m+1 bits) with exactly ``zeros`` trailing zero bits."""
    keep = zeros + 1
    return (1 << m) | ((rng.integers(0, 1 << m, len(zeros)) >> keep) << keep) | (1 << zeros)


def _mul_ties(fa, fb, fo, rng, n):
    """Significands whose exact product ends in 100..0 right below fo's precision
    (an exact tie), half of them nudged by one ulp of b."""
    ma, mb = fa.man_bits, fb.man_bits
    count = 4 * n
    dropped = np.clip(ma + mb + 1 - fo.man_bits + rng.integers(0, 2, count), 1, ma + mb + 1)
    # With odd cores, a product with dropped-1 trailing zeros has the tie pattern.
    za = rng.integers(np.maximum(0, dropped - 1 - mb), np.minimum(ma, dropped - 1) + 1)
    sa, sb = _odd_sig(rng, ma, za), _odd_sig(rng, mb, dropped - 1 - za)
    prod = sa * sb
    drop = _bit_length(prod) - fo.man_bits - 1
    tie = (drop > 0) & ((prod & ((1 << np.maximum(drop, 1)) - 1)) == (1 << np.maximum(drop - 1, 0)))
    pick = np.argsort(~tie, kind="stable")[:n]
    field_a, field_b = _exp_pairs(fa, fb, rng, rng.integers(fo.emin, fo.emax + 1, n))
    a = _finite(fa, rng, n, np.maximum(field_a, 1), sa[pick] - (1 << ma))
    b = _finite(fb, rng, n, np.maximum(field_b, 1), sb[pick] - (1 << mb))
    return a, _nudge(fb, b, rng.choice([-1, 0, 0, 1], n))


def _mul_one(fa, fb, fo, rng, n):
    """+-1.0 times anything (any pattern, specials included)."""
    one = _pack(fa, rng.integers(0, 2, n), fa.bias, 0)
    b = np.where(rng.random(n) < 0.2, rng.choice(special_values(fb), n), _random_bits(fb, rng, n))
    return one, b


_MUL_CASES = [_mul_overflow, _mul_underflow, _mul_ties, _mul_one]


# divide cases
def _div_edges(fmt, rng, n, diffs):
    """Operands whose unbiased exponent difference is drawn from ``diffs``."""
    diff = rng.choice(diffs, n)
    lo = np.maximum(fmt.emin, fmt.emin + diff)
    hi = np.maximum(np.minimum(fmt.emax, fmt.emax + diff), lo)
    ea = lo + (rng.random(n) * (hi - lo + 1)).astype(np.int64)
    return _finite(fmt, rng, n, ea + fmt.bias), _finite(fmt, rng, n, ea - diff + fmt.bias)


def _div_overflow(fmt, rng, n):
    """Quotients around the overflow threshold."""
    return _div_edges(fmt, rng, n, np.arange(fmt.emax - 1, fmt.emax + 2))


def _div_underflow(fmt, rng, n):
    """Quotients in the subnormal range, around the min subnormal and below."""
    return _div_edges(fmt, rng, n, np.arange(fmt.emin - fmt.man_bits - 3, fmt.emin + 2))


def _div_exact(fmt, rng, n):
    """a = p*q, b = q (small integers times powers of two): exact quotients."""
    half = max(1, fmt.sig_bits // 2)
    p, q = rng.integers(1, 1 << half, n), rng.integers(1, 1 << half, n)
    top = rng.integers(fmt.emin, fmt.emax + 1, n)
    return (_normal(fmt, rng.integers(0, 2, n), p * q, top),
            _normal(fmt, rng.integers(0, 2, n), q, top + rng.integers(-3, 4, n)))


def _div_self(fmt, rng, n):
    """x / x and x / -x."""
    a = _finite(fmt, rng, n)
    return a, a ^ (rng.integers(0, 2, n).astype(np.uint64) << np.uint64(fmt.width - 1))


def _div_ties(fmt, rng, n):
    """a / 2**k landing exactly halfway between subnormals (the only exact ties a
    quotient can have), +-1 ulp of a."""
    m = fmt.man_bits
    drop = rng.integers(1, m + 1, n)
    field_a = rng.integers(1, np.maximum(fmt.bias + 1 - drop, 1) + 1)
    man_a = ((rng.integers(0, 1 << m, n) >> drop) << drop) | (1 << (drop - 1))
    a = _nudge(fmt, _finite(fmt, rng, n, field_a, man_a), rng.choice([-1, 0, 0, 1], n))
    field_b = field_a - fmt.emin + drop             # b = 2**(ea - emin + drop)
    return a, _finite(fmt, rng, n, field_b, 0)


# compare cases
def _cmp_equal(fmt, rng, n):
    a = _random_bits(fmt, rng, n)
    return a, a.copy()


def _cmp_zeros(fmt, rng, n):
    """+-0 against +-0 and +-min subnormal."""
    pool = np.array([0, 0, 1, fmt.sign_mask, fmt.sign_mask, fmt.sign_mask | 1], dtype=np.uint64)
    return rng.choice(pool, n), rng.choice(pool, n)


def _cmp_ulp(fmt, rng, n):
    """Values one ulp apart (same sign)."""
    a = _finite(fmt, rng, n)
    return a, _nudge(fmt, a, rng.choice([-1, 1], n))


def _cmp_negated(fmt, rng, n):
    a = _finite(fmt, rng, n)
    return a, a ^ np.uint64(fmt.sign_mask)


def _cmp_nan(fmt, rng, n):
    """A NaN against anything, a quarter of them NaN against NaN."""
    other = np.where(rng.random(n) < 0.25, _random_nan(fmt, rng, n), _random_bits(fmt, rng, n))
    return _swap_some(rng, _random_nan(fmt, rng, n), other)


def _cmp_close(fmt, rng, n):
    """Same exponent field, random mantissas and signs."""
    field = rng.integers(0, fmt.exp_max_field, n)
    return _finite(fmt, rng, n, field), _finite(fmt, rng, n, field)


_TARGETED = {
    "add": lambda fmt, rng, n: _mix((fmt,), rng, n, [
        _add_cancel, _add_exp_diff, _add_ties, _add_carry, _add_overflow, _add_subnormal]),
    "mul": lambda fmt, rng, n: _mix((fmt, fmt, fmt), rng, n, _MUL_CASES),
    "div": lambda fmt, rng, n: _mix((fmt,), rng, n, [
        _div_overflow, _div_underflow, _div_exact, _div_self, _div_ties]),
    "compare": lambda fmt, rng, n: _mix((fmt,), rng, n, [
        _cmp_equal, _cmp_zeros, _cmp_ulp, _cmp_negated, _cmp_nan, _cmp_close]),
}


# -- multiply-add operands ------------------------------------------------------------------
def ternary(fmt_ab: FloatFormat, fmt_c: FloatFormat, n, seed):
    """``n`` triples ``(a, b, c)`` for ``a * b + c`` with a, b in ``fmt_ab`` and c in
    ``fmt_c``: specials, c ~= -a*b (cancellation), special c, products in fmt_c's
    subnormal range and near its overflow, then random."""
    rng = np.random.default_rng(seed)
    sab, sc = special_values(fmt_ab), special_values(fmt_c)
    k = int(round((n // 8) ** (1 / 3)))
    k -= k ** 3 > n // 8                       # integer cube root of the grid budget
    grid = [g.ravel() for g in np.meshgrid(sab[:k], sab[:k], sc[:k], indexing="ij")]
    picks = n // 4 - len(grid[0])
    specials = (rng.choice(sab, picks), rng.choice(sab, picks), rng.choice(sc, picks))
    targeted = n // 2
    cases = _mix((fmt_ab, fmt_c), rng, targeted,
                 [_fma_cancel, _fma_special_c, _fma_tiny, _fma_huge])
    return _concat([grid, specials, cases,
                    _fma_random(fmt_ab, fmt_c, rng, n - n // 4 - targeted)])


def _fma_cancel(fab, fc, rng, n):
    """c = -round(a*b) moved by a few ulps."""
    field_a, field_b = _exp_pairs(fab, fab, rng, rng.integers(fc.emin, fc.emax + 1, n))
    a, b = _finite(fab, rng, n, field_a), _finite(fab, rng, n, field_b)
    prod = golden.mul(a, b, fab, fab, fc)
    return a, b, _nudge(fc, prod ^ np.uint64(fc.sign_mask), rng.integers(-3, 4, n))


def _fma_special_c(fab, fc, rng, n):
    """c is +-0, +-inf or a NaN."""
    pool = np.array([0, fc.sign_mask, fc.inf, fc.sign_mask | fc.inf, fc.canonical_nan],
                    dtype=np.uint64)
    c = np.where(rng.random(n) < 0.2, _random_nan(fc, rng, n), rng.choice(pool, n))
    return _finite(fab, rng, n), _finite(fab, rng, n), c


def _fma_tiny(fab, fc, rng, n):
    """Products in fc's subnormal range plus tiny c."""
    a, b = _mul_underflow(fab, fab, fc, rng, n)
    return a, b, _finite(fc, rng, n, rng.integers(0, min(3, fc.exp_max_field), n))


def _fma_huge(fab, fc, rng, n):
    """Products near fc's overflow threshold plus large c."""
    a, b = _mul_overflow(fab, fab, fc, rng, n)
    return a, b, _finite(fc, rng, n, fc.exp_max_field - 1 - rng.integers(0, 3, n))


def _fma_random(fab, fc, rng, n):
    """Half random patterns, half finite values with c's exponent near the product's."""
    n_bits = n // 2
    m = n - n_bits
    total = rng.integers(fc.emin, fc.emax + 1, m)
    field_a, field_b = _exp_pairs(fab, fab, rng, total)
    field_c = total + fc.bias + rng.integers(-3, 4, m)
    return (np.concatenate([_random_bits(fab, rng, n_bits), _finite(fab, rng, m, field_a)]),
            np.concatenate([_random_bits(fab, rng, n_bits), _finite(fab, rng, m, field_b)]),
            np.concatenate([_random_bits(fc, rng, n_bits), _finite(fc, rng, m, field_c)]))
