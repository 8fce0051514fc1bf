"""cocotb testbenches of the SAT core (``hw/sat/core.py``): :func:`sat_core_runs_programs`
runs command programs; :func:`transposer_turns_blocks` checks the transposer
(``hw/sat/transposer.py``) alone. Run each by name (``sim.runner.run(testcase=...)``).

``$SIM_CONFIG`` lists phases; each has the ``cmd`` words, the ``din`` beats, the expected
``dout`` words (``data | last << data_width``, from :mod:`sim.sat.model`; ``None``: not
compared here, the host compares the recorded words), the expected
``error`` flag of every command, optionally the expected ``cycles`` of every command (stall-free
phases), and the stream behaviour (``gap_prob`` on ``cmd`` and ``din``, ``stall_prob`` on
``dout``). The core keeps its state from phase to phase. A monitor records, for every command,
the cycle it was accepted, the first idle cycle after it and the ``cycles`` / ``error``
outputs then; ``cycles`` must equal the measured span. Results (per phase: every command's
``cycles``, the ``span`` and the ``dout`` words received) go to the JSON file named by the
configuration's ``measured``.
"""

import json
import os

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly

from sim.tb.stream import StreamSink, StreamSource, start_clock_and_reset


class CommandMonitor:
    """Per command: (accepted cycle, first idle cycle after it, ``cycles``, ``error``)."""

    def __init__(self, dut):
        self.dut, self.accepted, self.done = dut, [], []
        self.cycle = 0
        cocotb.start_soon(self._run())

    async def _run(self):
        dut, busy_before = self.dut, 0
        while True:
            await FallingEdge(dut.clk)
            await ReadOnly()
            busy = int(dut.busy.value)
            if busy_before and not busy:
                self.done.append((self.accepted[len(self.done)], self.cycle,
                                  int(dut.cycles.value), int(dut.error.value)))
            if int(dut.cmd__valid.value) and int(dut.cmd__ready.value):
                assert not busy, "a command was accepted while busy"
                self.accepted.append(self.cycle)
            busy_before = busy
            self.cycle += 1


def _config():
    with open(os.environ["SIM_CONFIG"]) as f:
        return json.load(f)


@cocotb.test()
async def sat_core_runs_programs(dut):
    cfg = _config()
    await start_clock_and_reset(dut, dut.cmd__valid, dut.din__valid, dut.dout__ready)
    monitor = CommandMonitor(dut)
    cmd = StreamSource(dut, "cmd", seed=cfg["seed"])
    din = StreamSource(dut, "din", seed=cfg["seed"] + 1)
    dout = StreamSink(dut, "dout", seed=cfg["seed"] + 2).start()
    measured = []
    for index, phase in enumerate(cfg["phases"]):
        cmd.gap_prob = din.gap_prob = phase["gap_prob"]
        dout.stall_prob = phase["stall_prob"]
        first_cmd, first_word = len(monitor.done), len(dout.words)
        start = monitor.cycle
        din.push(*phase["din"])
        cmd.push(*phase["cmds"])
        goal = first_cmd + len(phase["cmds"])
        while len(monitor.done) < goal:
            await FallingEdge(dut.clk)
            assert monitor.cycle - start < cfg.get("timeout", 200_000), (
                f"phase {index}: {len(monitor.done) - first_cmd} of {len(phase['cmds'])} "
                "commands completed before the timeout")
        assert not din.queue, f"phase {index}: {len(din.queue)} din beats were not taken"
        words = dout.words[first_word:]
        want = phase.get("dout")
        if want is not None:
            assert len(words) == len(want), (f"phase {index}: {len(words)} dout beats, "
                                             f"want {len(want)}")
            bad = [k for k, (got, exp) in enumerate(zip(words, want)) if got != exp]
            assert not bad, (f"phase {index} ({phase['name']}): {len(bad)} of {len(want)} dout "
                             f"beats differ; first at beat {bad[0]}: {words[bad[0]]:#x} != "
                             f"{want[bad[0]]:#x}")
        records = monitor.done[first_cmd:goal]
        for k, (accepted, idle, cycles, error) in enumerate(records):
            assert cycles == idle - accepted, (f"phase {index} command {k}: cycles output "
                                               f"{cycles}, measured {idle - accepted}")
            assert error == phase["errors"][k], f"phase {index} command {k}: error={error}"
        got_cycles = [r[2] for r in records]
        if phase.get("cycles") is not None:
            assert got_cycles == phase["cycles"], (
                f"phase {index} ({phase['name']}): cycles {got_cycles} != model "
                f"{phase['cycles']}")
        measured.append({"name": phase["name"], "cycles": got_cycles,
                         "span": monitor.cycle - start, "dout": words})
        dut._log.info("phase %s: %d commands, %d dout beats, cycles %s", phase["name"],
                      len(records), len(words), got_cycles)
    with open(cfg["measured"], "w") as f:
        json.dump(measured, f)


@cocotb.test()
async def transposer_turns_blocks(dut):
    """The ``L x L`` transposer alone: for each case, ``start`` with ``columns``, then
    ``ceil(columns / L)`` blocks of rows in; the columns out must be ``o[l] = row l`` of their
    block. Stall-free cases must emit one column per cycle from ``lanes`` cycles after the
    first row on, with no gap between blocks."""
    cfg = _config()
    lanes, width = cfg["lanes"], cfg["width"]
    await start_clock_and_reset(dut, dut.i__valid, dut.o__ready, dut.start)
    src = StreamSource(dut, "i", seed=cfg["seed"])
    sink = StreamSink(dut, "o", seed=cfg["seed"] + 1).start()
    taken = []                               # cycles of the transfers on i (sink's count)

    async def log_inputs():
        cycle = 0
        while True:
            await FallingEdge(dut.clk)
            await ReadOnly()
            if int(dut.i__valid.value) and int(dut.i__ready.value):
                taken.append(cycle)
            cycle += 1
    cocotb.start_soon(log_inputs())
    rng = np.random.default_rng(cfg["seed"])
    for case in cfg["cases"]:
        columns = case["columns"]
        blocks = -(-columns // lanes)
        data = rng.integers(0, 1 << width, (blocks, lanes, lanes))
        src.gap_prob, sink.stall_prob = case["gap_prob"], case["stall_prob"]
        dut.columns.value = columns
        dut.start.value = 1
        await FallingEdge(dut.clk)
        dut.start.value = 0
        first, first_row = len(sink.words), len(taken)
        src.push(*(sum(int(v) << (k * width) for k, v in enumerate(row))
                   for block in data for row in block))
        words = (await sink.wait_for(first + columns, timeout_cycles=10_000))[first:]
        want = [sum(int(data[s // lanes][lane][s % lanes]) << (lane * width)
                    for lane in range(lanes)) for s in range(columns)]
        assert words == want, f"columns {columns}: transposed blocks differ"
        cycles = sink.cycles[first:first + columns]
        if case["gap_prob"] == 0 and case["stall_prob"] == 0:
            assert cycles == list(range(cycles[0], cycles[0] + columns)), cycles
            assert cycles[0] - taken[first_row] == lanes, cycles[0] - taken[first_row]
        while src.queue:
            await FallingEdge(dut.clk)
