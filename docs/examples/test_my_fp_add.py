"""A cocotb test of a generated FP16 adder that knows the design only through its files:
the Verilog ports and the manifest (``$MANIFEST``: payload fields, latency).

It streams random FP16 pairs in back to back, expects each sum exactly ``latency`` cycles
after its operands, and compares it bit for bit with NumPy's float16 addition (correctly
rounded, round to nearest even).
"""

import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly

from sim.manifest_io import load, pack, port, unpack


@cocotb.test()
async def adds_like_numpy(dut):
    info = load(os.environ["MANIFEST"])
    operands, result = port(info, "i__payload"), port(info, "o__payload")
    latency = info["timing"]["latency"]

    rng = np.random.default_rng(int(os.environ.get("SEED", "1")))
    count = 500
    a = (rng.standard_normal(count) * 2.0 ** rng.integers(-10, 10, count)).astype(np.float16)
    b = (rng.standard_normal(count) * 2.0 ** rng.integers(-10, 10, count)).astype(np.float16)
    b[:20] = -a[:20]                                     # exact cancellation: +0
    with np.errstate(over="ignore"):
        expected = (a + b).view(np.uint16)

    # Clock and a two-cycle synchronous reset, inputs idle.
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.i__valid.value = 0
    dut.i__payload.value = 0
    for _ in range(2):
        await FallingEdge(dut.clk)
    dut.rst.value = 0

    # Drive after the falling edge, sample in the read-only phase before the rising edge:
    # an operand driven in cycle k gives its sum in cycle k + latency.
    got = []
    for cycle in range(count + latency + 2):
        if cycle < count:
            dut.i__valid.value = 1
            dut.i__payload.value = pack(operands, {"a": int(a[cycle].view(np.uint16)),
                                                   "b": int(b[cycle].view(np.uint16))})
        else:
            dut.i__valid.value = 0
        await ReadOnly()
        if int(dut.o__valid.value):
            got.append((cycle, unpack(result, dut.o__payload.value)["result"]))
        await FallingEdge(dut.clk)

    assert [c for c, _ in got] == list(range(latency, latency + count)), "wrong latency"
    bad = [k for k, (_, r) in enumerate(got) if r != int(expected[k])]
    assert not bad, (f"{len(bad)} of {count} sums differ; first: {float(a[bad[0]])} + "
                     f"{float(b[bad[0]])} gave {got[bad[0]][1]:#06x}, want "
                     f"{int(expected[bad[0]]):#06x}")
    dut._log.info("%d sums equal NumPy's, latency %d", count, latency)
