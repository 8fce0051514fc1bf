"""cocotb testbench of the SparTANN core: executes a *program* on the RTL.

The configuration (``$SIM_CONFIG``) holds the core parameters (:class:`SpartannConfig` fields), a
list of *segments* (``program``: JSON form of a program, see :func:`program_to_json`;
``gap_prob`` for every input stream, ``stall_prob`` for ``out``), a seed and the path of the
results file. The segments run one after the other on the same core (its state carries
over). Every command and data word of a segment is queued at once: the core takes the next
command when idle and data only while the matching load runs. :class:`~sim.tb.stream.StreamSink`
checks the stream rule on ``out``; a monitor records, for every run, the core's own
``run_cycles`` / ``run_macs`` counters and the cycles from the command's acceptance to
``busy`` falling; every command's cycles are recorded per segment.

Results (JSON): ``drained`` (one list of T-word rows per drain, with the ``last`` flags
checked), ``runs``, the final ``theta``, ``target``, ``stats`` and the segment cycle counts.
The pytest side compares them with the golden model and the cycle model.
"""

import json
import os
from pathlib import Path

import numpy as np

from hw.spartann.isa import Op, out_layout, transfers
from hw.spartann.config import SpartannConfig
from sim.spartann.csc import Entry
from sim.layout import unpack

__all__ = ["program_to_json", "program_from_json"]

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
        for key in ("addr", "skip"):
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


# -- cocotb part (imported only inside the simulator) ------------------------------------------
try:
    import cocotb
    from cocotb.triggers import FallingEdge, ReadOnly
except ImportError:          # pragma: no cover - cocotb is a test dependency
    cocotb = None


class CommandMonitor:
    """Samples, in the read-only phase of every cycle, the command handshake and ``busy``.
    Records every command's cycles (from its acceptance to the first cycle the core is idle
    again) and, for runs, the core's ``run_cycles`` / ``run_macs`` counters then."""

    def __init__(self, dut):
        self.dut = dut
        self.cycle = 0
        self.commands, self.runs = [], []
        self._open = None           # (op, accept cycle)

    def start(self):
        cocotb.start_soon(self._run())
        return self

    async def _run(self):
        dut = self.dut
        while True:
            await FallingEdge(dut.clk)
            await ReadOnly()
            if self._open and not int(dut.busy.value):
                op, accepted = self._open
                self.commands.append({"op": op, "cycles": self.cycle - accepted})
                if op in RUN_OPS:
                    self.runs.append({"phase": RUN_OPS[op],
                                      "run_cycles": int(dut.run_cycles.value),
                                      "run_macs": int(dut.run_macs.value),
                                      "command_cycles": self.cycle - accepted})
                self._open = None
            if int(dut.cmd__valid.value) and int(dut.cmd__ready.value):
                self._open = (int(dut.cmd__payload.value) & 0xF, self.cycle)
            self.cycle += 1


if cocotb is not None:
    from sim.tb.stream import StreamSink, StreamSource, start_clock_and_reset

    @cocotb.test()
    async def core_runs_program(dut):
        cfg = json.loads(Path(os.environ["SIM_CONFIG"]).read_text())
        params = SpartannConfig(**cfg["params"])
        fmt, T, seed = params.format, params.T, cfg["seed"]
        layout = out_layout(T, fmt)
        sources = {name: StreamSource(dut, name, seed=seed + k)
                   for k, name in enumerate(("cmd", "dense_in", "sparse_in", "col_in"))}
        sink = StreamSink(dut, "out", seed=seed + 10).start()
        monitor = CommandMonitor(dut).start()
        await start_clock_and_reset(dut)

        drained, segments = [], []
        expected = 0
        for number, segment in enumerate(cfg["segments"]):
            program = program_from_json(segment["program"])
            words = transfers(program, T, fmt, params.idx_bits, params.a_rows, params.out_rows)
            for source in sources.values():
                source.gap_prob = segment["gap_prob"]
            sink.stall_prob = segment["stall_prob"]
            first_word, first_cycle = expected, monitor.cycle
            first_command = len(monitor.commands)
            for name, source in sources.items():
                source.push(*words[name])
            expected += sum(words["drains"])
            await sources["cmd"].send([])
            start = monitor.cycle
            while True:                 # the core ends the last command
                await FallingEdge(dut.clk)
                await ReadOnly()
                if not int(dut.busy.value) and not any(s.queue for s in sources.values()):
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
            await FallingEdge(dut.clk)              # the monitor closes the last command
            segments.append({"cycles": monitor.cycle - first_cycle,
                             "commands": [c["cycles"] for c in monitor.commands[first_command:]]})
            await FallingEdge(dut.clk)
        assert len(sink.words) == expected, f"{len(sink.words) - expected} extra output words"

        results = {
            "drained": drained, "runs": monitor.runs, "segments": segments,
            "theta": int(dut.theta.value), "target": int(dut.target.value),
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
        toplevel = "spartann_" + "_".join(f"{k.replace('_', '')}{v}" for k, v in params.items())
    results = Path(out_dir) / "results.json"
    config = {"params": params, "seed": seed, "results": str(results),
              "segments": [{**s, "program": program_to_json(s["program"])} for s in segments]}
    ran = run(core, toplevel, "sim.spartann.tb_core", config, sim=sim, waves=waves,
              quiet=quiet)
    return {**json.loads(results.read_text()), "waves": ran.waves}
