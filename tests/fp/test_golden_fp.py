"""The golden FP model (sim/fp/golden.py) against independent references.

References: numpy float32/float16 and ml_dtypes.bfloat16 arithmetic (for FP16/BF16 numpy
computes in float32 and rounds once, which is correctly rounded for + - * / since
24 >= 2p + 2), Berkeley SoftFloat 3 through the wheel-shipped ``softfloatpy`` bindings
(RNE, tininess after rounding; its NaN payloads differ, so every comparison canonicalizes
NaN first), and for arbitrary formats an exact Fraction model
with its own rounding by bisection over the ordered bit patterns.
"""

from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest
import softfloatpy as softfloat

from hw.fp.format import BF16, FP16, FP32, FloatFormat, parse_format
from sim.fp import golden as fp, vectors

N = 50_000
N_SOFTFLOAT = 5_000
N_EXACT = 4_000
NUMPY = {FP32: (np.float32, np.uint32), FP16: (np.float16, np.uint16),
         BF16: (ml_dtypes.bfloat16, np.uint16)}


@pytest.fixture(autouse=True)
def _quiet_fp():
    with np.errstate(all="ignore"):
        yield


def as_float(fmt, bits):
    dtype, utype = NUMPY[fmt]
    return np.asarray(bits).astype(utype).view(dtype)


def as_bits(fmt, values):
    dtype, utype = NUMPY[fmt]
    return np.asarray(values, dtype=dtype).view(utype).astype(np.uint64)


def assert_bits(fmt, got, want, *operands):
    """Bit-exact equality after NaN canonicalization, reporting the first mismatches."""
    got, want = fp.canonicalize_nan(fmt, got), fp.canonicalize_nan(fmt, want)
    bad = np.flatnonzero(got != want)
    rows = [" ".join(f"{int(np.asarray(x)[i]):#x}" for x in (*operands, got, want))
            for i in bad[:8]]
    assert bad.size == 0, f"{bad.size} mismatches (operands, golden, reference):\n" + "\n".join(rows)


# -- contract corner cases (FP16) ---------------------------------------------------------------
ONE, TWO, INF, NAN, SNAN, NEG = 0x3C00, 0x4000, 0x7C00, 0x7E00, 0x7C01, 0x8000
CORNERS = [  # (golden call, expected bits)
    (lambda: fp.add(FP16, NEG, NEG), NEG),                       # -0 + -0 = -0
    (lambda: fp.add(FP16, NEG, 0, sub=1), NEG),                  # -0 - +0 = -0
    (lambda: fp.add(FP16, 0, NEG), 0),                           # +0 + -0 = +0
    (lambda: fp.add(FP16, ONE, ONE, sub=True), 0),               # x - x = +0
    (lambda: fp.add(FP16, INF, INF, sub=1), NAN),                # inf - inf
    (lambda: fp.add(FP16, 0x7BFF, 0x4BFF), 0x7BFF),              # max + (half ulp - eps)
    (lambda: fp.add(FP16, 0x7BFF, 0x4C00), INF),                 # max + half ulp -> inf (tie)
    (lambda: fp.mul(INF, NEG, FP16), NAN),                       # inf * 0
    (lambda: fp.mul(ONE | NEG, 0, FP16), NEG),                   # -1 * +0 = -0
    (lambda: fp.mul(0x0001, 0x3800, FP16), 0),                   # min_sub / 2 -> 0 (tie, even)
    (lambda: fp.mul(0x0003, 0x3800, FP16), 0x0002),              # 1.5 min_sub -> 2 (tie, even)
    (lambda: fp.div(FP16, 0, 0), NAN),
    (lambda: fp.div(FP16, INF, INF | NEG), NAN),
    (lambda: fp.div(FP16, ONE | NEG, 0), INF | NEG),             # x / 0 = signed inf
    (lambda: fp.div(FP16, ONE, INF | NEG), NEG),                 # x / inf = signed 0
    (lambda: fp.add(FP16, SNAN | NEG, ONE), NAN),                # sNaN -> canonical qNaN
    (lambda: fp.convert(SNAN, FP16, FP32), FP32.canonical_nan),
    (lambda: fp.convert(0x0001, FP16, FP32), 0x33800000),        # subnormal widens exactly
    (lambda: fp.abs_(FP16, ONE | NEG), ONE),
    (lambda: fp.compare(FP16, 0, NEG)["max"], 0),                # max(+0, -0) = +0
    (lambda: fp.compare(FP16, 0, NEG)["min"], NEG),
    (lambda: fp.compare(FP16, NEG, 0)["eq"], 1),
    (lambda: fp.compare(FP16, NAN, NAN)["unordered"], 1),
    (lambda: fp.compare(FP16, ONE | NEG, ONE, magnitude=True)["max"], ONE | NEG),  # tie -> a
    (lambda: fp.compare(FP16, ONE | NEG, ONE, magnitude=True)["min"], ONE),        # tie -> b
    (lambda: fp.compare(FP16, TWO | NEG, ONE, magnitude=True)["gt"], 1),
    (lambda: fp.muladd(TWO, TWO, 0xBF800000, FP16, FP32), 0x40400000),             # 4 - 1
]


