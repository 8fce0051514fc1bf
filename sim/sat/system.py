"""System cycle model of the SAT core: decoupled units, in-order dispatch, buffer conflicts and
a shared external bandwidth. HDL-free, event-based (one event per command dispatch and end,
not per cycle): a whole ResNet-18 iteration (15,000-75,000 commands) takes about a second
of CPU.

**Units, dispatch, conflicts** are the core's own (:mod:`hw.sat.isa`: :data:`~hw.sat.isa.UNITS`,
:func:`~hw.sat.isa.conflicts`, :func:`~hw.sat.isa.problem`), and so is the stall-free rule
(:func:`sim.sat.cycles.program_schedule`): commands leave the dispatch register in program
order, at most one a cycle (``D[i] >= D[i-1] + 1``, ``D[0] >= 1``); an accepted command leaves
in the first cycle its unit is free and it conflicts with no earlier command still running;
it then holds its unit (and its rows and ports) until ``E + 1``, where ``E = D + cycles - 2``
and ``cycles`` is :func:`sim.sat.cycles.command_cycles` (what it takes alone). A rejected
command leaves and holds nothing. The program ends at ``max(E) + 1``. With unlimited
bandwidth :func:`simulate` equals :func:`~sim.sat.cycles.program_cycles` exactly.
``concurrent=False`` makes every command wait until all earlier ones have ended (one at a
time): the total is then ``1 + sum(cycles - 1)``.

**Transfers.** A LOAD or DRAIN of ``n0`` rows moves ``beats = n0 * beats(sel)`` beats, i.e.
``beats * data_width / 8`` bytes on the wire (a row's last beat counts whole, padding
included). Its ``cycles - 1`` split into a fixed part (``cycles - 1 - beats``: acceptance,
check, read latency), spent first, and the transfer.

**External bandwidth** ``B`` bytes/cycle is shared by ``din`` and ``dout`` (the host memory
has one budget for reads and writes, like a DDR channel): while one stream transfers it moves
``min(data_width / 8, B)`` bytes a cycle; while a LOAD and a DRAIN both transfer, each moves
``min(data_width / 8, B / 2)`` (max-min fair share: both streams have the same beat width, so
that is the even split). ``B = None``: only the beat width limits (one beat a cycle). Rates
change only when a transfer starts or ends, so each interval is solved in closed form (a fluid
model: fractional cycles are kept; the total is rounded up at the end).
"""

import math
from dataclasses import dataclass, field
from functools import lru_cache

from hw.sat.isa import UNITS, Buf, Op, conflicts, problem
from sim.sat.cycles import command_cycles

__all__ = ["Step", "Timeline", "unit", "transfer_beats", "simulate", "UNIT_NAMES"]

#: The three units, in report order.
UNIT_NAMES = ("LD", "EX", "ST")


@dataclass(frozen=True)
class Step:
    """A planned command with what it belongs to (for the per-phase/per-layer report) and,
    for LOAD/DRAIN, what it moves (``data``: planner-defined, ``None`` for timing only)."""
    cmd: object
    phase: str = ""
    layer: str = ""
    data: object = None


def unit(cmd):
    """The unit (``"LD"``, ``"EX"``, ``"ST"``) that runs ``cmd``."""
    return str(UNITS[Op(cmd.op)])


def transfer_beats(cmd, timing):
    """Beats a LOAD or DRAIN moves (0 for the other commands)."""
    if cmd.op in (Op.LOAD, Op.DRAIN):
        return cmd.n0 * timing["beats"][Buf(cmd.sel).name]
    return 0


@dataclass
class Timeline:
    """What :func:`simulate` measured: per command its dispatch ``start`` and ``end`` (the
    cycle its unit is free again, ``E + 1``; fractional under a bandwidth limit; ``None`` for
    a rejected command's end), the total ``cycles`` (the last end, rounded up), per unit its
    busy cycles, and the bytes moved on ``din`` / ``dout``."""
    start: list
    end: list
    cycles: int
    busy: dict
    bytes: dict
    bandwidth: object = None
    concurrent: bool = True
    steps: list = field(default_factory=list, repr=False)
    beat_bytes: float = 0.0
    timing: dict = field(default_factory=dict, repr=False)

    def by(self, key):
        """``{phase or layer: {"bytes_in", "bytes_out", "ex_cycles", "commands"}}`` over the
        program's :class:`Step` tags (``key``: ``"phase"`` or ``"layer"``)."""
        out = {}
        for s, b0, e0 in zip(self.steps, self.start, self.end):
            if not isinstance(s, Step) or e0 is None:
                continue
            row = out.setdefault(getattr(s, key), {"bytes_in": 0, "bytes_out": 0,
                                                   "ex_cycles": 0, "commands": 0})
            row["commands"] += 1
            size = int(self.beat_bytes * transfer_beats(s.cmd, self.timing))
            if s.cmd.op == Op.LOAD:
                row["bytes_in"] += size
            elif s.cmd.op == Op.DRAIN:
                row["bytes_out"] += size
            else:
                row["ex_cycles"] += e0 - b0
        return out


