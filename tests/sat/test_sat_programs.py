"""SAT core (hw/sat/core.py) running whole programs with its units overlapped: in-order
dispatch, LOAD / GEMM-SGD-PRUNE-SET / DRAIN at the same time, conflicts held back by the
dispatcher. Every program's ``dout`` must equal the sequential golden model
(sim/sat/model.py) bit for bit, with and without random gaps and stalls, and every stall-free
program must take exactly :func:`sim.sat.cycles.program_cycles` (the schedule model H2's
system model builds on).

* the pipeline program: ping-pong X/O halves, the next operand loading and the previous result
  draining while a GEMM runs; SGD, PRUNE, structural conflicts (LOAD into a buffer EX writes,
  DRAIN of a buffer EX reads) and data hazards (WAR, RAW, WAW) on purpose;
* seeded random programs (:func:`sim.sat.driver.random_program`: random shapes, N:M, folds,
  tiles, accumulate chains, SGD, PRUNE both ways, SET, illegal commands) on the two test cores:
  ``RANDOM_PROGRAMS`` in the default run, ``RANDOM_PROGRAMS_FULL`` with ``TEST_FULL=1``.
"""

import json

import numpy as np
import pytest

from hw.sat.config import resolve
from hw.sat.core import SatCore
from hw.sat.isa import Buf, Op, Unit, UNITS, conflicts
from sim.runner import full_tier, run
from sim.sat.cycles import command_cycles, program_cycles, program_schedule
from sim.sat.driver import Program, compact_rows, random_program
from sim.sat.model import SatCoreModel

#: The two test cores of tests/sat/test_sat_core.py.
CORES = {
    "2x3": resolve("small"),
    "4x4": resolve("small", rows=4, cols=4, m=8, n=2, lanes=2, mul_latency=2, add_latency=3,
                   sgd_latency=6, decoupled_wd=True, data_width=64, wbuf_depth=96,
                   xbuf_depth=96, obuf_depth=48, sgd_depth=64, dbuf_depth=128),
}
#: The cores as parameters; on Icarus the quick tier runs whole programs on the 2x3 core only
#: (the 4x4 core's 4-state check there: test_sat_core.py's command programs).
ICARUS_QUICK_2X3 = ["2x3", pytest.param("4x4", marks=pytest.mark.icarus_full)]
FULL = full_tier()
#: Random programs per core and simulator (each ~30 commands), default / TEST_FULL=1.
RANDOM_PROGRAMS, RANDOM_PROGRAMS_FULL = 8, 150
GAP_PROB = STALL_PROB = 0.3


@pytest.fixture(autouse=True)
def _quiet_fp():
    with np.errstate(all="ignore"):
        yield