@pytest.mark.parametrize("case", range(len(CORNERS)))
def test_contract_corner_cases(case):
    call, want = CORNERS[case]
    result = call()
    assert result.dtype == np.uint64 and int(result) == want, hex(int(result))


# -- numpy / ml_dtypes -----------------------------------------------------------------------
ARITH = {  # name: (vector kind, golden, numpy reference)
    "add": ("add", lambda f, a, b: fp.add(f, a, b), np.add),
    "sub": ("add", lambda f, a, b: fp.add(f, a, b, sub=np.ones(len(a), bool)), np.subtract),
    "mul": ("mul", lambda f, a, b: fp.mul(a, b, f), np.multiply),
    "div": ("div", fp.div, np.divide),
}


@pytest.mark.parametrize("fmt", NUMPY, ids=str)
@pytest.mark.parametrize("op", ARITH)
def test_arith_vs_numpy(fmt, op):
    kind, golden, reference = ARITH[op]
    a, b = vectors.binary(fmt, N, seed=1, op=kind)
    want = as_bits(fmt, reference(as_float(fmt, a), as_float(fmt, b)))
    assert_bits(fmt, golden(fmt, a, b), want, a, b)


def test_sub_mask_mixes_add_and_sub():
    a, b = vectors.binary(FP32, N, seed=2)
    sub = np.random.default_rng(2).random(N) < 0.5
    fa, fb = as_float(FP32, a), as_float(FP32, b)
    assert_bits(FP32, fp.add(FP32, a, b, sub=sub), as_bits(FP32, np.where(sub, fa - fb, fa + fb)))


@pytest.mark.parametrize("fmt_ab,fmt_c", [(FP32, FP32), (FP16, FP16), (BF16, BF16),
                                          (FP16, FP32), (BF16, FP32)], ids=str)
def test_muladd_vs_numpy(fmt_ab, fmt_c):
    """Unfused: product rounded to fmt_c (exact for FP16xFP16->FP32), then the sum."""
    a, b, c = vectors.ternary(fmt_ab, fmt_c, N, seed=3)
    wide = NUMPY[fmt_c][0]
    fa, fb = as_float(fmt_ab, a).astype(wide), as_float(fmt_ab, b).astype(wide)
    got = fp.muladd(a, b, c, fmt_ab, fmt_c)
    assert_bits(fmt_c, got, as_bits(fmt_c, fa * fb + as_float(fmt_c, c)), a, b, c)
    if fmt_ab == fmt_c:
        np.testing.assert_array_equal(fp.axpy(a, b, c, fmt_c), got)


@pytest.mark.parametrize("src,dst", [(FP16, FP32), (BF16, FP32), (FP16, BF16), (BF16, FP16)],
                         ids=str)
def test_convert_exhaustive(src, dst):
    """All 2**16 patterns; the float32 hop of the reference is exact."""
    x = np.arange(1 << 16, dtype=np.uint64)
    want = as_bits(dst, as_float(src, x).astype(np.float32).astype(NUMPY[dst][0]))
    assert_bits(dst, fp.convert(x, src, dst), want, x)


@pytest.mark.parametrize("dst", [FP16, BF16], ids=str)
def test_convert_fp32_narrowing(dst):
    x = vectors.unary(FP32, N, seed=4, target=dst)
    assert_bits(dst, fp.convert(x, FP32, dst), as_bits(dst, as_float(FP32, x).astype(NUMPY[dst][0])), x)


def test_ml_dtypes_rounds_to_nearest_even():
    """The BF16 reference itself: halfway cases go to the even neighbour."""
    x = np.array([0x3F808000, 0x3F818000, 0x3F808001, 0x7F7F8000, 0x00008000, 0x00018000])
    want = np.array([0x3F80, 0x3F82, 0x3F81, 0x7F80, 0x0000, 0x0002], dtype=np.uint64)
    np.testing.assert_array_equal(as_bits(BF16, as_float(FP32, x).astype(ml_dtypes.bfloat16)), want)


