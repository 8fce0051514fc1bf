"""SparTANN driver: conv reference, core model and BP/WU plans (pure Python, no RTL).

Every plan is checked (1) bit for bit against a direct loop in the documented accumulation
order (docs/spartann/driver.md) and (2) against the float64 reference within the standard
bound for a recursive sum of ``n`` rounded products, ``|fl - exact| <= gamma_{n+1} *
sum |terms|`` with ``gamma_j = j*u / (1 - j*u)``, ``u = 2**-(man_bits + 1)`` and ``n`` the
longest accumulation (``M*K*K`` terms per GI element, ``B*OH*OW`` per GW element); the
data are normal numbers whose products do not underflow, so no absolute term is needed.
"""

import numpy as np
import pytest

from hw.fp.format import parse_format
from sim.fp import golden as fp
from sim.spartann import conv, csc
from sim.spartann.model import CoreModel
from sim.spartann.driver import ConvLayer, CoreConfig, plan_bp, plan_wu, tap_map
from hw.spartann.config import SpartannConfig


# -- float64 reference ---------------------------------------------------------------------

def _brute(IA, W, s, p):
    B, Z, H, Wd = IA.shape
    M, _, K, _ = W.shape
    OH, OW = conv.out_size(H, K, s, p), conv.out_size(Wd, K, s, p)
    out = np.zeros((B, M, OH, OW))
    for b, m, oh, ow, z, kh, kw in np.ndindex(B, M, OH, OW, Z, K, K):
        ih, iw = oh * s + kh - p, ow * s + kw - p
        if 0 <= ih < H and 0 <= iw < Wd:
            out[b, m, oh, ow] += IA[b, z, ih, iw] * W[m, z, kh, kw]
    return out


@pytest.mark.parametrize("s,p,k,hw", [(1, 0, 3, (5, 6)), (1, 1, 3, (4, 4)), (2, 0, 3, (7, 6)),
                                      (2, 1, 3, (6, 5)), (2, 1, 2, (5, 5)), (1, 0, 1, (3, 3))])
def test_conv_reference(s, p, k, hw):
    rng = np.random.default_rng(1)
    IA, W = rng.normal(size=(2, 3, *hw)), rng.normal(size=(4, 3, k, k))
    O = conv.conv_fwd(IA, W, s, p)
    assert np.allclose(O, _brute(IA, W, s, p))
    GO = rng.normal(size=O.shape)
    GI, GW = conv.conv_bp(GO, W, s, p, hw), conv.conv_wu(GO, IA, s, p, k)
    # Brute-force gradients: d<O, GO>/dIA and d<O, GO>/dW, tap by tap.
    GI_b, GW_b = np.zeros_like(IA), np.zeros_like(W)
    for b, m, oh, ow, z, kh, kw in np.ndindex(*GO.shape, 3, k, k):
        ih, iw = oh * s + kh - p, ow * s + kw - p
        if 0 <= ih < hw[0] and 0 <= iw < hw[1]:
            GI_b[b, z, ih, iw] += GO[b, m, oh, ow] * W[m, z, kh, kw]
            GW_b[m, z, kh, kw] += GO[b, m, oh, ow] * IA[b, z, ih, iw]
    assert np.allclose(GI, GI_b) and np.allclose(GW, GW_b)
    # Adjoint identities.
    inner = np.sum(O * GO)
    assert np.isclose(inner, np.sum(IA * GI)) and np.isclose(inner, np.sum(W * GW))


# -- direct loops in the documented order --------------------------------------------------

