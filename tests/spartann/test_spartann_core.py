"""SparTANN core: programs executed on the RTL (cocotb, every simulator) against the golden
core model bit for bit, with and without stream gaps / back-pressure; run cycles against the
cycle model (exactly), command cycles against their formulas; the cycle model itself;
parameter validation; Verilog of the paper core (lint, latches)."""

import numpy as np
import pytest

from hw.generate import to_verilog
from hw.spartann.isa import Op, transfers
from hw.spartann.core import DESIGNS, SparTANNCore
from hw.spartann.config import PAPER, SMALL, SpartannConfig, resolve
from hw.checks import latch_check
from sim.spartann import csc
from sim.spartann.csc import Entry
from sim.spartann.model import CoreModel, run_job
from sim.spartann.cycles import (command_cycles, ideal_cycles, job_cycles, mac_count,
                                 program_starts, schedule, utilization)
from sim.spartann.tb_core import run_on_rtl
from sim.fp.vectors import special_values

GAP_PROB, STALL_PROB = 0.3, 0.3
SIZES = {"b_rows": 20, "a_rows": 24, "out_rows": 24, "max_cols": 24, "sparse_depth": 512}
#: id -> (parameters, GO densities of the jobs). mac_latency 0 (combinational lanes, 2
#: contexts) .. 23 (the FP library's default, 25 contexts); WU issue window 0 (in order), 1,
#: 4 (default), 8; read_stages 0 (default), 1, 2.
CONFIGS = {
    "T1-bf16": ({"T": 1, "fmt": "bf16", "idx_bits": 2, "mac_latency": 0, "thr_latency": 0,
                 "wu_window": 0},
                (0.0, 0.5)),
    "T3-fp32": ({"T": 3, "fmt": "fp32", "idx_bits": 3, "mac_latency": 3, "thr_latency": 1,
                 "wu_window": 1, "read_stages": 1},
                (0.1, 1.0)),
    "T4-bf16": ({"T": 4, "fmt": "bf16", "idx_bits": 4, "mac_latency": 5, "thr_latency": 2,
                 "read_stages": 2},
                (0.5, 0.1)),
    "T8-fp32": ({"T": 8, "fmt": "fp32", "idx_bits": 3, "mac_latency": 23, "thr_latency": 1,
                 "wu_window": 8},
                (1.0, 0.0)),
}


# -- program generation ---------------------------------------------------------------------------
def _values(rng, fmt, shape, special=0.1):
    """Normal values of magnitude 2**-8 .. 2**8 (random sign), a fraction ``special`` of them
    replaced by special patterns (zeros, subnormals, extremes, inf, NaNs)."""
    n = int(np.prod(shape))
    exp = rng.integers(fmt.bias - 8, fmt.bias + 9, n).astype(np.uint64)
    man = rng.integers(0, 1 << fmt.man_bits, n).astype(np.uint64)
    sign = rng.integers(0, 2, n).astype(np.uint64)
    bits = sign << np.uint64(fmt.width - 1) | exp << np.uint64(fmt.man_bits) | man
    specials = np.array(special_values(fmt), dtype=np.uint64)
    pick = rng.random(n) < special
    bits[pick] = rng.choice(specials, int(pick.sum()))
    return bits.reshape(shape)


def _job(rng, fmt, idx_bits, rows, cols, density, addr_rows, distinct):
    """A random job: GO (``rows`` x ``cols``) of the given density (+ a zero column when
    there are several), encoded; addresses (distinct for BP) and skip bits."""
    go = np.where(rng.random((rows, cols)) < density, _values(rng, fmt, (rows, cols), 0.01), 0)
    if cols > 1:
        go[:, rng.integers(cols)] = 0
    entries = csc.encode(go.astype(np.uint64), idx_bits, 0, fmt)
    addr = (rng.choice(addr_rows, cols, replace=False) if distinct
            else rng.integers(0, addr_rows, cols))
    skip = (rng.random(cols) < 0.2).astype(int)
    return entries, [int(a) for a in addr], [int(s) for s in skip]


