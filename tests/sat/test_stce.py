"""The STCE systolic array on the RTL: tiled dense and N:M GEMMs, bit-exact, with stalls;
without stalls the measured cycles must match ``sim.sat.cycles`` within 2%."""


import numpy as np
import pytest

from hw.sat.stce import SystolicArray, SystolicPE
from sim.fp import golden as fp
from sim.sat.stce import gemm_chain
from sim.runner import run
from hw.fp.format import BF16, FP16, FP32

# (rows, cols, group, T, K, Cout, N, gap/stall probability, PEs as instances of one module,
#  flush-to-zero)
CASES = [
    (1, 1, 1, 6, 5, 1, 1, 0.0, True, False),        # 1x1, dense
    (2, 3, 4, 12, 16, 5, 2, 0.3, True, False),      # 2:4, Cout not a multiple of cols, stalls
    (2, 3, 4, 12, 16, 5, 4, 0.0, False, False),     # dense on a 4-wide bus, PEs inlined
    (4, 4, 8, 20, 32, 6, 2, 0.3, True, False),      # 2:8 (the paper's ratio), stalls
    (4, 4, 8, 20, 32, 6, 4, 0.0, True, False),      # 4:8
    (4, 4, 8, 20, 24, 4, 1, 0.0, True, False),      # 1:8
    (4, 4, 8, 64, 64, 8, 8, 0.0, True, False),      # dense, T > latency: steady-state streaming
    (2, 2, 2, 10, 12, 3, 1, 0.3, True, False),      # 1:2, stalls
    pytest.param(8, 8, 4, 16, 32, 10, 1, 0.3, True, False,   # 8x8, 1:4, Cout not a
                 marks=pytest.mark.full),                   # multiple of cols, stalls
    (8, 8, 8, 24, 64, 8, 2, 0.0, True, False),      # 8x8, 2:8, cycles checked
    (2, 3, 4, 12, 16, 5, 2, 0.3, True, True),    # flush-to-zero, stalls
    (4, 4, 8, 20, 32, 6, 2, 0.0, False, True),   # flush-to-zero, 2:8, PEs inlined
]


@pytest.mark.parametrize("rows,cols,group,t,k,cout,n,p,hier,ftz", CASES,
                         ids=[f"{c[0]}x{c[1]}-g{c[2]}-{c[6]}of{c[2]}-p{c[7]}"
                              + ("" if c[8] else "-flat") + ("-ftz" if c[9] else "")
                              for c in (getattr(c, "values", c) for c in CASES)])
def test_systolic_gemm(rows, cols, group, t, k, cout, n, p, hier, ftz, sim):
    array_cfg = dict(rows=rows, cols=cols, group=group, in_fmt="fp16", acc_fmt="fp32",
                     mul_latency=2, add_latency=3, hierarchical=hier, ftz=ftz)
    config = {"array": array_cfg, "t": t, "k": k, "cout": cout, "n": n, "group": group,
              "seed": rows * 100 + n, "gap_prob": p, "stall_prob": p}
    top = f"stce_{rows}x{cols}_g{group}" + ("" if hier else "_flat") + ("_ftz" if ftz else "")
    tests, failed = run(SystolicArray(**array_cfg), top, "sim.sat.tb_stce", config, sim=sim,
                        test_name=f"{top}_{n}_{p}")
    assert tests == 1 and failed == 0


def test_gemm_chain_matches_float64():
    """The order-faithful golden GEMM stays within float32 rounding of float64 math."""
    rng = np.random.default_rng(0)
    t, k, cout = 16, 64, 8
    x16 = rng.standard_normal((t, k)).astype(np.float16)
    w16 = rng.standard_normal((k, cout)).astype(np.float16)
    idx = np.tile((np.arange(k) % 4)[:, None], (1, cout)).astype(np.uint64)
    y = gemm_chain(x16.view(np.uint16).astype(np.uint64), w16.view(np.uint16).astype(np.uint64),
                   idx, 4, FP16, FP32)
    got = y.astype(np.uint32).view(np.float32).astype(np.float64)
    ref = x16.astype(np.float64) @ w16.astype(np.float64)
    bound = k * np.finfo(np.float32).eps * (np.abs(x16.astype(np.float64))
                                            @ np.abs(w16.astype(np.float64)))
    assert np.all(np.abs(got - ref) <= bound)
    # Format names work wherever FloatFormat objects do (hw.fp.format.format_args).
    assert np.array_equal(y, gemm_chain(x16.view(np.uint16), w16.view(np.uint16), idx, 4,
                                        "fp16", acc_fmt="fp32"))
    assert np.array_equal(fp.add("fp32", y, y), fp.add(FP32, y, y))
    assert np.array_equal(fp.from_float64("bf16", ref), fp.from_float64(BF16, ref))


def test_array_parameters_are_validated():
    for kwargs, name in [({"rows": 0, "cols": 2}, "rows"), ({"rows": 2, "cols": 0}, "cols"),
                         ({"rows": 2, "cols": 2, "group": 0}, "group"),
                         ({"rows": 2, "cols": 2, "in_fmt": "fp12"}, "in_fmt"),
                         ({"rows": 2, "cols": 2, "add_latency": -1}, "add_latency"),
                         ({"rows": 2, "cols": 2, "ftz": 1}, "ftz"),
                         ({"rows": 2, "cols": 2, "in_fmt": "bf16", "ftz": True}, "ftz")]:
        with pytest.raises(ValueError, match=name):
            SystolicArray(**kwargs)
    array = SystolicArray(rows=4, cols=3, mul_latency=2, add_latency=3)
    assert array.latency == 4 * 3 + 3 + 2 and array.throughput == 1


