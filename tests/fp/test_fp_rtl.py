"""RTL of every FP unit against the golden model, bit for bit, through cocotb.

Default latency: >= 50,000 TestFloat-style vectors per unit and format back to back
(exhaustive where the input space is 2**16), then 10,000 more with random gaps in
``valid``, with a user tag (in the quick tier 20,000 + 4,000 on Verilator, exhaustive where
it would be, and 2,000 + 1,000 on Icarus, not exhaustive; see ``tests/conftest.py``).
Latency 0 (the minimum) and a latency one above the number of datapath steps, and
non-preset formats: fewer vectors, with and without gaps.
"""

import pytest

from hw.designs import build, design_name
from sim.fp.cases import exhaustive_size
from sim.runner import full_tier, run

FULL_VECTORS, GAP_VECTORS, GAP_PROB = 50_000, 10_000, 0.3
if not full_tier():                            # the quick tier (make test)
    FULL_VECTORS, GAP_VECTORS = 20_000, 4_000
PRESETS = ("fp32", "fp16", "bf16")

FULL = [
    *[("fp_add", {"fmt": f}) for f in PRESETS],
    *[("fp_mul", {"fmt": f}) for f in PRESETS],
    ("fp_mul", {"fmt": "fp16", "out_fmt": "fp32"}),
    ("fp_mac", {"ab_fmt": "fp16", "c_fmt": "fp32"}),
    ("fp_mac", {"ab_fmt": "bf16", "c_fmt": "fp32"}),
    ("fp_fmac", {"ab_fmt": "fp16", "c_fmt": "fp32"}),
    ("fp_fmac", {"ab_fmt": "fp16", "c_fmt": "fp32", "ftz": True}),
    *[("fp_axpy", {"fmt": f}) for f in PRESETS],
    ("fp_convert", {"in_fmt": "fp16", "out_fmt": "fp32"}),
    ("fp_convert", {"in_fmt": "bf16", "out_fmt": "fp32"}),
    ("fp_convert", {"in_fmt": "fp32", "out_fmt": "fp16"}),
    ("fp_convert", {"in_fmt": "fp32", "out_fmt": "bf16"}),
    ("fp_convert", {"in_fmt": "fp16", "out_fmt": "bf16"}),
    ("fp_convert", {"in_fmt": "bf16", "out_fmt": "fp16"}),
    *[("fp_div", {"fmt": f}) for f in PRESETS],
    *[("fp_compare", {"fmt": f}) for f in PRESETS],
    *[("fp_compare", {"fmt": f, "magnitude": True}) for f in PRESETS],
    *[("fp_abs", {"fmt": f}) for f in PRESETS],
]

# (design, params): latencies 0 (the minimum: combinational) and one register after every
# datapath step + 1 (an extra output stage); the default latency is covered by FULL.
LATENCY_UNITS = [
    ("fp_add", {"fmt": "fp32"}), ("fp_mul", {"fmt": "fp16"}), ("fp_mac", {}), ("fp_fmac", {}),
    ("fp_fmac", {"ftz": True}),
    ("fp_convert", {"in_fmt": "fp32", "out_fmt": "fp16"}), ("fp_div", {"fmt": "bf16"}),
    ("fp_compare", {"fmt": "fp32"}), ("fp_abs", {"fmt": "fp16"}),
]

ODD_FORMATS = [
    ("fp_add", {"fmt": "e5m2"}), ("fp_mul", {"fmt": "e3m4", "out_fmt": "e6m9"}),
    ("fp_div", {"fmt": "e6m9"}), ("fp_convert", {"in_fmt": "fp16", "out_fmt": "e4m3"}),
    ("fp_mac", {"ab_fmt": "e4m3", "c_fmt": "bf16"}),
    ("fp_fmac", {"ab_fmt": "e4m3", "c_fmt": "bf16"}),
    ("fp_fmac", {"ab_fmt": "e4m3", "c_fmt": "bf16", "ftz": True}),
]


def _id(design, params):
    return design_name(design, build(design, **params)[1])


def _run(design, params, sim, n, n_gaps, seed, name=None, exhaustive=True):
    component, used = build(design, **params)
    exhaustive = exhaustive and exhaustive_size(design, used) is not None
    config = {"design": design, "params": used, "n": n, "n_gaps": n_gaps,
              "gap_prob": GAP_PROB, "seed": seed, "exhaustive": exhaustive}
    top = design_name(design, used)
    tests, failed = run(component, top, "sim.fp.tb_unit", config, sim=sim, test_name=name or top)
    assert tests >= 1 and failed == 0


@pytest.mark.parametrize("design,params", FULL, ids=[_id(d, p) for d, p in FULL])
def test_unit_full_vectors(design, params, sim, vectors):
    _run(design, {**params, "tag_width": 5}, sim, vectors(FULL_VECTORS, 2000),
         vectors(GAP_VECTORS, 1000), seed=1, exhaustive=vectors(True, False))


def _latencies(design, params):
    steps = len(build(design, **params)[0].steps())
    return [0, steps + 1]


LATENCY_CASES = [(d, p, lat) for d, p in LATENCY_UNITS for lat in _latencies(d, p)]


@pytest.mark.icarus_full         # the 4-state check of every unit: test_unit_full_vectors
@pytest.mark.parametrize("design,params,latency", LATENCY_CASES,
                         ids=[f"{_id(d, p)}-lat{lat}" for d, p, lat in LATENCY_CASES])
def test_unit_latencies(design, params, latency, sim, vectors):
    _run(design, {**params, "latency": latency, "tag_width": 3}, sim, vectors(4000, 1000),
         vectors(3000, 1000), seed=2)


@pytest.mark.parametrize("design,params", ODD_FORMATS, ids=[_id(d, p) for d, p in ODD_FORMATS])
def test_unit_other_formats(design, params, sim, vectors):
    _run(design, params, sim, vectors(8000, 2000), vectors(2000, 1000), seed=3)
