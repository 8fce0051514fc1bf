"""WUVE momentum-SGD lanes (hw/sat/wuve.py) and their golden model (sim/sat/wuve.py).

Golden model: bit-exact against numpy float32 arithmetic in the same order, within 2 ulps
(of the terms' magnitudes) of ``torch.optim.SGD`` step by step (skipped when torch is not
installed), close to float64 math over a multi-step run, and the signed-zero behaviour of the
first step. RTL: bit-exact against the golden model through cocotb on every simulator
(lanes 1, 3 and 4; default, an intermediate and the minimum latency; both weight-decay
modes; gradients with subnormals, +-inf, NaN, +-0; weights at the FP16 overflow and
underflow edges; random input gaps and output stalls) with a throughput and latency check.
Parameter validation and Verilator -Wall lint. The 32-lane builds take minutes, so the
32-lane RTL run and the lint of the default need ``RUN_SLOW=1``.
"""

import os

import numpy as np
import pytest

from hw.fp.add import FloatAdd
from hw.fp.format import FP16, FP32
from hw.generate import to_verilog
from hw.sat.wuve import DESIGNS, SGDLanes, default_latency
from sim.fp import vectors
from sim.fp import golden as fp
from sim.sat.wuve import config_bits, decay_bits, first_step_v, sgd_step
from sim.runner import run

GAP_PROB = STALL_PROB = 0.3
#: lr, mu, wd of each configuration case.
CONFIGS = {
    "typical": (0.01, 0.9, 5e-4),
    "zero_lr": (0.0, 0.9, 1e-4),
    "zero_mu_wd": (0.1, 0.0, 0.0),
    "extreme": (1e20, -1.5, 3e-30),      # overflowing products, negative momentum
}
slow = pytest.mark.skipif(os.environ.get("RUN_SLOW") != "1",
                          reason="32-lane Verilog takes minutes to build; set RUN_SLOW=1")
#: Icarus (the slow 4-state cross-check) runs 1/ICARUS_SHARE of the transfers.
ICARUS_SHARE = 8


@pytest.fixture(autouse=True)
def _quiet_fp():
    with np.errstate(all="ignore"):
        yield


# -- operands ------------------------------------------------------------------------------
def _near(fmt, value, rng, count, ulps):
    """``fmt`` patterns within ``ulps`` ulps of ``+-value``."""
    base = int(fp.from_float64(fmt, value))
    mags = np.clip(base + rng.integers(-ulps, ulps + 1, count), 0, fmt.inf)
    return (mags | (rng.integers(0, 2, count) << (fmt.width - 1))).astype(np.uint64)


def _pick(rng, pool, count):
    return rng.choice(np.asarray(pool, dtype=np.uint64), count)