def _encode_rows(kept, idx_bits):
    """Entries of one column from ``(row, value)`` pairs, zero values included."""
    dmax, prev, out = (1 << idx_bits) - 1, -1, []
    for row, value in kept:
        gap = row - prev - 1
        while gap > dmax:
            out.append(Entry(0, dmax, 1, 0))
            prev, gap = prev + dmax + 1, gap - dmax - 1
        out.append(Entry(value, gap, 0, 0))
        prev = row
    out = out or [Entry(0, 0, 1, 0)]
    out[-1] = out[-1]._replace(last=1)
    return out


def _special_job(fmt, rows, cols, idx_bits):
    """Hand-made entries: signed zeros, NaN, inf and subnormal values as non-fillers, a value
    at the last row (a filler run), empty columns, rows repeated across columns."""
    values = [0, fmt.sign_mask, fmt.canonical_nan, fmt.inf, fmt.sign_mask | fmt.inf, 1,
              fmt.sign_mask | 3, fmt.bias << fmt.man_bits]
    entries = []
    for c in range(cols):
        v, w = values[c % len(values)], values[(c + 3) % len(values)]
        kept = [[(c % 2, v), (c % 2 + 1, w)], [(0, v), (rows - 1, w)], [(1, v)], []][c % 4]
        entries += _encode_rows(kept, idx_bits)
    return entries


def _program(params, rng, densities):
    """BP jobs accumulating into the Out Buf, thresholded drain, WU jobs accumulating into
    B, raw drain, statistics and a DTS update, edge commands (empty loads, drains, jobs)."""
    fmt, T, p = params.format, params.T, params
    idx, M = p.idx_bits, p.b_rows
    one = fmt.bias << fmt.man_bits

    def dense(rows):
        """Rows of normal values, special patterns only in the last two rows (a special
        value poisons every accumulator it reaches)."""
        return np.concatenate([_values(rng, fmt, (rows - 2, T), 0.0),
                               _values(rng, fmt, (2, T), 0.5)])

    prog = [{"op": "set_theta", "bits": one - (2 << fmt.man_bits)},      # theta = 0.25
            {"op": "set_target", "bits": 0x3F000000},                   # s* = 0.5
            {"op": "load_a", "vectors": dense(p.a_rows)},
            {"op": "load_b", "vectors": dense(M)},
            {"op": "load_a", "vectors": np.zeros((0, T), np.uint64)}]

    def job(phase, rows, cols, density):
        distinct = phase == "bp"
        rows_addr = p.out_rows if distinct else p.a_rows
        entries, addr, skip = _job(rng, fmt, idx, rows, cols, density, rows_addr, distinct)
        return [{"op": "load_sparse", "entries": entries},
                {"op": "load_cols", "addr": addr, "skip": skip}, {"op": f"run_{phase}"}]

    for density in densities:
        prog += job("bp", M, p.max_cols if density < 1 else 20, density)
    special = _special_job(fmt, M, 8, idx)
    prog += [{"op": "load_sparse", "entries": special},
             {"op": "load_cols", "addr": list(range(8)), "skip": [0] * 7 + [1]},
             {"op": "run_bp"},
             {"op": "set_pad_lanes", "count": int(rng.integers(0, T + 2))},  # > T - 1: T - 1
             {"op": "drain_out", "count": p.out_rows}, {"op": "clear_stats"},
             {"op": "set_pad_lanes", "count": int(rng.integers(0, T))}]     # into DTS
    for density in densities:
        prog += job("wu", M, 20 if density >= 1 else p.max_cols, density)
    prog += job("wu", 3, p.max_cols, 0.7)                                # row hazards
    prog += [{"op": "load_sparse", "entries": special},
             {"op": "load_cols", "addr": [0, 1, 0, 2, 1, 1, 0, 3], "skip": [0] * 8},
             {"op": "run_wu"},
             {"op": "drain_b", "count": M}, {"op": "drain_b", "count": 0},
             {"op": "load_b", "vectors": dense(M)}]
    prog += job("bp", M, 12, 0.3)
    prog += [{"op": "drain_out", "count": 12}, {"op": "dts_update"},
             {"op": "load_sparse", "entries": []}, {"op": "load_cols", "addr": [], "skip": []},
             {"op": "run_bp"}, {"op": "drain_out", "count": 0}]
    prog += job("bp", M, 10, 0.5)
    prog += [{"op": "set_pad_lanes", "count": T - 1}, {"op": "drain_out", "count": 10}]
    return prog


