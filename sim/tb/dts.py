"""cocotb testbench of the DTS threshold-update unit (``DTSUnit``) and of ``IntToFloat``.

The configuration (``$SIM_CONFIG``) names the ``kind`` (``dts`` or ``itof``), the unit's
parameters, a seed and a list of phases; the measured numbers go to the file it names
(``measured``).

``itof``: each phase streams vectors (:func:`itof_vectors`) back to back or with random gaps
in ``valid`` (the unit is always ready); every result is compared bit for bit with
``sim.golden.fp.from_int`` and every measured latency with ``unit.latency``.

``dts``: a ``vectors`` phase streams update requests through ``StreamSource`` (random gaps)
into the unit and takes results with ``StreamSink`` (random back-pressure, stream rule
checked); each ``theta_next`` must equal ``sim.golden.dts.dts_update`` bit for bit. A ``run``
phase closes the loop over a gradient sequence: ``theta_1 = +0``; every iteration the
testbench thresholds ``G_i`` with the theta the RTL produced (``csc.stats``), sends the
statistics, and checks the RTL's ``theta_{i+1}`` against the golden :func:`run_dts`
sequence. Phases without gaps or stalls must show exactly ``unit.cycles`` from every request
to its result (and ``unit.interval`` between back-to-back requests). ``busy`` must equal
``~i.ready`` in every cycle.
"""

import json
import os
import random
from pathlib import Path

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly

from hw.fp.format import parse_format
from hw.fp.itof import IntToFloat
from hw.spartann.dts import DTSUnit, input_layout
from sim.golden import csc, fp
from sim.golden.dts import dts_update, gradient_sequence, run_dts, target_bits
from sim.layout import pack
from sim.tb.stream import (StreamSink, StreamSource, idle_payload, resolved,
                           start_clock_and_reset)

__all__ = ["itof_vectors"]


