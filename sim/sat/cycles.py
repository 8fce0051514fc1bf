"""Cycle models of the SAT engines and core, without stalls on the streams: the one GEMM
schedule of the STCE array, and the command cycles of the core (:data:`CYCLE_MODEL`, which
the JSON manifest records). HDL-free: the array's latencies come from
:func:`hw.sat.config.array_latency` and :func:`~hw.sat.config.swap_wave`, the functions the
RTL's ``latency`` / ``swap_wave`` properties return; the core's from its ``timing``.

GEMM schedule: passes (column tile x fold) stream ``T`` activation rows back to back. A pass
cannot start before (a) its shadow weights are loaded: the previous pass's switch wave
(``swap_wave`` cycles) must clear and ``rows`` weight rows must load, and (b) for folds after
the first, the previous fold's result row ``t`` has left the array (``latency`` cycles, plus
one cycle for the driver to hand it back as the partial sum).
"""

from math import ceil

from hw.sat.config import array_latency, swap_wave
from hw.sat.isa import UNITS, Buf, Op, conflicts, problem

__all__ = ["gemm_schedule", "gemm_cycles", "gemm_command_cycles", "command_cycles",
           "program_schedule", "program_cycles", "REJECTED_CYCLES", "CYCLE_MODEL"]


def gemm_schedule(t, folds, tiles, rows, latency, wave):
    """Cycles from the first weight row to the last result of ``tiles * folds`` passes of
    ``t`` rows on an array of ``rows`` rows with ``latency`` and swap wave ``wave``."""
    start = rows + 1                                   # first weights load, then the x row
    for p in range(tiles * folds - 1):
        dependent = (p + 1) % folds != 0               # next pass continues this tile's chain
        start += max(t, wave + rows + 1, latency + 1 if dependent else 0)
    return start + t - 1 + latency


