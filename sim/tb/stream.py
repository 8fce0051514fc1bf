"""cocotb drivers for valid/ready streams (Amaranth ``lib.stream`` / AXI4-Stream rules).

Signals are handled as Verilog ports named ``<prefix>__valid``, ``<prefix>__ready`` and
``<prefix>__payload`` (how Amaranth names a top-level ``stream.Signature`` member).
Both ends act after the falling edge and sample in the read-only phase, so a transfer is
seen in the cycle in which ``valid & ready`` holds before the rising edge.

X on idle inputs (docs/verification.md): on a 4-state simulator (Icarus) a source drives its
payload to all-X while ``valid`` is low, and a sink asserts that every word taken with
``valid`` high is fully 0/1 (:func:`resolved`), so a design that lets idle payload bits (or
any other undefined state) reach a valid output fails with the port and cycle named.
"""

import os
from collections import deque

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly
from cocotb.types import LogicArray

__all__ = ["StreamSource", "StreamSink", "TransferMonitor", "port", "start_clock_and_reset",
           "x_on_idle",
           "idle_payload", "resolved"]


def x_on_idle():
    """Whether idle payloads are driven to X: ``$STREAM_X_ON_IDLE`` (``1``/``0``) when set,
    otherwise on Icarus (4-state) only -- Verilator is 2-state and would read X as 0."""
    env = os.environ.get("STREAM_X_ON_IDLE")
    if env is not None:
        return env.strip().lower() not in ("", "0", "false", "no")
    return "icarus" in (cocotb.SIM_NAME or "").lower()


def idle_payload(signal, fallback=0):
    """What to drive on ``signal`` (a payload port) while ``valid`` is low: all-X when
    :func:`x_on_idle`, else ``fallback``."""
    return LogicArray("X" * len(signal)) if x_on_idle() else fallback


def resolved(signal, what, cycle):
    """``int(signal.value)``; an :class:`AssertionError` naming ``what`` and ``cycle`` when
    the value has X/Z bits (a word taken with ``valid`` high must be fully 0/1)."""
    value = signal.value
    if not value.is_resolvable:
        raise AssertionError(f"{what} has non-0/1 bits at cycle {cycle}: {value} "
                             f"(a valid word must not carry X/Z)")
    return int(value)


async def start_clock_and_reset(dut, *idle, cycles=2, period_ns=10):
    """Start ``clk``, hold ``rst`` for ``cycles`` cycles with the ``idle`` inputs at 0."""
    cocotb.start_soon(Clock(dut.clk, period_ns, unit="ns").start())
    dut.rst.value = 1
    for signal in idle:
        signal.value = 0
    for _ in range(cycles):
        await FallingEdge(dut.clk)
    dut.rst.value = 0


def port(dut, prefix, name):
    return getattr(dut, f"{prefix}__{name}")


class StreamSource:
    """Drives words queued with :meth:`push`; before each word it idles (``valid`` low) with
    probability ``gap_prob``. Once ``valid`` is high it holds the word until ``ready``
    accepts it. Back-to-back words are sent in consecutive cycles.

    While idle the payload is all-X when ``x_idle`` (default :func:`x_on_idle`: on Icarus),
    otherwise it keeps the last word (0 before the first)."""

    def __init__(self, dut, prefix, *, gap_prob=0.0, seed=0, x_idle=None):
        self.clk = dut.clk
        self.valid, self.payload = port(dut, prefix, "valid"), port(dut, prefix, "payload")
        self.ready = getattr(dut, f"{prefix}__ready", None)
        self.gap_prob = gap_prob
        self.rng = np.random.default_rng(seed)
        self.queue = deque()
        self.sent = 0
        self.x_idle = x_on_idle() if x_idle is None else bool(x_idle)
        self._idle = LogicArray("X" * len(self.payload)) if self.x_idle else 0
        self.valid.value = 0
        self.payload.value = self._idle
        self._task = cocotb.start_soon(self._run())

    def push(self, *words):
        self.queue.extend(int(w) for w in words)

    async def send(self, words):
        """Queue ``words`` and wait until all queued words have been taken."""
        self.push(*words)
        while self.queue:
            await FallingEdge(self.clk)

    async def _run(self):
        while True:
            await FallingEdge(self.clk)
            if (not self.queue or (self.gap_prob and self.rng.random() < self.gap_prob)
                    or not self._admit()):
                self.valid.value = 0
                if self.x_idle:
                    self.payload.value = self._idle
                continue
            self.valid.value = 1
            self.payload.value = self.queue[0]
            while True:
                await ReadOnly()
                if self.ready is None or int(self.ready.value):
                    break
                await FallingEdge(self.clk)
            self.queue.popleft()
            self._sent()
            self.sent += 1

    def _admit(self):
        """Whether the head word may be presented this cycle (subclasses: bandwidth)."""
        return True

    def _sent(self):
        """Called once the head word is taken."""


