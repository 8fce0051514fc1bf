"""SparTANN sparse format: the golden CSC model against a plain-Python reference, the RTL
encoder / decoder / threshold lanes against the golden model bit for bit (cocotb, every
simulator, with and without stalls, timing), the statistics accumulator, parameter
validation and lint."""

import json
import math

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from hw.fp.format import BF16, FP32, parse_format
from hw.generate import to_verilog
from hw.spartann import decoder, encoder, threshold
from hw.spartann.decoder import IndexDecoder
from hw.spartann.encoder import SparsifierEncoder
from hw.spartann.threshold import COUNT_BITS, StatsAccumulator, ThresholdLanes
from sim.spartann import csc
from sim.runner import run
from sim.spartann.tb_format import (DESIGNS, phase_matrix, random_matrix, random_values,
                                    cocotb_testcase)

GAP_PROB, STALL_PROB = 0.3, 0.3


def one(fmt):
    return fmt.bias << fmt.man_bits


def subnormal(fmt):
    return (1 << (fmt.man_bits - 1)) + 5


# -- golden model against an independent plain-Python reference ----------------------------------
def _float(bits, fmt):
    """A bit pattern as a Python float (bf16 is the top half of an fp32)."""
    word = int(bits) << (32 - fmt.width)
    return float(np.array([word], np.uint32).view(np.float32)[0])


def _ref_dropped(x, theta, fmt):
    xf, tf = _float(x, fmt), _float(theta, fmt)
    return xf == 0 or abs(xf) < tf                      # NaN compares false: kept


def _ref_encode(column, idx_bits, theta, fmt):
    """Column -> kept ``(row, value)`` -> entries, with divmod instead of a filler loop."""
    kept = [(r, int(v)) for r, v in enumerate(column) if not _ref_dropped(v, theta, fmt)]
    period, prev, out = 1 << idx_bits, -1, []
    for row, value in kept:
        fillers, delta = divmod(row - prev - 1, period)
        out += [(0, period - 1, 1, 0)] * fillers + [(value, delta, 0, 0)]
        prev = row
    out = out or [(0, 0, 1, 0)]
    out[-1] = out[-1][:3] + (1,)
    return out, [r for r, _ in kept]


def _ref_rebuild(entries, rows, cols):
    dense, col, row = [[0] * cols for _ in range(rows)], 0, -1
    for value, delta, filler, last in entries:
        row += delta + 1
        if not filler:
            dense[row][col] = value
        if last:
            col, row = col + 1, -1
    return dense


def _thetas(fmt):
    return [0, one(fmt), subnormal(fmt), one(fmt) | fmt.sign_mask, fmt.sign_mask, fmt.inf,
            fmt.canonical_nan, fmt.max_normal]


@pytest.mark.parametrize("fmt", [FP32, BF16], ids=["fp32", "bf16"])
def test_golden_drop_mask_against_python_floats(fmt):
    rng = np.random.default_rng(1)
    x = np.concatenate([random_values(fmt, 3000, rng, t) for t in _thetas(fmt)])
    for theta in _thetas(fmt):
        want = [_ref_dropped(v, theta, fmt) for v in x]
        assert csc.drop_mask(x, theta, fmt).tolist() == want, hex(theta)


@pytest.mark.parametrize("idx_bits", [1, 2, 6])
@pytest.mark.parametrize("fmt", [FP32, BF16], ids=["fp32", "bf16"])
def test_golden_encode_against_reference(fmt, idx_bits):
    rng = np.random.default_rng(idx_bits)
    for density, theta in [(0.0, 0), (0.1, one(fmt)), (0.5, subnormal(fmt)), (1.0, 0),
                           (0.3, fmt.inf), (0.3, fmt.canonical_nan)]:
        phase = {"rows": 150, "cols": 5, "density": density, "theta": theta, "runs": True}
        matrix = phase_matrix(fmt, phase, idx_bits, rng)
        rows, cols = matrix.shape
        entries, ref = csc.encode(matrix, idx_bits, theta, fmt), []
        for c in range(cols):
            col_entries, kept = _ref_encode(matrix[:, c], idx_bits, theta, fmt)
            assert len(col_entries) == csc.entry_count(kept, idx_bits)
            assert col_entries == [tuple(e) for e in csc.encode_column(matrix[:, c], idx_bits,
                                                                       theta, fmt)]
            ref += col_entries
        assert [tuple(e) for e in entries] == ref
        sparse = csc.sparsify(matrix, theta, fmt)[0]
        assert np.array_equal(csc.decode(entries, rows), sparse)
        assert _ref_rebuild(ref, rows, cols) == sparse.tolist()
        assert any(e.filler and not e.last for e in entries) or density == 0


