"""Unsigned integer -> float: the golden ``from_int`` against independent references (numpy
casts of the exact integer, an exact integer-arithmetic rounding), the ``IntToFloat`` RTL
against the golden model bit for bit (cocotb, every simulator), parameters and lint."""

import json

import ml_dtypes
import numpy as np
import pytest

from hw.fp.format import BF16, FP16, FP32, parse_format
from hw.fp.itof import DESIGNS, IntToFloat
from hw.generate import to_verilog
from sim.fp.golden import from_int
from sim.runner import run
from sim.fp.tb_itof import itof_vectors

NUMPY = {FP32: (np.float32, np.uint32), FP16: (np.float16, np.uint16),
         BF16: (ml_dtypes.bfloat16, np.uint16)}


def _numpy_bits(values, fmt):
    """``float(v)`` is exact below 2**53; numpy rounds that value once, to nearest even.
    (ml_dtypes goes float64 -> float32 -> bfloat16, so BF16 is checked only on integers
    that float32 holds exactly: see :func:`_single_rounding`.)"""
    dtype, raw = NUMPY[fmt]
    with np.errstate(over="ignore"):
        return np.array([float(v) for v in values], np.float64).astype(dtype).view(raw)


def _single_rounding(values, fmt):
    """The values whose numpy conversion to ``fmt`` rounds once."""
    if fmt != BF16:
        return values
    v = values.astype(np.int64)
    return values[(v >> np.maximum(_bit_length(v) - 24, 0)) << np.maximum(_bit_length(v) - 24, 0) == v]


def _bit_length(v):
    return np.array([int(x).bit_length() for x in v.tolist()], np.int64)


def _exact_bits(v, fmt):
    """Reference rounding of the integer ``v >= 0`` to ``fmt`` in exact integer arithmetic."""
    if v == 0:
        return 0
    p, shift = fmt.sig_bits, max(v.bit_length() - fmt.sig_bits, 0)
    sig, rest = v >> shift, v & ((1 << shift) - 1)
    half = (1 << shift) >> 1
    if shift and (rest > half or (rest == half and sig & 1)):
        sig += 1
    if sig >> p:                                   # carried into the next power of two
        sig, shift = sig >> 1, shift + 1
    top = shift + sig.bit_length() - 1             # exponent of the leading 1
    if top > fmt.emax:
        return fmt.inf
    man = (sig << (p - sig.bit_length())) & ((1 << fmt.man_bits) - 1)
    return ((top + fmt.bias) << fmt.man_bits) | man


# -- golden model ------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", [FP32, FP16, BF16], ids=["fp32", "fp16", "bf16"])
def test_golden_against_numpy(fmt):
    """Every 17-bit integer, 2**24 +- 2**16 (FP32 ties), every edge case of a 32-bit
    counter and 100,000 random 32-bit integers."""
    values = np.concatenate([
        np.arange(1 << 17), np.arange((1 << 24) - (1 << 16), (1 << 24) + (1 << 16)),
        np.array(itof_vectors(32, fmt, 100_000, 5), dtype=np.int64)]).astype(np.uint64)
    values = _single_rounding(values, fmt)
    assert len(values) > 250_000
    got = from_int(values, fmt)
    want = _numpy_bits(values.tolist(), fmt).astype(np.uint64)
    bad = np.flatnonzero(got != want)
    assert not bad.size, f"{len(bad)} differ, first x = {int(values[bad[0]])}: " \
                         f"{int(got[bad[0]]):#x} != {int(want[bad[0]]):#x}"


@pytest.mark.parametrize("fmt", ["fp32", "fp16", "bf16", "e4m3", "e5m2", "e2m1", "e3m4",
                                 "e11m23", "e6m9"])
def test_golden_against_exact_rounding(fmt):
    """64-bit integers (the golden model narrows >= 2**61 with a sticky bit) in any format."""
    fmt = parse_format(fmt)
    values = itof_vectors(64, fmt, 20_000, 11)
    got = from_int(np.array(values, dtype=np.uint64), fmt)
    for v, g in zip(values, got.tolist()):
        assert g == _exact_bits(v, fmt), f"x = {v:#x}: {g:#x} != {_exact_bits(v, fmt):#x}"