def test_resnet18_benchmark_model_runs():
    """`make bench`'s ResNet-18 study: 2:8 FW + BW dX cost about M/N = 4x less, and the whole
    iteration (dW dense) stays within its limit, computed from the same dense cycles."""
    from sim.bench.sat_resnet18 import run as bench
    _, summary = bench(batch=2)
    assert 3.5 < summary["fwd_bwd_speedup"] <= summary["fwd_bwd_speedup_limit"] == 4.0
    assert 0.5 < summary["dense_utilization"] <= 1.0
    assert 1.0 < summary["iteration_speedup"] <= summary["iteration_speedup_limit"]
    assert summary["macs"] == sum(p["macs"] for p in summary["phases"].values())


def test_resnet18_true_macs():
    """Every GEMM is true work: dX of each layer (stride 2 included, split into sub-pixel
    phases) has exactly the forward MACs, dW too; conv1 has no dX; utilization <= 1."""
    from sim.bench.sat_resnet18 import LAYERS, layer_gemms, run as bench

    def macs(gemms):
        return sum(t * k * c for t, k, c in gemms)

    strided = 0
    for name, cin, cout, kernel, stride, size in LAYERS:
        g = layer_gemms(cin, cout, kernel, stride, size, batch=32)
        out = size // stride
        assert macs(g["fwd"]) == 32 * out * out * cin * kernel * kernel * cout
        assert macs(g["bwd"]) == macs(g["fwd"]) == macs(g["wgt"]), name
        if stride == 2 and name != "conv1":
            strided += 1
            assert len(g["bwd"]) == (4 if kernel == 3 else 1)
    assert strided == 6
    # layer2.0.conv1 (3x3, stride 2, 56 -> 28): phases of 1, 2, 2 and 4 taps, 28x28 pixels
    assert sorted(layer_gemms(64, 128, 3, 2, 56, 32)["bwd"]) == sorted(
        (32 * 28 * 28, 128 * taps, 64) for taps in (1, 2, 2, 4))
    assert layer_gemms(3, 64, 7, 2, 224, 32, input_grad=False)["bwd"] == []
    results, summary = bench()          # batch 32: dW costs about what FW and dX do
    assert 1.8 < summary["iteration_speedup"] <= summary["iteration_speedup_limit"] < 2.0
    assert summary["phases"]["BW dX"]["macs"] == (summary["phases"]["FW"]["macs"]
                                                  - macs(layer_gemms(3, 64, 7, 2, 224, 32)["fwd"]))
    for r in results:
        for step in ("fwd", "bwd", "wgt"):
            for g in r[step]["gemms"]:
                assert 0 < g["dense_util"] <= 1.0 and g["sparse"] <= g["dense"]


@pytest.mark.parametrize("ftz,mul_latency", [
    (False, 4), (True, 4), pytest.param(False, 5, marks=pytest.mark.icarus_full)],
    ids=["ieee", "ftz", "ieee-m5"])
def test_systolic_gemm_dsp(ftz, mul_latency, sim):
    """The uMAC's product in an instantiated ECP5 MULT18X18D with two of its registers
    (``dsp="ecp5"``, 4 + 8 stages: the ECP5 >= 150 MHz PE; at 5 + 8 a fabric register
    between the select and the cell), simulated through the cell's behavioural model:
    bit-exact with stalls."""
    array_cfg = dict(rows=2, cols=3, group=4, in_fmt="fp16", acc_fmt="fp32",
                     mul_latency=mul_latency, add_latency=8, ftz=ftz, dsp="ecp5")
    config = {"array": array_cfg, "t": 12, "k": 16, "cout": 5, "n": 2, "group": 4, "seed": 7,
              "gap_prob": 0.3, "stall_prob": 0.3}
    top = (f"stce_2x3_g4_dsp{'' if mul_latency == 4 else f'_m{mul_latency}'}"
           + ("_ftz" if ftz else ""))
    tests, failed = run(SystolicArray(**array_cfg), top, "sim.sat.tb_stce", config, sim=sim,
                        test_name=f"{top}_dsp")
    assert tests == 1 and failed == 0


def test_pe_dsp_stages():
    """With ``dsp="ecp5"`` the product side's registers are shared out as documented: the
    bus register, from 5 stages one after the select, up to three in the cell, one at the
    end."""
    for mul_latency, select, cell in ((2, 0, 0), (3, 0, 1), (4, 0, 2), (5, 1, 2), (6, 1, 3),
                                      (8, 1, 3)):
        pe = SystolicPE(group=8, in_fmt="fp16", acc_fmt="fp32", mul_latency=mul_latency,
                        add_latency=8, dsp="ecp5")
        assert (pe.select_stages, pe.dsp_stages) == (select, cell), mul_latency
    assert SystolicPE(group=8, in_fmt="fp16", acc_fmt="fp32", mul_latency=5,
                      add_latency=3).select_stages == 0
    with pytest.raises(ValueError, match=r"^dsp='ecp5' needs mul_latency >= 2"):
        SystolicPE(group=8, in_fmt="fp16", acc_fmt="fp32", mul_latency=1, add_latency=3,
                   dsp="ecp5")
    with pytest.raises(ValueError, match=r"^dsp='ecp5' needs the fused uMAC"):
        SystolicPE(group=8, in_fmt="fp32", acc_fmt="fp32", mul_latency=4, add_latency=3,
                   dsp="ecp5")