def pipeline_program(model, rng):
    """Three GEMM jobs through ping-pong halves of X and O (the next operand loads and the
    last result drains while a GEMM runs), then SGD and PRUNE next to loads and drains, with
    structural conflicts and data hazards on purpose."""
    prog = Program(model)
    r, m, xg = model.rows, model.m, model.x_groups
    n, kg, t = model.n, 2, 4
    folds = -(-kg * n // r)
    from sim.sat.driver import _random_rows
    x_half, o_half = model.depth[Buf.X] // 2, model.depth[Buf.O] // 2
    prog.load(Buf.W, 0, _random_rows(model, rng, Buf.W, 2 * folds * r))
    for job in range(3):
        x = _random_rows(model, rng, Buf.X, -(-t * kg // xg)).reshape(-1, m)[:t * kg]
        rows = compact_rows(x.reshape(t, kg * m), m, xg)
        prog.load(Buf.X, (job % 2) * x_half, rows)          # overlaps the previous GEMM
        if job == 2:
            prog.drain(Buf.O, 0, 2 * t)                     # RAW on GEMM 0, ST || EX
        prog.gemm(0, (job % 2) * x_half, (job % 2) * o_half, t, folds, 2, job == 2,
                  n=n, groups=kg)                           # job 2: WAR on the drain
    prog.load(Buf.W, 2 * folds * r, _random_rows(model, rng, Buf.W, 2))   # LD || EX
    prog.drain(Buf.W, 0, 1)                 # structural: W's read port is the GEMM's
    prog.load(Buf.O, model.depth[Buf.O] - 1, _random_rows(model, rng, Buf.O, 1))  # O.w
    prog.drain(Buf.O, o_half, 2 * t)
    for buf in (Buf.G, Buf.M, Buf.V):
        prog.load(buf, 0, _random_rows(model, rng, buf, 4))
    prog.sgd(0, 0, 2)
    prog.load(Buf.G, 2, _random_rows(model, rng, Buf.G, 2))    # LD || SGD, other rows
    prog.drain(Buf.M, 2, 2)                                   # ST || SGD, other rows
    prog.sgd(2, 2, 2)                                         # RAW on the G load
    prog.prune(0, 4, 1)                                       # RAW on SGD's D rows
    prog.load(Buf.D, 8, _random_rows(model, rng, Buf.D, 2))    # LD || PRUNE (D.w: free)
    prog.load(Buf.W, 6, _random_rows(model, rng, Buf.W, 1))    # structural: W.w is PRUNE's
    prog.drain(Buf.D, 0, 4)
    prog.drain(Buf.W, 4, model.n)
    return prog


def _phases(params, timing, programs, bandwidths=()):
    """Per program an overlapped phase stall-free, one with gaps and stalls, and one per
    external bandwidth of ``bandwidths`` (bytes a cycle); the program runs on the model once
    per phase, in order (the state carries over, as on the core). Returns the phases and
    the commands of each."""
    model = SatCoreModel(params, timing)
    dw, phases, commands = model.data_width, [], []
    for name, make in programs:
        prog = make(model)
        span = program_cycles(prog.commands, params, timing)
        runs = [("timed", 0.0, None), ("stalls", GAP_PROB, None)]
        runs += [(f"B{b:g}", 0.0, b) for b in bandwidths]
        for kind, p_gap, bandwidth in runs:
            out, errors, _ = prog.run()
            phases.append({"name": f"{name}-{kind}", "cmds": prog.words(), "din": prog.din,
                           "serial": False, "dout": [d | last << dw for d, last in out],
                           "errors": errors, "span": span if kind == "timed" else None,
                           "gap_prob": p_gap, "stall_prob": p_gap and STALL_PROB,
                           "bandwidth": bandwidth})
            commands.append(prog.commands)
    return phases, commands


def _run(core, sim, tmp_path, programs, seed=3, bandwidths=()):
    """Run ``programs`` on the RTL of ``core``; returns ``(phases, commands, measured)``."""
    params = CORES[core]
    component = SatCore(params)
    phases, commands = _phases(params, component.timing, programs, bandwidths)
    measured = tmp_path / "measured.json"
    run(component, f"sat_core_{core}", "sim.sat.tb_core",
        {"seed": seed, "phases": phases, "measured": str(measured)}, sim=sim,
        testcase="sat_core_runs_programs")
    return phases, commands, json.loads(measured.read_text())


def _check_system_model(core, phases, commands, measured):
    """H2's system model (sim/sat/system.py) against the RTL: every stall-free phase within
    2% (it is exact), bandwidth-limited phases within 10% (token bucket vs fluid model).
    Returns ``[(phase, rtl, model)]``."""
    from sim.sat.system import simulate
    params = CORES[core]
    timing = SatCore(params).timing
    rows = []
    for phase, cmds, got in zip(phases, commands, measured):
        if phase["gap_prob"]:
            continue
        want = simulate(cmds, params, timing, bandwidth=phase["bandwidth"]).cycles
        rows.append((phase["name"], got["span"], want))
        tolerance = 0.02 if phase["bandwidth"] is None else 0.10
        assert abs(got["span"] - want) <= tolerance * got["span"], rows[-1]
    return rows


def test_pipeline_program_overlaps_units():
    """The pipeline program really overlaps: on the schedule model some LOADs and DRAINs
    run while a GEMM or SGD runs, the hazards wait, and the program is faster than the sum
    of its commands."""
    for params in CORES.values():
        timing = SatCore(params).timing
        prog = pipeline_program(SatCoreModel(params, timing), np.random.default_rng(1))
        sched = program_schedule(prog.commands, params, timing)
        cmds = prog.commands
        overlapped = {(UNITS[Op(cmds[i].op)], UNITS[Op(cmds[j].op)])
                      for i in range(len(cmds)) for j in range(i)
                      if sched[i][1] is not None and sched[j][1] is not None
                      and sched[i][0] <= sched[j][1]}
        assert {(Unit.LD, Unit.EX), (Unit.ST, Unit.EX)} <= overlapped
        for i, (d, _) in enumerate(sched):
            for j in range(i):
                if conflicts(cmds[j], cmds[i], params):
                    assert d > sched[j][1], (i, j)
        serial = sum(command_cycles(c, timing) for c in cmds)
        assert program_cycles(cmds, params, timing) < serial


@pytest.mark.parametrize("core", ICARUS_QUICK_2X3)
def test_pipeline_program_rtl(core, sim, tmp_path):
    """The pipeline program: bits under stalls and under an external bandwidth of half a
    beat and a quarter beat a cycle (token bucket shared by din and dout); stall-free cycles
    exactly program_cycles; the system model on every unstalled phase."""
    rng = np.random.default_rng(len(core))
    beat = CORES[core].data_width // 8
    result = _run(core, sim, tmp_path, [("pipeline", lambda model: pipeline_program(model, rng))],
                  bandwidths=(beat / 2, beat / 4))
    for row in _check_system_model(core, *result):
        print("RTL vs system model:", core, *row)


@pytest.mark.parametrize("core", ICARUS_QUICK_2X3)
def test_random_programs_rtl(core, sim, tmp_path):
    """Seeded random legal programs (plus illegal commands) equal the golden model bit for
    bit; stall-free they take exactly program_cycles."""
    count = RANDOM_PROGRAMS_FULL if FULL else RANDOM_PROGRAMS
    if sim == "icarus" and not FULL:
        count = 2                      # the 4-state cross-check: two programs per core
    rng = np.random.default_rng(100 + len(core))
    result = _run(core, sim, tmp_path, [(f"random{k}", lambda model: random_program(model, rng, 30))
                                        for k in range(count)])
    _check_system_model(core, *result)
