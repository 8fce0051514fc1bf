"""BDWP training step (sim/sat/bdwp.py) on digits: golden checks, a short training run, and one
full step on the RTL engines (sim/sat/tb_bdwp.py) bit for bit.

Thresholds of the 100-step run (batch 32, hidden 64, seed 0; measured 97.5% dense, 95.0%
2:8): dense >= 93%, 2:8 >= 90% and within 5 points of dense (chance is 10%), and the
golden run within 3 points of the same training in plain float32 numpy.
"""

import numpy as np
import pytest

from hw.fp.format import FP16, FP32
from sim.sat import bdwp
from sim.fp import golden as fp
from sim.sat.osre import magnitude_key, nm_prune
from sim.sat.wuve import sgd_step


@pytest.fixture(scope="module")
def data():
    return bdwp.load_data()


@pytest.fixture(autouse=True)
def _quiet_fp():
    with np.errstate(all="ignore"):
        yield


def _steps(cfg, data, count, start=0):
    """State after ``start`` golden steps, then ``count`` more with their records."""
    x16, y = bdwp.to_fp16(data[0]), data[1]
    state, out = bdwp.init_state(cfg), []
    for s in range(start + count):
        idx = np.arange(s * cfg.batch, (s + 1) * cfg.batch)
        new, record = bdwp.train_step(state, x16[idx], y[idx], cfg)
        if s >= start:
            out.append((state, x16[idx], y[idx], new, record))
        state = new
    return out


def test_data_split_and_standardization(data):
    x_tr, y_tr, x_te, y_te = data
    assert x_tr.shape == (1438, 64) and x_te.shape == (359, 64) and x_tr.dtype == np.float32
    assert set(y_tr) == set(y_te) == set(range(10))
    assert np.allclose(x_tr.mean(0), 0, atol=1e-5)
    assert np.allclose(x_tr.std(0)[x_tr.std(0) > 0], 1, atol=1e-4)


@pytest.mark.parametrize("n,m", [(2, 8), (1, 4), (8, 8)])
def test_operands_are_nm_along_the_right_axis(n, m):
    cfg = bdwp.Config(n=n, m=m, hidden=16)
    state = bdwp.init_state(cfg)
    for name, layer, axis in [("fc1.fwd", "fc1", 1), ("fc2.fwd", "fc2", 1),
                              ("fc2.bwd", "fc2", 0)]:
        w = state.w16[layer]                                   # W[out, in]
        op = state.ops[name]
        pruned, _, _ = nm_prune(w, n, m, axis, FP16, pad=True)
        dense = op.dense()
        # Forward: K = input channels, C = output channels (W^T); backward: W itself,
        # K = output channels padded to a multiple of m.
        want = pruned.T if axis == 1 else pruned
        assert np.array_equal(dense[:want.shape[0]], want) and not dense[want.shape[0]:].any()
        groups = op.indices.reshape(-1, n, op.values.shape[1])          # (G, n, C)
        assert np.all(np.diff(groups.astype(np.int64), axis=1) > 0)     # n distinct, ascending
        assert op.values.shape[0] == dense.shape[0] * n // m
        key = magnitude_key(np.asarray(w if axis == 1 else w.T), FP16)  # rows along axis
        key = np.concatenate([key, np.zeros((key.shape[0], -key.shape[1] % m), int)], 1)
        key = key.reshape(key.shape[0], -1, m)
        kept = np.zeros(key.shape, bool)
        np.put_along_axis(kept, groups.transpose(2, 0, 1).astype(np.int64), True, -1)
        assert kept.sum(-1).min() == n
        assert np.all(np.where(kept, key, 1 << 20).min(-1) >= np.where(kept, -1, key).max(-1))
    if n == m:
        assert np.array_equal(state.ops["fc1.fwd"].dense(), state.w16["fc1"].T)


@pytest.mark.parametrize("n", [2, 8], ids=["2of8", "dense"])
def test_every_gemm_of_a_step_within_float64_bound(n, data):
    cfg = bdwp.Config(n=n, m=8)
    for state, x16, y, new, record in _steps(cfg, data, 2, start=3):
        gemms = record["gemms"]
        assert list(gemms) == ["fwd1", "fwd2", "bwd2", "wg2", "wg1"]
        for name, (job, result) in gemms.items():
            assert bdwp.gemm_error_ratio(job, result) <= 1, name
        # The weight sets the GEMMs used: forward N:M along input, backward along output
        # channels, weight gradient dense; every result has the shape of its weight.
        assert gemms["fwd1"][0].op is state.ops["fc1.fwd"]
        assert gemms["bwd2"][0].op is state.ops["fc2.bwd"]
        assert gemms["fwd1"][1].shape == (cfg.batch, cfg.hidden)
        assert gemms["bwd2"][1].shape == (cfg.batch, cfg.hidden)
        assert gemms["wg1"][1].shape == state.w32["fc1"].shape
        assert gemms["wg2"][1].shape == state.w32["fc2"].shape
        assert gemms["wg1"][0].op.n == gemms["wg1"][0].op.group == cfg.m
        # WUVE and OSRE: the new state is sgd_step of the FP16 gradients, then re-pruned.
        for layer in bdwp.LAYERS:
            g16 = record["host"]["g16"][layer]
            assert np.array_equal(g16, fp.convert(gemms["wg1" if layer == "fc1" else "wg2"][1],
                                                  FP32, FP16))
            w, v, w16 = sgd_step(g16, state.w32[layer], state.v32[layer],
                                 cfg.lr / cfg.loss_scale, cfg.mu, cfg.wd * cfg.loss_scale)
            assert np.array_equal(new.w32[layer], w) and np.array_equal(new.v32[layer], v)
            assert np.array_equal(new.w16[layer], w16)
        assert np.array_equal(new.ops["fc2.bwd"].values,
                              bdwp.backward_operand(new.w16["fc2"], n, 8).values)