# -- RTL against the golden model -----------------------------------------------------------------
def _jobs(program):
    """``(phase, entries, skip)`` of every run command of ``program``."""
    jobs, entries, skip = [], [], []
    for cmd in program:
        if cmd["op"] == "load_sparse":
            entries = cmd["entries"]
        elif cmd["op"] == "load_cols":
            skip = cmd["skip"]
        elif cmd["op"].startswith("run_"):
            jobs.append((cmd["op"][4:], entries, skip))
    return jobs


def _check_runs(params, program, runs):
    """Each run's counters against the cycle model; returns the schedules."""
    jobs = _jobs(program)
    assert len(runs) == len(jobs)
    schedules = []
    for k, ((phase, entries, skip), run) in enumerate(zip(jobs, runs)):
        sched = schedule(phase, entries, skip, params.loop_latency, params.wu_window)
        assert run["phase"] == phase
        assert (run["run_cycles"], run["run_macs"]) == (sched.run_cycles, sched.macs), (
            f"run {k} ({phase}): RTL {run}, model {sched}")
        assert run["command_cycles"] == sched.done + 2, f"run {k}: {run} vs {sched}"
        schedules.append(sched)
    return schedules


# T8 (the largest, mac_latency 23) on Icarus in the full tier
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.icarus_full)
                                  if n == "T8-fp32" else n for n in CONFIGS])
def test_core_programs_match_golden(name, sim, tmp_path):
    overrides, densities = CONFIGS[name]
    params = resolve("small", **SIZES, **overrides)
    rng = np.random.default_rng(sum(map(ord, name)))
    segments = [{"program": _program(params, rng, densities), "gap_prob": 0.0, "stall_prob": 0.0},
                {"program": _program(params, rng, densities), "gap_prob": GAP_PROB,
                 "stall_prob": STALL_PROB}]
    results = run_on_rtl(params, segments, sim=sim, seed=len(name), out_dir=tmp_path)

    model = CoreModel(params)
    want = model.execute(segments[0]["program"] + segments[1]["program"])
    assert len(results["drained"]) == len(want)
    for k, (got, exp) in enumerate(zip(results["drained"], want)):
        got = np.array(got, dtype=np.uint64).reshape(exp.shape)
        bad = np.argwhere(got != exp)
        assert not len(bad), (f"drain {k}: {len(bad)} words differ, first at {bad[0]}: "
                              f"got {int(got[tuple(bad[0])]):#x}, want {int(exp[tuple(bad[0])]):#x}")
    assert results["theta"] == model.theta and results["target"] == model.target
    assert tuple(results["stats"]) == tuple(model.stats)

    runs = results["runs"]
    split = sum(cmd["op"].startswith("run_") for cmd in segments[0]["program"])
    scheds = _check_runs(params, segments[0]["program"], runs[:split])
    scheds += _check_runs(params, segments[1]["program"], runs[split:])
    if params.wu_window:
        # The window took effect: some WU job ran faster than in-order issue would.
        in_order = [schedule(ph, e, sk, params.loop_latency, 0)
                    for ph, e, sk in _jobs(segments[0]["program"] + segments[1]["program"])]
        assert any(w.run_cycles < o.run_cycles for w, o in zip(scheds, in_order))
    timed, stalled = results["segments"]
    assert timed["commands"] == command_cycles(segments[0]["program"], params)
    starts, end = program_starts(segments[0]["program"], params)
    assert (timed["starts"], timed["cycles"]) == (starts, end)
    assert len(stalled["commands"]) == len(segments[1]["program"])


# -- the cycle model ------------------------------------------------------------------------------
def _columns(lengths, rows=None):
    """Entries of columns with the given numbers of values (rows 0.. or ``rows``)."""
    entries = []
    for c, n in enumerate(lengths):
        chosen = rows[c] if rows else list(range(n))
        prev = -1
        for i, r in enumerate(chosen):
            entries.append(Entry(1, r - prev - 1, 0, int(i == len(chosen) - 1)))
            prev = r
    return entries