def itof_vectors(width, fmt, n, seed):
    """The edge cases of a ``width``-bit unsigned integer and ``fmt`` (0, 1, 3, 2**k - 1,
    2**k, 2**k + 1, all ones, 2**24 + 3, exact rounding ties and their neighbours, the
    overflow threshold), then ``n`` random integers: half uniform bit patterns, half with a
    uniformly drawn bit length."""
    fmt, rng, top = parse_format(fmt), random.Random(seed), (1 << width) - 1
    edges = {0, 3, top, top - 1, (1 << 24) + 3}
    for k in range(width + 1):
        edges.update({(1 << k) - 1, 1 << k, (1 << k) + 1})
    p = fmt.sig_bits
    for length in range(p + 1, width + 1):             # ties: half an ulp above m * ulp
        shift = length - p
        for m in (1 << (p - 1), (1 << p) - 1, rng.randrange(1 << (p - 1), 1 << p)):
            tie = (m << shift) + (1 << (shift - 1))
            edges.update({tie - 1, tie, tie + 1})
    ulp_exp = fmt.emax - fmt.man_bits                   # overflow: max normal + ulp / 2
    if ulp_exp >= 1:
        tie = (((1 << p) - 1) << ulp_exp) + (1 << (ulp_exp - 1))
        edges.update({tie - 2, tie - 1, tie, tie + 1})
    randoms = [rng.getrandbits(width) for _ in range(n - n // 2)]
    for _ in range(n // 2):
        length = rng.randrange(width + 1)
        randoms.append(rng.getrandbits(length) | ((1 << length) >> 1))
    return sorted(v for v in edges if v <= top) + randoms


class Monitor:
    """Per cycle (read-only phase): transfers on ``i`` and ``o`` (cycle numbers) and whether
    ``busy == ~i.ready``."""

    def __init__(self, dut):
        self.dut, self.cycle = dut, 0
        self.inputs, self.outputs, self.busy_errors = [], [], []

    def start(self):
        cocotb.start_soon(self._run())
        return self

    async def _run(self):
        dut = self.dut
        while True:
            await FallingEdge(dut.clk)
            await ReadOnly()
            ready = int(dut.i__ready.value)
            if int(dut.i__valid.value) and ready:
                self.inputs.append(self.cycle)
            if int(dut.o__valid.value) and int(dut.o__ready.value):
                self.outputs.append(self.cycle)
            if int(dut.busy.value) != 1 - ready:
                self.busy_errors.append(self.cycle)
            self.cycle += 1


# -- IntToFloat ------------------------------------------------------------------------------------
async def _itof(dut, cfg):
    unit = IntToFloat(**cfg["params"])
    tag_bits = unit.tag_width
    await start_clock_and_reset(dut, dut.i__valid)
    rng, measured = np.random.default_rng(cfg["seed"]), {}
    for number, phase in enumerate(cfg["phases"]):
        values = itof_vectors(unit.width, unit.fmt, phase["n"], cfg["seed"] + number)
        want = [int(v) for v in fp.from_int(np.array(values, dtype=np.uint64), unit.fmt)]
        tags = [k % (1 << tag_bits) if tag_bits else 0 for k in range(len(values))]
        sent, got, in_cycles, out_cycles, cycle, idle = 0, [], [], [], 0, 0
        while idle <= unit.latency + 2:
            await FallingEdge(dut.clk)
            if sent < len(values) and not rng.random() < phase["gap_prob"]:
                dut.i__valid.value = 1
                dut.i__payload.value = values[sent] | (tags[sent] << unit.width)
                in_cycles.append(cycle)
                sent += 1
            else:
                dut.i__valid.value = 0
                dut.i__payload.value = idle_payload(
                    dut.i__payload, ((1 << (unit.width + tag_bits)) - 1) * (cycle % 2))
            await ReadOnly()
            if resolved(dut.o__valid, "o__valid", cycle):
                got.append(resolved(dut.o__payload, "o__payload (valid high)", cycle))
                out_cycles.append(cycle)
            cycle += 1
            idle = idle + 1 if sent == len(values) else 0
        name = f"phase {number} (gaps {phase['gap_prob']})"
        assert len(got) == len(values), f"{name}: {len(got)} results for {len(values)} inputs"
        width = unit.fmt.width
        for k, (word, v, w) in enumerate(zip(got, values, want)):
            assert word & ((1 << width) - 1) == w, (
                f"{name}: x = {v:#x}: got {word & ((1 << width) - 1):#x}, expected {w:#x}")
            assert word >> width == tags[k], f"{name}: tag of vector {k}"
        latencies = sorted(set((np.array(out_cycles) - np.array(in_cycles)).tolist()))
        assert latencies == [unit.latency], f"{name}: latency {latencies} != {unit.latency}"
        measured[name] = {"vectors": len(values), "latency": latencies[0], "cycles": cycle}
    return measured


# -- DTSUnit -----------------------------------------------------------------------------------------
def _request(layout, theta, target, stats):
    return pack(layout, {"theta": theta, "target": target, "elements": stats.elements,
                         "zeros": stats.zeros, "max_abs": stats.max_abs})


def _timing(name, unit, monitor, first_in, first_out, back_to_back):
    """Cycles from each request to its result; asserts ``unit.cycles`` (and ``interval``)."""
    ins, outs = monitor.inputs[first_in:], monitor.outputs[first_out:]
    assert len(ins) == len(outs), f"{name}: {len(ins)} requests, {len(outs)} results"
    latencies = sorted(set(o - i for i, o in zip(ins, outs)))
    assert latencies == [unit.cycles], f"{name}: update cycles {latencies} != {unit.cycles}"
    entry = {"updates": len(ins), "cycles": latencies[0]}
    if back_to_back and len(ins) > 1:
        gaps = sorted(set(np.diff(ins).tolist()))
        assert gaps == [unit.interval], f"{name}: request interval {gaps} != {unit.interval}"
        entry["interval"] = gaps[0]
    return entry


async def _dts(dut, cfg):
    unit = DTSUnit(**cfg["params"])
    layout = input_layout(unit.counter_width)
    source = StreamSource(dut, "i", seed=cfg["seed"])
    sink = StreamSink(dut, "o", seed=cfg["seed"] + 1).start()
    monitor = Monitor(dut).start()
    await start_clock_and_reset(dut)
    measured = {}
    for number, phase in enumerate(cfg["phases"]):
        source.gap_prob, sink.stall_prob = phase["gap_prob"], phase["stall_prob"]
        quiet = phase["gap_prob"] == 0 and phase["stall_prob"] == 0
        first_in, first_out = len(monitor.inputs), len(sink.words)
        first_mon = len(monitor.outputs)
        if phase["kind"] == "vectors":
            name = f"phase {number} (vectors, gaps {phase['gap_prob']}, stalls {phase['stall_prob']})"
            requests = [(t, s, csc.Stats(n, z, mx)) for t, s, n, z, mx in phase["requests"]]
            await source.send([_request(layout, *r) for r in requests])
            got = await sink.wait_for(first_out + len(requests))
            for k, ((theta, target, stats), word) in enumerate(zip(requests, got[first_out:])):
                want = dts_update(theta, target, stats)
                assert word == want, (f"{name}: request {k} theta={theta:#x} s*={target:#x} "
                                      f"{stats}: got {word:#x}, expected {want:#x}")
            entry = {"requests": len(requests)}
        else:
            target = phase["target"]
            name = f"phase {number} (run s*={target}, gaps {phase['gap_prob']}, " \
                   f"stalls {phase['stall_prob']})"
            grads = gradient_sequence(phase["iterations"], phase["elements"], phase["seed"])
            golden = run_dts(grads, target)
            t_bits, theta, thetas = target_bits(target), 0, [0]
            for i, g in enumerate(grads[:-1]):
                stats = csc.stats(g, theta, "fp32")
                assert stats == golden.stats[i], f"{name}: stats of iteration {i + 1}"
                await source.send([_request(layout, theta, t_bits, stats)])
                theta = (await sink.wait_for(first_out + i + 1))[-1]
                thetas.append(theta)
                assert theta == golden.thetas[i + 1] == dts_update(thetas[-2], t_bits, stats), (
                    f"{name}: theta_{i + 2} = {theta:#x}, golden {golden.thetas[i + 1]:#x}")
            entry = {"iterations": len(thetas), "thetas": [hex(t) for t in thetas]}
        if quiet:
            for _ in range(4):                  # let the monitor see the last transfer
                await FallingEdge(dut.clk)
            entry.update(_timing(name, unit, monitor, first_in, first_mon,
                                 phase["kind"] == "vectors"))
        measured[name] = entry
        dut._log.info("%s: bit-exact %s", name, {k: v for k, v in entry.items() if k != "thetas"})
    assert not monitor.busy_errors, f"busy != ~i.ready in cycles {monitor.busy_errors[:5]}"
    return measured


@cocotb.test()
async def dts_matches_golden(dut):
    cfg = json.loads(Path(os.environ["SIM_CONFIG"]).read_text())
    measured = await (_itof(dut, cfg) if cfg["kind"] == "itof" else _dts(dut, cfg))
    Path(cfg["measured"]).write_text(json.dumps(measured, indent=1))
