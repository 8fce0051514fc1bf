"""SAT OSRE top-K sorters: golden model against independent references, RTL against the
golden model bit for bit (cocotb, every simulator), timing, parameter validation and lint."""

import json
import math

import ml_dtypes
import numpy as np
import pytest

from hw.fp.format import BF16, FP16, FP32, parse_format
from hw.generate import to_verilog
from hw.sat.osre import DESIGNS, LATENCY, TopKLanes, TopKSorter
from sim.sat.osre import (magnitude_key, nm_decompress, nm_prune, random_weight_bits,
                           topk_group)
from sim.runner import run

GROUPS, GAP_PROB, STALL_PROB = 160, 0.3, 0.3
FLOAT_DTYPES = {FP16: np.float16, BF16: ml_dtypes.bfloat16, FP32: np.float32}


# -- golden model against independent references ---------------------------------------------
def _floats(bits, fmt):
    """Bit patterns as float64 values (NaN stays NaN)."""
    dtype = FLOAT_DTYPES[fmt]
    unsigned = np.uint16 if fmt.width == 16 else np.uint32
    with np.errstate(invalid="ignore"):                 # signalling NaNs quieten
        return np.asarray(bits, unsigned).view(dtype).astype(np.float64)


def _reference_topk(bits, n, fmt):
    """Plain-Python top-n of one group: sorted() by (magnitude, index) on float64 values;
    NaNs rank above infinity, by their magnitude bits (payload)."""
    floats = _floats(bits, fmt)
    mag_bits = [int(b) & (fmt.sign_mask - 1) for b in bits]

    def rank(j):
        nan = math.isnan(floats[j])
        return (not nan, -mag_bits[j] if nan else -abs(floats[j]), j)

    chosen = sorted(sorted(range(len(bits)), key=rank)[:n])
    return [int(bits[j]) for j in chosen], chosen


@pytest.mark.parametrize("fmt", ["fp16", "bf16", "fp32"])
@pytest.mark.parametrize("n,m", [(1, 2), (2, 4), (1, 4), (2, 8), (4, 8), (8, 8), (3, 5)])
def test_golden_topk_against_sorted_reference(n, m, fmt):
    fmt = parse_format(fmt)
    bits = random_weight_bits((400, m), fmt, np.random.default_rng(n * 100 + m))
    values, indices = topk_group(bits, n, fmt)
    for g in range(len(bits)):
        want_values, want_indices = _reference_topk(bits[g], n, fmt)
        assert indices[g].tolist() == want_indices and values[g].tolist() == want_values, g


@pytest.mark.parametrize("fmt", ["fp16", "bf16", "fp32"])
def test_golden_topk_against_stable_argsort(fmt):
    fmt = parse_format(fmt)
    n, m = 2, 8
    bits = random_weight_bits((3000, m), fmt, np.random.default_rng(7))
    floats = _floats(bits, fmt)
    finite = ~np.isnan(floats).any(axis=1)
    order = np.argsort(-np.abs(floats[finite]), axis=1, kind="stable")[:, :n]
    _, indices = topk_group(bits, n, fmt)
    assert finite.sum() > 1000
    assert np.array_equal(indices[finite], np.sort(order, axis=1))


def test_golden_ranking_rules():
    pz, nz, one, neg_one, inf, nan, neg_nan = 0x0000, 0x8000, 0x3C00, 0xBC00, 0x7C00, 0x7E00, 0xFE01
    group = np.array([[nz, pz, pz, nz]], np.uint16)            # -0 == +0: the first two
    assert topk_group(group, 2, "fp16")[1].tolist() == [[0, 1]]
    group = np.array([[one, neg_one, neg_one, one]], np.uint16)  # equal magnitude, lower index
    assert topk_group(group, 2, "fp16")[0].tolist() == [[one, neg_one]]
    group = np.array([[inf, 1, nan, neg_nan]], np.uint16)      # NaNs above inf, kept unchanged
    values, indices = topk_group(group, 2, "fp16")
    assert values.tolist() == [[nan, neg_nan]] and indices.tolist() == [[2, 3]]
    assert magnitude_key(np.array([nz, neg_nan]), "fp16").tolist() == [0, 0x7E01]


