"""cocotb testbench of the SparTANN core: executes a *program* on the RTL.

The configuration (``$SIM_CONFIG``) holds the core parameters (:class:`SpartannConfig` fields), a
list of *segments* (``program``: JSON form of a program, see :func:`program_to_json`;
``gap_prob`` for every input stream, ``stall_prob`` for ``out``, optional ``bandwidth``: the
external bytes per cycle the data inputs share, a :class:`TokenBucket` over
:func:`word_bytes`), a seed and the path of the results file. The segments run one after the other on the same core (its state carries
over). Every command and data word of a segment is queued at once: the core takes the next
command when idle and data only while the matching load runs. :class:`~sim.tb.stream.StreamSink`
checks the stream rule on ``out``; a monitor records, for every run, the core's own
``run_cycles`` / ``run_macs`` counters and the cycles from the command's acceptance to
its unit going idle; every command's start (acceptance, from the segment's first) and unit
cycles are recorded per segment, and the segment's cycles (first acceptance to the last
unit going idle).

Results (JSON): ``drained`` (one list of T-word rows per drain, with the ``last`` flags
checked), ``runs``, the final ``theta``, ``target``, ``stats`` and the segment cycle counts.
The pytest side compares them with the golden model and the cycle model.
"""

import hashlib
import json
import os
from collections import deque
from pathlib import Path

import numpy as np

from hw.spartann.isa import UNIT, UNITS, Op, out_layout, ptr_bits, transfers
from hw.spartann.config import SpartannConfig
from sim.spartann.csc import Entry
from sim.layout import unpack

__all__ = ["program_to_json", "program_from_json", "run_on_rtl", "program_cycles_on_rtl",
           "word_bytes", "TokenBucket"]

RUN_OPS = {int(Op.RUN_BP): "bp", int(Op.RUN_WU): "wu"}
TIMEOUT_CYCLES = 2_000_000


def program_to_json(program):
    """A program (list of command dicts with NumPy arrays / Entries) as JSON-able data."""
    out = []
    for cmd in program:
        cmd = dict(cmd)
        if "vectors" in cmd:
            cmd["vectors"] = np.asarray(cmd["vectors"], dtype=np.uint64).tolist()
        if "entries" in cmd:
            cmd["entries"] = [[int(x) for x in e] for e in cmd["entries"]]
        for key in ("addr", "skip", "end"):
            if key in cmd:
                cmd[key] = [int(x) for x in cmd[key]]
        for key in ("count", "bits"):
            if key in cmd:
                cmd[key] = int(cmd[key])
        out.append(cmd)
    return out


def program_from_json(program):
    """Inverse of :func:`program_to_json`."""
    out = []
    for cmd in program:
        cmd = dict(cmd)
        if "vectors" in cmd:
            cmd["vectors"] = np.asarray(cmd["vectors"], dtype=np.uint64)
        if "entries" in cmd:
            cmd["entries"] = [Entry(*e) for e in cmd["entries"]]
        out.append(cmd)
    return out


def word_bytes(program, params):
    """Bytes each data word of ``program`` carries, per input stream (``dense_in``,
    ``sparse_in``, ``col_in``: lists in transfer order): a T-vector, the entries of a beat
    (``entry_bits / 8`` each; a load's last beat may hold fewer), a descriptor."""
    p = params
    desc = (p.addr_bits + 1 + ptr_bits(p.sparse_depth)) / 8
    sizes = {"dense_in": [], "sparse_in": [], "col_in": []}
    for cmd in program:
        op = cmd["op"]
        if op in ("load_a", "load_b"):
            sizes["dense_in"] += [p.T * p.format.width / 8] * len(cmd["vectors"])
        elif op == "load_sparse":
            n, k = len(cmd["entries"]), p.sparse_beat
            sizes["sparse_in"] += [min(k, n - i) * p.entry_bits / 8 for i in range(0, n, k)]
        elif op == "load_cols":
            sizes["col_in"] += [desc] * len(cmd["addr"])
    return sizes


class TokenBucket:
    """External bandwidth shared by the input streams: ``rate`` bytes a cycle accumulate up
    to ``depth`` bytes; a word may start when the bucket holds its bytes (taken then)."""

    def __init__(self, rate, depth):
        self.rate, self.depth = float(rate), float(depth)
        self.tokens, self.last = float(depth), 0

    def take(self, cycle, size):
        self.tokens = min(self.depth, self.tokens + self.rate * (cycle - self.last))
        self.last = cycle
        if self.tokens + 1e-9 < size:
            return False
        self.tokens -= size
        return True


