"""Whole conv layers on the SparTANN RTL: the driver splits each layer into jobs (z-tiles,
m-tiles, pixel tiles, column/entry splits), the programs run on the core through cocotb
(with and without random stalls and gaps on every stream; loads overlap runs; the stalled
cases use the ping-pong halves of the dense buffers, :func:`sim.spartann.system.plan`), and the
reassembled GI and GW equal the golden model
(the core model executing the same program) bit for bit; they also agree with float64
conv gradients within the accumulation-length bound."""

import numpy as np
import pytest

from hw.spartann.config import SpartannConfig
from sim.fp import golden as fp
from sim.spartann import conv
from sim.spartann.cycles import program_cycles
from sim.spartann import system
from sim.spartann.driver import ConvLayer, CoreConfig, plan_bp, plan_wu
from sim.spartann.tb_core import run_on_rtl
from test_spartann_driver import check_close, make_data

# (layer: batch, m, z, h, w, k, stride, pad), core (T, a_rows, b_rows, out_rows, depth, cols,
# idx_bits), format, GO density, gap/stall probability, plan with the core's contexts
# (auto m-tile, jobs cut at full rounds)
CASES = [
    ((1, 6, 5, 5, 5, 3, 1, 1), (4, 16, 4, 16, 24, 12, 2), "fp32", 0.3, 0.0, False),
    ((2, 5, 3, 6, 5, 3, 2, 1), (3, 16, 8, 12, 32, 16, 3), "bf16", 0.5, 0.3, False),
    ((1, 4, 9, 4, 4, 2, 2, 0), (8, 8, 4, 8, 16, 6, 6), "fp32", 1.0, 0.3, True),
]
MAC_LATENCY = 3
BANDWIDTH = 12


@pytest.mark.parametrize("layer,core,fmt_name,density,p,contexts", CASES,
                         ids=[f"s{c[0][6]}p{c[0][7]}-T{c[1][0]}-{c[2]}-d{c[3]}-p{c[4]}"
                              + ("-ctx" if c[5] else "") for c in CASES])
def test_conv_layer_on_rtl(layer, core, fmt_name, density, p, contexts, sim, tmp_path):
    L = ConvLayer(*layer)
    T, a, b, o, d, c, i = core
    params = SpartannConfig(T=T, fmt=fmt_name, idx_bits=i, sparse_depth=d, b_rows=b, a_rows=a,
                            out_rows=o, max_cols=c, mac_latency=MAC_LATENCY, thr_latency=1)
    cfg = CoreConfig(params, contexts=True if contexts else None)
    fmt = cfg.core().fmt
    go, w, ia = make_data(L, fmt, density, seed=sum(layer))
    gi_abs = np.abs(conv.conv_bp(np.abs(fp.to_float64(fmt, go)), np.abs(fp.to_float64(fmt, w)),
                                 L.stride, L.pad, (L.h, L.w)))
    if p:                      # ping-pong halves, dense loads hoisted ahead of other halves' runs
        plans = [system.plan("bp", L, go, w, cfg), system.plan("wu", L, go, ia, cfg)]
        assert any(c.get("half") for c in plans[0].program + plans[1].program)
    else:
        plans = [plan_bp(L, go, w, cfg), plan_wu(L, go, ia, cfg)]
    assert cfg.contexts in (None, MAC_LATENCY + 2)
    # With stalls, the data inputs also share a throttled external bandwidth (bytes/cycle).
    segments = [{"program": plan.program, "gap_prob": p, "stall_prob": p,
                 "bandwidth": BANDWIDTH if p else None} for plan in plans]
    result = run_on_rtl(params, segments, sim=sim, seed=3, out_dir=tmp_path,
                        toplevel=f"spartann_conv_t{T}_{fmt_name}")
    drained = [np.asarray(x, dtype=np.uint64) for x in result["drained"]]
    n_bp = len(plans[0]._drains)
    gi, gw = plans[0].assemble(drained[:n_bp]), plans[1].assemble(drained[n_bp:])
    assert np.array_equal(gi, plans[0].run()) and np.array_equal(gw, plans[1].run())
    for plan, segment in zip(plans, result["segments"]):
        # Loads behind runs: the next job's loads overlap the current run.
        assert sum(segment["commands"]) > segment["cycles"]
        if not p:
            assert segment["cycles"] == program_cycles(plan.program, params)
    # An independent check of the golden result itself: float64 conv gradients.
    go64, w64, ia64 = (fp.to_float64(fmt, x) for x in (go, w, ia))
    check_close(gi, conv.conv_bp(go64, w64, L.stride, L.pad, (L.h, L.w)), gi_abs,
                L.m * L.k * L.k, fmt)
    gw_abs = np.abs(conv.conv_wu(np.abs(go64), np.abs(ia64), L.stride, L.pad, L.k))
    check_close(gw, conv.conv_wu(go64, ia64, L.stride, L.pad, L.k), gw_abs,
                L.batch * L.h * L.w, fmt)
