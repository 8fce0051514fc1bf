"""The SAT system model (sim/sat/system.py) and the whole-iteration planner
(sim/sat/planner.py): the model equals the core's program schedule, never beats its bounds,
is monotone in bandwidth; planned programs are legal, never run conflicting commands at once,
and compute the golden results (the core model, bit for bit)."""

import random
from dataclasses import replace

import numpy as np
import pytest

from hw.sat.config import PAPER, SMALL, resolve
from hw.sat.isa import Buf, Op, conflicts, problem
from sim.bench.sat_resnet18 import LAYERS, layer_gemms
from sim.runner import full_tier
from sim.sat.cycles import command_cycles, gemm_cycles, program_cycles, program_schedule
from sim.sat.model import Command, SatCoreModel
from sim.sat.planner import Gemm, Planner, plan_iteration, run_on_model
from sim.sat.stce import gemm_chain
from sim.sat.system import simulate

FULL = full_tier()


#: The planned-data tests need the data router (compact X rows) in the core model and RTL.
ROUTER = pytest.mark.skipif(not hasattr(SatCoreModel, "bus_rows"),
                            reason="the core model has no data router (compact X) yet")


def _timing(config):
    from hw.sat.core import SatCore
    return SatCore(config).timing


@pytest.fixture(scope="module")
def paper():
    return PAPER, _timing(PAPER)