def direct_bp(L, go, w, fmt, theta):
    """GI[b, z, ih, iw] = fold over (kh, kw) row-major, then m ascending, of kept GO."""
    gi = np.zeros(L.gi_shape, dtype=np.uint64)
    keep = ~csc.drop_mask(go, 0, fmt)
    for kh, kw, (so_h, so_w), (si_h, si_w) in conv.taps((L.h, L.w), L.k, L.stride, L.pad):
        for m in range(L.m):
            # Distinct GO pixels of one tap feed distinct GI pixels: update them all at once.
            sel = keep[:, m, so_h, so_w]
            b, oh, ow = np.nonzero(sel)
            ih = np.arange(L.h)[si_h][oh]
            iw = np.arange(L.w)[si_w][ow]
            alpha = go[:, m, so_h, so_w][sel][:, None]
            gi[b, :, ih, iw] = fp.axpy(alpha, w[m, :, kh, kw][None, :], gi[b, :, ih, iw], fmt)
    return csc.sparsify(gi, theta, fmt)[0], gi


def direct_wu(L, go, ia, fmt):
    """GW[m, z, kh, kw] = fold over GO pixels (b, oh, ow) row-major of kept GO * IA."""
    gw = np.zeros(L.gw_shape, dtype=np.uint64)
    keep = ~csc.drop_mask(go, 0, fmt)
    for b, oh, ow in np.ndindex(L.batch, L.oh, L.ow):
        ms = np.flatnonzero(keep[b, :, oh, ow])
        for kh, kw in np.ndindex(L.k, L.k):
            ih, iw = oh * L.stride + kh - L.pad, ow * L.stride + kw - L.pad
            if ms.size and 0 <= ih < L.h and 0 <= iw < L.w:
                gw[ms, :, kh, kw] = fp.axpy(go[b, ms, oh, ow][:, None], ia[b, :, ih, iw][None, :],
                                            gw[ms, :, kh, kw], fmt)
    return gw


# -- data ----------------------------------------------------------------------------------

def make_data(L, fmt, density, seed):
    rng = np.random.default_rng(seed)
    go = rng.normal(size=L.go_shape) * (rng.random(L.go_shape) < density)
    return (fp.from_float64(fmt, go), fp.from_float64(fmt, rng.normal(size=L.w_shape)),
            fp.from_float64(fmt, rng.normal(size=L.ia_shape)))


def gamma(n, fmt):
    u = 2.0 ** -(fmt.man_bits + 1)
    return (n + 1) * u / (1 - (n + 1) * u)


def check_close(got_bits, exact, magnitude, n, fmt, theta=0.0):
    """Kept elements within the bound; dropped ones +0 and below theta (+ the bound)."""
    got = fp.to_float64(fmt, got_bits)
    bound = gamma(n, fmt) * magnitude
    dropped = got_bits == 0
    assert np.all(np.abs(got - exact)[~dropped] <= bound[~dropped])
    assert np.all(np.abs(exact)[dropped] <= theta + bound[dropped])


# Layers x configs: Z > T (padded lanes), M > b_rows, pixels > out_rows / a_rows,
# columns > max_cols, entries > sparse_depth, stride 1/2, pad 0/1.
CASES = [
    # layer (batch, m, z, h, w, k, stride, pad), cfg (T, a, b, out rows, depth, cols, idx_bits)
    ((2, 5, 5, 4, 4, 3, 1, 1), (4, 7, 3, 6, 8, 3, 2)),
    ((1, 4, 3, 5, 5, 3, 2, 0), (3, 64, 8, 64, 64, 64, 6)),
    ((2, 3, 3, 5, 4, 3, 2, 1), (1, 9, 2, 10, 4, 5, 1)),
    ((1, 6, 9, 3, 3, 2, 1, 0), (8, 4, 4, 5, 5, 2, 2)),
    ((1, 3, 2, 3, 4, 1, 2, 0), (4, 3, 3, 2, 3, 2, 6)),
]


def _setup(case, fmt_name, density, seed=0):
    L = ConvLayer(*case[0])
    T, a, b, o, d, c, i = case[1]
    cfg = CoreConfig(SpartannConfig(T=T, a_rows=a, b_rows=b, out_rows=o, sparse_depth=d,
                                    max_cols=c, idx_bits=i, fmt=fmt_name))
    fmt = parse_format(fmt_name)
    return L, cfg, fmt, make_data(L, fmt, density, seed)