def test_cycle_model_bp_contexts():
    L = 5
    # L columns of n entries each: every slot used, one write per cycle.
    entries = _columns([7] * L)
    sched = schedule("bp", entries, [0] * L, L)
    assert (sched.run_cycles, sched.macs, sched.idle_slots) == (7 * L + L + 1, 7 * L, 0)
    assert sched.run_cycles == ideal_cycles(entries, [0] * L, L)
    # One long column: its context owns one slot in L.
    sched = schedule("bp", _columns([6]), [0], L)
    assert sched.run_cycles == 5 * L + 1 + L + 1 and sched.idle_slots == 5 * (L - 1)
    # A skipped column costs its slot; the next idle context takes the next column.
    assert job_cycles("bp", _columns([1, 1, 1]), [0, 1, 0], L) == 2 + L + 2
    assert mac_count(_columns([3, 2, 4]), [0, 1, 0]) == 7
    # Fillers cost their slot: a value at row 9 with idx_bits 2 = 2 fillers + value.
    entries = csc.encode_column(np.array([0] * 9 + [0x3F800000], np.uint64), 2)
    assert len(entries) == 3
    assert job_cycles("bp", entries, [0], L) == 2 * L + 1 + L + 1
    assert job_cycles("bp", [], [], L) == 0 and utilization("bp", [], [], L) == 0.0


def test_cycle_model_wu_scoreboard():
    L = 4
    # Distinct rows in stream order: no bubble.
    sched = schedule("wu", _columns([3, 3], rows=[[0, 1, 2], [3, 4, 5]]), [0, 0], L)
    assert sched.bubbles == 0 and sched.run_cycles == 6 + L + 1
    # The same row in consecutive columns waits for the previous write: L - 1 bubbles each.
    sched = schedule("wu", _columns([1, 1, 1], rows=[[2], [2], [2]]), [0, 0, 0], L)
    assert sched.bubbles == 2 * (L - 1) and sched.run_cycles == 2 * L + 1 + L + 1
    # A column's first row meets the previous column's last one within L slots.
    sched = schedule("wu", _columns([2, 2], rows=[[0, 1], [1, 2]]), [0, 0], L)
    assert sched.bubbles == L - 1
    # Skipped columns cost one slot each and do not count as updates.
    sched = schedule("wu", _columns([2, 5, 2], rows=[[0, 1], list(range(5)), [2, 3]]),
                     [0, 1, 0], L)
    assert (sched.macs, sched.slots, sched.bubbles) == (4, 5, 0)
    with pytest.raises(ValueError, match="phase"):
        schedule("fp", [], [], L)
    with pytest.raises(ValueError, match="skip"):
        schedule("wu", _columns([1]), [], L)


def test_cycle_model_wu_window():
    L = 4
    # Row 2 twice in a row: in order, the second 2 and everything behind it wait L - 1 cycles;
    # with a window, rows 5 and 6 overtake the waiting 2, and the 2s keep their order.
    cols = _columns([1, 3], rows=[[2], [2, 5, 6]])
    in_order = schedule("wu", cols, [0, 0], L, 0)
    assert in_order.bubbles == L - 1 and in_order.run_cycles == 4 + (L - 1) + L + 1
    win = schedule("wu", cols, [0, 0], L, 2)
    assert win.bubbles == 0 and win.macs == 4
    # The waiting 2 issues L cycles after the first (cycle 2): last write = (2 + L) + L - 1.
    assert win.last_write == 2 * L + 1 and win.run_cycles == 2 * L + 2
    # A window of 1 holds one waiting entry; a second blocked row stalls S0.
    cols = _columns([2, 3], rows=[[2, 3], [2, 3, 7]])
    assert schedule("wu", cols, [0, 0], L, 1).bubbles > schedule("wu", cols, [0, 0], L, 2).bubbles
    # Fillers pass the window; the window never changes the updates issued.
    for w in range(5):
        assert schedule("wu", cols, [0, 0], L, w).macs == 5
    with pytest.raises(ValueError, match="window"):
        schedule("wu", cols, [0, 0], L, -1)


def test_command_cycles_formulas():
    p = resolve("small", thr_latency=2)
    program = [{"op": "load_a", "vectors": np.zeros((5, p.T), np.uint64)},
               {"op": "drain_out", "count": 4}, {"op": "drain_b", "count": 4},
               {"op": "drain_out", "count": 0}, {"op": "set_theta", "bits": 1},
               {"op": "load_sparse", "entries": _columns([2, 1])},
               {"op": "load_cols", "addr": [0, 1], "skip": [0, 0]}, {"op": "run_bp"}]
    cycles = command_cycles(program, p)
    assert cycles[:7] == [7, 4 + 3 + 2, 4 + 3, 2, 1, 1 + 2, 2 + 2]     # 3 entries: 1 beat
    assert cycles[7] == schedule("bp", _columns([2, 1]), [0, 0], p.loop_latency).done + 2