# -- cocotb part (imported only inside the simulator) ------------------------------------------
try:
    import cocotb
    from cocotb.triggers import FallingEdge, ReadOnly
except ImportError:          # pragma: no cover - cocotb is a test dependency
    cocotb = None


class CommandMonitor:
    """Samples, in the read-only phase of every cycle, the command handshake and the units'
    ``unit_busy`` bits. Records every command's acceptance cycle and unit cycles (from its
    acceptance to the first cycle its unit is idle again; 1 for a command that occupies no
    unit) and, for runs, the core's ``run_cycles`` / ``run_macs`` counters then."""

    def __init__(self, dut):
        self.dut = dut
        self.cycle = 0
        self.commands, self.runs = [], []
        self._open = {}             # unit -> index into commands

    def start(self):
        cocotb.start_soon(self._run())
        return self

    def _close(self, unit, busy):
        cmd = self.commands[self._open[unit]]
        if busy:
            return
        cmd["cycles"] = self.cycle - cmd["accepted"]
        if cmd["op"] in RUN_OPS and cmd["cycles"] > 1:
            dut = self.dut
            self.runs.append({"phase": RUN_OPS[cmd["op"]],
                              "run_cycles": int(dut.run_cycles.value),
                              "run_macs": int(dut.run_macs.value),
                              "command_cycles": cmd["cycles"]})
        del self._open[unit]

    @property
    def idle(self):
        return not self._open

    async def _run(self):
        dut = self.dut
        while True:
            await FallingEdge(dut.clk)
            await ReadOnly()
            bits = int(dut.unit_busy.value)
            for unit in list(self._open):
                self._close(unit, unit in UNITS and bits >> UNITS.index(unit) & 1)
            if int(dut.cmd__valid.value) and int(dut.cmd__ready.value):
                op = int(dut.cmd__payload.value) & 0xF
                unit = UNIT[Op(op)] if op < len(Op) else f"none{self.cycle}"
                self.commands.append({"op": op, "accepted": self.cycle, "cycles": None})
                self._open[unit] = len(self.commands) - 1
            self.cycle += 1


