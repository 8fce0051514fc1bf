"""SparTANN system cycle model (sim/spartann/system.py) and its benchmark: invariants on driver
programs and random programs, the reordering keeps every result bit for bit, bandwidth
accounting, parameter validation (pure Python, no RTL)."""

import json
import random
from dataclasses import replace

import numpy as np
import pytest

from hw.spartann.config import PAPER, SMALL
from hw.spartann.isa import footprints
from sim.spartann import system
from sim.spartann.csc import Entry
from sim.spartann.cycles import command_cycles, program_cycles
from sim.spartann.driver import ConvLayer, CoreConfig, plan_bp, plan_wu
from sim.spartann.model import CoreModel

LAYERS = [ConvLayer(batch=1, m=12, z=6, h=6, w=6, k=3, stride=1, pad=1),
          ConvLayer(batch=2, m=9, z=4, h=5, w=7, k=2, stride=2, pad=0)]


def _fp32(rng, shape):
    return rng.standard_normal(shape).astype(np.float32).view(np.uint32).astype(np.uint64)


def _plans(config=SMALL, seed=0):
    """Driver BP and WU plans of :data:`LAYERS` at GO densities 10%, 50% and 100%."""
    rng = np.random.default_rng(seed)
    out = []
    for layer in LAYERS:
        for density in (0.1, 0.5, 1.0):
            go = np.where(rng.random(layer.go_shape) < density, _fp32(rng, layer.go_shape), 0)
            go = go.astype(np.uint64)
            out.append(plan_bp(layer, go, _fp32(rng, layer.w_shape),
                               CoreConfig(config, contexts=True)))
            out.append(plan_wu(layer, go, _fp32(rng, layer.ia_shape), CoreConfig(config)))
    return out


@pytest.fixture(scope="module")
def plans():
    return _plans()


def test_unlimited_bandwidth_is_the_core_cycle_model(plans):
    """``bandwidth=None``: the core's own stall-free program cycles (the dispatch rule over
    the unit cycles; no channel), for the driver's programs and their reordered versions."""
    for p in plans:
        for prog in (p.program, system.overlap(p.program)):
            t = system.simulate(prog, SMALL)
            assert t.total == program_cycles(prog, SMALL)
            assert t.cycles == command_cycles(prog, SMALL)
            # Any finite bandwidth: loads take turns on the read channel, drains on the write one.
            assert system.simulate(prog, SMALL, 1e12).total >= t.total


def test_overlap_keeps_every_result(plans):
    """The reordered program drains the same bits in the same order, with the same Sparse Buf
    and column table halves for every run (bit for bit on four of the plans; in-order
    dispatch may cost it a few cycles where a long sparse load now goes first)."""
    for p in plans[::3]:
        prog = system.overlap(p.program)
        assert sorted(map(id, prog)) == sorted(map(id, p.program))
        got, want = CoreModel(SMALL).execute(prog), CoreModel(SMALL).execute(p.program)
        assert len(got) == len(want) and all(np.array_equal(a, b) for a, b in zip(got, want))
        runs = lambda q: [f.reads for c, f in zip(q, footprints(q, SMALL)) if "run" in c["op"]]
        assert runs(prog) == runs(p.program)
        assert program_cycles(prog, SMALL) <= 1.02 * program_cycles(p.program, SMALL)


def test_plan_is_the_driver_plan_reordered():
    """``double=False``: the driver's plan reordered by ``overlap``; the default plan uses the
    ping-pong halves (``hoist`` after ``overlap``) and drains the same bits."""
    rng = np.random.default_rng(3)
    L = LAYERS[0]
    go = np.where(rng.random(L.go_shape) < 0.3, _fp32(rng, L.go_shape), 0).astype(np.uint64)
    w = _fp32(rng, L.w_shape)
    cfg = CoreConfig(SMALL, contexts=True)
    p = system.plan("bp", L, go, w, cfg, double=False)
    ops = lambda prog: [c["op"] for c in prog]
    assert ops(p.program) == ops(system.overlap(plan_bp(L, go, w, cfg).program))
    assert np.array_equal(p.run(), plan_bp(L, go, w, cfg).run())
    d = system.plan("bp", L, go, w, cfg)
    want = system.hoist(system.overlap(plan_bp(L, go, w, replace(cfg, double=True)).program))
    assert ops(d.program) == ops(want) and np.array_equal(d.run(), p.run())
    with pytest.raises(ValueError, match="phase"):
        system.plan("fw", L, go, w, cfg)


def _layer_cases(seed=4):
    rng = np.random.default_rng(seed)
    for layer in LAYERS:
        for density in (0.1, 0.6):
            go = np.where(rng.random(layer.go_shape) < density, _fp32(rng, layer.go_shape), 0)
            go = go.astype(np.uint64)
            yield ("bp", layer, go, _fp32(rng, layer.w_shape), CoreConfig(SMALL, contexts=True))
            yield ("wu", layer, go, _fp32(rng, layer.ia_shape), CoreConfig(SMALL))