def test_golden_core_model_is_run_job():
    """The program model applies jobs with run_job and drains with the sparsifier."""
    p = resolve("small", T=2, b_rows=6, a_rows=6, out_rows=6, max_cols=6)
    rng = np.random.default_rng(3)
    fmt = p.format
    entries, addr, skip = _job(rng, fmt, p.idx_bits, 6, 6, 0.5, 6, True)
    a, b = _values(rng, fmt, (6, 2)), _values(rng, fmt, (6, 2))
    program = [{"op": "load_a", "vectors": a}, {"op": "load_b", "vectors": b},
               {"op": "load_sparse", "entries": entries},
               {"op": "load_cols", "addr": addr, "skip": skip}, {"op": "run_bp"},
               {"op": "run_wu"}, {"op": "drain_out", "count": 6}, {"op": "drain_b", "count": 6}]
    out, b_final = CoreModel(p).execute(program)
    b1, out1 = run_job("bp", entries, addr, skip, a, b, np.zeros((6, 2), np.uint64), fmt)
    b2, out2 = run_job("wu", entries, addr, skip, a, b1, out1, fmt)
    assert np.array_equal(out, csc.sparsify(out2, 0, fmt)[0]) and np.array_equal(b_final, b2)


def test_transfers_pack_program():
    p = resolve("small", T=2, idx_bits=3)
    fmt = p.format
    words = transfers([{"op": "load_b", "vectors": np.array([[1, 2]], np.uint64)},
                       {"op": "load_sparse", "entries": [Entry(5, 3, 0, 1)]},
                       {"op": "load_cols", "addr": [7], "skip": [1]},
                       {"op": "drain_b", "count": 1}, {"op": "set_theta", "bits": 9},
                       {"op": "drain_b", "count": p.b_rows + 1}], p)
    assert words["dense_in"] == [1 | 2 << 32]
    assert words["sparse_in"] == [5 | 3 << 32 | 1 << 36]           # one beat, lane 0
    assert words["col_in"] == [7 | 1 << 6 | 1 << 7]                 # end 1 from the entries
    assert words["cmd"] == [Op.LOAD_B | 1 << 4, Op.LOAD_SPARSE | 1 << 4, Op.LOAD_COLS | 1 << 4,
                            Op.DRAIN_B | 1 << 4, Op.SET_THETA | 9 << 4,
                            Op.DRAIN_B | (p.b_rows + 1) << 4]
    assert words["drains"] == [1]                                     # the second is rejected
    entries = [Entry(k, 0, 0, k % 3 == 2) for k in range(6)]
    beats = transfers([{"op": "load_sparse", "entries": entries}], p)["sparse_in"]
    width = fmt.width + p.idx_bits + 2
    assert len(beats) == 2 and beats[1] == 4 | 5 << width | 1 << (2 * width - 1)
    with pytest.raises(ValueError, match="op"):
        transfers([{"op": "run"}], p)


# -- parameters, properties, Verilog --------------------------------------------------------------
@pytest.mark.parametrize("kwargs,needle", [
    ({"T": 0}, "T"), ({"T": 1025}, "T"), ({"T": 2.0}, "T"), ({"idx_bits": 0}, "idx_bits"),
    ({"idx_bits": 17}, "idx_bits"), ({"b_rows": 0}, "b_rows"), ({"a_rows": 0}, "a_rows"),
    ({"out_rows": 0}, "out_rows"), ({"sparse_depth": 0}, "sparse_depth"),
    ({"max_cols": 0}, "max_cols"), ({"mac_latency": -1}, "mac_latency"),
    ({"mac_latency": 65}, "mac_latency"), ({"thr_latency": 9}, "thr_latency"),
    ({"read_stages": 3}, "read_stages"), ({"read_stages": -1}, "read_stages"),
    ({"fmt": "fp8"}, "fmt"), ({"fmt": "e11m23"}, "fmt"), ({"fmt": 16}, "fmt"),
    ({"preset": "huge"}, "preset"),
])
def test_parameter_validation(kwargs, needle):
    with pytest.raises(ValueError, match=rf"\b{needle}\b"):
        SparTANNCore(**kwargs)
    with pytest.raises(ValueError, match="unknown"):
        resolve("small", ways=2)


