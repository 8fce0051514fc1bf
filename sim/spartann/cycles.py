"""Cycle model of one SparTANN job: replays the core's schedule exactly (hw/spartann/engine.py).

Slot ``t`` is the cycle in which the scheduler reads an entry (S0); it is decoded in ``t + 1``
(S1) and issues (reads the dense buffers) from ``t + 2`` on (S2); an update issued in cycle
``p`` is written back in cycle ``p + L - 1`` (in BP ``p = t + 2``: ``t + L + 1``).

* BP: ``loop_latency`` contexts take turns (context ``t mod L`` owns slot ``t``); an idle
  context takes the next column in job order: a skipped column costs that slot, otherwise the
  column's first entry issues in it; each entry (filler or not) costs its context's slot.
* WU: S0 reads the entries in stream order, one slot each (a skipped column costs one slot);
  two cycles later (S2) the decoded entry and the ``window`` waiting entries before it are
  candidates, oldest first. A candidate of row ``m`` may issue in cycle ``p`` when the last
  update of ``m`` issued before ``p - L + 1`` (its write-back, ``L - 1`` cycles after its
  issue, came before this read) and no older candidate has row ``m``; the oldest such issues.
  An S2 entry that does not issue enters the window if there is room; otherwise S0, S1 and
  S2 hold for the cycle (a bubble). Fillers never wait. ``window = 0``: in-order issue.

``run_cycles`` (what the core's counter measures) is the number of cycles from slot 0 to the
later of the last slot used and the last write-back, inclusive: ``0`` for a job without
columns. The run command ends (``busy`` falls) ``done + 1`` cycles after slot 0, ``done``
being the first cycle with nothing left: after the last write-back, and two cycles after the
last entry issued (one after a last skipped column).

:func:`command_cycles` gives every command's *unit cycles* without stalls: from its
acceptance to the first cycle its unit is idle again (when the core may take the next
command on that unit or one in conflict with it). :func:`program_cycles` places the commands
by the dispatch rule (:func:`hw.spartann.isa.dispatch`: in order, one a cycle, loads and
drains overlapping runs where they touch other buffers) and gives the program's cycles from
the first acceptance to the last unit going idle.
"""

from typing import NamedTuple

from sim.spartann.model import PHASES, columns_of

from hw.spartann.isa import dispatch, footprints

__all__ = ["Schedule", "schedule", "job_cycles", "mac_count", "ideal_cycles", "utilization",
           "command_cycles", "program_cycles", "program_starts", "CYCLE_MODEL"]

#: :func:`command_cycles` as formulas (Python expressions) per opcode name over the command's
#: ``arg``, the core's parameters and :func:`schedule`; the JSON manifest records them, and
#: tests/test_manifest.py checks them against :func:`command_cycles`. Bump ``version`` when
#: they change.
CYCLE_MODEL = {
    "function": "sim.spartann.cycles.command_cycles",
    "version": 2,
    "measures": "unit cycles: from a command's acceptance to the first cycle its unit is "
                "idle (it may take a command on that unit or one in conflict with it), with "
                "no input gaps or output back-pressure; commands overlap by the dispatch rule "
                "of hw.spartann.isa (program_cycles)",
    "symbols": {
        "arg": "the command's arg (a count)",
        "thr_latency": "threshold lane stages (parameter)",
        "sparse_beat": "CSC entries per sparse_in beat (parameter)",
        "dts_cycles": "DTS unit cycles from request to result (timing property)",
        "done": "schedule(phase, entries, skip, loop_latency, wu_window).done: the first "
                "cycle after slot 0 with nothing left to do, for the loaded entries and "
                "column skip bits (sim.spartann.cycles.schedule replays the core's schedule)",
    },
    "commands": {
        "LOAD_A": "arg + 2", "LOAD_B": "arg + 2",
        "LOAD_SPARSE": "-(-arg // sparse_beat) + 2",
        "LOAD_COLS": "arg + 2",
        "RUN_BP": "done + 2", "RUN_WU": "done + 2",
        "DRAIN_OUT": "arg + 3 + thr_latency if arg else 2",
        "DRAIN_B": "arg + 3 if arg else 2",
        "SET_THETA": "1", "SET_TARGET": "1", "CLEAR_STATS": "1", "SET_PAD_LANES": "1",
        "DTS_UPDATE": "dts_cycles + 2",
        "rejected": "1 (a rejected load: its formula; it takes and drops its data)",
    },
}