def gemm_cycles(t, k, cout, n, group, rows, cols, mul_latency, add_latency):
    """Cycles from reset release to the last result of ``(T x K) * (K x Cout)`` at N:M on the
    bare array (as :mod:`sim.sat.tb_stce` drives it)."""
    folds = max(1, ceil(k * n // group / rows))
    tiles = ceil(cout / cols)
    return gemm_schedule(t, folds, tiles, rows, array_latency(rows, cols, mul_latency,
                                                               add_latency),
                         swap_wave(rows, cols, add_latency))


def gemm_command_cycles(t, folds, tiles, timing):
    """Stall-free cycles of the core's GEMM command: :func:`gemm_schedule` plus 3
    (acceptance, the range check, the buffers' read register). The partial-sum read port is
    transparent, so a chained row enters one cycle after the result it continues is
    written, as in the bare-array testbench."""
    return 3 + gemm_schedule(t, folds, tiles, timing["rows"], timing["array_latency"],
                             timing["swap_wave"])


#: Cycles of a rejected command (and of SET): acceptance and the check.
REJECTED_CYCLES = 2


def command_cycles(cmd, timing):
    """Cycles from acceptance to completion + 1 (the core's ``cycles`` status) of an
    accepted command ``cmd`` (:class:`sim.sat.model.Command`), without stalls, on a core
    with ``timing`` (:attr:`hw.sat.core.SatCore.timing`)."""
    op = cmd.op
    if op == Op.SET:
        return REJECTED_CYCLES
    if op in (Op.LOAD, Op.DRAIN):
        return (2 if op == Op.LOAD else 3) + cmd.n0 * timing["beats"][Buf(cmd.sel).name]
    if op == Op.GEMM:
        return gemm_command_cycles(cmd.n0, cmd.n1, cmd.n2, timing)
    if op == Op.SGD:
        return 3 + cmd.n0 + timing["wuve_latency"]
    if op == Op.PRUNE:
        return (2 + (timing["lanes"] if cmd.flag else 0) + cmd.n0 * timing["m"]
                + timing["osre_latency"] + timing["n"])
    raise ValueError(f"unknown op {op}")


def program_schedule(commands, config, timing):
    """Stall-free schedule of a whole program on the RTL: per command ``(dispatch, end)``
    cycles, counted from the first command's acceptance (cycle 0).

    The RTL (:class:`hw.sat.core.SatCore`): a command is accepted into the dispatch register
    in the cycle the previous one leaves it (the host always has the next one ready), so it
    can leave (dispatch) one cycle later at the earliest: ``D[i] >= D[i-1] + 1``
    (``D[-1] = A[0] = 0``). A rejected command (:func:`hw.sat.isa.problem`) leaves then.
    An accepted one leaves in the first cycle its unit is free and no earlier command it
    :func:`~hw.sat.isa.conflicts` with is running::

        D[i] = max(D[i-1] + 1, E[last on its unit] + 1, E[j] + 1 for conflicting j < i)
        E[i] = D[i] + command_cycles(cmd) - 2

    (the unit is busy from ``D + 1`` to ``E``; a SET completes at ``D``). Run alone, a
    command takes ``E + 1 = command_cycles`` cycles from its acceptance, as before.
    Rejected commands get ``(D, None)``."""
    sched, last, done = [], {}, []          # done: (cmd, end) of accepted commands
    d = 0
    for cmd in commands:
        d += 1
        done = [(other, e) for other, e in done if e + 1 > d]      # still running at d
        if problem(cmd, config) is not None:
            sched.append((d, None))
            continue
        unit = UNITS[Op(cmd.op)]
        d = max([d, last.get(unit, -1) + 1]
                + [e + 1 for other, e in done if conflicts(other, cmd, config)])
        end = d + command_cycles(cmd, timing) - 2
        sched.append((d, end))
        last[unit] = end
        done.append((cmd, end))
    return sched


def program_cycles(commands, config, timing):
    """Stall-free cycles of a whole program: from the first command's acceptance to the
    first cycle the core is idle again (the core's ``cycles`` status after the program)."""
    sched = program_schedule(commands, config, timing)
    return max((e if e is not None else d) for d, e in sched) + 1 if sched else 0


#: :func:`command_cycles` as formulas (Python expressions) over the command's fields and the
#: core's :attr:`~hw.sat.core.SatCore.timing`; the JSON manifest records them, and
#: tests/test_manifest.py checks them against the model. Bump ``version`` when they change.
CYCLE_MODEL = {
    "function": "sim.sat.cycles.command_cycles",
    "version": 2,
    "measures": "cycles from a command's acceptance to its completion, + 1, when it runs "
                "alone (the cycles status after it), with din and dout never stalling; "
                "programs: sim.sat.cycles.program_schedule (dispatch D, end "
                "E = D + cycles - 2)",
    "symbols": {
        **{f: f"field {f} of the command" for f in ("sel", "flag", "n0", "n1", "n2")},
        "beats": "beats per row of a buffer (timing.beats, by name; sel is the code, Buf)",
        "rows": "array rows (timing.rows)", "lanes": "WUVE/OSRE lanes (timing.lanes)",
        "n": "values kept per group (timing.n)", "m": "group size (timing.m)",
        "array_latency": "STCE array latency (timing.array_latency)",
        "swap_wave": "STCE weight-swap wave (timing.swap_wave)",
        "wuve_latency": "WUVE lane pipeline stages (timing.wuve_latency)",
        "osre_latency": "OSRE lane latency (timing.osre_latency)",
    },
    "commands": {
        "LOAD": "2 + n0 * beats[sel]",
        "DRAIN": "3 + n0 * beats[sel]",
        "GEMM": "3 + rows + n0 + array_latency"
                " + n2 * (n1 - 1) * max(n0, swap_wave + rows + 1, array_latency + 1)"
                " + (n2 - 1) * max(n0, swap_wave + rows + 1)",
        "SGD": "3 + n0 + wuve_latency",
        "PRUNE": "2 + lanes * flag + n0 * m + osre_latency + n",
        "SET": "2",
        "rejected": "2",
    },
}
