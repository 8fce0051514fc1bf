"""cocotb testbench of the WUVE momentum-SGD lanes (``hw/sat/wuve.py``).

The configuration (``$SIM_CONFIG``) names the lane parameters and a list of cases, each with
its own ``lr``, ``mu``, ``wd``, operands (element ``k`` goes to lane ``k % lanes`` of transfer
``k // lanes``) and stream behaviour. One :class:`~sim.tb.stream.StreamSource`
(random input gaps) and one :class:`~sim.tb.stream.StreamSink` (random output stalls; it also
checks the stream rules) serve all cases, their probabilities set per case. A *timed* case has
neither: its transfers must be accepted on consecutive cycles and every result must appear
exactly ``latency`` cycles after its input. Every result is compared bit for bit with
:func:`sim.sat.wuve.sgd_step`. Configuration ports change only between cases, when the
pipeline is empty.
"""

import json
import os

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly

from hw.fp.format import parse_format
from hw.sat.wuve import lane_layouts
from sim.sat.wuve import config_bits, decay_bits, sgd_step
from sim.tb.stream import StreamSink, StreamSource, start_clock_and_reset

IN_FIELDS, OUT_FIELDS = ("g", "w", "v"), ("w", "v", "w_lp")


def _config():
    with open(os.environ["SIM_CONFIG"]) as f:
        return json.load(f)


def pack(layout, lanes, columns):
    """Transfer words from per-element ``columns`` (name -> array, lane-minor order)."""
    stride, count = layout.size, len(next(iter(columns.values()))) // lanes
    words = [0] * count
    for name, values in columns.items():
        field = layout[name]
        for k, value in enumerate(np.asarray(values).tolist()):
            words[k // lanes] |= int(value) << ((k % lanes) * stride + field.offset)
    return words


def unpack(layout, lanes, words):
    """Inverse of :func:`pack`: name -> ``np.uint64`` array of elements."""
    stride = layout.size
    out = {}
    for name, field in layout:
        mask = (1 << field.width) - 1
        out[name] = np.array([(word >> (lane * stride + field.offset)) & mask
                              for word in words for lane in range(lanes)], dtype=np.uint64)
    return out


class TransferLog:
    """Cycle numbers of every transfer on ``i`` and on ``o``, sampled in the read-only phase
    after each falling edge (the cycle in which ``valid & ready`` holds)."""

    def __init__(self, dut):
        self.dut, self.inputs, self.outputs = dut, [], []
        cocotb.start_soon(self._run())

    async def _run(self):
        cycle = 0
        while True:
            await FallingEdge(self.dut.clk)
            await ReadOnly()
            if int(self.dut.i__valid.value) and int(self.dut.i__ready.value):
                self.inputs.append(cycle)
            if int(self.dut.o__valid.value) and int(self.dut.o__ready.value):
                self.outputs.append(cycle)
            cycle += 1


def check_timing(case, log, start, count, latency):
    """Back to back and never stalled: the inputs went in on consecutive cycles and each
    result came out exactly ``latency`` cycles after its input."""
    ins, outs = log.inputs[start:start + count], log.outputs[start:start + count]
    assert ins == list(range(ins[0], ins[0] + count)), (
        f"case {case['name']}: inputs not accepted back to back")
    measured = sorted({o - i for i, o in zip(ins, outs)})
    assert measured == [latency], f"case {case['name']}: latency {measured} != {latency}"
    return outs[-1] - ins[0] + 1


def _set_config(dut, params, case):
    """Drive the configuration ports of ``case`` (``decay`` from lr and wd when decoupled)."""
    fmt = params["master_fmt"]
    dut.lr.value = config_bits(case["lr"], fmt)
    dut.mu.value = config_bits(case["mu"], fmt)
    if params["decoupled_wd"]:
        dut.decay.value = decay_bits(case["lr"], case["wd"], fmt)
    else:
        dut.wd.value = config_bits(case["wd"], fmt)


def _compare(case, got, expected, operands, lanes):
    """Raise on the first output field with mismatches, naming its first bad element."""
    for name, want in zip(OUT_FIELDS, expected):
        bad = np.nonzero(got[name] != want)[0]
        if len(bad):
            k = bad[0]
            ops = {f: hex(int(operands[f][k])) for f in IN_FIELDS}
            raise AssertionError(
                f"case {case['name']}: {len(bad)}/{len(want)} mismatches in {name}; first: "
                f"transfer {k // lanes} lane {k % lanes}, operands {ops}, lr/mu/wd "
                f"{case['lr']}/{case['mu']}/{case['wd']}: got {hex(int(got[name][k]))}, "
                f"expected {hex(int(want[k]))}")


async def run_case(dut, params, latency, streams, case):
    """Stream one case through the lanes and check results (and timing, if timed)."""
    source, sink, log = streams
    lanes = params["lanes"]
    fmts = [parse_format(params[k]) for k in ("grad_fmt", "master_fmt", "weight_out_fmt")]
    in_layout, out_layout = lane_layouts(*fmts)
    operands = {f: np.array(case[f], dtype=np.uint64) for f in IN_FIELDS}
    expected = sgd_step(operands["g"], operands["w"], operands["v"], case["lr"], case["mu"],
                        case["wd"], *(f.name for f in fmts), decoupled_wd=params["decoupled_wd"])
    _set_config(dut, params, case)
    words = pack(in_layout, lanes, operands)
    start = len(sink.words)
    source.gap_prob, sink.stall_prob = case["gap_prob"], case["stall_prob"]
    await source.send(words)
    got = unpack(out_layout, lanes, (await sink.wait_for(start + len(words)))[start:])
    assert len(log.inputs) == len(log.outputs) == start + len(words)
    _compare(case, got, expected, operands, lanes)
    if case["timed"]:
        cycles = check_timing(case, log, start, len(words), latency)
        dut._log.info("%s: %d transfers in %d cycles (latency %d)", case["name"], len(words),
                      cycles, latency)
    dut._log.info("%s: %d elements bit-exact (gap %.2f, stall %.2f)", case["name"],
                  len(words) * lanes, case["gap_prob"], case["stall_prob"])


@cocotb.test()
async def sgd_lanes_match_golden(dut):
    cfg = _config()
    await start_clock_and_reset(dut, dut.i__valid, dut.o__ready)
    streams = (StreamSource(dut, "i", seed=cfg["seed"]),
               StreamSink(dut, "o", seed=cfg["seed"] + 1).start(), TransferLog(dut))
    for case in cfg["cases"]:
        await run_case(dut, cfg["params"], cfg["latency"], streams, case)