class Schedule(NamedTuple):
    run_cycles: int     # cycles as the core's run_cycles counter measures them
    macs: int           # non-filler entries of non-skipped columns (T-lane updates)
    slots: int          # slots that issued an entry or passed a skipped column
    bubbles: int        # WU: slots lost waiting for a row (BP: 0)
    idle_slots: int     # BP: slots of idle contexts before the last slot used
    last_write: int     # cycle of the last write-back (-1: none)
    done: int           # first cycle after slot 0 with nothing left to do


def _check(phase, entries, skip, loop_latency):
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}, not {phase!r}")
    if not isinstance(loop_latency, int) or loop_latency < 1:
        raise ValueError(f"loop_latency must be an integer >= 1, not {loop_latency!r}")
    columns = columns_of(entries)
    skip = [int(s) for s in skip]
    if len(skip) != len(columns):
        raise ValueError(f"{len(columns)} columns in the entries but {len(skip)} skip bits")
    return columns, skip


def _bp(columns, skip, L):
    contexts = [None] * L          # (column, next entry index) of each context
    nxt, t, last_slot, last_write, macs, slots, idle = 0, 0, -1, -1, 0, 0, 0
    issued = False                 # the last slot used issued an entry (not a skip)
    while nxt < len(columns) or any(c is not None for c in contexts):
        k = t % L
        if contexts[k] is None and nxt < len(columns):
            c, nxt = nxt, nxt + 1
            if skip[c]:
                slots, last_slot, issued = slots + 1, t, False
                t += 1
                continue
            contexts[k] = (c, 0)
        if contexts[k] is None:
            idle += 1
        else:
            c, i = contexts[k]
            _, _, filler = columns[c][i]
            if not filler:
                macs, last_write = macs + 1, t + L + 1
            slots, last_slot, issued = slots + 1, t, True
            contexts[k] = (c, i + 1) if i + 1 < len(columns[c]) else None
        t += 1
    return last_slot, issued, last_write, macs, slots, 0, idle


def _wu(columns, skip, L, window):
    stream = []                    # S0 actions in order: None (skipped column) or (row, filler)
    for c, col in enumerate(columns):
        stream += [None] if skip[c] else [(row, filler) for row, _, filler in col]
    cycle, nxt, s1, s2, waiting, issued_at = 0, 0, None, None, [], {}
    last_slot, issued, last_write, macs, slots, bubbles = -1, False, -1, 0, 0, 0
    while nxt < len(stream) or s1 is not None or s2 is not None or waiting:
        young = s2
        candidates = waiting + ([young] if young is not None else [])
        pick, older = None, set()
        for k, row in enumerate(candidates):
            if row not in older and cycle - issued_at.get(row, -L) >= L:
                pick = k
                break
            older.add(row)
        took_young = young is not None and pick == len(waiting)
        if pick is not None:
            issued_at[candidates[pick]] = cycle
            macs, last_write = macs + 1, cycle + L - 1
            if not took_young:
                waiting.pop(pick)
        stall = young is not None and not took_young and len(waiting) >= window
        if young is not None and not took_young and not stall:
            waiting.append(young)
        if stall:
            bubbles += 1
        else:
            s2 = s1[0] if s1 is not None and not s1[1] else None
            s1 = None
            if nxt < len(stream):
                s1, nxt = stream[nxt], nxt + 1
                slots, last_slot, issued = slots + 1, cycle, s1 is not None
        cycle += 1
    return last_slot, issued, last_write, macs, slots, bubbles, 0


