"""SAT core (hw/sat/core.py): command programs on the RTL against the core model
(sim/sat/model.py), the model against the engines' golden models, cycle counts,
parameter validation, Verilog lint and the latch check.

Every RTL program runs on one core with no gaps and no back-pressure (every command's
``cycles`` must equal the model; the GEMMs' model is the validated STCE cycle model + 3) and
again with random gaps on ``cmd``/``din`` and random stalls on ``dout`` (probability 0.3;
on Icarus only the end-to-end program).
"""

import json
import os
from collections import Counter
import time
from dataclasses import replace

import numpy as np
import pytest
from amaranth.hdl import Elaboratable, Module, Signal
from amaranth.sim import Simulator

from hw.fp.format import FP16
from hw.generate import to_verilog
from hw.sat.isa import FIELD_NAMES, Buf, Op, Reg, field_widths, footprint, problem
from hw.sat.core import DESIGNS, SatCore
from hw.sat.config import PAPER, SMALL, SatConfig, resolve
from hw.checks import latch_check
from sim.fp import vectors
from sim.fp import golden as fp
from sim.sat.stce import gemm_chain
from sim.sat.osre import nm_prune, random_weight_bits
from sim.sat.model import Command, SatCoreModel
from sim.sat.driver import Program, compact_rows, gemm_result, stage_gemm
from sim.sat.wuve import config_bits, decay_bits, first_step_v, sgd_step
from sim.runner import run
from sim.sat.cycles import gemm_command_cycles, gemm_cycles as stce_gemm_cycles
from sim.sat.driver import plan_gemm

GAP_PROB = STALL_PROB = 0.3
slow = pytest.mark.skipif(os.environ.get("RUN_SLOW") != "1",
                          reason="the paper-size core takes minutes to generate; RUN_SLOW=1")

#: Cores the RTL tests build: the SMALL preset (2x3, 2:4, 3 lanes = cols) and a 4x4 core at
#: 2:8 with 2 lanes (two OSRE column blocks per W row), the paper's array latencies and the
#: decoupled (SGDW) WUVE.
CORES = {
    "2x3": resolve("small"),
    "4x4": resolve("small", rows=4, cols=4, m=8, n=2, lanes=2, mul_latency=2, add_latency=3,
                   sgd_latency=6, decoupled_wd=True, data_width=64, wbuf_depth=96,
                   xbuf_depth=96, obuf_depth=48, sgd_depth=64, dbuf_depth=128),
}


@pytest.fixture(autouse=True)
def _quiet_fp():
    with np.errstate(all="ignore"):
        yield


# -- operands ---------------------------------------------------------------------------------
def _fp16(rng, shape, specials=True):
    """FP16 operands: TestFloat-style vectors (specials included) or values in [1, 2)."""
    count = int(np.prod(shape))
    x = vectors.unary(FP16, count, int(rng.integers(1 << 30)))
    rng.shuffle(x)
    if not specials:
        x = (x & np.uint64(0x83FF)) | np.uint64(0x3C00)
    return x.reshape(shape)


