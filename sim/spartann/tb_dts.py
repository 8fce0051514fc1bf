"""cocotb testbench of the DTS threshold-update unit (``DTSUnit``); the ``IntToFloat``
testbench is :mod:`sim.fp.tb_itof`.

The configuration (``$SIM_CONFIG``) names the unit's parameters, a seed and a list of phases;
the measured numbers go to the file it names (``measured``).

A ``vectors`` phase streams update requests through ``StreamSource`` (random gaps)
into the unit and takes results with ``StreamSink`` (random back-pressure, stream rule
checked); each ``theta_next`` must equal ``sim.spartann.dts.dts_update`` (the unit's
``variant``) bit for bit. A ``run`` (paper variant)
phase closes the loop over a gradient sequence: ``theta_1 = +0``; every iteration the
testbench thresholds ``G_i`` with the theta the RTL produced (``csc.stats``), sends the
statistics, and checks the RTL's ``theta_{i+1}`` against the golden :func:`run_dts`
sequence. Phases without gaps or stalls must show exactly ``unit.cycles`` from every request
to its result (and ``unit.interval`` between back-to-back requests). ``busy`` must equal
``~i.ready`` in every cycle.
"""

import json
import os
from pathlib import Path

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge

from hw.spartann.dts import DTSUnit, input_layout
from sim.spartann import csc
from sim.spartann.dts import dts_update, gradient_sequence, run_dts, target_bits
from sim.layout import pack
from sim.tb.stream import StreamSink, StreamSource, TransferMonitor, start_clock_and_reset


class Monitor(TransferMonitor):
    """Transfers on ``i`` and ``o`` (cycle numbers) and the cycles in which
    ``busy != ~i.ready``."""

    def __init__(self, dut):
        super().__init__(dut)
        self.busy_errors = []

    def sample(self):
        if int(self.dut.busy.value) != 1 - int(self.dut.i__ready.value):
            self.busy_errors.append(self.cycle)


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
                want = dts_update(theta, target, stats, unit.variant)
                assert word == want, (f"{name}: request {k} theta={theta:#x} s*={target:#x} "
                                      f"{stats}: got {word:#x}, expected {want:#x}")
            entry = {"requests": len(requests)}
        else:
            assert unit.variant == "paper", "run phases follow the paper's rule"
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
    measured = await _dts(dut, cfg)
    Path(cfg["measured"]).write_text(json.dumps(measured, indent=1))