@pytest.mark.parametrize("fmt_name", ["fp32", "bf16"])
@pytest.mark.parametrize("density", [0.0, 0.1, 0.5, 1.0])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_bp_wu(case, density, fmt_name):
    L, cfg, fmt, (go, w, ia) = _setup(CASES[case], fmt_name, density, seed=case)
    go_f, w_f, ia_f = (fp.to_float64(fmt, x) for x in (go, w, ia))

    # BP, theta = 0 and theta > 0 (the median |GI|).
    exact = conv.conv_bp(go_f, w_f, L.stride, L.pad, (L.h, L.w))
    mag = conv.conv_bp(np.abs(go_f), np.abs(w_f), L.stride, L.pad, (L.h, L.w))
    median = float(np.median(np.abs(exact))) if density else 0.0
    for theta in (0.0, median):
        theta_bits = int(fp.from_float64(fmt, np.float64(theta)))
        plan = plan_bp(L, go, w, cfg, theta_bits)
        core = cfg.core()
        gi = plan.assemble(core.execute(plan.program))
        ref, raw = direct_bp(L, go, w, fmt, theta_bits)
        assert np.array_equal(gi, ref)
        check_close(gi, exact, mag, L.m * L.k * L.k, fmt, theta)
        # Statistics: every drained element of GI, padding lanes left out (SET_PAD_LANES).
        st = plan.stats
        assert core.stats.elements == st.drained_words - st.pad_elements == raw.size
        assert core.stats.zeros == int(csc.drop_mask(raw, theta_bits, fmt).sum())
        assert core.stats == csc.stats(raw, theta_bits, fmt)

    # WU.
    plan = plan_wu(L, go, ia, cfg)
    gw = plan.run()
    assert np.array_equal(gw, direct_wu(L, go, ia, fmt))
    gather = plan_wu(L, go, ia, cfg, a_mode="gather")   # A holds only the pixels read
    assert np.array_equal(gather.run(), gw)
    assert gather.stats.a_words == gather.stats.col_descriptors * cfg.T
    same = dict(a_loads=0, a_words=0, jobs=0)            # jobs split at different points
    assert gather.stats._replace(**same) == plan.stats._replace(**same)
    exact = conv.conv_wu(go_f, ia_f, L.stride, L.pad, L.k)
    mag = conv.conv_wu(np.abs(go_f), np.abs(ia_f), L.stride, L.pad, L.k)
    check_close(gw, exact, mag, L.batch * L.oh * L.ow, fmt)


@pytest.mark.parametrize("phase", ["bp", "wu"])
def test_nan_inf_propagate(phase):
    L, cfg, fmt, (go, w, ia) = _setup(CASES[0], "fp32", 0.5)
    go = go.copy()
    go[0, 1, 2, 1] = fmt.canonical_nan | 0x1234          # a NaN payload: canonical out
    go[1, 3, 0, 3] = fmt.inf                             # +inf
    go_f, w_f, ia_f = (fp.to_float64(fmt, x) for x in (go, w, ia))
    if phase == "bp":
        got = plan_bp(L, go, w, cfg).run()
        ref = conv.conv_bp(go_f, w_f, L.stride, L.pad, (L.h, L.w))
    else:
        got = plan_wu(L, go, ia, cfg).run()
        ref = conv.conv_wu(go_f, ia_f, L.stride, L.pad, L.k)
    val = fp.to_float64(fmt, got)
    assert np.isnan(ref).any() and np.isinf(ref).any()
    assert np.array_equal(np.isnan(val), np.isnan(ref))
    assert np.array_equal(np.isinf(val), np.isinf(ref))
    assert np.all(got[np.isnan(val)] == fmt.canonical_nan)
    assert np.array_equal(np.sign(val[np.isinf(val)]), np.sign(ref[np.isinf(ref)]))