@pytest.mark.parametrize("fmt", [FP32, BF16], ids=["fp32", "bf16"])
def test_golden_stats_against_reference(fmt):
    rng = np.random.default_rng(5)
    for theta in _thetas(fmt):
        x = random_matrix(fmt, 50, 20, 0.6, rng, theta)
        got = csc.stats(x, theta, fmt)
        floats = [abs(_float(v, fmt)) for v in x.ravel()]
        finite = [f for f in floats if math.isfinite(f)]
        assert got.elements == x.size
        assert got.zeros == sum(_ref_dropped(v, theta, fmt) for v in x.ravel())
        assert _float(got.max_abs, fmt) == max(finite, default=0.0) and got.max_abs >> (
            fmt.width - 1) == 0
    top = csc.COUNTER_MAX
    merged = csc.merge_stats(csc.Stats(top - 1, top - 3, 5), csc.Stats(4, 2, 7))
    assert merged == csc.Stats(top, top - 1, 7) and top == 2**COUNT_BITS - 1


def test_golden_decode_errors():
    with pytest.raises(ValueError, match="beyond rows"):
        csc.decode([csc.Entry(1, 3, 0, 1)], 3)
    with pytest.raises(ValueError, match="last = 1"):
        csc.decode([csc.Entry(1, 0, 0, 0)], 3)


# -- statistics accumulator (Amaranth simulator; saturation with narrow counters) ----------------
@pytest.mark.parametrize("count_bits,batch", [(4, 3), (6, 8), (COUNT_BITS, 1)])
def test_stats_accumulator_saturates_and_clears(count_bits, batch):
    dut = StatsAccumulator("bf16", batch=batch, count_bits=count_bits)
    top, rng = (1 << count_bits) - 1, np.random.default_rng(count_bits)
    steps = [(int(rng.random() < 0.7), int(rng.random() < 0.03), int(rng.integers(0, batch + 1)),
              int(rng.integers(0, 0x7F80))) for _ in range(300)]

    async def bench(ctx):
        model, saturated = csc.Stats(0, 0, 0), False
        for add, clear, count, max_abs in steps:
            zeros = int(rng.integers(0, count + 1))
            for sig, val in [(dut.add, add), (dut.clear, clear), (dut.elements, count),
                             (dut.zeros, zeros), (dut.max_abs, max_abs)]:
                ctx.set(sig, val)
            await ctx.tick()
            if clear:
                model = csc.Stats(0, 0, 0)
            if add:
                model = csc.Stats(min(model.elements + count, top),
                                  min(model.zeros + zeros, top), max(model.max_abs, max_abs))
            got = ctx.get(dut.stats)
            assert (got.elements, got.zeros, got.max_abs) == model
            saturated |= model.elements == top
        assert count_bits == COUNT_BITS or saturated

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


# -- RTL against the golden model ------------------------------------------------------------------
def _run(design, params, phases, sim, seed, tmp_path):
    component, used = DESIGNS[design].build(**params)
    top = "_".join([design, *(f"{k}{v}" for k, v in used.items())])
    measured_path = tmp_path / "measured.json"
    config = {"design": design, "params": used, "phases": phases, "seed": seed,
              "measured": str(measured_path)}
    run(component, top, "sim.spartann.tb_format", config, sim=sim,
        testcase=cocotb_testcase(design))
    measured = json.loads(measured_path.read_text())
    timed = [v for v in measured.values() if "latency" in v]
    assert timed and all(v["latency"] == component.latency for v in timed)
    return component, measured


def _phase(theta, density, timed, **extra):
    probs = (0.0, 0.0) if timed else (GAP_PROB, STALL_PROB)
    return {"theta": theta, "density": density, "gap_prob": probs[0], "stall_prob": probs[1],
            **extra}