def schedule(phase, entries, skip, loop_latency, window=0):
    """The :class:`Schedule` of one job (``entries``: :class:`sim.spartann.csc.Entry` list,
    ``skip``: one bit per column, ``window``: WU issue-window entries)."""
    columns, skip = _check(phase, entries, skip, loop_latency)
    if not isinstance(window, int) or window < 0:
        raise ValueError(f"window must be an integer >= 0, not {window!r}")
    if phase == "bp":
        result = _bp(columns, skip, loop_latency)
    else:
        result = _wu(columns, skip, loop_latency, window)
    last_slot, issued, last_write, macs, slots, bubbles, idle = result
    cycles = max(last_slot, last_write) + 1
    done = max(last_slot + (2 if issued else 1), last_write + 1, 0)
    return Schedule(cycles, macs, slots, bubbles, idle, last_write, done)


def job_cycles(phase, entries, skip, loop_latency, window=0):
    """Cycles the core's ``run_cycles`` counter reports for this job."""
    return schedule(phase, entries, skip, loop_latency, window).run_cycles


def mac_count(entries, skip):
    """Non-filler entries of the non-skipped columns: the T-lane updates of the job."""
    columns = columns_of(entries)
    return sum(1 for col, s in zip(columns, skip) if not s for _, _, f in col if not f)


def ideal_cycles(entries, skip, loop_latency=0):
    """One non-filler entry per cycle, plus the pipeline once (``loop_latency + 1`` cycles
    from the first Sparse Buf read to the first write-back; nothing with ``loop_latency=0``)."""
    macs = mac_count(entries, skip)
    fill = loop_latency + 1 if loop_latency else 0
    return macs + fill if macs else 0


def utilization(phase, entries, skip, loop_latency, window=0):
    """MAC-slot utilization: updates per cycle of the job (1.0 = every cycle does T MACs)."""
    sched = schedule(phase, entries, skip, loop_latency, window)
    return sched.macs / sched.run_cycles if sched.run_cycles else 0.0


def command_cycles(program, params):
    """Unit cycles of every command of ``program`` on a core of ``params``
    (:class:`hw.spartann.config.SpartannConfig`) without input gaps or output back-pressure:
    from its acceptance to the first cycle its unit is idle again (see the module doc)."""
    from hw.hier import part
    from hw.spartann.dts import DTSUnit

    L, cycles = params.loop_latency, []
    jobs = {}                      # Sparse Buf / column table half -> entries / skip bits
    for cmd, fp in zip(program, footprints(program, params)):
        op = cmd["op"]
        if fp.rejected and not op.startswith("load_"):
            cycles.append(1)
        elif op in ("load_a", "load_b"):
            cycles.append(len(cmd["vectors"]) + 2)
        elif op == "load_sparse":
            if not fp.rejected:
                jobs[next(iter(fp.writes))] = list(cmd["entries"])
            cycles.append(-(-len(cmd["entries"]) // params.sparse_beat) + 2)
        elif op == "load_cols":
            if not fp.rejected:
                jobs[next(iter(fp.writes))] = list(cmd["skip"])
            cycles.append(len(cmd["skip"]) + 2)
        elif op in ("run_bp", "run_wu"):
            s, c = sorted(r for r in fp.reads if r[0] in "SC" and len(r) == 2)[::-1]
            cycles.append(schedule(op[4:], jobs.get(s, []), jobs.get(c, []), L,
                                   params.wu_window).done + 2)
        elif op in ("drain_out", "drain_b"):
            n = int(cmd["count"])
            extra = params.thr_latency if op == "drain_out" else 0
            cycles.append(n + 3 + extra if n else 2)
        elif op == "dts_update":
            cycles.append(part(DTSUnit).cycles + 2)
        else:
            cycles.append(1)
    return cycles


def program_starts(program, params):
    """Start cycle of every command of ``program`` (the first at 0) and the program's end:
    the dispatch rule over :func:`command_cycles`."""
    cycles = command_cycles(program, params)
    starts = dispatch(footprints(program, params), cycles)
    return starts, max((s + n for s, n in zip(starts, cycles)), default=0)


def program_cycles(program, params):
    """Cycles of ``program`` on a core of ``params`` without input gaps or output
    back-pressure, loads and drains overlapping runs by the dispatch rule: from the first
    command's acceptance to the cycle every unit is idle after the last."""
    return program_starts(program, params)[1]