if cocotb is not None:
    from sim.tb.stream import StreamSink, StreamSource, start_clock_and_reset

    class ThrottledSource(StreamSource):
        """A :class:`~sim.tb.stream.StreamSource` whose words also wait for their bytes in a
        shared :class:`TokenBucket` (``bucket``: ``None`` = unlimited; ``clock``: a callable
        giving the cycle)."""

        def __init__(self, dut, prefix, *, clock, **kwargs):
            self.bucket, self.clock, self.sizes = None, clock, deque()
            super().__init__(dut, prefix, **kwargs)

        def push_sized(self, words, sizes):
            self.sizes.extend(sizes)
            self.push(*words)

        def _admit(self):
            return self.bucket is None or self.bucket.take(self.clock(), self.sizes[0])

        def _sent(self):
            self.sizes.popleft()

    @cocotb.test()
    async def core_runs_program(dut):
        cfg = json.loads(Path(os.environ["SIM_CONFIG"]).read_text())
        params = SpartannConfig(**cfg["params"])
        fmt, T, seed = params.format, params.T, cfg["seed"]
        layout = out_layout(T, fmt)
        monitor = CommandMonitor(dut)
        sources = {"cmd": StreamSource(dut, "cmd", seed=seed)}
        for k, name in enumerate(("dense_in", "sparse_in", "col_in")):
            sources[name] = ThrottledSource(dut, name, seed=seed + k + 1,
                                            clock=lambda: monitor.cycle)
        sink = StreamSink(dut, "out", seed=seed + 10).start()
        monitor.start()
        await start_clock_and_reset(dut)

        drained, segments = [], []
        expected = 0
        for number, segment in enumerate(cfg["segments"]):
            program = program_from_json(segment["program"])
            words = transfers(program, params)
            sizes = word_bytes(program, params)
            rate = segment.get("bandwidth")
            bucket = None if rate is None else TokenBucket(
                rate, rate + max((max(v, default=0) for v in sizes.values()), default=0))
            for name, source in sources.items():
                source.gap_prob = segment["gap_prob"]
                if name != "cmd":
                    source.bucket = bucket
            sink.stall_prob = segment["stall_prob"]
            first_word, first_cycle = expected, monitor.cycle
            first_command = len(monitor.commands)
            for name, source in sources.items():
                if name == "cmd":
                    source.push(*words[name])
                else:
                    source.push_sized(words[name], sizes[name])
            expected += sum(words["drains"])
            await sources["cmd"].send([])
            start = monitor.cycle
            while True:                 # the core ends the last command
                await FallingEdge(dut.clk)
                await ReadOnly()
                if (not int(dut.busy.value) and monitor.idle
                        and not any(s.queue for s in sources.values())):
                    break
                assert monitor.cycle - start < TIMEOUT_CYCLES, f"segment {number}: core hangs"
            got = await sink.wait_for(expected)
            rows = [unpack(layout, w) for w in got[first_word:expected]]
            at = 0
            for count in words["drains"]:
                chunk = rows[at:at + count]
                lasts = [r["last"] for r in chunk]
                assert lasts == [0] * (count - 1) + [1] * (count > 0), (
                    f"segment {number}: drain of {count} rows has last flags {lasts}")
                drained.append([r["values"] for r in chunk])
                at += count
            leftover = [d for s, d in sources.items() if s != "cmd" and d.queue]
            assert not leftover, f"segment {number}: data words left untaken"
            mine = monitor.commands[first_command:]
            first = mine[0]["accepted"] if mine else 0
            segments.append({"cycles": max((c["accepted"] + c["cycles"] for c in mine),
                                           default=first) - first,
                             "starts": [c["accepted"] - first for c in mine],
                             "commands": [c["cycles"] for c in mine]})
            await FallingEdge(dut.clk)
        assert len(sink.words) == expected, f"{len(sink.words) - expected} extra output words"

        results = {
            "drained": drained, "runs": monitor.runs, "segments": segments,
            "theta": int(dut.theta.value), "target": int(dut.target.value),
            "errors": int(dut.errors.value),
            "stats": [int(dut.elements.value), int(dut.zeros.value), int(dut.max_abs.value)],
        }
        Path(cfg["results"]).write_text(json.dumps(results))


# -- host side ---------------------------------------------------------------------------------
def run_on_rtl(params, segments, *, sim="verilator", seed=1, out_dir, toplevel=None,
               waves=None, quiet=False):
    """Build the core of ``params`` (:class:`SpartannConfig` or a dict of its fields) and execute
    ``segments`` (``[{"program": [...], "gap_prob": p, "stall_prob": q}]``, programs in their
    Python form) on it; returns the results (see the module doc) plus ``waves``, the
    waveform file (``None`` unless tracing; ``waves`` and ``quiet`` as in
    :func:`sim.runner.run`)."""
    from hw.spartann.core import SparTANNCore
    from sim.runner import run

    if not isinstance(params, SpartannConfig):
        params = SpartannConfig(**params)
    params = params.as_dict()
    core = SparTANNCore(**params)
    if toplevel is None:
        # Short and unique per configuration (cocotb finds no root handle past ~128 chars).
        digest = hashlib.sha1(repr(sorted(params.items())).encode()).hexdigest()[:10]
        toplevel = f"spartann_t{params['T']}_{params['fmt']}_{digest}"
    results = Path(out_dir) / "results.json"
    config = {"params": params, "seed": seed, "results": str(results),
              "segments": [{**s, "program": program_to_json(s["program"])} for s in segments]}
    ran = run(core, toplevel, "sim.spartann.tb_core", config, sim=sim, waves=waves,
              quiet=quiet)
    return {**json.loads(results.read_text()), "waves": ran.waves}


def program_cycles_on_rtl(params, program, *, sim="verilator", seed=1, out_dir, quiet=True):
    """Cycles of ``program`` on the RTL of a core of ``params`` with every stream always
    valid and ready: from the first command's acceptance to the last unit going idle (what
    :func:`sim.spartann.cycles.program_cycles` and the system model predict)."""
    segments = [{"program": program, "gap_prob": 0.0, "stall_prob": 0.0}]
    result = run_on_rtl(params, segments, sim=sim, seed=seed, out_dir=out_dir, quiet=quiet)
    return result["segments"][0]["cycles"]
