"""cocotb testbench of the unsigned integer -> float converter ``IntToFloat`` (hw/fp/itof.py).

The configuration (``$SIM_CONFIG``) names the unit's parameters, a seed and a list of phases;
the measured numbers go to the file it names (``measured``). Each phase streams vectors
(:func:`itof_vectors`) back to back or with random gaps in ``valid`` (the unit is always
ready); every result is compared bit for bit with ``sim.fp.golden.from_int`` and every
measured latency with ``unit.latency``.
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
from sim.fp import golden as fp
from sim.tb.stream import idle_payload, resolved, start_clock_and_reset

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


@cocotb.test()
async def itof_matches_golden(dut):
    cfg = json.loads(Path(os.environ["SIM_CONFIG"]).read_text())
    measured = await _itof(dut, cfg)
    Path(cfg["measured"]).write_text(json.dumps(measured, indent=1))