def operands(count, seed):
    """FP16 gradients, FP32 weights and momenta: training-like values mixed with edge cases.

    Categories (equal shares, shuffled): typical values (gradients down to FP16 subnormals);
    special FP16 gradients (+-0, subnormals, +-inf, NaN, max normal) and special FP32 weights
    and momenta; random bit patterns; weights near the FP16 overflow boundary (65520) and
    near the FP16 subnormal/zero boundaries with tiny gradient and momentum, so that
    ``w_lp`` rounds at those edges; first steps (``v = -0``).
    """
    rng = np.random.default_rng(seed)
    parts = [count // 6 + (i < count % 6) for i in range(6)]

    def typical(n):
        g = fp.from_float64(FP16, rng.normal(0, 1, n) * 10.0 ** rng.uniform(-9, 0, n))
        return g, fp.from_float64(FP32, rng.normal(0, 0.5, n)), \
            fp.from_float64(FP32, rng.normal(0, 1e-2, n))

    def special(n):
        return (_pick(rng, vectors.special_values(FP16), n),
                _pick(rng, vectors.special_values(FP32), n),
                _pick(rng, vectors.special_values(FP32), n))

    def random_bits(n):
        return (rng.integers(0, 1 << 16, n).astype(np.uint64),
                rng.integers(0, 1 << 32, n).astype(np.uint64),
                rng.integers(0, 1 << 32, n).astype(np.uint64))

    def tiny_update(n, w):
        g = _pick(rng, [0, 0x8000, 1, 0x8001, 2, 0x83ff], n)
        return g, w, fp.from_float64(FP32, rng.normal(0, 1e-12, n))

    def overflow_edge(n):
        return tiny_update(n, np.concatenate([_near(FP32, 65520.0, rng, n - n // 2, 64),
                                              _near(FP32, 65504.0, rng, n // 2, 64)]))

    def underflow_edge(n):
        edges = [2.0 ** -25, 2.0 ** -24, 1.5 * 2.0 ** -24, 2.0 ** -14, 2.0 ** -15 * 1.25]
        w = np.concatenate([_near(FP32, e, rng, k, 300) for e, k in
                            zip(edges, [n // 5 + (i < n % 5) for i in range(5)])])
        return tiny_update(n, w)

    def first_step(n):
        g, w, _ = typical(n)
        return g, w, np.full(n, first_step_v(), dtype=np.uint64)

    makers = [typical, special, random_bits, overflow_edge, underflow_edge, first_step]
    columns = [np.concatenate(c) for c in zip(*(make(k) for make, k in zip(makers, parts)))]
    order = rng.permutation(count)
    return {name: col[order].astype(np.uint64) for name, col in zip("gwv", columns)}


# -- golden model ----------------------------------------------------------------------------
def numpy_step(g, w, v, lr, mu, wd, decoupled_wd=False):
    """The lane's order in numpy float32 (each operation rounded once)."""
    g32 = g.astype(np.uint16).view(np.float16).astype(np.float32)
    w, v = w.astype(np.uint32).view(np.float32), v.astype(np.uint32).view(np.float32)
    lr, mu, wd = np.float32(lr), np.float32(mu), np.float32(wd)
    if decoupled_wd:
        v_new = mu * v + g32
        w_new = (np.float32(1) - lr * wd) * w - lr * v_new
    else:
        v_new = mu * v + (g32 + wd * w)
        w_new = w - lr * v_new
    bits = [x.view(np.uint32).astype(np.uint64) for x in (w_new, v_new)]
    return (*bits, w_new.astype(np.float16).view(np.uint16).astype(np.uint64))


@pytest.mark.parametrize("decoupled_wd", [False, True], ids=["coupled", "decoupled"])
@pytest.mark.parametrize("config", CONFIGS)
def test_golden_matches_numpy_float32(config, decoupled_wd):
    ops = operands(30_000, seed=11)
    got = sgd_step(ops["g"], ops["w"], ops["v"], *CONFIGS[config], decoupled_wd=decoupled_wd)
    want = numpy_step(ops["g"], ops["w"], ops["v"], *CONFIGS[config], decoupled_wd)
    for name, fmt, a, b in zip(("w", "v", "w_lp"), (FP32, FP32, FP16), got, want):
        a, b = fp.canonicalize_nan(fmt, a), fp.canonicalize_nan(fmt, b)
        bad = np.flatnonzero(a != b)
        assert bad.size == 0, (f"{name}: {bad.size} mismatches, first operands "
                               f"{[hex(int(ops[k][bad[0]])) for k in 'gwv']}")


def _f64(bits):
    return fp.to_float64(FP32, bits)


def test_golden_within_two_ulps_of_torch_sgd():
    """Step by step from torch's own state (the first step with ``v = -0``), the golden model
    stays within 2 FP32 ulps of the sum of the magnitudes of the terms (``|mu*v| + |g| +
    |wd*w|`` for ``v'``, ``|w| + |lr*v'|`` for ``w'``). torch's CPU kernels fuse
    ``g + wd*w`` and ``w - lr*v'`` into multiply-adds, so where the terms cancel, the results
    differ by many ulps of the (small) result itself."""
    torch = pytest.importorskip(
        "torch", reason="torch is an optional cross-check (pip install torch); not installed")
    rng = np.random.default_rng(5)
    lr, mu, wd = (float(np.float32(x)) for x in CONFIGS["typical"])
    w0 = rng.normal(0, 0.5, 20_000).astype(np.float32)
    param = torch.nn.Parameter(torch.from_numpy(w0.copy()))
    opt = torch.optim.SGD([param], lr=lr, momentum=mu, weight_decay=wd, dampening=0,
                          nesterov=False)
    w_bits = w0.view(np.uint32).astype(np.uint64)
    v_bits = np.full(w0.size, first_step_v(), dtype=np.uint64)
    for step in range(6):
        g16 = (rng.normal(0, 1, w0.size) * 10.0 ** rng.uniform(-6, 0, w0.size)).astype(np.float16)
        want_w, want_v, _ = sgd_step(g16.view(np.uint16), w_bits, v_bits, lr, mu, wd)
        w, v = _f64(w_bits), _f64(v_bits)
        scales = {"v": np.abs(mu * v) + np.abs(g16.astype(np.float64)) + np.abs(wd * w),
                  "w": np.abs(w) + np.abs(lr * _f64(want_v))}
        param.grad = torch.from_numpy(g16.astype(np.float32))
        opt.step()
        w_bits = param.detach().numpy().view(np.uint32).astype(np.uint64)
        v_bits = opt.state[param]["momentum_buffer"].numpy().view(np.uint32).astype(np.uint64)
        for name, ours, theirs in (("w", want_w, w_bits), ("v", want_v, v_bits)):
            ulp = np.spacing(scales[name].astype(np.float32)).astype(np.float64)
            worst = np.max(np.abs(_f64(ours) - _f64(theirs)) / ulp)
            assert worst <= 2, f"step {step}: {name} differs by {worst} ulps of its terms"


@pytest.mark.parametrize("decoupled_wd", [False, True], ids=["coupled", "decoupled"])
def test_golden_tracks_float64_over_many_steps(decoupled_wd):
    rng = np.random.default_rng(9)
    lr, mu, wd = CONFIGS["typical"]
    n, steps = 4096, 40
    w_bits = fp.from_float64(FP32, rng.normal(0, 0.5, n))
    v_bits = np.full(n, first_step_v(), dtype=np.uint64)
    w64, v64 = fp.to_float64(FP32, w_bits), np.zeros(n)
    for _ in range(steps):
        g = fp.from_float64(FP16, rng.normal(0, 1e-2, n))
        g64 = fp.to_float64(FP16, g)
        w_bits, v_bits, w_lp = sgd_step(g, w_bits, v_bits, lr, mu, wd, decoupled_wd=decoupled_wd)
        if decoupled_wd:
            v64 = mu * v64 + g64
            w64 = (1 - lr * wd) * w64 - lr * v64
        else:
            v64 = mu * v64 + g64 + wd * w64
            w64 = w64 - lr * v64
    # At most about one FP32 ulp per step (the rounded decay factor of SGDW acts every step).
    np.testing.assert_allclose(fp.to_float64(FP32, w_bits), w64, rtol=steps * 2 ** -23, atol=1e-7)
    np.testing.assert_allclose(fp.to_float64(FP32, v_bits), v64, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(fp.to_float64(FP16, w_lp), w64, rtol=2 ** -10, atol=2 ** -25)


def test_first_step_minus_zero_momentum_gives_v_equal_d():
    """``v = -0`` reproduces torch's first step (``v' = d``) for every ``d``, -0 included;
    ``v = +0`` turns ``d = -0`` into ``+0`` (and so can flip the sign of a zero ``w'``)."""
    g_pool, w_pool = vectors.special_values(FP16), vectors.special_values(FP32)[:32]
    g, w = np.repeat(g_pool, w_pool.size), np.tile(w_pool, g_pool.size)   # every pair
    for mu in (0.9, 0.0):
        d = fp.add(FP32, fp.convert(g, FP16, FP32), fp.mul(config_bits(5e-4, "fp32"), w, FP32))
        _, v_minus, _ = sgd_step(g, w, np.full(g.size, first_step_v()), 0.01, mu, 5e-4)
        assert np.array_equal(v_minus, d)
        _, v_plus, _ = sgd_step(g, w, np.zeros(g.size), 0.01, mu, 5e-4)
        assert np.array_equal(v_plus, np.where(d == FP32.sign_mask, 0, d))
    # -0 weight, -0 gradient: torch gives w' = -0 - lr*(-0) = +0; a +0 momentum would give -0.
    minus_zero = np.array([FP32.sign_mask], dtype=np.uint64)
    assert sgd_step([0x8000], minus_zero, minus_zero, 0.01, 0.9, 5e-4)[0][0] == 0
    assert sgd_step([0x8000], minus_zero, [0], 0.01, 0.9, 5e-4)[0][0] == FP32.sign_mask


def test_decay_bits_rounding():
    assert decay_bits(0.1, 0.01, "fp32") == config_bits(float(np.float32(1) - np.float32(0.1)
                                                              * np.float32(0.01)), "fp32")
    assert decay_bits(0.0, 0.5, "fp32") == config_bits(1.0, "fp32")


# -- parameters ------------------------------------------------------------------------------
@pytest.mark.parametrize("name,value", [
    ("lanes", 0), ("lanes", -1), ("lanes", 2.0), ("lanes", True),
    ("grad_fmt", "fp8"), ("master_fmt", "e1m2"), ("weight_out_fmt", 16),
    ("latency", 0), ("latency", 257), ("latency", "3"), ("decoupled_wd", 1),
    ("decoupled_wd", "yes"),
])
def test_bad_parameters_raise_value_error_naming_them(name, value):
    with pytest.raises(ValueError, match=name):
        SGDLanes(**{name: value})


def test_interface_and_properties():
    lanes = SGDLanes(lanes=3)
    assert (lanes.lanes, lanes.latency, lanes.throughput) == (3, default_latency(), 1)
    assert default_latency() - default_latency(True) == FloatAdd.DEFAULT_LATENCY
    assert lanes.config_names == ("lr", "mu", "wd")
    assert SGDLanes(lanes=1, decoupled_wd=True).config_names == ("lr", "mu", "decay")
    members = dict(lanes.signature.members)
    assert set(members) == {"lr", "mu", "wd", "i", "o"}
    assert lanes.i.payload.shape().size == 3 * 80 and lanes.o.payload.shape().size == 3 * 80
    assert sum(c for _, c in lanes.register_placement) == default_latency()
    assert sum(c for _, c in SGDLanes(lanes=1, latency=40).register_placement) == 40
    assert set(lanes.port_doc) >= {"lr", "mu", "wd", "i__payload", "o__payload"}


def test_design_entry_defaults():
    component, params = DESIGNS["sat_wuve"].build()
    assert params == {"lanes": 32, "grad_fmt": "fp16", "master_fmt": "fp32",
                      "weight_out_fmt": "fp16", "latency": None, "decoupled_wd": False,
                      "hierarchical": True}
    assert component.lanes == 32 and component.latency == default_latency()
    component, _ = DESIGNS["sat_wuve"].build(lanes=2, latency=7, decoupled_wd=True)
    assert component.latency == 7 and component.decoupled_wd


@pytest.mark.parametrize("params", [{"lanes": 1},
                                    {"lanes": 2, "decoupled_wd": True, "latency": 1}],
                         ids=["lanes1", "lanes2-decoupled-lat1"])
def test_verilator_lint_wall_clean(params, lint):
    lint(to_verilog(SGDLanes(**params), "sat_wuve"), "sat_wuve")


@slow
def test_verilator_lint_wall_clean_default(lint):
    lint(to_verilog(DESIGNS["sat_wuve"].build()[0], "sat_wuve"), "sat_wuve")


# -- RTL against the golden model ------------------------------------------------------------
def _case(config, transfers, lanes, seed, gaps=False, stalls=False):
    """A tb case: ``timed`` (back to back, no stalls) unless gaps or stalls are drawn."""
    lr, mu, wd = CONFIGS[config]
    ops = operands(transfers * lanes, seed)
    return {"name": f"{config}{'-gaps' * gaps}{'-stalls' * stalls}", "lr": lr, "mu": mu,
            "wd": wd, "gap_prob": GAP_PROB * gaps, "stall_prob": STALL_PROB * stalls,
            "timed": not (gaps or stalls),
            **{k: v.tolist() for k, v in ops.items()}}


def _run_rtl(params, plan, sim, seed):
    """Build ``SGDLanes(**params)`` and run the cases of ``plan`` ((config, transfers,
    gaps, stalls) tuples) in one simulation."""
    component = SGDLanes(**params)
    full = {"lanes": component.lanes, "grad_fmt": component.grad_fmt.name,
            "master_fmt": component.master_fmt.name,
            "weight_out_fmt": component.weight_out_fmt.name,
            "latency": component.latency, "decoupled_wd": component.decoupled_wd,
            "hierarchical": component._hierarchical}
    share = ICARUS_SHARE if sim == "icarus" else 1
    cases = [_case(c, max(1, n // share), component.lanes, seed + i, g, s)
             for i, (c, n, g, s) in enumerate(plan)]
    top = "sat_wuve_" + "_".join(f"{k.replace('_', '')}{v}" for k, v in params.items()).lower()
    config = {"params": full, "latency": component.latency, "seed": seed, "cases": cases}
    tests, failed = run(component, top, "sim.sat.tb_wuve", config, sim=sim)
    assert tests >= 1 and failed == 0


RTL = {   # params, [(config, transfers, gaps, stalls)]
    "lanes1": ({"lanes": 1}, [     # default latency
        ("typical", 1500, False, False), ("typical", 1500, True, True),
        ("zero_lr", 300, True, False), ("zero_mu_wd", 300, False, True),
        ("extreme", 300, True, True)]),
    "lanes4-lat8": ({"lanes": 4, "latency": 8}, [
        ("typical", 600, False, False), ("typical", 600, True, True),
        ("zero_lr", 150, True, True), ("zero_mu_wd", 150, True, True),
        ("extreme", 150, True, True)]),
    "lanes3-decoupled-lat1-flat": ({"lanes": 3, "decoupled_wd": True, "latency": 1,
                                    "hierarchical": False}, [
        ("typical", 700, False, False), ("typical", 700, True, True),
        ("zero_lr", 200, True, True), ("extreme", 200, False, True)]),
}


@pytest.mark.parametrize("variant", RTL)
def test_rtl_matches_golden(variant, sim):
    params, plan = RTL[variant]
    _run_rtl(params, plan, sim, seed=100)


@slow
def test_rtl_32_lanes_short(sim):
    """The paper's 32 lanes (latency 4 keeps the Verilog near 7 MB; the lanes are replicas)."""
    _run_rtl({"lanes": 32, "latency": 4},
             [("typical", 64, False, False), ("typical", 64, True, True)], sim, seed=200)
