"""cocotb testbench for every pipelined FP unit: drives golden-model vectors back to back
and with random gaps in ``valid``, and checks results, tags and latency bit-exactly."""

import json
import os

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly

from hw.designs import build
from hw.generate import manifest
from sim.fp import golden
from sim.fp.cases import make_case
from sim.manifest_io import pack_columns, unpack_columns
from sim.tb.stream import idle_payload, resolved, start_clock_and_reset
from hw.fp.format import parse_format


def _config():
    with open(os.environ["SIM_CONFIG"]) as f:
        return json.load(f)


def _port_fields(info, name):
    return next(p for p in info["ports"] if p["name"] == name)["fields"]


async def _stream(dut, words, gap_prob, rng, in_fields):
    """Drive ``words`` into ``i`` (one per cycle unless a gap is drawn) and collect every
    valid output word with the cycle it appeared in. Returns (in_cycles, out_cycles, outs)."""
    in_cycles, out_cycles, outs = [], [], []
    latency_budget = 256
    gaps = rng.random(len(words) * 4) < gap_prob
    i, cycle, idle = 0, 0, 0
    garbage = (1 << sum(f["width"] for f in in_fields.values())) - 1
    while idle < latency_budget:
        await FallingEdge(dut.clk)
        if i < len(words) and not gaps[cycle % len(gaps)]:
            dut.i__valid.value = 1
            dut.i__payload.value = words[i]
            in_cycles.append(cycle)
            i += 1
        else:
            dut.i__valid.value = 0
            # must be ignored: all-X on Icarus, else alternating ones / zeros
            dut.i__payload.value = idle_payload(dut.i__payload, garbage if cycle % 2 else 0)
        await ReadOnly()
        if resolved(dut.o__valid, "o__valid", cycle):
            outs.append(resolved(dut.o__payload, "o__payload (valid high)", cycle))
            out_cycles.append(cycle)
        cycle += 1
        idle = idle + 1 if i >= len(words) else 0
    return in_cycles, out_cycles, outs


@cocotb.test()
async def fp_unit_matches_golden(dut):
    cfg = _config()
    component, params = build(cfg["design"], **cfg["params"])
    info = manifest(component, cfg["design"], params)
    in_fields, out_fields = _port_fields(info, "i__payload"), _port_fields(info, "o__payload")
    await start_clock_and_reset(dut, dut.i__valid)

    rng = np.random.default_rng(cfg["seed"])
    for phase, (n, gap_prob) in enumerate([(cfg["n"], 0.0), (cfg["n_gaps"], cfg["gap_prob"])]):
        if n == 0:
            continue
        inputs, expected = make_case(cfg["design"], params, n, cfg["seed"] + phase,
                                     exhaustive=cfg.get("exhaustive", False) and phase == 0)
        count = len(next(iter(inputs.values())))
        if "tag" in in_fields:
            tags = np.arange(count, dtype=np.uint64) % (1 << in_fields["tag"]["width"])
            inputs["tag"], expected["tag"] = tags, tags
        words = pack_columns(in_fields, inputs, count)
        in_cycles, out_cycles, outs = await _stream(dut, words, gap_prob, rng, in_fields)
        assert len(outs) == count, f"phase {phase}: {len(outs)} results for {count} inputs"
        measured = np.array(out_cycles) - np.array(in_cycles)
        assert np.all(measured == component.latency), (
            f"latency {sorted(set(measured.tolist()))} != declared {component.latency}")
        got = unpack_columns(out_fields, outs)
        for name, want in expected.items():
            want = np.asarray(want, dtype=np.uint64)
            bad = np.nonzero(got[name] != want)[0]
            if len(bad):
                k = bad[0]
                operands = {f: hex(int(v[k])) for f, v in inputs.items()}
                raise AssertionError(
                    f"phase {phase}: {len(bad)}/{count} mismatches in {name!r}; first at "
                    f"{k}: operands {operands} got {hex(int(got[name][k]))} "
                    f"expected {hex(int(want[k]))}")
        dut._log.info("phase %d: %d vectors bit-exact (gap probability %.2f, latency %d)",
                      phase, count, gap_prob, component.latency)