def simulate(program, config, timing, bandwidth=None, concurrent=True):
    """Run ``program`` (commands or :class:`Step`) on the system model of a core with
    ``config`` (:class:`hw.sat.config.SatConfig`) and ``timing``
    (:attr:`hw.sat.core.SatCore.timing`), external bandwidth ``bandwidth`` bytes/cycle
    (``None``: one beat a cycle per stream) shared by din and dout. Returns a
    :class:`Timeline`."""
    if bandwidth is not None and not bandwidth > 0:
        raise ValueError(f"bandwidth must be positive (bytes/cycle) or None, not {bandwidth!r}")
    clash = lru_cache(maxsize=1 << 16)(lambda a, b: conflicts(a, b, config))
    rejected = lru_cache(maxsize=1 << 16)(lambda c: problem(c, config) is not None)
    cycles_of = lru_cache(maxsize=1 << 16)(lambda c: command_cycles(c, timing))
    steps = list(program)
    cmds = [s.cmd if isinstance(s, Step) else s for s in steps]
    beat_bytes = config.data_width / 8
    cap = beat_bytes if bandwidth is None else min(beat_bytes, bandwidth)
    share = cap if bandwidth is None else min(beat_bytes, bandwidth / 2)
    n = len(cmds)
    start, end = [0.0] * n, [None] * n
    busy = dict.fromkeys(UNIT_NAMES, 0.0)
    moved = {"din": 0, "dout": 0}
    fixed, left = [0.0] * n, [0.0] * n       # per running command: fixed cycles, bytes left
    running = {}                             # unit -> command index
    now, last_d, nxt, blocked = 0.0, 0.0, 0, False
    eps = 1e-9

    def rate():
        active = sum(1 for j in running.values() if fixed[j] <= eps and left[j] > eps)
        return cap if active < 2 else share

    def next_step():                         # cycles to the next end of a fixed part or transfer
        r = rate()
        return min(((fixed[j] if fixed[j] > eps else left[j] / r) for j in running.values()),
                   default=math.inf)

    def advance(dt):                         # no event lies strictly inside (now, now + dt)
        nonlocal now
        r = rate()
        for j in running.values():
            if fixed[j] > eps:
                fixed[j] = max(0.0, fixed[j] - dt)
            else:
                left[j] = max(0.0, left[j] - dt * r)
        now += dt

    while nxt < n or running:
        t_d = max(now, last_d + 1) if nxt < n else math.inf
        dt = next_step()
        if running and (now + dt <= t_d + eps or blocked):
            advance(dt)                      # exact: the earliest one reaches 0
            for u, j in list(running.items()):
                if fixed[j] <= eps and left[j] <= eps * max(1.0, cap):
                    end[j] = now
                    busy[u] += now - start[j]
                    del running[u]
            blocked = False
            continue
        advance(t_d - now)
        now = t_d
        c = cmds[nxt]
        if rejected(c):                               # rejected: leaves, holds nothing
            start[nxt], last_d = now, now
            nxt += 1
            continue
        u = unit(c)
        if u in running or (running and not concurrent) or any(
                clash(cmds[j], c) for j in running.values()):
            blocked = True
            continue
        beats = transfer_beats(c, timing)
        start[nxt], last_d = now, now
        fixed[nxt] = cycles_of(c) - 1 - beats
        left[nxt] = beats * beat_bytes
        if beats:
            moved["din" if c.op == Op.LOAD else "dout"] += beats * beat_bytes
        running[u] = nxt
        nxt += 1
    last = max([e if e is not None else d + 1 for d, e in zip(start, end)], default=0.0)
    return Timeline(start, end, math.ceil(last - eps), busy, moved, bandwidth, concurrent,
                    steps, beat_bytes, timing)
