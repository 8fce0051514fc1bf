"""cocotb self-check of the X-on-idle harness (docs/verification.md, "X on idle inputs").

The design (``tests/test_stream_x.py``) keeps a running sum of the words on ``i`` and
presents it on ``o`` one cycle after each word; ``$SIM_CONFIG`` gives ``words``,
``gap_prob`` and ``seed``. A correct design adds only transferred words; one that adds the
payload on every cycle takes in the source's idle payload (all-X on Icarus), which
:class:`~sim.tb.stream.StreamSink` must report.
"""

import json
import os
from pathlib import Path

import cocotb

from sim.tb.stream import StreamSink, StreamSource, start_clock_and_reset


@cocotb.test()
async def running_sum_has_no_x(dut):
    cfg = json.loads(Path(os.environ["SIM_CONFIG"]).read_text())
    words, width = cfg["words"], len(dut.o__payload)
    source = StreamSource(dut, "i", gap_prob=cfg["gap_prob"], seed=cfg["seed"])
    sink = StreamSink(dut, "o").start()
    await start_clock_and_reset(dut)
    await source.send(words)
    got = await sink.wait_for(len(words), timeout_cycles=10 * len(words) + 10)
    want, total = [], 0
    for w in words:
        total = (total + w) % (1 << width)
        want.append(total)
    assert got == want, f"running sums {got}, expected {want}"