@pytest.mark.parametrize("axis", [0, 1])
def test_nm_prune_both_directions(axis):
    fmt, n, m = FP16, 2, 8
    rng = np.random.default_rng(axis)
    w = random_weight_bits((24, 32), fmt, rng)
    dense, values, indices = nm_prune(w, n, m, axis, fmt)
    rows = w if axis == 1 else w.T
    assert values.shape == indices.shape == (rows.shape[0], rows.shape[1] // m, n)
    assert np.array_equal(nm_decompress(values, indices, m, axis), dense)
    kept = np.zeros(rows.shape, bool).reshape(rows.shape[0], -1, m)
    np.put_along_axis(kept, indices, True, axis=-1)
    kept = kept.reshape(rows.shape)
    dense_rows = dense if axis == 1 else dense.T
    assert np.array_equal(dense_rows, np.where(kept, rows, 0))
    # Every kept magnitude is >= every pruned one in its group.
    key = magnitude_key(rows, fmt).reshape(rows.shape[0], -1, m)
    kept = kept.reshape(key.shape)
    low_kept = np.where(kept, key, np.iinfo(np.int64).max).min(axis=-1)
    high_pruned = np.where(kept, -1, key).max(axis=-1)
    assert np.all(low_kept >= high_pruned)
    # The backward set of W is the forward set of W^T.
    other = nm_prune(np.ascontiguousarray(w.T), n, m, 1 - axis, fmt)
    assert np.array_equal(other[0], dense.T) and np.array_equal(other[1], values)


def test_nm_prune_length_and_padding():
    w = random_weight_bits((4, 10), BF16, np.random.default_rng(3))
    with pytest.raises(ValueError, match="multiple of m"):
        nm_prune(w, 2, 4, 1, "bf16")
    dense, values, indices = nm_prune(w, 2, 4, 1, "bf16", pad=True)
    padded = np.concatenate([w, np.zeros((4, 2), w.dtype)], axis=1)
    assert np.array_equal(dense, nm_prune(padded, 2, 4, 1, "bf16")[0][:, :10])
    assert values.shape == (4, 3, 2) and np.all(indices[:, 2] < 2)   # last group: real only
    assert np.array_equal(nm_decompress(values, indices, 4, 1, length=10), dense)
    for bad, needle in [({"n": 0}, "n"), ({"n": 5}, "n"), ({"m": 1}, "m"), ({"axis": 2}, "axis")]:
        with pytest.raises(ValueError, match=needle):
            nm_prune(w, **{"n": 2, "m": 4, "axis": 1, "fmt": "bf16", "pad": True, **bad})


# -- RTL against the golden model -------------------------------------------------------------
def _phases(groups, fmt, layouts=("groups", "groups", "groups")):
    """Back to back (timed), random gaps and stalls, then heavy back-pressure (input ready
    must drop): ``2.125 * groups`` groups of ``fmt`` data."""
    return [
        {"fmt": fmt, "groups": groups, "gap_prob": 0.0, "stall_prob": 0.0,
         "layout": layouts[0]},
        {"fmt": fmt, "groups": groups, "gap_prob": GAP_PROB, "stall_prob": STALL_PROB,
         "layout": layouts[1]},
        {"fmt": fmt, "groups": max(groups // 8, 4), "gap_prob": 0.0, "stall_prob": 0.9,
         "layout": layouts[2], "expect_input_stalls": True},
    ]


def _run(design, params, phases, sim, seed, out_dir):
    """Run the cocotb testbench; returns the numbers it measured per phase. Each cocotb run
    costs seconds of start-up, so one run covers several phases (and data formats)."""
    component, used = DESIGNS[design].build(**params)
    top = "_".join([design, *(f"{k}{v}" for k, v in used.items() if k != "fmt"),
                    f"w{component.fmt.width}"])
    measured_path = out_dir / "measured.json"
    config = {"design": design, "params": used, "phases": phases, "seed": seed,
              "measured": str(measured_path)}
    run(component, top, "sim.sat.tb_osre", config, sim=sim)
    measured = json.loads(measured_path.read_text())
    timed = [v for v in measured.values() if "latency" in v]
    assert timed and all(v["latency"] == component.latency for v in timed)
    return measured


SORTER_CASES = [(1, 2), (2, 4), (1, 4), (2, 8), (4, 8), (8, 8)]


@pytest.mark.parametrize("n,m", SORTER_CASES, ids=[f"{n}of{m}" for n, m in SORTER_CASES])
def test_sorter_rtl_matches_golden(n, m, sim, tmp_path):
    """fp16 and bf16 data through one fp16 build (the Verilog depends on the width only,
    see test_verilog_depends_on_format_width_only); fp32 runs on the 3-lane OSRE below."""
    phases = _phases(GROUPS, "fp16") + _phases(GROUPS, "bf16")
    measured = _run("sat_topk", {"n": n, "m": m, "fmt": "fp16"}, phases, sim, n * m, tmp_path)
    steady = [v for v in measured.values() if "cycles" in v]
    assert len(steady) == 2
    assert all(v["cycles"] == GROUPS * m + LATENCY and v["cycles_per_group"] == m
               for v in steady)


LANES_CASES = [(1, 1, 4, "fp16", 64), (3, 3, 5, "fp32", 64), (4, 2, 8, "bf16", 64),
               (32, 2, 8, "fp16", 8)]


@pytest.mark.parametrize("lanes,n,m,fmt,groups", LANES_CASES,
                         ids=[f"lanes{c[0]}-{c[1]}of{c[2]}-{c[3]}" for c in LANES_CASES])
def test_osre_lanes_rtl_matches_bdwp(lanes, n, m, fmt, groups, sim, tmp_path):
    phases = _phases(groups, fmt, ("forward", "backward", "forward"))
    _run("sat_osre", {"lanes": lanes, "n": n, "m": m, "fmt": fmt}, phases, sim, lanes, tmp_path)


def test_verilog_depends_on_format_width_only():
    fp16, bf16 = (to_verilog(TopKSorter(n=2, m=4, fmt=f), "top") for f in ("fp16", "bf16"))
    assert fp16 == bf16 != to_verilog(TopKSorter(n=2, m=4, fmt="e5m2"), "top")


# -- parameters, properties, lint ---------------------------------------------------------------
@pytest.mark.parametrize("kwargs,needle", [
    ({"n": 0}, "n"), ({"n": 9}, "n"), ({"n": 1.0}, "n"), ({"m": 1, "n": 1}, "m"),
    ({"m": 65}, "m"), ({"m": True}, "m"), ({"fmt": "fp8"}, "fmt"), ({"fmt": 16}, "fmt"),
])
@pytest.mark.parametrize("cls", [TopKSorter, TopKLanes])
def test_parameter_validation(cls, kwargs, needle):
    with pytest.raises(ValueError, match=rf"^{needle}\b"):
        cls(**kwargs)


@pytest.mark.parametrize("lanes", [0, -1, 257, 2.0])
def test_lanes_validation(lanes):
    with pytest.raises(ValueError, match=r"^lanes\b"):
        TopKLanes(lanes=lanes)


def test_defaults_and_properties():
    sorter, params = DESIGNS["sat_topk"].build()
    assert params == {"n": 2, "m": 8, "fmt": "fp16"}
    assert (sorter.n, sorter.m, sorter.fmt, sorter.latency, sorter.throughput) == (2, 8, FP16, 2, 1)
    osre, params = DESIGNS["sat_osre"].build()
    assert params == {"lanes": 32, "n": 2, "m": 8, "fmt": "fp16"} and osre.lanes == 32
    payload = osre.signature.members["o"].signature.members["payload"].shape
    assert payload.size == 32 * (2 * 16 + 2 * 3)
    assert TopKSorter(n=1, m=2, fmt=BF16).signature.members["o"].signature.members[
        "payload"].shape.size == 16 + 1


@pytest.mark.parametrize("design,params", [("sat_topk", {}), ("sat_osre", {}),
                                           ("sat_topk", {"n": 1, "m": 2, "fmt": "fp32"}),
                                           ("sat_topk", {"n": 3, "m": 5})])
def test_verilator_lint_wall_clean(design, params, lint):
    component, _ = DESIGNS[design].build(**params)
    lint(to_verilog(component, design), design)
