"""System cycle model of one SparTANN core: a whole program timed end to end, with
concurrent units, buffer conflicts and an external bandwidth (docs/spartann/system.md).

HDL-free and event-based per command. It adds nothing to the core's own rules; it reuses them:

* every command's unit, footprint (buffers and Sparse Buf / column table halves it reads
  and writes) and rejection: :func:`hw.spartann.isa.footprints`;
* every command's stall-free unit cycles: :func:`sim.spartann.cycles.command_cycles`;
* the dispatch rule (in program order, at most one a cycle, when its unit is idle and no
  running command conflicts with it): :func:`hw.spartann.isa.dispatch`.

What it adds is the outside world, an external memory of ``bandwidth`` bytes per cycle in
each direction (the read and the write channel of a DMA, as AXI has):

* a load moves its payload bytes (:func:`traffic`) on the read channel, a drain on the write
  channel. A command whose data arrive slower than the core takes them lasts
  ``core cycles + ceil(bytes / bandwidth) - beats`` (``beats``: data beats at the core's rate);
* each channel carries one command at a time, in program order (one DMA queue per
  direction): loads hold resource ``"READ"``, drains ``"WRITE"`` for their whole duration.

``bandwidth=None``: no external memory; the result is then the core's own stall-free cycles
(what the RTL measures with every stream always valid and ready), and loads on different
units overlap freely. With any finite bandwidth they take turns on the read channel, each at
the lower of the core's rate and ``bandwidth`` (a load queue as Gemmini's: simple, and
pessimistic where a core-bound load leaves channel bandwidth unused).

:func:`overlap` reorders a driver program so that sparse loads go before the dense loads and
drains of the same gap between two runs (always legal: only runs touch the Sparse Buf and
column table halves, so the halves and the results do not change); :func:`plan` plans a conv
layer with the driver (:mod:`sim.spartann.driver`) and applies it.
"""

from math import ceil
from typing import NamedTuple

from hw.spartann.config import SpartannConfig
from hw.spartann.isa import UNITS, dense_halves, dispatch, footprint, footprints, ptr_bits
from sim.spartann.cycles import command_cycles

__all__ = ["traffic", "Timeline", "simulate", "overlap", "hoist", "plan", "CHANNELS"]

#: The external channels: loads read, drains write.
CHANNELS = ("READ", "WRITE")
_LOADS = ("load_a", "load_b", "load_sparse", "load_cols")
_DRAINS = ("drain_out", "drain_b")


def traffic(cmd, config):
    """``(channel, bytes, beats)`` of program command ``cmd`` on a core of ``config``:
    ``channel`` ``"READ"`` (loads), ``"WRITE"`` (drains) or ``None``; ``bytes`` its payload
    (dense rows ``T * width / 8``; CSC entries in beats of ``sparse_beat`` entries of
    ``entry_bits``; column descriptors ``addr + skip + end`` bits; drained rows
    ``T * width / 8``); ``beats`` the data beats the core takes or sends (one a cycle)."""
    c, name = config, cmd["op"]
    row = c.T * c.format.width / 8
    if name in ("load_a", "load_b"):
        n = len(cmd["vectors"])
        return "READ", n * row, n
    if name == "load_sparse":
        beats = ceil(len(cmd["entries"]) / c.sparse_beat)
        return "READ", beats * c.sparse_beat * c.entry_bits / 8, beats
    if name == "load_cols":
        n = len(cmd["addr"])
        return "READ", n * (c.addr_bits + 1 + ptr_bits(c.sparse_depth)) / 8, n
    if name in _DRAINS:
        n = int(cmd["count"])
        return "WRITE", n * row, n
    return None, 0, 0


class Timeline(NamedTuple):
    """One program timed: per command its ``start`` cycle and ``cycles`` (its unit's busy
    time); ``total`` the cycles of the whole program (the last command's end); per unit of
    :data:`hw.spartann.isa.UNITS` its ``busy`` cycles (sum of its commands' cycles); bytes
    moved on the ``read`` and ``write`` channels."""
    start: list
    cycles: list
    total: int
    busy: dict
    read: float
    write: float


def _check_bandwidth(bandwidth):
    if bandwidth is None:
        return None
    if isinstance(bandwidth, bool) or not isinstance(bandwidth, (int, float)) \
            or not bandwidth > 0:
        raise ValueError(f"bandwidth must be a number of bytes per cycle > 0 or None, "
                         f"not {bandwidth!r}")
    return bandwidth


