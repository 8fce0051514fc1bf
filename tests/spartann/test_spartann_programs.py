"""Seeded random command programs on the SparTANN RTL against the golden core model.

Each program mixes jobs (random shapes and GO densities, empty and full columns, zero runs
longer than the relative index, so filler entries), loads issued before or behind runs (the
double Sparse Buf and column table), dense loads and drains on random halves of the
ping-pong Dense Bufs A / B and Out Buf (runs on random halves too), threshold / target / padding
changes, statistics, DTS updates and illegal commands (counts beyond a buffer, a run whose
column table disagrees with its Sparse Buf, unknown opcodes). Every program runs as one
segment of a simulation; all segments share the core, so state carries over. Drained words,
theta, target, statistics and the rejected-command count equal
:class:`sim.spartann.model.CoreModel` (``reject=True``) bit for bit. Every other segment
runs with random gaps and stalls on every stream and the inputs throttled to ``BANDWIDTH``
bytes per cycle; the stall-free ones also start every command in the cycle
:func:`sim.spartann.cycles.program_starts` says and end when the system model
(:mod:`sim.spartann.system`, where present) says. ``make test``
runs a few dozen programs, ``TEST_FULL=1`` some hundreds.
"""


import numpy as np
import pytest

from hw.spartann.config import resolve
from hw.spartann.isa import column_ends
from sim.runner import full_tier
from sim.spartann import csc
from sim.spartann.cycles import command_cycles, program_starts
from sim.spartann.model import CoreModel
from sim.spartann.tb_core import program_cycles_on_rtl, run_on_rtl
from test_spartann_core import _encode_rows, _values

FULL = full_tier()
#: Small cores: (overrides of the small preset, programs per simulation in make test).
#: make test builds only the first (Verilator builds dominate the time); TEST_FULL=1 runs
#: both with ten times the programs.
CORES = {
    "T2-fp32-k4": ({"T": 2, "idx_bits": 2, "sparse_depth": 64, "b_rows": 12, "a_rows": 10,
                    "out_rows": 10, "max_cols": 12, "mac_latency": 2, "wu_window": 2,
                    "sparse_beat": 4}, 26),
    "T3-bf16-k2": ({"T": 3, "fmt": "bf16", "idx_bits": 3, "sparse_depth": 40, "b_rows": 16,
                    "a_rows": 12, "out_rows": 12, "max_cols": 10, "mac_latency": 4,
                    "thr_latency": 2, "wu_window": 0, "sparse_beat": 2}, 12),
}
GAPS = 0.3
#: External bytes per cycle shared by the data inputs in the stalled segments.
BANDWIDTH = 6


def _job(rng, p):
    """A random job: GO (rows x cols) at a random density (0 and 1 included), columns
    encoded with fillers for zero runs longer than the index, some columns empty or full;
    BP-safe addresses (distinct) and random skip bits; ``end`` as the column ends."""
    fmt = p.format
    rows = int(rng.integers(1, p.b_rows + 1))
    density = float(rng.choice([0.0, 0.05, 0.2, 0.5, 1.0]))
    entries, cols = [], 0
    limit = min(p.max_cols, p.out_rows, p.a_rows)
    while cols < int(rng.integers(0, limit + 1)):
        kind = rng.random()
        live = (np.ones(rows, bool) if kind < 0.15 else np.zeros(rows, bool) if kind < 0.3
                else rng.random(rows) < density)
        values = _values(rng, fmt, (rows,), 0.02)
        col = _encode_rows([(int(r), int(values[r])) for r in np.flatnonzero(live)], p.idx_bits)
        if len(entries) + len(col) > p.sparse_depth:
            break
        entries += col
        cols += 1
    addr = [int(a) for a in rng.choice(limit, cols, replace=False)]
    skip = [int(s) for s in rng.random(cols) < 0.2]
    return ([{"op": "load_sparse", "entries": entries}],
            [{"op": "load_cols", "addr": addr, "skip": skip, "end": column_ends(entries)}])


def _run(rng):
    """A run on random halves of Dense Bufs A / B and the Out Buf."""
    return {"op": str(rng.choice(["run_bp", "run_wu"])),
            **{k: int(rng.integers(0, 2)) for k in ("a_half", "b_half", "out_half")}}


