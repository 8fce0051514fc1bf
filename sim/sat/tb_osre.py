"""cocotb testbench of the OSRE top-K sorters (``TopKSorter``, ``TopKLanes``).

The configuration (``$SIM_CONFIG``) names the design (``sat_topk`` or ``sat_osre``), its
parameters, a seed and a list of phases. Each phase streams a fresh batch of groups through
``StreamSource`` (random input gaps) into ``StreamSink`` (random back-pressure; it also checks
the stream rule) and compares every result bit for bit with the golden model. A monitor
records the cycle of every transfer on ``i`` and ``o``; phases without gaps or stalls must show
no input bubble, the declared latency for every group and ``groups * m + latency`` cycles in
all. The measured numbers are written to the file the configuration names (``measured``).

``sat_osre`` phases stream a weight matrix in BDWP order: ``layout: forward`` sends
``W[lanes, K]`` column by column (lane l = output channel l, groups along input channels);
``backward`` sends ``W[K, lanes]`` row by row (lane l = input channel l, groups along output
channels). The golden result is :func:`sim.sat.osre.nm_prune` along the matching axis.

A phase may name a data format (``fmt``) other than the design's, of the same width: the
hardware ranks magnitude bits only, so e.g. one fp16 build also checks bf16 data.
"""

import json
import os
from pathlib import Path

import cocotb
import numpy as np
from amaranth.hdl import Shape
from amaranth.lib import data

from hw.fp.format import parse_format
from hw.sat.osre import DESIGNS
from sim.sat.osre import nm_prune, random_weight_bits, topk_group
from sim.tb.stream import StreamSink, StreamSource, TransferMonitor, start_clock_and_reset


def decode(shape, word):
    """``word`` read as an Amaranth shape: a dict (struct), list (array) or int."""
    if isinstance(shape, data.StructLayout):
        return {name: decode(field.shape, word >> field.offset) for name, field in shape}
    if isinstance(shape, data.ArrayLayout):
        return [decode(field.shape, word >> field.offset) for _, field in shape]
    return word & ((1 << Shape.cast(shape).width) - 1)


def _sorter_phase(component, fmt, rng, groups):
    """Input words and expected (values, indices) of shape (groups, 1, n) for one lane."""
    bits = random_weight_bits((groups, component.m), fmt, rng)
    values, indices = topk_group(bits, component.n, fmt)
    return bits.reshape(-1).tolist(), values[:, None], indices[:, None]


def _lanes_phase(component, fmt, rng, groups, layout):
    """Input words (one value per lane) and expected (values, indices) of shape
    (groups, lanes, n) for a weight matrix streamed in BDWP ``layout`` order."""
    lanes, width = component.lanes, fmt.width
    w = random_weight_bits((lanes, groups * component.m), fmt, rng)
    axis = {"forward": 1, "backward": 0}[layout]
    if axis == 0:
        w = np.ascontiguousarray(w.T)          # W[out, in]: lane l = input channel l
    _, values, indices = nm_prune(w, component.n, component.m, axis, fmt)
    steps = w.T if axis == 1 else w            # one row per cycle, one column per lane
    words = [sum(int(v) << (lane * width) for lane, v in enumerate(row)) for row in steps]
    return words, values.transpose(1, 0, 2), indices.transpose(1, 0, 2)


def _unpack(component, words):
    """Output words as (values, indices) arrays of shape (groups, lanes, n)."""
    shape = component.signature.members["o"].signature.members["payload"].shape
    results = [decode(shape, w) for w in words]
    if not isinstance(results[0], list):
        results = [[r] for r in results]
    values = np.array([[r["values"] for r in lanes] for lanes in results], dtype=np.int64)
    indices = np.array([[r["indices"] for r in lanes] for lanes in results], dtype=np.int64)
    return values, indices


def _compare(name, got, want):
    got_v, got_i = got
    want_v, want_i = want
    bad = np.nonzero(np.any((got_v != want_v) | (got_i != want_i), axis=(1, 2)))[0]
    if len(bad):
        g = bad[0]
        raise AssertionError(
            f"{name}: {len(bad)}/{len(got_v)} groups differ; first group {g}: got values "
            f"{[[hex(v) for v in lane] for lane in got_v[g]]} indices {got_i[g].tolist()}, "
            f"expected {[[hex(v) for v in lane] for lane in want_v[g]]} "
            f"indices {want_i[g].tolist()}")


def _timing(name, component, in_cycles, out_cycles):
    """Cycle counts of a phase without gaps or stalls; asserts no bubble and the latency."""
    m, groups = component.m, len(out_cycles)
    last_in = np.array(in_cycles[m - 1::m])
    latencies = sorted(set((np.array(out_cycles) - last_in).tolist()))
    total = out_cycles[-1] - in_cycles[0] + 1
    assert np.all(np.diff(in_cycles) == 1), f"{name}: input bubble without back-pressure"
    assert latencies == [component.latency], (
        f"{name}: measured latency {latencies} != declared {component.latency}")
    assert total == groups * m + component.latency, (
        f"{name}: {total} cycles for {groups} groups of {m}")
    return {"groups": groups, "cycles": total, "latency": latencies[0],
            "cycles_per_group": (total - component.latency) / groups}


@cocotb.test()
async def topk_matches_golden(dut):
    cfg = json.loads(Path(os.environ["SIM_CONFIG"]).read_text())
    component, _ = DESIGNS[cfg["design"]].build(**cfg["params"])
    source = StreamSource(dut, "i", seed=cfg["seed"])
    sink = StreamSink(dut, "o", seed=cfg["seed"] + 1).start()
    monitor = TransferMonitor(dut).start()
    await start_clock_and_reset(dut)

    rng = np.random.default_rng(cfg["seed"])
    measured = {}
    for number, phase in enumerate(cfg["phases"]):
        fmt = parse_format(phase.get("fmt", component.fmt))
        assert fmt.width == component.fmt.width, "data format of another width"
        name = f"phase {number} ({fmt.name} {phase.get('layout', 'groups')}, gaps "\
               f"{phase['gap_prob']}, stalls {phase['stall_prob']})"
        if cfg["design"] == "sat_osre":
            words, *want = _lanes_phase(component, fmt, rng, phase["groups"], phase["layout"])
        else:
            words, *want = _sorter_phase(component, fmt, rng, phase["groups"])
        source.gap_prob, sink.stall_prob = phase["gap_prob"], phase["stall_prob"]
        first_in, first_out = len(monitor.inputs), len(sink.words)
        stalls = len(monitor.input_stalls)
        await source.send(words)
        got = await sink.wait_for(first_out + phase["groups"])
        _compare(name, _unpack(component, got[first_out:]), want)
        entry = {"input_stall_cycles": len(monitor.input_stalls) - stalls}
        if phase.get("expect_input_stalls"):
            assert entry["input_stall_cycles"], f"{name}: input ready never dropped"
        if phase["gap_prob"] == 0 and phase["stall_prob"] == 0:
            entry.update(_timing(name, component, monitor.inputs[first_in:],
                                 monitor.outputs[first_out:]))
        measured[name] = entry
        dut._log.info("%s: %d groups bit-exact %s", name, phase["groups"], entry)
    Path(cfg["measured"]).write_text(json.dumps(measured, indent=1))