def test_golden_hand_cases():
    assert int(from_int(0, FP32)) == 0                               # +0, never -0
    assert int(from_int(1, FP32)) == 0x3F800000
    assert int(from_int((1 << 24) + 1, FP32)) == 0x4B800000          # tie to even: down
    assert int(from_int((1 << 24) + 3, FP32)) == 0x4B800002          # tie to even: up
    assert int(from_int((1 << 32) - 1, FP32)) == 0x4F800000          # rounds up to 2**32
    assert int(from_int(65504, FP16)) == 0x7BFF                      # max normal
    assert int(from_int(65519, FP16)) == 0x7BFF                      # below the overflow tie
    assert int(from_int(65520, FP16)) == 0x7C00                      # the tie overflows
    assert int(from_int((1 << 64) - 1, FP32)) == 0x5F800000          # 2**64
    assert from_int(np.array([[2, 4]]), "bf16").tolist() == [[0x4000, 0x4080]]


# -- RTL against the golden model --------------------------------------------------------------
RTL_CASES = [
    ({"width": 32, "fmt": "fp32"}, 3000),                             # DTS's converter
    ({"width": 32, "fmt": "fp16", "latency": 0, "tag_width": 3}, 1500),
    ({"width": 64, "fmt": "bf16", "latency": 9}, 1500),
    ({"width": 9, "fmt": "e2m1", "latency": 2}, 300),
]


@pytest.mark.parametrize("params,n", RTL_CASES,
                         ids=["-".join(f"{k}{v}" for k, v in p.items()) for p, _ in RTL_CASES])
def test_rtl_matches_golden(params, n, sim, tmp_path):
    """Edge cases and ``n`` random integers back to back (latency checked on every result),
    then again with 30% random gaps in ``valid`` (garbage payload in the gaps)."""
    unit = IntToFloat(**params)
    top = "itof_" + "_".join(f"{k}{v}" for k, v in params.items())
    config = {"params": params, "seed": unit.width,
              "phases": [{"n": n, "gap_prob": 0.0}, {"n": n // 2, "gap_prob": 0.3}],
              "measured": str(tmp_path / "measured.json")}
    run(unit, top, "sim.fp.tb_itof", config, sim=sim)
    measured = json.loads((tmp_path / "measured.json").read_text())
    assert [v["latency"] for v in measured.values()] == [unit.latency] * 2
    assert min(v["vectors"] for v in measured.values()) > n // 2


# -- parameters, properties, lint ----------------------------------------------------------------
@pytest.mark.parametrize("kwargs,needle", [
    ({"width": 0}, "width"), ({"width": 65}, "width"), ({"width": 8.0}, "width"),
    ({"width": True}, "width"), ({"fmt": "fp8"}, "fmt"), ({"latency": -1}, "latency"),
    ({"latency": 65}, "latency"), ({"tag_width": -1}, "tag_width"),
])
def test_parameter_validation(kwargs, needle):
    with pytest.raises(ValueError, match=rf"^{needle}\b"):
        IntToFloat(**kwargs)


def test_defaults_and_properties():
    unit, params = DESIGNS["fp_itof"].build()
    assert params == {"width": 32, "fmt": "fp32", "latency": None, "tag_width": 0}
    assert (unit.width, unit.fmt, unit.latency, unit.throughput) == (32, FP32, 8, 1)
    assert unit.in_fields == {"x": 32} and unit.out_fields == {"result": 32}
    assert [name for name, _ in unit.register_placement][0] == "decode"
    assert IntToFloat(5, "fp16", latency=3).latency == 3


@pytest.mark.parametrize("params", [{}, {"width": 1, "fmt": "e2m1", "latency": 2},
                                    {"width": 64, "fmt": "fp16", "tag_width": 2}])
def test_verilator_lint_wall_clean(params, lint):
    lint(to_verilog(IntToFloat(**params), "itof"))