def _random_program(rng, config, count=30):
    """Commands of every kind (some rejected), addresses anywhere, on ``config``."""
    r, d = config.rows, config.depth
    prog = []
    for _ in range(count):
        op = rng.choice([Op.LOAD, Op.LOAD, Op.DRAIN, Op.GEMM, Op.GEMM, Op.SGD, Op.PRUNE,
                         Op.SET])
        if op in (Op.LOAD, Op.DRAIN):
            buf = rng.choice(list(Buf))
            prog.append(Command(op, sel=buf, a=rng.randrange(d[buf] // 2),
                                n0=rng.randrange(1, d[buf] // 3)))
        elif op == Op.GEMM:
            n = rng.choice([config.n, config.m])
            kg = rng.randrange(1, 12)
            t = rng.randrange(1, 60)
            prog.append(Command(op, sel=n, flag=rng.randrange(2), a=rng.randrange(8),
                                b=rng.randrange(4), c=rng.randrange(8), n0=t,
                                n1=-(-kg * n // r), n2=rng.randrange(1, 3), n3=kg))
        elif op == Op.SGD:
            prog.append(Command(op, a=rng.randrange(8), b=rng.randrange(8),
                                n0=rng.randrange(1, 8)))
        elif op == Op.PRUNE:
            prog.append(Command(op, flag=rng.randrange(2), a=rng.randrange(4),
                                b=rng.randrange(8), c=config.lanes, n0=rng.randrange(1, 3)))
        else:
            prog.append(Command(op, sel=rng.randrange(4), value=1))
    return prog


@pytest.mark.parametrize("config", [PAPER, SMALL], ids=["paper", "small"])
def test_equals_program_schedule_stall_free(config):
    """Unlimited bandwidth (one beat a cycle): every dispatch and the total equal
    sim.sat.cycles.program_schedule / program_cycles (the core's rule) exactly."""
    timing, rng = _timing(config), random.Random(11)
    for _ in range(60):
        prog = _random_program(rng, config)
        tl = simulate(prog, config, timing)
        sched = program_schedule(prog, config, timing)
        assert tl.cycles == program_cycles(prog, config, timing)
        assert [d for d, _ in sched] == tl.start
        assert [e + 1 if e is not None else None for _, e in sched] == tl.end


def test_one_at_a_time_is_the_sum_of_command_cycles():
    config, rng = SMALL, random.Random(3)
    timing = _timing(config)
    for _ in range(20):
        prog = [c for c in _random_program(rng, config) if problem(c, config) is None]
        tl = simulate(prog, config, timing, concurrent=False)
        assert tl.cycles == 1 + sum(command_cycles(c, timing) - 1 for c in prog)
        ends = [e for e in tl.end]
        assert all(s >= e for s, e in zip(tl.start[1:], ends))


def _check_no_conflicting_overlap(steps, config, tl):
    running = []
    order = sorted(range(len(steps)), key=lambda i: tl.start[i])
    for i in order:
        if tl.end[i] is None:
            continue
        running = [j for j in running if tl.end[j] > tl.start[i] + 1e-9]
        for j in running:
            assert not conflicts(steps[j].cmd, steps[i].cmd, config), (j, i)
        running.append(i)


SMALL_NET = [("c1", 3, 5, 3, 1, 6), ("c2", 5, 6, 3, 2, 6), ("fc", 6, 4, 1, 1, 1)]


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "2of4"])
def test_small_network_program_is_legal_and_ordered(sparse):
    """A whole iteration of a small network on SMALL: every command fits, no two conflicting
    commands ever run at once, more bandwidth is never slower, and nothing beats the bounds
    (EX work, bytes / B)."""
    config = SMALL
    timing = _timing(config)
    last = None
    for bw in (1, 2, 4, 8, None):
        steps, gemms, _ = plan_iteration(SMALL_NET, 2, config, timing, bw, sparse=sparse)
        assert all(problem(s.cmd, config) is None for s in steps)
        tl = simulate(steps, config, timing, bw)
        _check_no_conflicting_overlap(steps, config, tl)
        ex = sum(command_cycles(s.cmd, timing) - 1 for s in steps
                 if s.cmd.op not in (Op.LOAD, Op.DRAIN))
        assert tl.cycles >= ex
        if bw is not None:
            assert tl.cycles >= (tl.bytes["din"] + tl.bytes["dout"]) / bw
        if last is not None:
            assert tl.cycles <= last
        last = tl.cycles
        phases = {s.phase for s in steps}
        assert {"FW", "BW dX", "WU dW", "SGD"} <= phases
        assert ("PRUNE" in {s.phase for s in steps if s.cmd.op == Op.PRUNE}) == sparse


def _bits16(rng, shape):
    return rng.standard_normal(shape).astype(np.float16).view(np.uint16).astype(np.uint64)


@ROUTER
@pytest.mark.parametrize("n", [2, 4], ids=["2of4", "dense"])
def test_planned_gemms_equal_golden_on_model(n):
    """Planned GEMMs cut in T blocks, fold blocks (accumulate chains) and tile blocks, with
    ping-pong regions and hoisted loads, run on the core model: every output equals
    gemm_chain (one chain per output in array order) bit for bit."""
    config, timing, plan, operands, golden = _planned_gemm_program(n)
    model = SatCoreModel(config)
    m = config.m
    assert any(t.fb < -(-(-(-g.k // m) * g.n) // config.rows) for g, t in plan.tilings)
    results, _, _ = run_on_model(plan.steps, operands, model)
    for key, y in golden.items():
        assert np.array_equal(results[key], y), key
    tl = simulate(plan.steps, config, timing, 4)
    _check_no_conflicting_overlap(plan.steps, config, tl)


def test_resnet18_iteration(paper):
    """The whole ResNet-18 iteration on PAPER at 128 B/cycle: legal, as many true MACs as the
    array-only bench, never faster than the array alone."""
    config, _ = paper
    config = replace(config, data_width=1024)
    timing = _timing(config)
    steps, gemms, plan = plan_iteration(LAYERS, 32, config, timing, 128, sparse=True)
    assert all(problem(s.cmd, config) is None for s in steps)
    per = [layer_gemms(cin, cout, k, s, size, 32, i > 0)
           for i, (_, cin, cout, k, s, size) in enumerate(LAYERS)]
    want = sum(t * k * c for p in per for gs in p.values() for t, k, c in gs)
    assert sum(g.macs for g in gemms) == want
    tl = simulate(steps, config, timing, 128)
    array = sum(gemm_cycles(g.t, -(-g.k // 8) * 8, g.cout, g.n, 8, 32, 32,
                            config.mul_latency, config.add_latency) for g in gemms)
    assert tl.cycles >= array
    assert tl.busy["EX"] >= 0.99 * array


def _planned_gemm_program(n=2, bandwidth=4):
    """The GEMMs of test_planned_gemms_equal_golden_on_model, planned: ``(config, steps,
    operands, golden)``."""
    config = SMALL                 # the 2x3 core of tests/sat/test_sat_programs.py (one build)
    timing = _timing(config)
    rng = np.random.default_rng(n)
    m = config.m
    plan = Planner(config, timing, bandwidth)
    operands, golden = {}, {}
    for g in (Gemm("a", "FW", 37, 22, 7, n, "a"), Gemm("b", "BW dX", 9, 120, 3, n, "b"),
              Gemm("c", "WU dW", 20, 16, 8, m, "c")):
        kg = -(-g.k // m)
        x = np.zeros((g.t, kg * m), np.uint64)
        x[:, :g.k] = _bits16(rng, (g.t, g.k))
        values = _bits16(rng, (kg * g.n, g.cout))
        indices = rng.integers(0, m, (kg * g.n, g.cout)).astype(np.uint64)
        operands[g.key] = (x, values, indices)
        golden[g.key] = gemm_chain(x, values, indices, m, config.in_format,
                                   config.acc_format)
        plan.gemm(g)
    plan.flush()
    return config, timing, plan, operands, golden


@ROUTER
def test_planned_program_on_rtl(sim, tmp_path):
    """The planned program on the RTL core (all commands presented at once, the units
    overlapping): dout equals the golden model bit for bit, with and without random gaps and
    stalls; stall-free its span is the system model's cycles (within 2%; the schedule rule
    they share makes it exact)."""
    import json
    from hw.sat.core import SatCore
    from sim.runner import run
    config, timing, plan, operands, golden = _planned_gemm_program()
    model = SatCoreModel(config, timing)
    results, din, dout = run_on_model(plan.steps, operands, model)
    for key, y in golden.items():
        assert np.array_equal(results[key], y), key
    words = [model.encode(s.cmd) for s in plan.steps]
    want = [d | last << config.data_width for d, last in dout]
    expected = simulate(plan.steps, config, timing).cycles
    phases = [{"name": name, "cmds": words, "din": din, "dout": want,
               "errors": [0] * len(words), "serial": False, "span": None,
               "gap_prob": p, "stall_prob": p}
              for name, p in (("timed", 0.0), ("stalls", 0.3))[:1 if sim == "icarus" else 2]]
    measured = tmp_path / "measured.json"
    run(SatCore(config), "sat_core_2x3", "sim.sat.tb_core",
        {"seed": 5, "phases": phases, "measured": str(measured)}, sim=sim,
        testcase="sat_core_runs_programs")
    span = json.loads(measured.read_text())[0]["span"]
    print(f"RTL span {span}, system model {expected}")
    assert abs(span - expected) <= 0.02 * expected, (span, expected)


#: The 4x4 core of tests/sat/test_sat_programs.py (2:8, 2 lanes, 64-bit beats; the same
#: Verilator build) and tiny networks for it: two convolutions (the second of stride 2, so
#: its input gradient is four sub-pixel phase GEMMs) and a fully connected layer.
NET_CORE = resolve("small", rows=4, cols=4, m=8, n=2, lanes=2, mul_latency=2, add_latency=3,
                   sgd_latency=6, decoupled_wd=True, data_width=64, wbuf_depth=96,
                   xbuf_depth=96, obuf_depth=48, sgd_depth=64, dbuf_depth=128)
NET = [("c1", 3, 8, 3, 1, 4), ("c2", 8, 8, 3, 2, 4), ("fc", 8, 8, 1, 1, 1)]
#: The quick case (make test): a 1x1 convolution and a 1x1 convolution of stride 2.
QUICK_NET = [("c1", 2, 8, 1, 1, 2), ("c2", 8, 8, 1, 2, 2)]
NET_BATCH = 2


def _network_program(net, sparse, seed=1, bandwidth=2):
    """One planned BDWP iteration of ``net`` on NET_CORE with its data: ``(steps, data,
    timing)``."""
    from hw.sat.isa import Reg
    from sim.sat.host import NetworkData
    from sim.sat.planner import weight_shapes
    from sim.sat.wuve import config_bits, decay_bits
    config, timing = NET_CORE, _timing(NET_CORE)
    registers = {Reg.LR: config_bits(0.05, config.master_format),
                 Reg.MU: config_bits(0.9, config.master_format),
                 Reg.WD: decay_bits(0.05, 5e-4, config.master_format)}   # decoupled: decay
    steps, gemms, _ = plan_iteration(net, NET_BATCH, config, timing, bandwidth, sparse=sparse,
                                     registers=registers)
    data = NetworkData(gemms, weight_shapes(net), config, registers,
                       np.random.default_rng(seed))
    return steps, data, timing


def test_network_iteration_on_model():
    """The planned iteration (both PRUNEs at 2:8; dense drains D) on the core model: every
    drained row equals the engines' golden models (GEMM chains, the SGD step with the SET
    registers, top-K of the updated weights both ways)."""
    from sim.sat.host import run_planned
    for net in (QUICK_NET, NET):
        for sparse in (True, False):
            steps, data, timing = _network_program(net, sparse)
            with np.errstate(all="ignore"):
                _, _, checked = run_planned(steps, data, SatCoreModel(NET_CORE, timing))
            want = {"O", "M", "V"} | ({"PF", "PB"} if sparse else {"D"})
            assert set(checked) == want, checked
            assert {"FW", "BW dX", "WU dW", "SGD"} <= {s.phase for s in steps}


#: (network, sparse, phases (name, gap/stall probability, bandwidth in beats a cycle)).
NETWORK_CASES = {
    "quick-2of8": (QUICK_NET, True, [("timed", 0.0, None), ("stalls-B0.5", 0.3, 0.5)]),
    "full-2of8": (NET, True, [("timed", 0.0, None), ("stalls", 0.3, None),
                              ("B0.25", 0.0, 0.25)]),
    "full-dense": (NET, False, [("timed", 0.0, None), ("stalls", 0.3, None),
                                ("B0.25", 0.0, 0.25)]),
}


@pytest.mark.parametrize("case", [pytest.param(k, marks=() if k.startswith("quick") or FULL
                                               else pytest.mark.skip("TEST_FULL=1"))
                                  for k in NETWORK_CASES])
@pytest.mark.icarus_full
def test_network_iteration_on_rtl(case, sim, tmp_path):
    """A whole planned BDWP iteration (loads of real data, FW / BW dX / WU dW GEMMs, SGD,
    PRUNE forward and backward, drains; all commands presented at once) on the RTL of the 4x4
    core, stall-free, with random gaps and stalls of 0.3 and under an external bandwidth
    limit (the testbench's token bucket): every dout word equals the core model's, whose
    drained rows equal the golden models. Stall-free the span is program_cycles exactly and
    the system model's cycles within 2% (they are equal); under a bandwidth limit alone, the
    system model within 10%."""
    import json
    from hw.sat.core import SatCore
    from sim.runner import run
    from sim.sat.host import run_planned
    net, sparse, runs = NETWORK_CASES[case]
    steps, data, timing = _network_program(net, sparse)
    config, model = NET_CORE, SatCoreModel(NET_CORE, timing)
    words = [model.encode(s.cmd) for s in steps]
    cmds = [s.cmd for s in steps]
    beat = config.data_width // 8
    phases = []
    for name, p, bandwidth in runs:
        with np.errstate(all="ignore"):   # the model state carries over, as on the core
            din, dout, _ = run_planned(steps, data, model)
        phases.append({"name": name, "cmds": words, "din": din, "dout": dout,
                       "errors": [0] * len(words), "serial": False,
                       "span": program_cycles(cmds, config, timing) if name == "timed" else None,
                       "gap_prob": p, "stall_prob": p,
                       "bandwidth": bandwidth and bandwidth * beat})
    measured = tmp_path / "measured.json"
    run(SatCore(config), "sat_core_4x4", "sim.sat.tb_core",
        {"seed": 7, "phases": phases, "measured": str(measured)}, sim=sim,
        testcase="sat_core_runs_programs")
    got = json.loads(measured.read_text())
    for phase, result in zip(phases, got):
        if phase["gap_prob"]:
            continue
        want = simulate(steps, config, timing, phase["bandwidth"]).cycles
        print(f"{case} {phase['name']}: {len(steps)} commands, RTL {result['span']} cycles, "
              f"system model {want}")
        tolerance = 0.02 if phase["bandwidth"] is None else 0.10
        assert abs(result["span"] - want) <= tolerance * want, (phase["name"], result["span"],
                                                                want)
