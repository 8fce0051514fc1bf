"""cocotb testbenches of the SAT core (``hw/sat/core.py``): :func:`sat_core_runs_programs`
runs command programs; :func:`transposer_turns_blocks` checks the transposer
(``hw/sat/transposer.py``) alone. Run each by name (``sim.runner.run(testcase=...)``).

``$SIM_CONFIG`` lists phases; each has the ``cmd`` words, the ``din`` beats, the expected
``dout`` words (``data | last << data_width``, from :mod:`sim.sat.model`; ``None``: not
compared here, the host compares the recorded words), the expected ``error`` flag of every
command, ``serial`` (default true: each command presented once the core is idle, so every
command is one busy period; false: all presented at once, the units overlap), optionally the
expected ``cycles`` of every command (serial stall-free phases) or the ``span`` of the whole
program (overlapped stall-free phases: :func:`sim.sat.cycles.program_cycles`), and the stream
behaviour (``gap_prob`` on ``cmd`` and ``din``, ``stall_prob`` on ``dout``, ``bandwidth``: bytes
a cycle shared by ``din`` and ``dout``, :class:`Bandwidth`, ``None``: unlimited). The core keeps its
state from phase to phase. A monitor records every busy period (the acceptance that started it,
the first idle cycle after it and the ``cycles`` / ``error`` outputs then); ``cycles`` must
equal the measured period. Results (per phase: every period's ``cycles``, the ``span`` from the
first acceptance to the last idle cycle, and the ``dout`` words received) go to the JSON file
named by the configuration's ``measured``.
"""

import json
import os

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from sim.tb.stream import StreamSink, StreamSource, start_clock_and_reset


class Bandwidth:
    """External bandwidth: a token bucket of ``rate`` bytes a cycle shared by ``din`` and
    ``dout`` (the host memory's one budget for reads and writes). Every beat costs
    ``beat_bytes``; the bucket holds at most ``beat_bytes + rate`` (no bursts above the rate
    beyond one beat). ``rate=None``: no limit."""

    def __init__(self, dut, beat_bytes):
        self.rate, self.beat, self.tokens = None, beat_bytes, 0.0
        cocotb.start_soon(self._refill(dut))

    async def _refill(self, dut):
        while True:
            await RisingEdge(dut.clk)
            if self.rate is not None:
                self.tokens = min(self.beat + self.rate, self.tokens + self.rate)

    def take(self):
        if self.rate is None:
            return True
        if self.tokens >= self.beat:
            self.tokens -= self.beat
            return True
        return False

    def give(self):
        if self.rate is not None:
            self.tokens += self.beat


class ThrottledSource(StreamSource):
    """A :class:`StreamSource` that presents a word only when the bucket pays for it."""

    def __init__(self, dut, prefix, bucket, **kwargs):
        self.bucket = bucket
        super().__init__(dut, prefix, **kwargs)

    def _admit(self):
        return self.bucket.take()


class ThrottledSink(StreamSink):
    """A :class:`StreamSink` that is ready only when the bucket pays for a beat (refunded
    when no beat comes)."""

    def __init__(self, dut, prefix, bucket, **kwargs):
        self.bucket = bucket
        super().__init__(dut, prefix, **kwargs)

    def _admit(self):
        return self.bucket.take()

    def _unused(self):
        self.bucket.give()


class CommandMonitor:
    """Busy periods: per period (cycle of the acceptance that started it, first idle cycle
    after it, ``cycles`` and ``error`` then); and the cycle of every acceptance."""

    def __init__(self, dut):
        self.dut, self.accepted, self.done = dut, [], []
        self.cycle, self._start = 0, None
        cocotb.start_soon(self._run())

    async def _run(self):
        dut, busy_before = self.dut, 0
        while True:
            await FallingEdge(dut.clk)
            await ReadOnly()
            busy = int(dut.busy.value)
            if busy_before and not busy:
                self.done.append((self._start, self.cycle, int(dut.cycles.value),
                                  int(dut.error.value)))
                self._start = None
            if int(dut.cmd__valid.value) and int(dut.cmd__ready.value):
                self.accepted.append(self.cycle)
                if not busy:
                    assert self._start is None
                    self._start = self.cycle
            busy_before = busy
            self.cycle += 1


def _config():
    with open(os.environ["SIM_CONFIG"]) as f:
        return json.load(f)


@cocotb.test()
async def sat_core_runs_programs(dut):
    """Each phase runs ``serial`` (the next command is presented once the core is idle: one
    busy period per command, whose ``cycles`` and ``error`` are checked) or overlapped (all
    commands presented at once; ``span`` checked against the program model when given)."""
    cfg = _config()
    await start_clock_and_reset(dut, dut.cmd__valid, dut.din__valid, dut.dout__ready)
    monitor = CommandMonitor(dut)
    cmd = StreamSource(dut, "cmd", seed=cfg["seed"])
    bucket = Bandwidth(dut, len(dut.din__payload) // 8)
    din = ThrottledSource(dut, "din", bucket, seed=cfg["seed"] + 1)
    dout = ThrottledSink(dut, "dout", bucket, seed=cfg["seed"] + 2).start()
    measured = []
    for index, phase in enumerate(cfg["phases"]):
        cmd.gap_prob = din.gap_prob = phase["gap_prob"]
        dout.stall_prob = phase["stall_prob"]
        bucket.rate = phase.get("bandwidth")
        serial = phase.get("serial", True)
        first_period, first_word = len(monitor.done), len(dout.words)
        first_cmd = len(monitor.accepted)
        start = monitor.cycle
        din.push(*phase["din"])
        count = len(phase["cmds"])

        async def wait(predicate, what):
            while not predicate():
                await FallingEdge(dut.clk)
                assert monitor.cycle - start < cfg.get("timeout", 200_000), (
                    f"phase {index}: timeout waiting for {what}: "
                    f"{len(monitor.accepted) - first_cmd} of {count} commands accepted")
        if serial:
            for k, word in enumerate(phase["cmds"]):
                cmd.push(word)
                await wait(lambda: len(monitor.done) > first_period + k, f"command {k}")
        else:
            cmd.push(*phase["cmds"])
            await wait(lambda: (len(monitor.accepted) - first_cmd == count
                                and monitor.done and monitor.done[-1][0] is not None
                                and monitor.done[-1][1] > monitor.accepted[-1]
                                and len(monitor.done) > first_period), "the last command")
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
        records = monitor.done[first_period:]
        for k, (accepted, idle, cycles, error) in enumerate(records):
            assert cycles == idle - accepted, (f"phase {index} period {k}: cycles output "
                                               f"{cycles}, measured {idle - accepted}")
            if serial:
                assert error == phase["errors"][k], f"phase {index} command {k}: error={error}"
        got_cycles = [r[2] for r in records]
        span = records[-1][1] - records[0][0]
        if serial and phase.get("cycles") is not None:
            assert got_cycles == phase["cycles"], (
                f"phase {index} ({phase['name']}): cycles {got_cycles} != model "
                f"{phase['cycles']}")
        if not serial and phase.get("span") is not None:
            assert len(records) == 1 and span == phase["span"], (
                f"phase {index} ({phase['name']}): span {span} in {len(records)} busy "
                f"periods != model {phase['span']}")
        measured.append({"name": phase["name"], "cycles": got_cycles, "span": span,
                         "dout": words})
        dut._log.info("phase %s: %d commands, %d busy periods, %d dout beats, span %d",
                      phase["name"], count, len(records), len(words), span)
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