def random_program(p, rng, length=24):
    """A random program of about ``length`` commands for a core of ``p``, illegal commands
    included (the core rejects them, the model with ``reject=True`` too)."""
    fmt, T = p.format, p.T
    prog = [{"op": "set_theta", "bits": int(_values(rng, fmt, (1,), 0)[0]) & (fmt.sign_mask - 1)}]
    pending = []                    # a loaded job's commands not yet issued
    while len(prog) < length:
        r = rng.random()
        if r < 0.35:                # a job: loads (sparse / cols in either order), then runs
            sparse, cols = _job(rng, p)
            loads = sparse + cols if rng.random() < 0.7 else cols + sparse
            prog += loads
            prog += [_run(rng) for _ in range(int(rng.integers(1, 3)))]
        elif r < 0.45:
            buf, rows = (("a", p.a_rows) if rng.random() < 0.5 else ("b", p.b_rows))
            n = int(rng.integers(0, rows + 1))
            prog.append({"op": f"load_{buf}", "vectors": _values(rng, fmt, (n, T), 0.01),
                         "half": int(rng.integers(0, 2))})
        elif r < 0.6:
            op, rows = (("drain_out", p.out_rows) if rng.random() < 0.6
                        else ("drain_b", p.b_rows))
            prog.append({"op": op, "count": int(rng.integers(0, rows + 1)),
                         "half": int(rng.integers(0, 2))})
        elif r < 0.72:
            prog.append(rng.choice([
                {"op": "set_theta", "bits": int(_values(rng, fmt, (1,), 0.1)[0])},
                {"op": "set_target", "bits": int(np.float32(rng.choice([0.3, 0.5, 0.7, 0.9]))
                                                 .view(np.uint32))},
                {"op": "clear_stats"}, {"op": "dts_update"},
                {"op": "set_pad_lanes", "count": int(rng.integers(0, T + 2))}]))
        elif r < 0.8:               # a job loaded ahead, run later (behind other commands)
            sparse, cols = _job(rng, p)
            prog += sparse + cols
            pending.append(_run(rng))
        elif r < 0.86 and pending:
            prog.append(pending.pop(0))
        else:                       # illegal: rejected by the core and the model
            kind = int(rng.integers(0, 6))
            if kind == 0:
                prog.append({"op": "load_a", "vectors": _values(rng, fmt, (p.a_rows + 1, T))})
            elif kind == 1:
                prog.append({"op": "load_sparse", "entries": [csc.Entry(1, 0, 0, 1)]
                             * (p.sparse_depth + 1)})
            elif kind == 2:
                prog.append({"op": "drain_b", "count": p.b_rows + int(rng.integers(1, 4))})
            elif kind == 3:
                prog.append({"op": "raw", "opcode": int(rng.integers(13, 16)),
                             "arg": int(rng.integers(0, 1 << 32))})
            elif kind == 4:         # column table of another size than the Sparse Buf's
                sparse, cols = _job(rng, p)
                n = len(cols[0]["addr"])
                m = n + 1 if n < min(p.max_cols, p.out_rows, p.a_rows) else n - 1
                prog += sparse + [{"op": "load_cols", "addr": list(range(m)), "skip": [0] * m,
                                   "end": [0] * m}, {"op": "run_bp"}]
            else:
                prog.append({"op": "load_cols", "addr": [0] * (p.max_cols + 1),
                             "skip": [0] * (p.max_cols + 1), "end": [0] * (p.max_cols + 1)})
    return prog + pending


def _system_cycles(program, p):
    """Stall-free cycles of the system model when it exists, else the dispatch rule over
    the per-command formulas (:func:`sim.spartann.cycles.program_starts`)."""
    try:
        from sim.spartann.system import simulate
    except ImportError:
        return program_starts(program, p)[1]
    return simulate(program, p, bandwidth=None).total


