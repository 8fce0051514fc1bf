"""The X-on-idle check itself (docs/verification.md, "X on idle inputs"): on Icarus the
stream source drives all-X while ``valid`` is low and the sink rejects a valid word with
X bits, so a design whose state takes the payload while idle fails with a clear message."""

import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from sim.runner import run, simulators


class RunningSum(wiring.Component):
    """``o`` = running sum (mod 2**8) of the words taken on ``i``, one cycle later.
    ``leaky``: the sum also takes the payload of idle cycles (the bug under test)."""

    i: In(stream.Signature(8))
    o: Out(stream.Signature(8))

    def __init__(self, leaky):
        self.leaky = leaky
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        total = Signal(8)
        m.d.comb += [self.i.ready.eq(1), self.o.payload.eq(total)]
        m.d.sync += self.o.valid.eq(self.i.valid)
        with m.If(self.i.valid | self.leaky):
            m.d.sync += total.eq(total + self.i.payload)
        return m


CONFIG = {"words": list(range(1, 41)), "gap_prob": 0.4, "seed": 3}


def _run(leaky, sim):
    run(RunningSum(leaky), f"x_idle_running_sum_leaky{int(leaky)}", "sim.tb.x_idle", CONFIG,
        sim=sim)


def test_valid_gated_state_passes(sim):
    _run(False, sim)


@pytest.mark.skipif("icarus" not in simulators(), reason="needs Icarus (4-state)")
def test_state_taking_idle_payload_is_reported(capfd, monkeypatch):
    monkeypatch.delenv("STREAM_X_ON_IDLE", raising=False)
    with pytest.raises((AssertionError, SystemExit)):     # the cocotb runner exits on failure
        _run(True, "icarus")
    out, err = capfd.readouterr()
    assert "o__payload (valid high) has non-0/1 bits at cycle" in out + err