ENCODER_CASES = [(f, i) for f in ("fp32", "bf16") for i in (1, 2, 6)]


@pytest.mark.parametrize("fmt,idx_bits", ENCODER_CASES, ids=[f"{f}-idx{i}"
                                                             for f, i in ENCODER_CASES])
def test_encoder_rtl_matches_golden(fmt, idx_bits, sim, tmp_path):
    f = parse_format(fmt)
    rows = max(24, 3 * (1 << idx_bits) + 8)
    size = {"rows": rows, "cols": max(3, 240 // rows)}
    phases = [
        _phase(one(f), 0.1, True, runs=True, **size),
        _phase(0, 0.5, False, runs=True, **size),
        _phase(0, 0.0, True, **size),
        _phase(subnormal(f), 1.0, False, **size),
        _phase(one(f), 0.1, False, runs=True, **size),
        _phase(0, 1.0, True, **size),
        _phase(f.inf, 0.5, False, **{**size, "stall_prob": 0.8}),
        _phase(f.canonical_nan, 0.5, True, runs=True, **size),
    ]
    component, measured = _run("spartann_encoder", {"fmt": fmt, "idx_bits": idx_bits,
                                                    "max_rows": rows}, phases, sim, idx_bits,
                               tmp_path)
    timed = [v for v in measured.values() if "cycles" in v]
    assert all(v["cycles"] == component.cycles(v["elements"], v["fillers"]) for v in timed)
    assert any(v["fillers"] for v in timed)                       # a run beyond the delta
    empty = [v for v in timed if v["density"] == 0.0][0]          # 1 element per cycle
    assert empty["fillers"] == 0 and empty["cycles"] == empty["elements"] + component.latency


DECODER_CASES = [("fp32", 6, 12, 1), ("bf16", 1, 8, 0), ("bf16", 2, 7, 1)]


@pytest.mark.parametrize("fmt,idx_bits,row_bits,latency", DECODER_CASES,
                         ids=[f"{c[0]}-idx{c[1]}-row{c[2]}-lat{c[3]}" for c in DECODER_CASES])
def test_decoder_rtl_matches_golden(fmt, idx_bits, row_bits, latency, sim, tmp_path):
    f = parse_format(fmt)
    rows = min(1 << row_bits, max(24, 3 * (1 << idx_bits) + 8))
    size = {"rows": rows, "cols": max(3, 240 // rows), "runs": True}
    phases = [_phase(one(f), 0.1, True, **size), _phase(0, 0.5, False, **size),
              _phase(0, 0.0, True, **size), _phase(subnormal(f), 1.0, False, **size),
              _phase(0, 0.3, False, **{**size, "stall_prob": 0.8})]
    _run("spartann_decoder", {"fmt": fmt, "idx_bits": idx_bits, "row_bits": row_bits,
                              "latency": latency}, phases, sim, row_bits, tmp_path)


THRESHOLD_CASES = [(1, "fp32", 1), (3, "bf16", 0), (4, "fp32", 2), (8, "bf16", 1)]


@pytest.mark.parametrize("lanes,fmt,latency", THRESHOLD_CASES,
                         ids=[f"T{c[0]}-{c[1]}-lat{c[2]}" for c in THRESHOLD_CASES])
def test_threshold_lanes_rtl_matches_golden(lanes, fmt, latency, sim, tmp_path):
    f = parse_format(fmt)
    vec = {"vectors": 150}
    phases = [_phase(one(f), 0.7, True, **vec),
              _phase(one(f), 0.7, False, pad=lanes - 1, **vec),       # padding lanes
              _phase(0, 0.5, False, **vec), _phase(subnormal(f), 0.9, True, **vec),
              _phase(one(f) | f.sign_mask, 0.7, False, **vec),
              _phase(f.canonical_nan, 0.7, False, **vec), _phase(f.inf, 0.7, True, **vec),
              _phase(0, 0.0, False, **{**vec, "stall_prob": 0.8})]
    component, measured = _run("spartann_threshold", {"lanes": lanes, "fmt": fmt,
                                                      "latency": latency}, phases, sim, lanes,
                               tmp_path)
    for v in measured.values():
        if "cycles" in v:
            assert v["cycles"] == v["elements"] + component.latency


# -- parameters, properties, lint ------------------------------------------------------------------
@pytest.mark.parametrize("cls,kwargs,needle", [
    (SparsifierEncoder, {"idx_bits": 0}, "idx_bits"), (SparsifierEncoder, {"idx_bits": 17},
                                                        "idx_bits"),
    (SparsifierEncoder, {"idx_bits": 6.0}, "idx_bits"), (SparsifierEncoder, {"max_rows": 0},
                                                         "max_rows"),
    (SparsifierEncoder, {"fmt": "fp8"}, "fmt"), (IndexDecoder, {"idx_bits": True}, "idx_bits"),
    (IndexDecoder, {"row_bits": 0}, "row_bits"), (IndexDecoder, {"row_bits": 33}, "row_bits"),
    (IndexDecoder, {"latency": 2}, "latency"), (IndexDecoder, {"fmt": 32}, "fmt"),
    (ThresholdLanes, {"lanes": 0}, "lanes"), (ThresholdLanes, {"lanes": 2.0}, "lanes"),
    (ThresholdLanes, {"latency": -1}, "latency"), (ThresholdLanes, {"latency": 9}, "latency"),
    (ThresholdLanes, {"fmt": "x"}, "fmt"), (StatsAccumulator, {"batch": 0}, "batch"),
    (StatsAccumulator, {"count_bits": 65}, "count_bits"),
])
def test_parameter_validation(cls, kwargs, needle):
    with pytest.raises(ValueError, match=rf"^{needle}\b"):
        cls(**kwargs)


def test_defaults_and_properties():
    enc, params = DESIGNS["spartann_encoder"].build()
    assert params == {"fmt": "fp32", "idx_bits": 6, "max_rows": 4096}
    assert (enc.max_delta, enc.latency, enc.throughput, enc.cycles(10, 3)) == (63, 2, 1, 15)
    entry = enc.signature.members["o"].signature.members["payload"].shape
    assert entry.size == 32 + 6 + 2                               # one byte of index per value
    dec, params = DESIGNS["spartann_decoder"].build(fmt="bf16", idx_bits=2)
    assert params == {"fmt": "bf16", "idx_bits": 2, "row_bits": 12, "latency": 1}
    assert (dec.latency, dec.throughput, dec.row_bits) == (1, 1, 12)
    thr, params = DESIGNS["spartann_threshold"].build()
    assert params == {"lanes": 8, "fmt": "fp32", "latency": 1}
    assert (thr.lanes, thr.latency, thr.throughput) == (8, 1, 1)
    out = thr.signature.members["o"].signature.members["payload"].shape
    assert out.size == 8 * 32 + 4 + 32
    assert set(DESIGNS) == {"spartann_encoder", "spartann_decoder", "spartann_threshold"}
    assert {**encoder.DESIGNS, **decoder.DESIGNS, **threshold.DESIGNS} == DESIGNS


def test_drop_flag_accepts_constants():
    m = Module()
    flags = [threshold.drop_flag(m, BF16, x, 0x3F80, f"d{k}")      # theta = 1.0
             for k, x in enumerate([0x3F80, 0xBF7F, 0x8000, 0x7FC1, 0xFF80])]
    got = []

    async def bench(ctx):
        got.extend(ctx.get(f) for f in flags)

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    assert got == [0, 1, 1, 0, 0]                   # 1.0, -0.998, -0, NaN, -inf


@pytest.mark.parametrize("design,params", [
    ("spartann_encoder", {}), ("spartann_encoder", {"fmt": "bf16", "idx_bits": 1,
                                                    "max_rows": 7}),
    ("spartann_decoder", {}), ("spartann_decoder", {"latency": 0, "idx_bits": 16}),
    ("spartann_threshold", {}), ("spartann_threshold", {"lanes": 3, "fmt": "bf16",
                                                        "latency": 0}),
])
def test_verilator_lint_wall_clean(design, params, lint):
    component, _ = DESIGNS[design].build(**params)
    lint(to_verilog(component, design), design)