@pytest.mark.parametrize("name", list(CORES) if FULL else list(CORES)[:1])
def test_random_programs_match_golden(name, sim, tmp_path):
    overrides, count = CORES[name]
    p = resolve("small", **overrides)
    count = count * 10 if FULL else count
    rng = np.random.default_rng(sum(map(ord, name)))
    programs = [random_program(p, rng, int(rng.integers(8, 40))) for _ in range(count)]
    segments = [{"program": prog, "gap_prob": GAPS * (k % 2), "stall_prob": GAPS * (k % 2),
                 "bandwidth": BANDWIDTH if k % 2 else None} for k, prog in enumerate(programs)]
    results = run_on_rtl(p, segments, sim=sim, seed=7, out_dir=tmp_path, quiet=True)

    model = CoreModel(p, reject=True)
    want = model.execute([cmd for prog in programs for cmd in prog])
    assert len(results["drained"]) == len(want)
    for k, (got, exp) in enumerate(zip(results["drained"], want)):
        got = np.array(got, dtype=np.uint64).reshape(exp.shape)
        assert np.array_equal(got, exp), f"drain {k} differs"
    assert (results["theta"], results["target"]) == (model.theta, model.target)
    assert tuple(results["stats"]) == tuple(model.stats)
    assert results["errors"] == model.errors and model.errors > 0
    for k, (prog, seg) in enumerate(zip(programs, results["segments"])):
        if k % 2:
            continue
        starts, end = program_starts(prog, p)
        assert seg["commands"] == command_cycles(prog, p), f"program {k}"
        assert (seg["starts"], seg["cycles"]) == (starts, end), f"program {k}"
        assert abs(_system_cycles(prog, p) - seg["cycles"]) <= 0.02 * seg["cycles"]


def test_loads_overlap_runs_on_rtl(sim, tmp_path):
    """A stream of jobs: the next job's loads run behind the current run, so the program
    takes fewer cycles than its commands one after the other; the RTL helper's cycles equal
    the dispatch rule's."""
    p = resolve("small", **CORES["T2-fp32-k4"][0])
    rng = np.random.default_rng(5)
    prog = []
    for _ in range(4):
        sparse, cols = _job(rng, p)
        prog += sparse + cols + [{"op": "run_wu"}]
    cycles = program_cycles_on_rtl(p, prog, sim=sim, out_dir=tmp_path)
    assert cycles == program_starts(prog, p)[1] < sum(command_cycles(prog, p))


def test_ping_pong_halves_order_on_rtl(sim, tmp_path):
    """A run on half 0 of Dense Buf B and the Out Buf: a load into B half 1 and a drain of Out
    half 1 start while it runs; a load into B half 0 and a drain of Out half 0 wait for its
    end (the core orders them, never a race). Starts and drained bits as the models say."""
    p = resolve("small", **CORES["T2-fp32-k4"][0])
    rng = np.random.default_rng(9)
    sparse, cols = _job(rng, p)
    while not sparse[0]["entries"] or all(cols[0]["skip"]):
        sparse, cols = _job(rng, p)
    vec = lambda: _values(rng, p.format, (p.b_rows, p.T), 0)
    prog = [{"op": "load_b", "vectors": vec(), "half": 0}] + sparse + cols + [
        {"op": "run_bp", "a_half": 0, "b_half": 0, "out_half": 0},
        {"op": "load_b", "vectors": vec(), "half": 1},
        {"op": "drain_out", "count": p.out_rows, "half": 1},
        {"op": "load_b", "vectors": vec(), "half": 0},
        {"op": "drain_out", "count": p.out_rows, "half": 0}]
    starts, end = program_starts(prog, p)
    cycles = command_cycles(prog, p)
    run = 3
    assert starts[run] >= cycles[0] and starts[run + 1] == starts[run] + 1 and starts[run + 2] == starts[run] + 2
    assert starts[run + 3] >= starts[run] + cycles[run] <= starts[run + 4]
    result = run_on_rtl(p, [{"program": prog, "gap_prob": 0.0, "stall_prob": 0.0}], sim=sim,
                        seed=2, out_dir=tmp_path, quiet=True)
    seg = result["segments"][0]
    assert (seg["starts"], seg["cycles"]) == (starts, end)
    want = CoreModel(p).execute(prog)
    assert all(np.array_equal(np.array(g, dtype=np.uint64).reshape(w.shape), w)
               for g, w in zip(result["drained"], want))


def test_random_programs_are_legal_and_varied():
    """The generator's programs run on the model (host-contract checks on), hold every kind
    of command, rejected ones included."""
    p = resolve("small", **CORES["T2-fp32-k4"][0])
    rng = np.random.default_rng(1)
    ops, errors = set(), 0
    for _ in range(30):
        prog = random_program(p, rng, 30)
        model = CoreModel(p, reject=True)
        model.execute(prog)
        ops |= {cmd["op"] for cmd in prog}
        errors += model.errors
    assert errors and ops >= {"load_a", "load_b", "load_sparse", "load_cols", "run_bp",
                              "run_wu", "drain_out", "drain_b", "set_theta", "set_target",
                              "clear_stats", "dts_update", "set_pad_lanes", "raw"}