def test_ping_pong_plans_keep_every_result():
    """The ping-pong plans (halves of Dense Bufs A / B and the Out Buf, loads hoisted ahead of
    the other half's runs) drain the same bits as the single-half plans, on a fresh core and
    on one left dirty by the other phase (WU starts with both B halves zeroed), and are
    never slower at 8 B/cycle on these cases."""
    for k, (phase, layer, go, other, cfg) in enumerate(_layer_cases()):
        single = system.plan(phase, layer, go, other, cfg, double=False)
        double = system.plan(phase, layer, go, other, cfg)
        assert any(c.get("half") for c in double.program)
        t1, t2 = (system.simulate(x.program, SMALL, 8).total for x in (single, double))
        assert t2 <= t1, (phase, k, t1, t2)
        if k % 4 < 2:                        # bits (golden model: the slow part)
            assert np.array_equal(double.run(), single.run()), (phase, k)
        if k == 1:                           # WU on a core after the BP ping-pong plan
            core = CoreModel(SMALL)
            core.execute(system.plan("wu" if phase == "bp" else "bp", layer, go,
                                     _fp32(np.random.default_rng(k), layer.ia_shape
                                           if phase == "bp" else layer.w_shape),
                                     cfg).program)
            if phase == "wu":
                assert np.array_equal(double.run(core), single.run())


def test_hoist_passes_only_other_halves():
    """``hoist`` moves a dense load ahead of commands that use other halves only, to just
    before a run, never ahead of the last user of its half."""
    v = np.zeros((2, SMALL.T), dtype=np.uint64)
    prog = [{"op": "load_b", "vectors": v, "half": 0},
            {"op": "run_bp", "b_half": 0},
            {"op": "load_sparse", "entries": [Entry(1, 0, 0, 1)]},
            {"op": "run_bp", "b_half": 0},
            {"op": "run_bp", "b_half": 0, "out_half": 1},
            {"op": "drain_out", "count": 2},
            {"op": "load_b", "vectors": v, "half": 1},
            {"op": "load_b", "vectors": v, "half": 0}]
    out = system.hoist(prog)
    # B half 1: no user before, so ahead of the first run; B half 0: its last user is the last
    # run, so it stays behind it.
    assert [[id(c) for c in prog].index(id(c)) for c in out] == [0, 6, 1, 2, 3, 4, 5, 7]


@pytest.mark.parametrize("bandwidth", [0.5, 1, 3, 8, 16, 64])
def test_bandwidth_bounds(plans, bandwidth):
    """Lower bounds: every unit's busy time, each channel's bytes / bandwidth (one command a
    channel at a time); more bandwidth is never slower; utilization <= 1."""
    for p in plans:
        prog = system.overlap(p.program)
        t = system.simulate(prog, SMALL, bandwidth)
        assert t.total >= max(t.busy.values())
        assert t.total >= t.read / bandwidth and t.total >= t.write / bandwidth
        assert t.total >= system.simulate(prog, SMALL, 2 * bandwidth).total
        assert t.total >= system.simulate(prog, SMALL).total
        assert p.stats.updates <= t.busy["run"] <= t.total
        core = SMALL.T * SMALL.format.width / 8          # a dense row's bytes
        dense = sum(len(c["vectors"]) for c in prog if c["op"] in ("load_a", "load_b"))
        drained = sum(c["count"] for c in prog if c["op"].startswith("drain"))
        assert t.read >= dense * core and t.write == drained * core


def test_traffic_bytes():
    c = PAPER                                  # T = 32 FP32, 40-bit entries, 8 a beat
    assert system.traffic({"op": "load_b", "vectors": np.zeros((5, 32))}, c) == \
        ("READ", 5 * 128, 5)
    entries = [Entry(0, 0, 0, 1)] * 17
    assert system.traffic({"op": "load_sparse", "entries": entries}, c) == ("READ", 3 * 40, 3)
    assert c.entry_bits == 40 and c.sparse_beat == 8
    assert system.traffic({"op": "drain_out", "count": 7}, c) == ("WRITE", 7 * 128, 7)
    assert system.traffic({"op": "set_theta", "bits": 1}, c) == (None, 0, 0)
    # A bandwidth-bound load lasts core cycles + bytes / B - beats.
    prog = [{"op": "load_b", "vectors": np.zeros((10, 32), dtype=np.uint64)}]
    assert system.simulate(prog, c).total == 12
    assert system.simulate(prog, c, 32).total == 12 + 10 * 128 // 32 - 10
    assert system.simulate(prog, c, 256).total == 12


def test_channels_serialize_loads():
    """Two loads on different units overlap in the core, not on one read channel."""
    c = PAPER
    prog = [{"op": "load_a", "vectors": np.zeros((8, 32), dtype=np.uint64)},
            {"op": "load_b", "vectors": np.zeros((8, 32), dtype=np.uint64)}]
    prog2 = [{"op": "load_a", "vectors": np.zeros((8, 32), dtype=np.uint64)},
             {"op": "load_sparse", "entries": [Entry(0, 0, 0, 1)] * 64}]
    assert system.simulate(prog2, c).total == 11                     # concurrent units
    assert system.simulate(prog2, c, 16).total == 8 * 8 + 2 + 64 * 5 // 16 + 2


