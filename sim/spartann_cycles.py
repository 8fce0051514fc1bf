"""Cycle model of one SparTANN job: replays the core's schedule exactly (hw/spartann/engine.py).

Slot ``t`` is the cycle in which the scheduler issues an entry (S0); an update issued in slot
``t`` is written back in cycle ``t + loop_latency``.

* BP: ``loop_latency`` contexts take turns (context ``t mod L`` owns slot ``t``); an idle
  context takes the next column in job order: a skipped column costs that slot, otherwise the
  column's first entry issues in it; each entry (filler or not) costs its context's slot.
* WU: entries in stream order, one slot each; a non-filler entry of row ``m`` waits until
  slot ``t_m + L`` where ``t_m`` is the slot of the previous update of ``m`` (its write-back
  must have happened before the read in the next cycle); a skipped column costs one slot.

``run_cycles`` (what the core's counter measures) is the number of cycles from slot 0 to the
later of the last slot used and the last write-back, inclusive: ``0`` for a job without
columns. The run command ends (``busy`` falls) ``done + 1`` cycles after slot 0, ``done``
being the first cycle with nothing left: after the last write-back, and two cycles after the
last entry issued (one after a last skipped column).

:func:`command_cycles` gives every command's cycles without stalls (from its acceptance to the
acceptance of the next command, back to back).
"""

from typing import NamedTuple

from sim.golden.spartann import PHASES, columns_of

__all__ = ["Schedule", "schedule", "job_cycles", "mac_count", "ideal_cycles", "utilization",
           "command_cycles"]


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
                macs, last_write = macs + 1, t + L
            slots, last_slot, issued = slots + 1, t, True
            contexts[k] = (c, i + 1) if i + 1 < len(columns[c]) else None
        t += 1
    return last_slot, issued, last_write, macs, slots, 0, idle


def _wu(columns, skip, L):
    t, last_write, macs, slots, bubbles, issued = -1, -1, 0, 0, 0, False
    updated = {}                   # row -> slot of its latest update
    for c, col in enumerate(columns):
        if skip[c]:
            t, slots, issued = t + 1, slots + 1, False
            continue
        for row, _, filler in col:
            t += 1
            if not filler:
                ready = updated.get(row, -L) + L
                if ready > t:
                    bubbles, t = bubbles + ready - t, ready
                updated[row] = t
                macs, last_write = macs + 1, t + L
            slots, issued = slots + 1, True
    return t, issued, last_write, macs, slots, bubbles, 0


def schedule(phase, entries, skip, loop_latency):
    """The :class:`Schedule` of one job (``entries``: :class:`sim.golden.csc.Entry` list,
    ``skip``: one bit per column)."""
    columns, skip = _check(phase, entries, skip, loop_latency)
    run = _bp if phase == "bp" else _wu
    last_slot, issued, last_write, macs, slots, bubbles, idle = run(columns, skip, loop_latency)
    cycles = max(last_slot, last_write) + 1
    done = max(last_slot + (2 if issued else 1), last_write + 1, 0)
    return Schedule(cycles, macs, slots, bubbles, idle, last_write, done)


def job_cycles(phase, entries, skip, loop_latency):
    """Cycles the core's ``run_cycles`` counter reports for this job."""
    return schedule(phase, entries, skip, loop_latency).run_cycles


def mac_count(entries, skip):
    """Non-filler entries of the non-skipped columns: the T-lane updates of the job."""
    columns = columns_of(entries)
    return sum(1 for col, s in zip(columns, skip) if not s for _, _, f in col if not f)


def ideal_cycles(entries, skip, loop_latency=0):
    """One non-filler entry per cycle, plus ``loop_latency`` to drain the pipeline once."""
    macs = mac_count(entries, skip)
    return macs + loop_latency if macs else 0


def utilization(phase, entries, skip, loop_latency):
    """MAC-slot utilization: updates per cycle of the job (1.0 = every cycle does T MACs)."""
    sched = schedule(phase, entries, skip, loop_latency)
    return sched.macs / sched.run_cycles if sched.run_cycles else 0.0


def command_cycles(program, params):
    """Cycles of every command of ``program`` on a core of ``params``
    (:class:`hw.spartann.presets.CoreParams`) without input gaps or output back-pressure: from
    its acceptance to the first cycle the core takes the next command."""
    from hw.spartann.dts import DTSUnit

    L, cycles = params.loop_latency, []
    entries, skip = [], []
    for cmd in program:
        op = cmd["op"]
        if op in ("load_a", "load_b"):
            cycles.append(len(cmd["vectors"]) + 2)
        elif op == "load_sparse":
            entries = list(cmd["entries"])
            cycles.append(len(entries) + 2)
        elif op == "load_cols":
            skip = list(cmd["skip"])
            cycles.append(len(skip) + 2)
        elif op in ("run_bp", "run_wu"):
            cycles.append(schedule(op[4:], entries, skip, L).done + 2)
        elif op in ("drain_out", "drain_b"):
            n = int(cmd["count"])
            extra = params.thr_latency if op == "drain_out" else 0
            cycles.append(n + 3 + extra if n else 2)
        elif op == "dts_update":
            unit = DTSUnit()
            unit._MustUse__silence = True
            cycles.append(unit.cycles + 2)
        else:
            cycles.append(1)
    return cycles