class StreamSink:
    """Collects words; drives ``ready`` low with probability ``stall_prob`` each cycle and
    checks the stream rule: a presented word stays presented, unchanged, until taken, and
    that ``valid`` and every presented word are fully 0/1 (:func:`resolved`)."""

    def __init__(self, dut, prefix, *, stall_prob=0.0, seed=1):
        self.prefix = prefix
        self.clk = dut.clk
        self.valid, self.payload = port(dut, prefix, "valid"), port(dut, prefix, "payload")
        self.ready = getattr(dut, f"{prefix}__ready", None)
        self.stall_prob = stall_prob
        self.rng = np.random.default_rng(seed)
        self.words, self.cycles = [], []
        self.cycle = 0
        self._task = None

    def start(self):
        self._task = cocotb.start_soon(self._run())
        return self

    async def _run(self):
        pending = None                       # word presented but not taken last cycle
        while True:
            await FallingEdge(self.clk)
            ready = not (self.stall_prob and self.rng.random() < self.stall_prob) and self._admit()
            if self.ready is not None:
                self.ready.value = int(ready)
            await ReadOnly()
            valid = resolved(self.valid, f"{self.prefix}__valid", self.cycle)
            word = (resolved(self.payload, f"{self.prefix}__payload (valid high)", self.cycle)
                    if valid else None)
            if pending is not None:
                assert valid and word == pending, (
                    f"stream rule broken at cycle {self.cycle}: a word presented while not "
                    f"ready was withdrawn or changed ({pending:#x} -> {word})")
            if valid and (ready or self.ready is None):
                self.words.append(word)
                self.cycles.append(self.cycle)
                pending = None
            else:
                if ready:
                    self._unused()
                pending = word if valid else None
            self.cycle += 1

    def _admit(self):
        """Whether ``ready`` may go high this cycle (subclasses: bandwidth)."""
        return True

    def _unused(self):
        """Called when ``ready`` was high and no word came."""

    async def wait_for(self, count, timeout_cycles=1_000_000):
        start = self.cycle
        while len(self.words) < count:
            await FallingEdge(self.clk)
            assert self.cycle - start < timeout_cycles, (
                f"timeout: {len(self.words)} of {count} words after {timeout_cycles} cycles")
        return self.words[:count]


class TransferMonitor:
    """Cycle numbers of the transfers on streams ``source`` (``inputs``) and ``sink``
    (``outputs``), and of the cycles in which ``source`` offered a word that was not taken
    (``input_stalls``), sampled in the read-only phase of every cycle. Subclasses add their
    own per-cycle checks in :meth:`sample`."""

    def __init__(self, dut, source="i", sink="o"):
        self.dut, self.cycle = dut, 0
        self.inputs, self.outputs, self.input_stalls = [], [], []
        self._ports = [(port(dut, p, "valid"), port(dut, p, "ready")) for p in (source, sink)]

    def start(self):
        cocotb.start_soon(self._run())
        return self

    def sample(self):
        """Called once per cycle in the read-only phase, before ``cycle`` advances."""

    async def _run(self):
        (i_valid, i_ready), (o_valid, o_ready) = self._ports
        while True:
            await FallingEdge(self.dut.clk)
            await ReadOnly()
            offered = int(i_valid.value)
            if offered and int(i_ready.value):
                self.inputs.append(self.cycle)
            elif offered:
                self.input_stalls.append(self.cycle)
            if int(o_valid.value) and int(o_ready.value):
                self.outputs.append(self.cycle)
            self.sample()
            self.cycle += 1
