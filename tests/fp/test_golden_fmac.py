"""The fused MAC's golden model (``sim.fp.golden.fmac``) against independent references:
Berkeley SoftFloat's fused ``f32_mulAdd`` (FP16 and BF16 widen exactly to FP32, so it rounds
``a * b + c`` once, as the fused MAC does), the unfused ``muladd`` where the product is
exact, and float64 for the flush-to-zero mode."""

import numpy as np
import pytest

from hw.fp.format import BF16, FP16, FP32, parse_format
from sim.fp import golden as fp, vectors

from test_golden_fp import assert_bits, softfloat_apply

N = 20_000
N_SOFTFLOAT = 4_000


@pytest.fixture(autouse=True)
def _quiet_fp():
    with np.errstate(all="ignore"):
        yield


@pytest.mark.parametrize("ab", [FP16, BF16], ids=str)
def test_fmac_vs_softfloat(ab):
    a, b, c = vectors.ternary(ab, FP32, N_SOFTFLOAT, seed=21)
    wa, wb = (softfloat_apply(f"{ab.name.replace('fp', 'f')}_to_f32", (ab,), x) for x in (a, b))
    want = softfloat_apply("f32_mul_add", (FP32, FP32, FP32), wa, wb, c)
    assert_bits(FP32, fp.fmac(a, b, c, ab, FP32), want, a, b, c)


@pytest.mark.parametrize("ab,c_fmt", [(FP16, FP32), (parse_format("e4m3"), BF16)], ids=str)
def test_fmac_equals_unfused_when_product_exact(ab, c_fmt):
    a, b, c = vectors.ternary(ab, c_fmt, N, seed=22)
    assert_bits(c_fmt, fp.fmac(a, b, c, ab, c_fmt), fp.muladd(a, b, c, ab, c_fmt), a, b, c)


def test_fmac_bf16_differs_from_unfused():
    """BF16 x BF16 is not exact in FP32 (range): fused and unfused differ somewhere."""
    a, b, c = vectors.ternary(BF16, FP32, N, seed=23)
    fused, unfused = fp.fmac(a, b, c, BF16, FP32), fp.muladd(a, b, c, BF16, FP32)
    assert np.any(fp.canonicalize_nan(FP32, fused) != fp.canonicalize_nan(FP32, unfused))


def test_flush_subnormals():
    bits = np.array([0x0001, 0x83FF, 0x0400, 0x8000, 0x7C00, 0x3C00], dtype=np.uint64)
    assert fp.flush_subnormals(FP16, bits).tolist() == [0, 0x8000, 0x0400, 0x8000, 0x7C00,
                                                         0x3C00]


@pytest.mark.parametrize("ab,c_fmt", [(FP16, FP32), (BF16, FP32)], ids=str)
def test_fmac_ftz_vs_float64(ab, c_fmt):
    """FTZ = the fused MAC of the flushed operands with a subnormal result flushed; checked
    against float64 (exact for these products; one rounding from float64 to FP32 after an
    exact float64 sum is not guaranteed: finite results within 1 ulp, or a flushed 2**-126)."""
    a, b, c = vectors.ternary(ab, c_fmt, N, seed=24)
    fa, fb, fc = (fp.flush_subnormals(ab, a), fp.flush_subnormals(ab, b),
                  fp.flush_subnormals(c_fmt, c))
    got = fp.fmac(a, b, c, ab, c_fmt, ftz=True)
    want = fp.fmac(fa, fb, fc, ab, c_fmt)
    if ab == FP16:                      # FP16 x FP16 + FP32 never has a subnormal result
        assert_bits(c_fmt, got, want, a, b, c)
    assert_bits(c_fmt, got, fp.flush_subnormals(c_fmt, want), a, b, c)
    value = fp.to_float64(c_fmt, got)
    ref = fp.to_float64(ab, fa) * fp.to_float64(ab, fb) + fp.to_float64(c_fmt, fc)
    finite = np.isfinite(value) & np.isfinite(ref)
    assert np.all(np.abs(value - ref)[finite] <= np.abs(ref[finite]) * 2.0 ** -23 + 2.0 ** -126)
    subnormal = ((got >> np.uint64(23)) & np.uint64(0xFF)) == 0
    assert np.all(got[subnormal] & np.uint64(0x7FFFFFFF) == 0)


def test_fmac_ftz_flushes_a_subnormal_result():
    """e4m3 x e4m3 + a tiny BF16: the exact sum is a subnormal BF16, flushed to -0."""
    e4m3 = parse_format("e4m3")
    c = np.array([0x8001], dtype=np.uint64)                # -smallest subnormal BF16
    zero = np.array([0], dtype=np.uint64)
    assert fp.fmac(zero, zero, c, e4m3, BF16).tolist() == [0x8001]
    assert fp.fmac(zero, zero, c, e4m3, BF16, ftz=True).tolist() == [0]   # c flushed: 0 + -0
