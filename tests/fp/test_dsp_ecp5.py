"""The ECP5 MULT18X18D instantiation (hw/fp/dsp_ecp5.py): the multiplier-based units with
``dsp="ecp5"`` bit-exact against the golden model on both simulators (through the cell's
behavioural model), Verilator -Wall clean, latch-free, and the register placement around
the cell's own registers."""


import pytest

from hw.checks import latch_check
from hw.designs import build, design_name
from hw.fp.dsp_ecp5 import MAX_STAGES
from hw.fp.mul import FloatMul
from hw.fp.muladd import FloatMulAdd
from hw.fp.pipeline import place_registers
from hw.generate import to_verilog
from sim.runner import full_tier, run

FULL = full_tier()


def _id(design, params):
    return design_name(design, build(design, **params)[1])


def _run(design, params, sim, n, n_gaps, seed):
    """``sim.fp.tb_unit`` (golden vectors back to back, then with gaps in ``valid``)."""
    component, used = build(design, **params)
    config = {"design": design, "params": used, "n": n, "n_gaps": n_gaps, "gap_prob": 0.3,
              "seed": seed, "exhaustive": False}
    top = design_name(design, used)
    tests, failed = run(component, top, "sim.fp.tb_unit", config, sim=sim, test_name=top)
    assert tests >= 1 and failed == 0

#: make test: one FP32 multiplier (four cells, all three registers each).
QUICK = [("fp_mul", {"fmt": "fp32", "dsp": "ecp5"})]
#: make test-full: the MACs, every number of the cell's registers (0..3), the SparTANN lane.
MORE = [("fp_mac", {"ab_fmt": "fp16", "c_fmt": "fp32", "dsp": "ecp5"}),
        ("fp_axpy", {"fmt": "fp32", "dsp": "ecp5", "latency": 12}),
        ("fp_mac", {"ab_fmt": "bf16", "c_fmt": "fp32", "dsp": "ecp5", "latency": 9}),
        ("fp_mul", {"fmt": "bf16", "out_fmt": "fp32", "dsp": "ecp5", "latency": 6}),
        *[("fp_mul", {"fmt": "fp16", "dsp": "ecp5", "latency": lat}) for lat in (0, 1, 2, 3)]]


@pytest.mark.parametrize("design,params", QUICK, ids=[_id(d, p) for d, p in QUICK])
def test_dsp_units_bit_exact(design, params, sim, vectors):
    _run(design, {**params, "tag_width": 3}, sim, vectors(5000, 1000), vectors(2000, 500),
         seed=3)


@pytest.mark.skipif(not FULL, reason="full tier (TEST_FULL=1)")
@pytest.mark.parametrize("design,params", MORE, ids=[_id(d, p) for d, p in MORE])
def test_dsp_units_bit_exact_more(design, params, sim):
    _run(design, params, sim, 3000, 1000, seed=4)


@pytest.mark.parametrize("design,params", QUICK + MORE[:1],
                         ids=[_id(d, p) for d, p in QUICK + MORE[:1]])
def test_dsp_lint_and_latches(design, params, lint, tmp_path):
    component, _ = build(design, **params)
    text = lint(to_verilog(component, design), design)
    assert "`ifndef SYNTHESIS" in text and text.count("module MULT18X18D") == 1
    assert latch_check(text, design, tmp_path) == []


def test_dsp_placement_and_latency():
    # the cell's registers stand for the registers around the product step
    assert FloatMul("fp32", dsp="ecp5").latency == FloatMul.DEFAULT_LATENCY + 1
    assert FloatMulAdd(dsp="ecp5").latency == FloatMulAdd.DEFAULT_LATENCY + 1
    placement = dict(FloatMul("fp32", dsp="ecp5").register_placement)
    assert placement["decode"] == 0 and placement["partial"] == MAX_STAGES
    for latency in range(0, 20):
        unit = FloatMulAdd("fp32", "fp32", dsp="ecp5", latency=latency)
        counts = [c for _, c in unit.register_placement]
        assert sum(counts) == latency and (latency == 0 or counts[-1] >= 1)
    # no register of the steps' own: the placement is unchanged
    assert place_registers([1, 2, 1], 2, [0, 0, 0]) == place_registers([1, 2, 1], 2)
    with pytest.raises(ValueError, match="latency 2 is below"):
        place_registers([1, 2, 1], 2, [0, 3, 0])


def test_dsp_parameter_errors():
    with pytest.raises(ValueError, match="dsp must be None or one of ecp5, not 'xilinx7'"):
        FloatMul("fp32", dsp="xilinx7")
    from amaranth.hdl import Module, Signal
    from hw.fp.dsp_ecp5 import ecp5_mult
    with pytest.raises(ValueError, match="a is 19 bits wide"):
        ecp5_mult(Module(), Signal(19), Signal(4), 2, "x")
    with pytest.raises(ValueError, match="stages must be 0..3"):
        ecp5_mult(Module(), Signal(4), Signal(4), 4, "x")