def test_float64_helpers():
    x = np.arange(1 << 16, dtype=np.uint64)
    np.testing.assert_array_equal(fp.to_float64(FP16, x), as_float(FP16, x).astype(np.float64))
    values = np.random.default_rng(5).standard_normal(N) * 2.0 ** np.arange(-30, 20).repeat(N // 50)
    assert_bits(FP16, fp.from_float64(FP16, values), as_bits(FP16, values.astype(np.float16)))
    y = vectors.unary(FP32, N, seed=5)
    assert_bits(FP32, fp.from_float64(FP32, fp.to_float64(FP32, y)), y)


@pytest.mark.parametrize("op", ["add", "mul"])
def test_within_half_ulp_of_float64(op):
    """Finite FP32 results are within 0.5 ulp of the (exact or nearly exact) float64 result."""
    rng = np.random.default_rng(6)
    a, b = rng.integers(0, 1 << 32, (2, N), dtype=np.uint64)
    finite = ((a >> 23) & 0xFF != 0xFF) & ((b >> 23) & 0xFF != 0xFF)
    a, b = a[finite], b[finite]
    x, y = fp.to_float64(FP32, a), fp.to_float64(FP32, b)
    got = fp.to_float64(FP32, fp.add(FP32, a, b) if op == "add" else fp.mul(a, b, FP32))
    exact = x + y if op == "add" else x * y
    finite = np.isfinite(got)
    assert finite.mean() > 0.5
    top = np.frexp(np.abs(got[finite]))[1] - 1
    ulp = np.ldexp(1.0, np.maximum(top, FP32.emin) - FP32.man_bits)
    assert np.all(np.abs(got[finite] - exact[finite]) <= 0.5 * ulp * (1 + 2.0 ** -30))


# -- compare -----------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", NUMPY, ids=str)
def test_compare_vs_numpy(fmt):
    a, b = vectors.binary(fmt, N, seed=7, op="compare")
    fa, fb = as_float(fmt, a), as_float(fmt, b)
    got = fp.compare(fmt, a, b)
    for key, want in (("lt", fa < fb), ("eq", fa == fb), ("gt", fa > fb),
                      ("unordered", np.isnan(fa) | np.isnan(fb))):
        np.testing.assert_array_equal(got[key], want.astype(np.uint64), err_msg=key)
    both_zero = (fa == 0) & (fb == 0)          # IEEE 754-2019: -0 < +0
    assert_bits(fmt, got["max"], np.where(both_zero, a & b, as_bits(fmt, np.maximum(fa, fb))), a, b)
    assert_bits(fmt, got["min"], np.where(both_zero, a | b, as_bits(fmt, np.minimum(fa, fb))), a, b)


def _magnitude_reference(x, y, a, b, nan):
    """Pure-Python |x| vs |y| comparison returning (lt, eq, gt, unordered, max, min)."""
    if np.isnan(x) or np.isnan(y):
        return 0, 0, 0, 1, nan, nan
    mx, my = abs(float(x)), abs(float(y))
    return (int(mx < my), int(mx == my), int(mx > my), 0,
            a if mx >= my else b, a if mx < my else b)


@pytest.mark.parametrize("fmt", NUMPY, ids=str)
def test_compare_magnitude(fmt):
    a, b = vectors.binary(fmt, N_SOFTFLOAT, seed=8, op="compare")
    got = fp.compare(fmt, a, b, magnitude=True)
    keys = ("lt", "eq", "gt", "unordered", "max", "min")
    rows = zip(as_float(fmt, a), as_float(fmt, b), a.tolist(), b.tolist())
    want = np.array([_magnitude_reference(x, y, p, q, fmt.canonical_nan) for x, y, p, q in rows])
    for i, key in enumerate(keys):
        np.testing.assert_array_equal(fp.canonicalize_nan(fmt, got[key]) if i > 3 else got[key],
                                      want[:, i], err_msg=key)


def test_abs():
    x = np.arange(1 << 16, dtype=np.uint64)
    assert_bits(FP16, fp.abs_(FP16, x), as_bits(FP16, np.abs(as_float(FP16, x))), x)
    nan = fp.is_nan(FP16, x)
    assert np.all(fp.abs_(FP16, x)[nan] == FP16.canonical_nan)


def test_nan_results_are_canonical():
    a, b = vectors.binary(FP16, N, seed=9)
    for fmt, result in ((FP16, fp.add(FP16, a, b)), (FP16, fp.mul(a, b, FP16)),
                        (FP16, fp.div(FP16, a, b)), (BF16, fp.convert(a, FP16, BF16)),
                        (FP16, fp.compare(FP16, a, b)["max"])):
        nan = result[fp.is_nan(fmt, result)]
        assert nan.size and np.all(nan == fmt.canonical_nan)


# -- SoftFloat ---------------------------------------------------------------------------------
SOFTFLOAT = {FP16: (softfloat.Float16, "f16"), FP32: (softfloat.Float32, "f32"),
             BF16: (softfloat.BFloat16, "bf16")}


@pytest.fixture(autouse=True)
def _softfloat_modes():
    """The golden model's contract: round to nearest even, tininess detected after rounding."""
    softfloat.set_rounding_mode(softfloat.RoundingMode.NEAR_EVEN)
    softfloat.set_tininess_mode(softfloat.TininessMode.AFTER_ROUNDING)


def _sf(fmt, bits):
    return SOFTFLOAT[fmt][0].from_bytes(int(bits).to_bytes(fmt.width // 8, "big"))


def softfloat_apply(name, fmts, *operands):
    """Apply softfloat function ``name`` element-wise; returns uint64 bit patterns."""
    func = getattr(softfloat, name)
    return np.array([int.from_bytes(func(*(_sf(f, x) for f, x in zip(fmts, xs))).to_bytes(),
                                    "big")
                     for xs in zip(*(o.tolist() for o in operands))], dtype=np.uint64)


@pytest.mark.parametrize("fmt", [FP16, FP32], ids=str)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
def test_arith_vs_softfloat(fmt, op):
    kind, golden, _ = ARITH[op]
    a, b = vectors.binary(fmt, N_SOFTFLOAT, seed=10, op=kind)
    want = softfloat_apply(f"{SOFTFLOAT[fmt][1]}_{op}", (fmt, fmt), a, b)
    assert_bits(fmt, golden(fmt, a, b), want, a, b)


def test_muladd_fp16_fp32_vs_softfloat():
    """FP16 x FP16 -> FP32 is exact, so unfused equals SoftFloat's fused f32_mulAdd."""
    a, b, c = vectors.ternary(FP16, FP32, N_SOFTFLOAT, seed=11)
    wa, wb = (softfloat_apply("f16_to_f32", (FP16,), x) for x in (a, b))
    want = softfloat_apply("f32_mul_add", (FP32, FP32, FP32), wa, wb, c)
    assert_bits(FP32, fp.muladd(a, b, c, FP16, FP32), want, a, b, c)


def test_convert_vs_softfloat():
    x = vectors.unary(FP32, N_SOFTFLOAT, seed=12, target=FP16)
    assert_bits(FP16, fp.convert(x, FP32, FP16), softfloat_apply("f32_to_f16", (FP32,), x), x)


def test_bf16_convert_vs_softfloat():
    """FP32 -> BF16 (RNE) on TestFloat-style vectors and BF16 -> FP32 on every pattern."""
    x = vectors.unary(FP32, N_SOFTFLOAT, seed=13, target=BF16)
    assert_bits(BF16, fp.convert(x, FP32, BF16), softfloat_apply("f32_to_bf16", (FP32,), x), x)
    every = np.arange(1 << 16, dtype=np.uint64)
    assert_bits(FP32, fp.convert(every, BF16, FP32), softfloat_apply("bf16_to_f32", (BF16,), every),
                every)


# -- arbitrary formats: exact Fraction reference -----------------------------------------------
def exact_value(fmt, bits):
    """(sign, magnitude) with magnitude a Fraction, ``inf`` or None for NaN."""
    sign, field = bits >> (fmt.width - 1), (bits >> fmt.man_bits) & fmt.exp_max_field
    man = bits & ((1 << fmt.man_bits) - 1)
    if field == fmt.exp_max_field:
        return sign, (None if man else float("inf"))
    return sign, _pattern_value(fmt, bits & (fmt.sign_mask - 1))


def _pattern_value(fmt, pattern):
    """Value of a non-negative pattern; the inf pattern stands for 2**(emax+1)."""
    field, man = pattern >> fmt.man_bits, pattern & ((1 << fmt.man_bits) - 1)
    if field == fmt.exp_max_field:
        return Fraction(2) ** (fmt.emax + 1)
    if field == 0:
        return Fraction(man) / 2 ** (fmt.man_bits - fmt.emin)
    return Fraction((1 << fmt.man_bits) + man) * Fraction(2) ** (field - fmt.bias - fmt.man_bits)


def round_exact(fmt, sign, value):
    """Nearest pattern to ``value`` >= 0 by bisection over the monotonic patterns
    0..inf; halfway goes to the even pattern (so max_normal + half ulp -> inf)."""
    lo, hi = 0, fmt.inf                       # invariant: value(lo) <= value < value(hi)
    if value >= _pattern_value(fmt, hi):
        return (sign << (fmt.width - 1)) | fmt.inf
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if _pattern_value(fmt, mid) <= value else (lo, mid)
    below, above = value - _pattern_value(fmt, lo), _pattern_value(fmt, hi) - value
    pick = lo if below < above or (below == above and lo % 2 == 0) else hi
    return (sign << (fmt.width - 1)) | pick


def exact_add(fmt, a, b):
    (sa, x), (sb, y) = exact_value(fmt, a), exact_value(fmt, b)
    if x is None or y is None or (x == y == float("inf") and sa != sb):
        return fmt.canonical_nan
    if float("inf") in (x, y):
        return ((sa if x == float("inf") else sb) << (fmt.width - 1)) | fmt.inf
    total = (-x if sa else x) + (-y if sb else y)
    return round_exact(fmt, int(total < 0) if total else sa & sb, abs(total))


def exact_mul(fa, fb, fo, a, b):
    (sa, x), (sb, y) = exact_value(fa, a), exact_value(fb, b)
    inf = float("inf")
    if x is None or y is None or (x, y) in ((0, inf), (inf, 0)):
        return fo.canonical_nan
    if inf in (x, y):
        return ((sa ^ sb) << (fo.width - 1)) | fo.inf
    return round_exact(fo, sa ^ sb, x * y)


def exact_div(fmt, a, b):
    (sa, x), (sb, y) = exact_value(fmt, a), exact_value(fmt, b)
    sign = sa ^ sb
    if x is None or y is None or x == y == 0 or x == y == float("inf"):
        return fmt.canonical_nan
    if x == float("inf") or y == 0:
        return (sign << (fmt.width - 1)) | fmt.inf
    return round_exact(fmt, sign, Fraction(0) if y == float("inf") else x / y)


def exact_convert(fi, fo, x):
    sign, value = exact_value(fi, x)
    if value is None:
        return fo.canonical_nan
    return (sign << (fo.width - 1)) | fo.inf if value == float("inf") else round_exact(fo, sign, value)


def _elementwise(func, *operands):
    return np.array([func(*xs) for xs in zip(*(o.tolist() for o in operands))], dtype=np.uint64)


ODD_FORMATS = ["e4m3", "e5m2", "e3m4", "e6m9", "e2m1", "e11m20"]


@pytest.mark.parametrize("name", ODD_FORMATS)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
def test_arith_vs_exact(name, op):
    fmt = parse_format(name)
    kind, golden, _ = ARITH[op]
    a, b = vectors.binary(fmt, N_EXACT, seed=13, op=kind)
    reference = {"add": lambda x, y: exact_add(fmt, x, y),
                 "sub": lambda x, y: exact_add(fmt, x, y ^ fmt.sign_mask),
                 "mul": lambda x, y: exact_mul(fmt, fmt, fmt, x, y),
                 "div": lambda x, y: exact_div(fmt, x, y)}[op]
    assert_bits(fmt, golden(fmt, a, b), _elementwise(reference, a, b), a, b)


@pytest.mark.parametrize("names", [("e4m3", "e5m2", "e6m9"), ("e6m9", "e6m9", "e4m3"),
                                   ("e2m1", "e3m4", "e2m1"), ("e5m2", "e11m20", "fp16")])
def test_mixed_mul_vs_exact(names):
    fa, fb, fo = map(parse_format, names)
    a, b = vectors.mixed_binary(fa, fb, N_EXACT, seed=14, fmt_out=fo)
    want = _elementwise(lambda x, y: exact_mul(fa, fb, fo, x, y), a, b)
    assert_bits(fo, fp.mul(a, b, fa, fb, fo), want, a, b)


@pytest.mark.parametrize("names", [("e4m3", "e6m9"), ("e6m9", "e4m3"), ("e11m20", "e5m2"),
                                   ("e3m4", "e2m1"), ("e5m2", "e11m20"), ("e6m9", "e3m4")])
def test_convert_vs_exact(names):
    fi, fo = map(parse_format, names)
    x = vectors.unary(fi, N_EXACT, seed=15, target=fo)
    assert_bits(fo, fp.convert(x, fi, fo), _elementwise(lambda v: exact_convert(fi, fo, v), x), x)


@pytest.mark.parametrize("names", [("e4m3", "e6m9"), ("e3m4", "e3m4")])
def test_muladd_vs_exact(names):
    fab, fc = map(parse_format, names)
    a, b, c = vectors.ternary(fab, fc, N_EXACT, seed=16)
    want = _elementwise(lambda x, y, z: exact_add(fc, exact_mul(fab, fab, fc, x, y), z), a, b, c)
    assert_bits(fc, fp.muladd(a, b, c, fab, fc), want, a, b, c)


# -- vector generators -------------------------------------------------------------------------
GEN_FORMATS = [FP32, FP16, BF16, FloatFormat(2, 1), FloatFormat(11, 20), FloatFormat(4, 3)]


def _generate(fmt, n, seed):
    """Every generator's output for one format, as (format, array) pairs."""
    yield fmt, vectors.unary(fmt, n, seed)
    for op in ("add", "mul", "div", "compare"):
        yield from ((fmt, x) for x in vectors.binary(fmt, n, seed, op))
    yield from zip((fmt, FP16), vectors.mixed_binary(fmt, FP16, n, seed, fmt_out=FP32))
    yield from zip((fmt, fmt, FP32), vectors.ternary(fmt, FP32, n, seed))


@pytest.mark.parametrize("fmt", GEN_FORMATS, ids=str)
@pytest.mark.parametrize("n", [0, 1, 17, 5000])
def test_vectors_shape_and_range(fmt, n):
    for f, x in _generate(fmt, n, seed=0):
        assert x.dtype == np.uint64 and x.shape == (n,)
        assert np.all(x < (1 << f.width))


@pytest.mark.parametrize("fmt", GEN_FORMATS, ids=str)
def test_vectors_deterministic(fmt):
    same = zip(_generate(fmt, 3000, seed=1), _generate(fmt, 3000, seed=1))
    assert all(np.array_equal(x, y) for (_, x), (_, y) in same)
    other = zip(_generate(fmt, 3000, seed=1), _generate(fmt, 3000, seed=2))
    assert not all(np.array_equal(x, y) for (_, x), (_, y) in other)


@pytest.mark.parametrize("fmt", GEN_FORMATS, ids=str)
def test_vectors_contain_specials(fmt):
    specials = vectors.special_values(fmt)
    named = [0, fmt.sign_mask, 1, (1 << fmt.man_bits) - 1, 1 << fmt.man_bits, fmt.max_normal,
             fmt.bias << fmt.man_bits, fmt.inf, fmt.inf | fmt.sign_mask, fmt.canonical_nan]
    assert set(named) <= set(specials.tolist())
    assert len(set(specials.tolist())) == len(specials)
    assert np.array_equal(vectors.unary(fmt, len(specials) + 10, 0)[:len(specials)], specials)
    a, b = vectors.binary(fmt, 4000, 0)
    pairs = set(zip(a.tolist(), b.tolist()))
    assert {(fmt.inf, fmt.inf | fmt.sign_mask), (0, fmt.sign_mask), (fmt.canonical_nan, 0)} <= pairs


def _ties(fmt, result, exact):
    """How many results lie exactly half an ulp from the exact value."""
    value = fp.to_float64(fmt, result)
    ulp = np.ldexp(1.0, np.maximum(np.frexp(value)[1] - 1, fmt.emin) - fmt.man_bits)
    return np.sum(np.abs(value - exact) == ulp / 2)


@pytest.mark.parametrize("op", ["add", "mul"])
def test_vectors_hit_hard_cases(op):
    """Targeted FP32 cases produce ties, overflow, subnormal results (and x + -x = 0)."""
    a, b = vectors.binary(FP32, N, 3, op)
    x, y = fp.to_float64(FP32, a), fp.to_float64(FP32, b)
    result = fp.add(FP32, a, b) if op == "add" else fp.mul(a, b, FP32)
    value = fp.to_float64(FP32, result)
    assert _ties(FP32, result, x + y if op == "add" else x * y) > 1000
    assert np.sum(np.isinf(value) & np.isfinite(x) & np.isfinite(y)) > 1000
    assert np.sum((value != 0) & (np.abs(value) < 2.0 ** FP32.emin)) > 1000
    if op == "add":
        assert np.sum((value == 0) & (x != 0)) > 500