def test_random_programs():
    """Seeded random programs (loads of random sizes, runs, drains, register commands, illegal
    counts): the unlimited model equals the core's program cycles, bandwidth only slows it."""
    rng = random.Random(12)
    c = SMALL
    for _ in range(40):
        prog = []
        for _ in range(rng.randint(1, 25)):
            op = rng.choice(["load_a", "load_b", "load_sparse", "load_cols", "run_bp", "run_wu",
                             "drain_out", "drain_b", "set_theta", "clear_stats"])
            if op in ("load_a", "load_b"):
                prog.append({"op": op, "vectors": np.zeros((rng.randint(0, 70), c.T),
                                                           dtype=np.uint64)})
            elif op == "load_sparse":
                n = rng.randint(1, 40)
                prog.append({"op": op, "entries": [Entry(1, 0, 0, int(i % 5 == 4 or i == n - 1))
                                                   for i in range(n)]})
            elif op == "load_cols":
                n = rng.randint(0, 12)
                prog.append({"op": op, "addr": [rng.randrange(c.out_rows) for _ in range(n)],
                             "skip": [rng.randint(0, 1) for _ in range(n)]})
            elif op.startswith("drain"):
                prog.append({"op": op, "count": rng.randint(0, 80)})
            elif op == "set_theta":
                prog.append({"op": op, "bits": rng.getrandbits(32)})
            else:
                prog.append({"op": op})
        base = system.simulate(prog, c).total
        assert base == program_cycles(prog, c)
        assert system.simulate(prog, c, rng.choice([1, 4, 16])).total >= base


@pytest.mark.parametrize("bad", [0, -1, True, "64", float("nan")])
def test_bandwidth_validation(bad):
    with pytest.raises(ValueError, match="bandwidth"):
        system.simulate([], SMALL, bad)


def test_config_and_cycles_validation():
    with pytest.raises(TypeError, match="config"):
        system.simulate([], {"T": 4})
    with pytest.raises(ValueError, match="command cycles and 1 footprints for 1 commands"):
        system.simulate([{"op": "clear_stats"}], SMALL, cycles=[])
    assert system.simulate([], SMALL).total == 0


def test_bench_quick(tmp_path):
    """The benchmark's smoke run: one small layer, 10% and 100%, 20 CNN iterations."""
    from sim.bench.spartann_system import main
    assert main(["-o", str(tmp_path), "--plot", "", "--quick"]) == 0
    s = json.loads((tmp_path / "spartann_system.json").read_text())
    for key in ("min_utilization", "bandwidth_bytes_per_cycle", "dts_real_mean_error_pp"):
        assert key in s
    assert 0 < s["min_utilization"] <= 1 and s["bandwidth_bytes_per_cycle"] in (16, 32, 64, 128)
    assert set(s["dts_real_mean_error_pp"]) == {"paper", "relative"}
    assert all(e > 0 for e in s["dts_real_mean_error_pp"].values())
    assert len(s["real_densities"]) == 3 and all(0 < d < 1 for d in s["real_densities"].values())
    by = {(r["case"], r["phase"], r["bandwidth"]): r for r in s["rows"]}
    assert by[("100%", "bp", 64)]["speedup_vs_dense_core"] == 1.0
    assert by[("10%", "wu", 16)]["cycles"] >= by[("10%", "wu", 128)]["cycles"]
    assert "| small 3x3 | 10% |" in (tmp_path / "spartann_system.md").read_text()


@pytest.mark.icarus_full
def test_model_equals_rtl_cycles(sim, tmp_path):
    """The model without a bandwidth limit against the RTL's stall-free cycles (every stream
    always valid and ready, loads behind runs) on the planner's ping-pong BP and WU programs
    of a small layer: within 2% (the core's rules make it exact). Icarus in the full tier (a
    cycle count; the core's tests run it on both)."""
    tb_core = pytest.importorskip("sim.spartann.tb_core")
    if not hasattr(tb_core, "program_cycles_on_rtl"):
        pytest.skip("the core's RTL helper program_cycles_on_rtl is not there yet")
    rng = np.random.default_rng(21)
    L = ConvLayer(batch=1, m=8, z=4, h=4, w=4, k=3, stride=1, pad=1)
    go = np.where(rng.random(L.go_shape) < 0.4, _fp32(rng, L.go_shape), 0).astype(np.uint64)
    for phase, other, cfg in (("bp", _fp32(rng, L.w_shape), CoreConfig(SMALL, contexts=True)),
                              ("wu", _fp32(rng, L.ia_shape), CoreConfig(SMALL))):
        prog = system.plan(phase, L, go, other, cfg).program
        model = system.simulate(prog, SMALL).total
        (tmp_path / phase).mkdir()
        rtl = tb_core.program_cycles_on_rtl(SMALL, prog, sim=sim, out_dir=tmp_path / phase)
        assert abs(rtl - model) <= 0.02 * rtl, (phase, rtl, model)