def _compressed(rng, k, cout, n, m):
    kc = k * n // m
    w = _fp16(rng, (kc, cout))
    idx = np.stack([np.sort(rng.choice(m, n, replace=False)) for _ in range(kc // n * cout)])
    idx = idx.reshape(kc // n, cout, n).transpose(0, 2, 1).reshape(kc, cout)
    return w, idx.astype(np.uint64)


def _unpack_rows(model, buf, beats):
    per = model.beats[buf]
    return np.array([model.unpack_row(buf, model.from_beats(buf, [d for d, _ in beats[i:i + per]]))
                     for i in range(0, len(beats), per)])


# -- programs: each returns (Program, check) where check(model outputs) asserts the model
#    against the engines' golden models -------------------------------------------------------
def gemm_program(model, rng, cases):
    """GEMMs ``(T, K, Cout, N)`` (N = m: dense), each loaded, run and drained; then the second
    case again, split over two GEMM commands along K (the second accumulates onto O)."""
    prog, checks = Program(model), []
    for t, k, cout, n in cases:
        x = _fp16(rng, (t, k))
        w, idx = _compressed(rng, k, cout, n, model.m)
        plan = stage_gemm(prog, x, w, idx, n)
        prog.drain(Buf.O, 0, plan.t * len(plan.tiles))
        checks.append((plan, gemm_chain(x, w, idx, model.m, model.in_fmt, model.acc_fmt)))
    # K split in two halves: the second half's folds continue the first half's chains.
    t, k, cout, n = cases[1]
    x = _fp16(rng, (t, k))
    w, idx = _compressed(rng, k, cout, n, model.m)
    half, kc_half = k // 2, k * n // model.m // 2
    first = stage_gemm(prog, x[:, :half], w[:kc_half], idx[:kc_half], n)
    stage_gemm(prog, x[:, half:], w[kc_half:], idx[kc_half:], n,
               w_addr=len(first.tiles) * first.folds * model.rows, accumulate=True)
    prog.drain(Buf.O, 0, first.t * len(first.tiles))
    checks.append((first, gemm_chain(x, w, idx, model.m, model.in_fmt, model.acc_fmt)))

    def check(beats):
        per_row = model.beats[Buf.O]
        for plan, want in checks:
            count = plan.t * len(plan.tiles) * per_row
            got, beats = gemm_result(model, plan, beats[:count]), beats[count:]
            assert np.array_equal(got, want)
        assert not beats
    return prog, check


SGD_CONFIGS = {"typical": (0.01, 0.9, 5e-4), "zero_lr": (0.0, 0.9, 1e-4),
               "zero_mu": (0.1, 0.0, 1e-3)}


def _sgd_operands(model, rng, rows):
    shape = (rows, model.lanes)
    g = fp.from_float64(model.grad_fmt, rng.normal(0, 1, shape) * 10.0 ** rng.uniform(-8, 0, shape))
    w = fp.from_float64(model.master_fmt, rng.normal(0, 0.5, shape))
    v = fp.from_float64(model.master_fmt, rng.normal(0, 1e-2, shape))
    specials = rng.random(shape) < 0.15          # FP16 / FP32 special values mixed in
    g = np.where(specials, rng.choice(vectors.special_values(model.grad_fmt), shape), g)
    w = np.where(rng.random(shape) < 0.1, rng.choice(vectors.special_values(model.master_fmt),
                                                     shape), w)
    v[0] = first_step_v()                       # torch's first step: v = -0
    return g.astype(np.uint64), w.astype(np.uint64), v.astype(np.uint64)


def sgd_program(model, rng, rows=5):
    """One SGD command per configuration of :data:`SGD_CONFIGS`; drains M, V and D."""
    prog, checks = Program(model), []
    mf, decoupled = model.master_fmt, model.config.decoupled_wd
    for lr, mu, wd in SGD_CONFIGS.values():
        g, w, v = _sgd_operands(model, rng, rows)
        prog.set(Reg.LR, config_bits(lr, mf))
        prog.set(Reg.MU, config_bits(mu, mf))
        prog.set(Reg.WD, decay_bits(lr, wd, mf) if decoupled else config_bits(wd, mf))
        for buf, rows_ in ((Buf.G, g), (Buf.M, w), (Buf.V, v)):
            prog.load(buf, 1, rows_)
        prog.sgd(1, 2, rows)
        for buf, addr in ((Buf.M, 1), (Buf.V, 1), (Buf.D, 2)):
            prog.drain(buf, addr, rows)
        checks.append(sgd_step(g, w, v, lr, mu, wd, model.grad_fmt, mf, model.in_fmt,
                               decoupled_wd=decoupled))

    def check(beats):
        per = [model.beats[b] * rows for b in (Buf.M, Buf.V, Buf.D)]
        for want in checks:
            for buf, count, expected in zip((Buf.M, Buf.V, Buf.D), per, want):
                got, beats = _unpack_rows(model, buf, beats[:count]), beats[count:]
                assert np.array_equal(got, expected.reshape(got.shape))
        assert not beats
    return prog, check


def dense_rows(model, w):
    """D rows of a dense ``W[out, in]``: row ``ob * Cin + k`` holds ``W[ob*L:(ob+1)*L, k]``
    (out channels in lanes; the layout WUVE updates and both PRUNE layouts read)."""
    cout, cin = w.shape
    lanes = model.lanes
    blocks = -(-cout // lanes)
    padded = np.zeros((blocks * lanes, cin), np.uint64)
    padded[:cout] = w
    return padded.reshape(blocks, lanes, cin).transpose(0, 2, 1).reshape(blocks * cin, lanes)


def prune_sets(prog, w, d_addr, w_addr, backward):
    """PRUNE commands for the forward (``backward=False``) or backward set of ``W[out, in]``
    held in D at ``d_addr`` (:func:`dense_rows`). Compressed rows go to W at
    ``w_addr + tile * Kc``, the lanes' columns to their column block. Returns the W rows."""
    model = prog.model
    cout, cin = w.shape
    lanes, m, n = model.lanes, model.m, model.n
    channels, length = (cin, cout) if backward else (cout, cin)    # lanes, sequence
    kc = length * n // m
    for block in range(-(-channels // lanes)):
        tile, col_block = divmod(block * lanes, model.cols)
        dst = w_addr + tile * kc
        if backward:
            prog.prune(d_addr + block * lanes, dst, length // m, col_block // lanes,
                       backward=True, stride=cin)
        else:
            prog.prune(d_addr + block * cin, dst, length // m, col_block // lanes)
    return -(-channels // model.cols) * kc


def compressed_of(model, w, backward):
    """The expected W rows (tiles stacked, ``(rows, cols)`` values and indices) of
    :func:`prune_sets`, from :func:`sim.sat.osre.nm_prune`."""
    _, values, indices = nm_prune(w, model.n, model.m, 0 if backward else 1, model.in_fmt)
    channels, groups, n = values.shape
    kc = groups * n
    tiles = -(-channels // model.cols)
    vals = np.zeros((tiles * kc, model.cols), np.uint64)
    ids = np.zeros_like(vals)
    real = np.zeros(vals.shape, bool)           # columns of real channels
    for ch in range(channels):
        tile, col = divmod(ch, model.cols)
        vals[tile * kc:(tile + 1) * kc, col] = values[ch].reshape(-1)
        ids[tile * kc:(tile + 1) * kc, col] = indices[ch].reshape(-1)
        real[tile * kc:(tile + 1) * kc, col] = True
    return vals, ids, real


def prune_program(model, rng):
    """Forward and backward sets of a dense ``W[2m, 2m]`` with ties, +-0, infinities and NaNs
    (:func:`sim.sat.osre.random_weight_bits`); drains the W rows. On the 2x3 core (3 lanes)
    the last lane block is padded and the backward transposer's last block is partial."""
    prog, checks = Program(model), []
    cout = cin = 2 * model.m
    w = random_weight_bits((cout, cin), model.in_fmt, rng).astype(np.uint64)
    prog.load(Buf.D, 0, dense_rows(model, w))
    w_addr = 0
    for backward in (False, True):
        count = prune_sets(prog, w, 0, w_addr, backward)
        prog.drain(Buf.W, w_addr, count)
        checks.append((count, compressed_of(model, w, backward)))
        w_addr += count

    def check(beats):
        for count, (vals, ids, real) in checks:
            n_beats = count * model.beats[Buf.W]
            got, beats = _unpack_rows(model, Buf.W, beats[:n_beats]), beats[n_beats:]
            assert np.array_equal(got[..., 0][real], vals[real])
            assert np.array_equal(got[..., 1][real], ids[real])
        assert not beats
    return prog, check


def e2e_program(model, rng):
    """One BDWP step of a layer ``W[cols, m * rows]`` on the core: forward-prune the FP16
    copy, forward GEMM, SGD with a gradient, re-prune the updated weights."""
    prog = Program(model)
    cout, cin, t = model.cols, model.m * model.rows, 5        # Kc = n * rows: n folds
    master = fp.from_float64(model.master_fmt, rng.normal(0, 0.5, (cout, cin))).astype(np.uint64)
    w16 = fp.convert(master, model.master_fmt, model.in_fmt)
    rows = dense_rows(model, w16).shape[0]
    prog.load(Buf.D, 0, dense_rows(model, w16))
    prog.load(Buf.M, 0, dense_rows(model, master))
    kc = prune_sets(prog, w16, 0, 0, backward=False)
    x = _fp16(rng, (t, cin), specials=False)
    plan = plan_gemm(x, np.zeros((kc, cout), np.uint64), np.zeros((kc, cout), np.uint64),
                     model.n, model.m, model.rows, model.cols, model.in_fmt.width)
    prog.load(Buf.X, 0, compact_rows(x, model.m, model.x_groups))
    prog.gemm(0, 0, 0, plan.t, plan.folds, len(plan.tiles), n=model.n, groups=cin // model.m)
    prog.drain(Buf.O, 0, plan.t * len(plan.tiles))
    # SGD on the whole layer, then re-prune into fresh W rows and drain everything.
    grad = fp.from_float64(model.grad_fmt, rng.normal(0, 1, (cout, cin)))
    lr, mu, wd = 0.5, 0.9, 1e-3
    mf, decoupled = model.master_fmt, model.config.decoupled_wd
    prog.load(Buf.G, 0, dense_rows(model, grad))
    prog.load(Buf.V, 0, np.full((rows, model.lanes), first_step_v(), np.uint64))
    prog.set(Reg.LR, config_bits(lr, mf))
    prog.set(Reg.MU, config_bits(mu, mf))
    prog.set(Reg.WD, decay_bits(lr, wd, mf) if decoupled else config_bits(wd, mf))
    prog.sgd(0, 0, rows)
    new_w, _, new_w16 = sgd_step(grad, master, np.full(master.shape, first_step_v(), np.uint64),
                                 lr, mu, wd, model.grad_fmt, mf, model.in_fmt,
                                 decoupled_wd=decoupled)
    prune_sets(prog, new_w16, 0, kc, backward=False)
    prog.drain(Buf.W, 0, 2 * kc)
    prog.drain(Buf.M, 0, rows)

    vals, ids, _ = compressed_of(model, w16, False)
    y = gemm_chain(x, vals, ids, model.m, model.in_fmt, model.acc_fmt)
    new_vals, new_ids, _ = compressed_of(model, new_w16, False)

    def check(beats):
        count = plan.t * len(plan.tiles) * model.beats[Buf.O]
        got, beats = gemm_result(model, plan, beats[:count]), beats[count:]
        assert np.array_equal(got, y)
        count = 2 * kc * model.beats[Buf.W]
        got, beats = _unpack_rows(model, Buf.W, beats[:count]), beats[count:]
        assert np.array_equal(got[:kc, :, 0], vals) and np.array_equal(got[:kc, :, 1], ids)
        assert np.array_equal(got[kc:, :, 0], new_vals)
        assert np.array_equal(got[kc:, :, 1], new_ids)
        got = _unpack_rows(model, Buf.M, beats)
        assert np.array_equal(got, dense_rows(model, new_w))
    return prog, check


def error_program(model, rng):
    """Commands the core must reject (nothing read or written, ``error`` set), each followed
    by a valid one; then the rows they would have touched are drained unchanged."""
    prog = Program(model)
    d = model.depth
    before = [model.mem[Buf.W][:2].copy(), model.mem[Buf.O][d[Buf.O] - 2:].copy()]
    bad = [Command(Op.LOAD, sel=Buf.W, a=d[Buf.W] - 1, n0=2),           # one row too many
           Command(Op.LOAD, sel=7, a=0, n0=1),                           # no such buffer
           Command(Op.DRAIN, sel=Buf.X, a=0, n0=0),                      # zero rows
           Command(Op.GEMM, sel=1, a=0, b=0, c=d[Buf.O] - 2, n0=3, n1=1, n2=1,
                   n3=1),                                                 # O overflows
           Command(Op.GEMM, sel=1, a=d[Buf.W] - model.rows, b=0, c=0, n0=1, n1=1,
                   n2=2, n3=1),                                           # W overflows
           Command(Op.GEMM, sel=1, a=0, b=d[Buf.X] - 1, c=0, n0=model.x_groups + 1,
                   n1=1, n2=1, n3=1),                                     # X overflows
           Command(Op.GEMM, sel=0, n0=1, n1=1, n2=1, n3=1),               # N = 0
           Command(Op.GEMM, sel=model.m + 1, n0=1, n1=1, n2=1, n3=1),     # N > m
           Command(Op.GEMM, sel=1, n0=1, n1=2, n2=1, n3=1),         # folds != ceil
           Command(Op.GEMM, sel=1, n0=1, n1=1, n2=1, n3=0),         # no groups
           Command(Op.SGD, a=0, b=d[Buf.D] - 1, n0=2),                   # D overflows
           Command(Op.PRUNE, a=0, b=0, n0=1, n1=model.cols // model.lanes),  # no such block
           Command(Op.PRUNE, a=0, b=d[Buf.W] - model.n + 1, n0=1),       # W overflows
           Command(Op.PRUNE, flag=1, a=d[Buf.D] - model.lanes, c=1, n0=model.lanes),  # D
           Command(Op.SET, sel=3, value=1), Command(0), Command(7)]
    for cmd in bad:
        with pytest.raises(ValueError):
            prog._add(cmd)
        prog.raw(cmd)
        prog.set(Reg.LR, 0)
    prog.drain(Buf.W, 0, 2)
    prog.drain(Buf.O, d[Buf.O] - 2, 2)

    def check(beats):
        n_w = 2 * model.beats[Buf.W]
        assert np.array_equal(_unpack_rows(model, Buf.W, beats[:n_w]), before[0])
        assert np.array_equal(_unpack_rows(model, Buf.O, beats[n_w:]), before[1])
    return prog, check


PROGRAMS = {"gemm": gemm_program, "sgd": sgd_program, "prune": prune_program,
            "e2e": e2e_program, "errors": error_program}


def gemm_cases(params):
    """(T, K, Cout, N) per core: dense, 2:m, one more N:M; folds and tiles > 1; one with
    ``T > latency`` (steady streaming)."""
    if params.m == 4:
        return [(6, 16, 5, 4), (7, 16, 4, 2), (12, 12, 3, 3), (4, 8, 3, 1)]
    return [(6, 16, 6, 8), (20, 32, 5, 2), (5, 16, 4, 4)]


def build_phases(params, timing, seed, stalled=tuple(PROGRAMS)):
    """Every program stall-free (with the model's cycle counts), then the ``stalled`` ones
    again with random gaps and stalls, all on one model (the state carries over). Each
    program's model output is checked against the engines' golden models first."""
    model = SatCoreModel(params, timing)
    rng = np.random.default_rng(seed)
    dw, phases = model.data_width, []
    runs = [(name, 0.0) for name in PROGRAMS] + [(name, GAP_PROB) for name in stalled]
    for name, p_gap in runs:
        make = PROGRAMS[name]
        prog, check = (make(model, rng, gemm_cases(params)) if name == "gemm"
                       else make(model, rng))
        out, errors, cycles = prog.run()
        check(out)
        phases.append({"name": f"{name}-{'stalls' if p_gap else 'timed'}",
                       "cmds": prog.words(), "din": prog.din,
                       "dout": [d | last << dw for d, last in out], "errors": errors,
                       "cycles": None if p_gap else cycles,
                       "gap_prob": p_gap, "stall_prob": p_gap and STALL_PROB})
    return phases


# -- the model against the engines' golden models (no RTL) -----------------------------------
@pytest.mark.parametrize("core", CORES)
def test_model_programs_match_golden_models(core):
    """Every program's model output equals gemm_chain / sgd_step / nm_prune (the checks run
    inside build_phases)."""
    params = CORES[core]
    phases = build_phases(params, SatCore(params).timing, seed=5)
    assert len(phases) == 2 * len(PROGRAMS)


#: Icarus (the slow 4-state cross-check) repeats only the end-to-end program with stalls:
#: gaps and stalls act on LOAD and DRAIN only, and that program loads or drains all 7 buffers.
ICARUS_STALLED = ("e2e",)


# -- RTL ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("core", CORES)
def test_core_rtl_runs_programs(core, sim, tmp_path):
    params = CORES[core]
    component = SatCore(params)
    phases = build_phases(params, component.timing, seed=len(core),
                          stalled=ICARUS_STALLED if sim == "icarus" else tuple(PROGRAMS))
    measured_path = tmp_path / "measured.json"
    config = {"seed": 3, "phases": phases, "measured": str(measured_path)}
    run(component, f"sat_core_{core}", "sim.sat.tb_core", config, sim=sim,
        testcase="sat_core_runs_programs")
    measured = json.loads(measured_path.read_text())
    assert [p["name"] for p in measured] == [p["name"] for p in phases]


@pytest.mark.full
def test_core_rtl_dsp_runs_programs(sim, tmp_path):
    """``dsp="ecp5"`` reaches the array through the config: the 2x3 core at 5 + 3 stages
    with its uMAC products in MULT18X18D cells (behavioural model) runs every program."""
    params = resolve("small", mul_latency=5, add_latency=3, dsp="ecp5")
    component = SatCore(params)
    assert component.array.pe.dsp == "ecp5" and component.array.pe.select_stages == 1
    assert component.module_names["stce"].endswith("_m5_a3_ecp5")
    phases = build_phases(params, component.timing, seed=11, stalled=ICARUS_STALLED)
    measured_path = tmp_path / "measured.json"
    config = {"seed": 4, "phases": phases, "measured": str(measured_path)}
    run(component, "sat_core_2x3_dsp", "sim.sat.tb_core", config, sim=sim,
        testcase="sat_core_runs_programs")
    assert len(json.loads(measured_path.read_text())) == len(phases)


@pytest.mark.parametrize("lanes", [1, 3, 4])
def test_transposer_rtl(lanes, sim):
    """The backward-layout transposer alone, under random gaps and stalls and without."""
    from hw.sat.transposer import Transposer
    cases = [{"columns": c, "gap_prob": p, "stall_prob": p}
             for p in (0.0, GAP_PROB, 0.6) for c in (1, lanes, 2 * lanes + 1, 4 * lanes)]
    config = {"lanes": lanes, "width": 5, "seed": lanes, "cases": cases}
    run(Transposer(lanes=lanes, width=5, count_width=8), f"sat_transposer_{lanes}",
        "sim.sat.tb_core", config, sim=sim, testcase="transposer_turns_blocks")


# -- model details ----------------------------------------------------------------------------
def test_command_encoding_matches_rtl_layout():
    from sim.layout import pack
    for params in CORES.values():
        core, model = SatCore(params), SatCoreModel(params)
        cmd = Command(Op.PRUNE, sel=5, flag=1, a=3, b=7, c=11, n0=13, n1=1, n2=2, value=0x3F80)
        fields = {name: getattr(cmd, name) for name in core.cmd_layout.members}
        assert model.encode(cmd) == pack(core.cmd_layout, fields)
        assert core.cmd_layout.size == sum(model.widths.values())


@pytest.mark.parametrize("core", CORES)
def test_gemm_cycles_are_the_stce_model_plus_3(core):
    """The core's GEMM command costs the validated STCE cycle model (sim/sat/cycles.py,
    equal to the array testbench's measurements) plus 3 cycles: acceptance, range check,
    the buffers' read register. The RTL matches this model exactly (timed phases)."""
    params = CORES[core]
    array = SatCore(params).array
    timing = SatCore(params).timing
    for t, k, cout, n in gemm_cases(params) + [(1, 64, 9, 2), (40, 8, 1, 8)]:
        plan = plan_gemm(np.zeros((t, k), np.uint64), np.zeros((k * n // params.m, cout),
                         np.uint64), np.zeros((k * n // params.m, cout), np.uint64), n,
                         params.m, params.rows, params.cols, 16)
        want = stce_gemm_cycles(t, k, cout, n, params.m, array.rows, array.cols,
                                array.mul_latency, array.add_latency) + 3
        assert gemm_command_cycles(plan.t, plan.folds, len(plan.tiles), timing) == want


def test_host_model_rejects_commands_that_do_not_fit():
    model = SatCoreModel(resolve("small"))
    prog, d = Program(model), model.depth
    with pytest.raises(ValueError, match="exceed its depth"):
        prog.load(Buf.X, d[Buf.X] - 1, np.zeros((2, model.rows, model.m)))
    with pytest.raises(ValueError, match="GEMM needs O rows"):
        prog.gemm(0, 0, 0, t=d[Buf.O] + 1, folds=1, tiles=1, n=1, groups=1)
    with pytest.raises(ValueError, match="GEMM needs W rows"):
        prog.gemm(0, 0, 0, t=1, folds=d[Buf.W], tiles=1, n=1, groups=d[Buf.W] * model.rows)
    with pytest.raises(ValueError, match="GEMM needs X groups"):
        prog.gemm(0, 0, 0, t=d[Buf.X] + 1, folds=1, tiles=1, n=1, groups=model.x_groups)
    with pytest.raises(ValueError, match="PRUNE writes W"):
        prog.prune(0, d[Buf.W] - 1, groups=1)
    with pytest.raises(ValueError, match="PRUNE reads D"):
        prog.prune(0, 0, groups=d[Buf.D], backward=True, stride=1)
    with pytest.raises(ValueError, match="SGD rows"):
        prog.sgd(0, 0, d[Buf.M] + 1)
    with pytest.raises(ValueError, match="fit"):
        model.encode(Command(Op.LOAD, a=1 << 20))
    x = np.zeros((5, 16), np.uint64)
    w, idx = np.zeros((8, 4), np.uint64), np.zeros((8, 4), np.uint64)
    stage_gemm(prog, x, w, idx, n=2)                     # fits: 4 folds x 2 tiles x 2 rows
    with pytest.raises(ValueError, match="X rows"):       # 640 activations: 80 X rows
        stage_gemm(prog, np.zeros((40, 16), np.uint64), w, idx, n=2)


# -- parameters ---------------------------------------------------------------------------------
@pytest.mark.parametrize("override,needle", [
    ({"rows": 0}, "rows"), ({"cols": 257}, "cols"), ({"m": 1}, "m"), ({"n": 5}, "n"),
    ({"lanes": 2}, "lanes"), ({"lanes": 0}, "lanes"), ({"in_fmt": "fp8"}, "in_fmt"),
    ({"acc_fmt": 32}, "acc_fmt"), ({"grad_fmt": "x"}, "grad_fmt"),
    ({"master_fmt": "fp31"}, "master_fmt"), ({"mul_latency": 17}, "mul_latency"),
    ({"add_latency": -1}, "add_latency"), ({"sgd_latency": 0}, "sgd_latency"),
    ({"decoupled_wd": 1}, "decoupled_wd"), ({"data_width": 12}, "data_width"),
    ({"data_width": 4}, "data_width"), ({"wbuf_depth": 1}, "wbuf_depth"),
    ({"xbuf_depth": 1 << 17}, "xbuf_depth"), ({"obuf_depth": 2.0}, "obuf_depth"),
    ({"sgd_depth": 0}, "sgd_depth"), ({"dbuf_depth": None}, "dbuf_depth"),
    ({"dsp": "xcup"}, "dsp"), ({"dsp": "ecp5"}, "dsp"),      # SMALL: mul_latency 1
])
def test_parameter_validation(override, needle):
    with pytest.raises(ValueError, match=rf"^{needle}\b"):
        SatCore(SatConfig.SMALL, **override)


def test_presets_and_registry():
    core, used = DESIGNS["sat_core"].build()
    assert used["preset"] == "paper" and all(used[k] is None for k in PAPER.as_dict())
    assert (core.rows, core.cols, core.n, core.m, core.lanes) == (32, 32, 2, 8, 32)
    assert (core.in_fmt.name, core.acc_fmt.name, core.master_fmt.name) == ("fp16", "fp32", "fp32")
    assert core.wuve.lanes == core.osre.lanes == 32 and core.array.latency == 130
    assert core.row_width[Buf.X] == 4096 and core.row_width[Buf.W] == 32 * 19
    small, _ = DESIGNS["sat_core"].build(**DESIGNS["sat_core"].test_params)
    assert (small.rows, small.cols, small.lanes) == (SMALL.rows, SMALL.cols, SMALL.lanes)
    custom, _ = DESIGNS["sat_core"].build(preset="small", rows=3, data_width=16)
    assert custom.rows == 3 and custom.data_width == 16 and custom.cols == SMALL.cols
    for bad, needle in [({"preset": "huge"}, "preset"), ({"bogus": 1}, "bogus")]:
        with pytest.raises(ValueError, match=needle):
            DESIGNS["sat_core"].build(**bad)
    assert set(DESIGNS["sat_core"].params) == {"preset", *PAPER.as_dict()}


def test_one_config_feeds_rtl_and_model():
    """SatConfig is frozen and keyword-only; the core, its engines and the model take their
    sizes and latencies from it (index width, row widths, beats, array latency, swap wave)."""
    import dataclasses
    with pytest.raises(dataclasses.FrozenInstanceError):
        SMALL.rows = 4
    with pytest.raises(TypeError):
        SatConfig(2, 4)
    for config in CORES.values():
        core, model = SatCore(config), SatCoreModel(config)
        assert core.built_parameters == {**config.as_dict(), "sgd_latency": core.wuve.latency,
                                         "dsp": "none"}
        assert core.array.index_width == core.index_width == model.index_width
        assert config.index_width == max(1, (config.m - 1).bit_length())
        assert (core.array.latency, core.array.swap_wave) == (config.array_latency,
                                                              config.swap_wave)
        assert core.row_width == model.row_width and core.beats == model.beats
        assert core.cmd_layout.size == sum(model.widths.values())
    assert SatCoreModel(core.built_parameters).config == dataclasses.replace(
        config, sgd_latency=core.wuve.latency)


# -- generated Verilog --------------------------------------------------------------------------
def _lint(component, name, lint):
    start = time.monotonic()
    text = to_verilog(component, name)
    generated = time.monotonic() - start
    lint(text, name)
    return text, generated


#: A mid-size core for the default lint run: every engine and buffer at reduced size.
MID = resolve("paper", rows=8, cols=8, lanes=8, sgd_latency=12, data_width=128,
              wbuf_depth=256, xbuf_depth=128, obuf_depth=128, sgd_depth=64, dbuf_depth=64)


def test_verilator_lint_wall_clean_mid_size(lint):
    _lint(SatCore(MID), "sat_core", lint)


@slow
def test_verilator_lint_wall_clean_paper(lint):
    text, seconds = _lint(DESIGNS["sat_core"].build()[0], "sat_core", lint)
    print(f"paper core: {len(text)} bytes of Verilog generated in {seconds:.1f} s")


def test_no_latches():
    text = to_verilog(SatCore(SatConfig.SMALL), "sat_core")
    assert latch_check(text, "sat_core") == []


class _CheckBench(Elaboratable):
    """The core's command check alone (combinational): ``cmd`` in, ``ok`` and the footprint
    out."""

    def __init__(self, core):
        self.core, self.cmd = core, Signal(core.cmd_layout)

    def elaborate(self, platform):
        m = Module()
        self.ok, self.fp, _ = self.core._check(m, self.cmd)
        return m


def _random_command(core, rng):
    """A command near the edges of the check: valid-looking GEMMs and PRUNEs, counts up to
    the field widths, ranges ending at and past each buffer's depth."""
    widths = field_widths(core.addr_width, core.count_width, core.master_fmt.width)

    def value(field, near=None):
        top = (1 << widths[field]) - 1
        pick = rng.integers(4)
        if pick == 0 or near is None:
            return int(rng.integers(0, top + 1) >> int(rng.integers(0, widths[field])))
        if pick == 1:
            return top
        return int(min(top, max(0, near + rng.integers(-2, 3))))

    op = int(rng.choice([Op.LOAD, Op.DRAIN, Op.GEMM, Op.GEMM, Op.GEMM, Op.SGD, Op.PRUNE,
                         Op.PRUNE, Op.SET, 7]))
    d = core.depth
    cmd = Command(op, sel=value("sel", 2), flag=value("flag"), a=value("a", 0),
                  b=value("b", 0), c=value("c", 1), n0=value("n0", 3), n1=value("n1", 1),
                  n2=value("n2", 2), n3=value("n3", 2))
    def edge(limit):       # half inside, half at the limit (and one or two past it)
        limit = max(1, limit)
        if rng.random() < 0.5:
            return int(rng.integers(1, limit + 1))
        return limit + int(rng.integers(-1, 3))

    if op == Op.GEMM and rng.random() < 0.8:
        n, gx = int(rng.integers(1, core.m + 1)), d[Buf.X] * core.x_groups
        kg = edge(min(gx // 4, d[Buf.W] // core.rows * core.rows // n))
        folds = -(-kg * n // core.rows)
        passes = d[Buf.W] // core.rows // max(1, folds)
        if rng.random() < 0.5:          # many tiles, or few tiles of many rows
            tiles = edge(passes)
            t = edge(min(d[Buf.O] // max(1, tiles), gx // max(1, kg)))
        else:
            t = edge(min(d[Buf.O], gx // max(1, kg)))
            tiles = edge(min(passes, d[Buf.O] // max(1, t)))
        cmd = replace(cmd, sel=n, n3=kg, n1=folds, n2=tiles, n0=t, a=0, b=0, c=0)
    if op == Op.PRUNE and rng.random() < 0.7:
        cmd = replace(cmd, n1=int(rng.integers(0, core.col_blocks + 1)), a=0, b=0,
                      c=edge(core.lanes), n0=edge(min(d[Buf.W] // core.n, d[Buf.D] // core.m)))
    return cmd


@pytest.mark.parametrize("config", [
    *CORES.values(), PAPER, resolve("small", rows=3, cols=3, lanes=3, wbuf_depth=40)],
    ids=[*CORES, "paper", "3x3"])
def test_command_check_matches_isa(config):
    """The core's range check (products of fields in LUTs, on operands narrowed by the
    bounds it implies) accepts exactly the commands :func:`hw.sat.isa.problem` accepts and
    gives :func:`hw.sat.isa.footprint`'s rows (Amaranth simulator, 3,000 seeded commands,
    about half of them rejected)."""
    bench = _CheckBench(SatCore(config))
    core, rng = bench.core, np.random.default_rng(13)
    commands = [_random_command(core, rng) for _ in range(3000)]
    accepted = Counter()

    async def testbench(ctx):
        for cmd in commands:
            for name in FIELD_NAMES:
                ctx.set(getattr(bench.cmd, name), getattr(cmd, name))
            await ctx.delay(1e-9)
            ok = bool(ctx.get(bench.ok))
            assert ok == (problem(cmd, config) is None), cmd
            if not ok:
                continue
            accepted[cmd.op] += 1
            reads, writes = footprint(cmd, config)
            for buf, (r, w, lo, hi) in bench.fp.items():
                span = {s[1:] for s in (*reads, *writes) if s[0] == buf}
                got = (ctx.get(r), ctx.get(w))
                assert got == (any(s[0] == buf for s in reads),
                               any(s[0] == buf for s in writes)), (cmd, buf)
                if span:
                    assert {(ctx.get(lo), ctx.get(hi))} == span, (cmd, buf)

    sim = Simulator(bench)
    sim.add_testbench(testbench)
    sim.run()
    rejected = Counter(cmd.op for cmd in commands) - accepted
    assert all(accepted[op] > 50 and rejected[op] > 50 for op in Op), (accepted, rejected)