def test_plan_stats_dense():
    """Dense GO (no fillers: idx_bits large): every count from the loop structure."""
    L = ConvLayer(2, 6, 5, 4, 4, 3, 1, 1)
    cfg = CoreConfig(SpartannConfig(T=4, a_rows=10, b_rows=4, out_rows=12, sparse_depth=9,
                                    max_cols=5))
    fmt = parse_format("fp32")
    go, w, ia = make_data(L, fmt, 1.0, 3)
    nz, mt = 2, 4                                        # z-tiles, m-tile rows
    pixels = L.batch * L.h * L.w
    taps = int((tap_map(L) >= 0).sum())                  # (GO pixel, tap) pairs inside
    bp = plan_bp(L, go, w, cfg).stats
    assert bp.updates == nz * taps * L.m
    assert bp.entries == bp.updates and bp.fillers == 0
    assert bp.col_descriptors == nz * taps * 2           # two m-tiles
    assert bp.drained_words == nz * pixels * cfg.T and bp.drains == nz * 3
    assert bp.pad_elements == pixels * (nz * cfg.T - L.z)
    # One W load per (z-tile, GI tile, tap, m-tile) that has columns: all of them here.
    assert bp.b_loads == nz * 3 * 9 * 2 and bp.b_words == nz * 3 * 9 * L.m * cfg.T
    assert bp.a_loads == 0
    assert bp.jobs >= -(-bp.col_descriptors // cfg.max_cols)
    wu = plan_wu(L, go, ia, cfg).stats
    assert wu.updates == bp.updates and wu.entries == bp.entries
    assert wu.drains == nz * 2 * 9 and wu.drained_words == nz * 9 * L.m * cfg.T
    assert wu.b_words == mt * cfg.T                      # the initial +0 accumulators
    assert wu.a_words <= nz * 2 * 9 * 4 * 10 * cfg.T     # at most one IA tile per job group


def test_plan_stats_sparse():
    """Empty columns are left out; fillers appear once a zero run exceeds 2**idx_bits - 1."""
    L = ConvLayer(1, 8, 2, 3, 3, 1, 1, 0)
    cfg = CoreConfig(SpartannConfig(T=2, a_rows=9, b_rows=8, out_rows=9, sparse_depth=8,
                                    max_cols=9, idx_bits=1))
    go = np.zeros(L.go_shape, dtype=np.uint64)
    go[0, 7, 0, 0] = 0x3F800000                          # row 7: 3 fillers (delta 1 each) + value
    go[0, 0, 1, 1] = 0x40000000
    st = plan_bp(L, go, np.full(L.w_shape, 0x3F800000), cfg).stats
    assert (st.updates, st.fillers, st.entries, st.col_descriptors) == (2, 3, 5, 2)
    assert st.empty_columns == 7 and st.jobs == 1
    skip = plan_bp(L, go, np.full(L.w_shape, 0x3F800000), cfg, skip_padding=True).stats
    assert skip == st                                    # k = 1, pad 0: no padding taps


def test_skip_padding_same_result():
    L, cfg, fmt, (go, w, ia) = _setup(CASES[2], "fp32", 0.5)
    for plan_fn, other in ((plan_bp, w), (plan_wu, ia)):
        plain, skipped = plan_fn(L, go, other, cfg), plan_fn(L, go, other, cfg, skip_padding=True)
        assert skipped.stats.skipped_columns > 0
        assert skipped.stats.updates == plain.stats.updates
        assert np.array_equal(plain.run(), skipped.run())


def test_smaller_m_tiles_same_result():
    """m_tile_rows only changes how rows are split into jobs, never an accumulation order."""
    from dataclasses import replace
    L, cfg, fmt, (go, w, ia) = _setup(CASES[2], "fp32", 0.5)
    small = replace(cfg, m_tile_rows=max(1, cfg.m_tile // 3))
    for plan_fn, other in ((plan_bp, w), (plan_wu, ia)):
        plain, tiled = plan_fn(L, go, other, cfg), plan_fn(L, go, other, small)
        assert tiled.stats.jobs > plain.stats.jobs
        assert np.array_equal(plain.run(), tiled.run())


@pytest.mark.parametrize("density", [0.1, 0.5, 1.0])
def test_bp_contexts_auto_m_tile_and_full_rounds(density):
    """With ``contexts``, plan_bp picks the m-tile (auto_m_tile) and cuts full jobs at a
    multiple of ``contexts`` columns: same GI bit for bit, fewer cycles on the cycle model."""
    from dataclasses import replace
    from sim.spartann.cycles import command_cycles
    from sim.spartann.driver import COLUMNS_PER_CONTEXT, auto_m_tile
    L = ConvLayer(1, 24, 4, 6, 6, 3, 1, 1)
    params = SpartannConfig(T=4, idx_bits=6, sparse_depth=48, b_rows=24, a_rows=16, out_rows=36,
                            max_cols=40, mac_latency=3)
    cfg = CoreConfig(params)
    fmt = parse_format("fp32")
    go, w, _ = make_data(L, fmt, density, seed=5)
    ctx = replace(cfg, contexts=True)
    assert ctx.contexts == params.loop_latency == 5
    plain, tuned = plan_bp(L, go, w, cfg), plan_bp(L, go, w, ctx)
    assert np.array_equal(plain.run(), tuned.run())
    mt = auto_m_tile(L, go, ctx)
    assert tuned.cfg.m_tile == mt and 1 <= mt <= cfg.m_tile_max
    nonzero = float((go != 0).mean())
    assert mt == cfg.m_tile_max or nonzero * mt <= 48 / (COLUMNS_PER_CONTEXT * 5) * 1.5
    assert auto_m_tile(L, go, cfg) == cfg.m_tile_max               # no contexts: no change
    # Between two W loads, every job but the last has a multiple of `contexts` columns.
    group = []
    for cmd in tuned.program + [{"op": "load_b"}]:
        if cmd["op"] == "load_b":
            assert all(n % 5 == 0 for n in group[:-1]), group
            group = []
        elif cmd["op"] == "load_cols":
            group.append(len(cmd["addr"]))
    runs = lambda plan: sum(c for c, cmd in zip(command_cycles(plan.program, params),
                                                plan.program) if cmd["op"] == "run_bp")
    assert runs(tuned) <= runs(plain)
    if density == 1.0:
        assert runs(tuned) < 0.8 * runs(plain)
    with pytest.raises(ValueError, match="contexts"):
        CoreConfig(params, contexts=0)


def test_capacity_errors():
    L, cfg, fmt, (go, w, ia) = _setup(CASES[1], "fp32", 1.0)
    small = dict(T=3, a_rows=64, b_rows=8, out_rows=64, sparse_depth=64, max_cols=64, idx_bits=6)
    for key, text in (("sparse_depth", "sparse_depth"), ("max_cols", "max_cols"),
                      ("out_rows", "rows"), ("b_rows", "rows")):
        core = CoreModel(SpartannConfig(**{**small, key: 2}))
        with pytest.raises(ValueError, match=text):
            core.execute(plan_bp(L, go, w, cfg).program)
    core = CoreModel(SpartannConfig(**{**small, "a_rows": 2}))
    with pytest.raises(ValueError, match="rows"):
        core.execute(plan_wu(L, go, ia, cfg).program)
    core = CoreModel(SpartannConfig(**{**small, "T": 4}))
    with pytest.raises(ValueError, match="T=4"):
        core.execute(plan_bp(L, go, w, cfg).program)


@pytest.mark.parametrize("kwargs,name", [({"T": 0}, "T"), ({"fmt": "fp99"}, "fmt"),
                                         ({"idx_bits": 17}, "idx_bits"),
                                         ({"sparse_depth": 0}, "sparse_depth")])
def test_config_validation(kwargs, name):
    base = dict(T=4, a_rows=4, b_rows=4, out_rows=4, sparse_depth=4, max_cols=4)
    with pytest.raises(ValueError, match=name):
        CoreConfig(SpartannConfig(**{**base, **kwargs}))


@pytest.mark.parametrize("kwargs,name", [({"stride": 0}, "stride"), ({"pad": 3}, "pad"),
                                         ({"h": 1}, "smaller"), ({"batch": 0}, "batch")])
def test_layer_validation(kwargs, name):
    base = dict(batch=1, m=2, z=2, h=4, w=4, k=3, stride=1, pad=0)
    with pytest.raises(ValueError, match=name):
        ConvLayer(**{**base, **kwargs})


def test_core_commands():
    fmt = parse_format("fp32")
    core = CoreModel(SpartannConfig(T=2, a_rows=2, b_rows=2, out_rows=2, sparse_depth=4,
                                    max_cols=2, idx_bits=2))
    one, two = 0x3F800000, 0x40000000
    prog = [{"op": "load_a", "vectors": [[one, two], [two, one]]},
            {"op": "load_sparse", "entries": csc.encode(np.array([[two, 0], [0, one]]), 2)},
            {"op": "load_cols", "addr": [1, 0], "skip": [0, 0]},
            {"op": "run_wu"},
            {"op": "drain_b", "count": 2},
            {"op": "drain_b", "count": 1}]
    gw, again = core.execute(prog)
    assert fp.to_float64(fmt, gw).tolist() == [[4.0, 2.0], [1.0, 2.0]]
    assert again.tolist() == [[0, 0]] and not core.b.any()
    # Duplicate live BP addresses are rejected; a skipped duplicate is fine.
    core.execute([{"op": "load_cols", "addr": [0, 0], "skip": [0, 1]}, {"op": "run_bp"}])
    with pytest.raises(ValueError, match="distinct"):
        core.execute([{"op": "load_cols", "addr": [0, 0], "skip": [0, 0]}, {"op": "run_bp"}])
    with pytest.raises(ValueError, match="op must be"):
        core.execute([{"op": "nop"}])
    # Statistics: drain_out thresholds, merges; clear_stats resets.
    core.out[0] = [one, 0xBF000000]                     # 1.0, -0.5
    core.execute([{"op": "set_theta", "bits": one}])
    (row,) = core.execute([{"op": "drain_out", "count": 1}])
    assert row.tolist() == [[one, 0]] and core.stats == csc.Stats(2, 1, one)
    core.execute([{"op": "clear_stats"}])
    assert core.stats == csc.Stats(0, 0, 0)


@pytest.mark.parametrize("fmt_name", ["fp32", "bf16"])
def test_dts_update(fmt_name):
    """DTS runs in FP32: bf16 theta / max_abs widened exactly, the new theta rounded back."""
    from sim.spartann import dts
    fmt, f32 = parse_format(fmt_name), parse_format("fp32")
    core = CoreModel(SpartannConfig(T=4, fmt=fmt_name, a_rows=1, b_rows=1, out_rows=2,
                                    sparse_depth=1, max_cols=1))
    rng = np.random.default_rng(5)
    target = dts.target_bits(0.5)
    core.execute([{"op": "set_target", "bits": target}])
    theta32 = 0
    for _ in range(3):
        core.out[:] = fp.from_float64(fmt, rng.normal(size=(2, 4)))
        core.execute([{"op": "drain_out", "count": 2}])
        stats = core.stats
        wide = stats._replace(max_abs=int(fp.convert(stats.max_abs, fmt, f32)))
        new = dts.dts_update(int(fp.convert(core.theta, fmt, f32)), target, wide)
        core.execute([{"op": "dts_update"}])
        assert core.theta == int(fp.convert(new, f32, fmt))
        assert core.stats == csc.Stats(0, 0, 0)
        theta32 = new
    assert theta32 != 0 and core.theta != 0