def test_host_operations():
    rng = np.random.default_rng(1)
    z = (rng.standard_normal((16, 10)) * 4).astype(np.float32)
    labels = rng.integers(0, 10, 16)
    got = bdwp.xent_grad(z.view(np.uint32), labels, 64.0)
    z64 = z.astype(np.float64)
    p = np.exp(z64 - z64.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(16), labels] -= 1
    assert got.dtype == np.float32 and np.allclose(got, p * 4, rtol=0, atol=4 * 4e-7)
    y = np.array([1.5, -2.0, 0.0, -0.0, np.nan, np.inf], np.float32)
    assert bdwp.relu(y.view(np.uint32)).view(np.uint32).tolist() == \
        np.array([1.5, 0, 0, 0, 0, np.inf], np.float32).view(np.uint32).tolist()
    d = np.full(6, 3.0, np.float32)
    assert bdwp.relu_grad(y.view(np.uint32), d.view(np.uint32)).tolist() == [3, 0, 0, 0, 0, 3]
    x = rng.standard_normal(1000).astype(np.float32) * 1e-5
    assert np.array_equal(bdwp.to_fp16(x), x.astype(np.float16).view(np.uint16))


def test_config_validation():
    for kwargs, needle in [({"n": 9}, "n"), ({"n": 0}, "n"), ({"hidden": 20}, "hidden"),
                           ({"batch": 12}, "batch"), ({"loss_scale": 3.0}, "loss_scale")]:
        with pytest.raises(ValueError, match=rf"^{needle}\b"):
            bdwp.Config(**kwargs)


def test_short_training_reaches_dense_accuracy(data):
    """100 steps: 2:8 stays within 5 points of dense; both far above chance (10%)."""
    acc = {}
    for n in (8, 2):
        cfg = bdwp.Config(n=n, m=8)
        acc[n] = bdwp.train(cfg, 100, data)["test_acc"]
        assert abs(acc[n] - bdwp.train_numpy_f32(cfg, 100, data)) <= 0.03, (n, acc)
    assert acc[8] >= 0.93 and acc[2] >= 0.90 and acc[8] - acc[2] <= 0.05, acc


# -- RTL ---------------------------------------------------------------------------------------
RTL_CASES = [(2, 8, 4, 4),             # (n, m, array rows, cols); Icarus: this one in the
             pytest.param(8, 8, 4, 4, marks=pytest.mark.icarus_full),     # quick tier
             pytest.param(2, 4, 2, 3, marks=pytest.mark.icarus_full)]


@pytest.mark.parametrize("n,m,rows,cols", RTL_CASES,
                         ids=[f"{c[0]}of{c[1]}-{c[2]}x{c[3]}"
                              for c in (getattr(c, "values", c) for c in RTL_CASES)])
def test_rtl_step_bit_exact(n, m, rows, cols, sim, data, tmp_path):
    """A whole step (batch 8, hidden 16, after 3 golden steps so momenta are live) on the
    STCE array, the WUVE and the OSRE lanes, each engine twice: back to back with exact
    cycle counts, then with 30% input gaps and output stalls (same results required)."""
    from sim.sat.cycles import gemm_cycles
    from sim.sat.tb_bdwp import check_step, run_step_rtl
    cfg = bdwp.Config(n=n, m=m, hidden=16, batch=8)
    (state, x16, y, new, record), = _steps(cfg, data, 1, start=3)
    rtl = run_step_rtl(state, x16, y, cfg, tmp_path, sim=sim, rows=rows, cols=cols,
                       seed=n + m)
    assert check_step(rtl, record, new) > 7000
    measured = rtl["measured"]
    assert all(len(phases) == 2 for phases in measured.values())
    stce, wuve, osre = (measured[e][0] for e in ("stce", "wuve", "osre"))   # timed phase
    for name, g in stce.items():
        if isinstance(g, dict):
            assert g["cycles"] == g["model"] == gemm_cycles(
                g["t"], g["k"], g["c"], g["n"], m, rows, cols, 2, 3), name
    assert wuve["cycles"] == wuve["transfers"] + 8
    assert osre["cycles"] == osre["groups"] * m + 2