def simulate(program, config, bandwidth=None, cycles=None, prints=None):
    """The :class:`Timeline` of ``program`` on a core of ``config``
    (:class:`~hw.spartann.config.SpartannConfig`) with ``bandwidth`` bytes per cycle per
    direction (``None``: unlimited). ``cycles`` / ``prints``: the commands' stall-free unit
    cycles / footprints if already known (default: :func:`~sim.spartann.cycles.command_cycles`,
    :func:`~hw.spartann.isa.footprints`), to time one program at several bandwidths."""
    if not isinstance(config, SpartannConfig):
        raise TypeError(f"config must be a SpartannConfig, not {config!r}")
    bandwidth = _check_bandwidth(bandwidth)
    core = list(command_cycles(program, config) if cycles is None else cycles)
    given = footprints(program, config) if prints is None else prints
    if len(core) != len(program) or len(given) != len(program):
        raise ValueError(f"{len(core)} command cycles and {len(given)} footprints for "
                         f"{len(program)} commands")
    prints, durations, moved = [], [], {"READ": 0.0, "WRITE": 0.0}
    for cmd, f, n in zip(program, given, core):
        channel, size, beats = traffic(cmd, config)
        if f.rejected and cmd["op"] not in _LOADS:
            channel = None                  # a rejected drain sends nothing
        if channel is not None:
            moved[channel] += size
        if bandwidth is not None and channel is not None:
            n += max(0, ceil(size / bandwidth) - beats)
            f = f._replace(writes=f.writes | {channel})
        prints.append(f)
        durations.append(n)
    start = dispatch(prints, durations)
    total = max((s + n for s, n in zip(start, durations)), default=0)
    busy = {u: 0 for u in UNITS}
    for f, n in zip(prints, durations):
        if f.unit is not None:
            busy[f.unit] += n
    return Timeline(start, durations, total, busy, moved["READ"], moved["WRITE"])


def overlap(program):
    """``program`` with every ``load_sparse`` / ``load_cols`` moved to the front of its gap
    between two runs (their order kept), so the next job's sparse data load while the dense
    loads and drains of the gap wait for the run before. The result is the same command for
    command: only runs read the Sparse Buf and column table, and the halves are renamed
    in the same order."""
    out, gap = [], []

    def flush():
        out.extend([c for c in gap if c["op"] in ("load_sparse", "load_cols")]
                   + [c for c in gap if c["op"] not in ("load_sparse", "load_cols")])
        gap.clear()

    for cmd in program:
        if cmd["op"] in ("run_bp", "run_wu"):
            flush()
            out.append(cmd)
        else:
            gap.append(cmd)
    flush()
    return out


_DENSE = ("A0", "A1", "B0", "B1", "OUT0", "OUT1")


def _dense_uses(cmd):
    """The Dense Buf A / B and Out Buf halves program command ``cmd`` reads or writes."""
    if cmd["op"] == "raw":
        return frozenset()
    f = footprint(cmd["op"], **dense_halves(cmd))
    return (f.reads | f.writes) & frozenset(_DENSE)


def hoist(program):
    """``program`` with every ``load_a`` / ``load_b`` moved ahead to just before the first run
    after the last command that uses the half it fills (after that gap's sparse loads), so a
    tap's weights or the next A tile load while the runs before it use the other half. The
    commands it passes use other buffers or halves, so every result is unchanged; the core
    orders the load after the runs of its half (:func:`hw.spartann.isa.conflicts`)."""
    out, uses = [], []
    for cmd in program:
        mine, at = _dense_uses(cmd), len(out)
        if cmd["op"] in ("load_a", "load_b"):
            last = next((i for i in range(len(out) - 1, -1, -1) if uses[i] & mine), -1)
            at = next((i for i in range(last + 1, len(out))
                       if out[i]["op"] in ("run_bp", "run_wu")), at)
        out.insert(at, cmd)
        uses.insert(at, mine)
    return out


def plan(phase, layer, go_bits, other_bits, cfg, *, double=True, **options):
    """A driver plan (:func:`sim.spartann.driver.plan_bp` with ``other_bits`` = W, or
    :func:`~sim.spartann.driver.plan_wu` with ``other_bits`` = IA) whose program is
    reordered by :func:`overlap` and, with ``double`` (the default: the ping-pong halves of
    the dense buffers, ``cfg.double`` set), by :func:`hoist`; ``options`` go to the driver."""
    from dataclasses import replace
    from sim.spartann.driver import plan_bp, plan_wu
    if phase not in ("bp", "wu"):
        raise ValueError(f"phase must be 'bp' or 'wu', not {phase!r}")
    cfg = replace(cfg, double=bool(double))
    p = (plan_bp if phase == "bp" else plan_wu)(layer, go_bits, other_bits, cfg, **options)
    p.program = overlap(p.program)
    if double:
        p.program = hoist(p.program)
    return p