def test_presets_and_properties():
    core = SparTANNCore()
    assert core.params == PAPER
    assert (core.T, core.fmt.name, core.params.idx_bits, core.params.sparse_depth) == (
        32, "fp32", 6, 1024)
    # 4 KB sparse values + 1 KB indices; A + B = 68 KB; Out = 32 KB (T = 32 FP32 words).
    row_bytes = core.T * 4
    assert core.params.sparse_depth * 4 == 4096
    assert core.params.sparse_depth * (core.params.idx_bits + 2) // 8 == 1024
    assert (core.params.a_rows + core.params.b_rows) * row_bytes == 68 * 1024
    assert core.params.out_rows * row_bytes == 32 * 1024
    assert core.loop_latency == core.contexts == core.mac_latency + 2 and core.throughput == 1
    small = SparTANNCore("small", fmt="bf16", mac_latency=0)
    assert small.params == SpartannConfig(**{**SMALL.as_dict(), "fmt": "bf16", "mac_latency": 0})
    assert small.loop_latency == 2
    assert SparTANNCore("small", mac_latency=3, read_stages=1).loop_latency == 6
    core, used = DESIGNS["spartann_core"].build()
    assert used["preset"] == "paper" and core.params == PAPER
    core, _ = DESIGNS["spartann_core"].build(**DESIGNS["spartann_core"].test_params)
    assert core.params == SMALL


def test_paper_core_verilog_lint_and_latches(lint, tmp_path):
    name = "spartann_core"
    text = lint(to_verilog(SparTANNCore(), name), name)
    assert latch_check(text, name, tmp_path / "latch") == []


@pytest.mark.full
def test_paper_core_on_rtl(sim, tmp_path):
    """The PAPER core (T = 32, paper buffers, WU window 4): BP and WU jobs of 256-row columns
    at 10% and 30% density, a thresholded drain with padding lanes and a DTS update, with and
    without stalls; bit-exact and cycle-exact."""
    params = PAPER
    fmt, T, rng = params.format, params.T, np.random.default_rng(32)
    one = fmt.bias << fmt.man_bits
    dense = lambda rows: _values(rng, fmt, (rows, T), 0.0)

    def program():
        prog = [{"op": "set_theta", "bits": one - (2 << fmt.man_bits)},
                {"op": "set_target", "bits": 0x3F000000},
                {"op": "load_a", "vectors": dense(params.a_rows)},
                {"op": "load_b", "vectors": dense(params.b_rows)}]
        for phase, cols, density in (("bp", 40, 0.1), ("wu", 12, 0.3)):
            entries, addr, skip = _job(rng, fmt, params.idx_bits, params.b_rows, cols, density,
                                       params.out_rows if phase == "bp" else params.a_rows,
                                       phase == "bp")
            prog += [{"op": "load_sparse", "entries": entries},
                     {"op": "load_cols", "addr": addr, "skip": skip}, {"op": f"run_{phase}"}]
        return prog + [{"op": "set_pad_lanes", "count": 5},
                       {"op": "drain_out", "count": params.out_rows}, {"op": "dts_update"},
                       {"op": "drain_b", "count": params.b_rows}]

    segments = [{"program": program(), "gap_prob": 0.0, "stall_prob": 0.0},
                {"program": program(), "gap_prob": GAP_PROB, "stall_prob": STALL_PROB}]
    results = run_on_rtl(params, segments, sim=sim, seed=32, out_dir=tmp_path)
    model = CoreModel(params)
    want = model.execute(segments[0]["program"] + segments[1]["program"])
    got = [np.array(g, dtype=np.uint64).reshape(w.shape) for g, w in
           zip(results["drained"], want)]
    assert len(got) == len(want) and all(np.array_equal(g, w) for g, w in zip(got, want))
    assert results["theta"] == model.theta and tuple(results["stats"]) == tuple(model.stats)
    split = sum(cmd["op"].startswith("run_") for cmd in segments[0]["program"])
    _check_runs(params, segments[0]["program"], results["runs"][:split])
    _check_runs(params, segments[1]["program"], results["runs"][split:])
