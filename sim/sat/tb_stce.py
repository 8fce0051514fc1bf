"""cocotb testbench of the STCE systolic array: tiled dense / N:M GEMMs, bit-exact against
the chain-order golden model, with random input gaps and output back-pressure."""

import json
import os

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge

from hw.fp.format import parse_format
from hw.sat.stce import SystolicArray
from sim.fp import vectors
from sim.sat.stce import gemm_chain
from sim.layout import pack, unpack
from sim.sat.cycles import gemm_cycles
from sim.sat.driver import plan_gemm
from sim.tb.stream import StreamSink, StreamSource, start_clock_and_reset


def _operands(cfg, in_fmt, rng):
    t, k, cout, n, group = cfg["t"], cfg["k"], cfg["cout"], cfg["n"], cfg["group"]
    x = vectors.unary(in_fmt, t * k, cfg["seed"]).reshape(t, k)
    rng.shuffle(x.reshape(-1))
    if not cfg.get("specials", True):
        x = (x & np.uint64(0x83FF)) | np.uint64(0x3C00)          # finite FP16 values in [1, 2)
    kc = k * n // group
    w = vectors.unary(in_fmt, kc * cout, cfg["seed"] + 1).reshape(kc, cout)
    rng.shuffle(w.reshape(-1))
    idx = np.stack([np.sort(rng.choice(group, n, replace=False)) for _ in range(kc // n * cout)])
    idx = idx.reshape(kc // n, cout, n).transpose(0, 2, 1).reshape(kc, cout).astype(np.uint64)
    return x, w, idx


@cocotb.test()
async def systolic_gemm_matches_golden(dut):
    with open(os.environ["SIM_CONFIG"]) as f:
        cfg = json.load(f)
    array = SystolicArray(**cfg["array"])
    in_fmt, acc_fmt = parse_format(cfg["array"]["in_fmt"]), parse_format(cfg["array"]["acc_fmt"])
    rng = np.random.default_rng(cfg["seed"])
    x, w, idx = _operands(cfg, in_fmt, rng)
    plan = plan_gemm(x, w, idx, cfg["n"], array.group, array.rows, array.cols, in_fmt.width)

    await start_clock_and_reset(dut, dut.x__valid, dut.w__valid, dut.y__ready)

    w_layout, x_layout = array.w.payload.shape(), array.x.payload.shape()
    y_layout = array.y.payload.shape()
    w_words = [pack(w_layout, {"values": vals[r].tolist(), "indices": ids[r].tolist()})
               for tile in plan.weights for vals, ids in tile for r in range(array.rows)]
    sink = StreamSink(dut, "y", stall_prob=cfg["stall_prob"], seed=cfg["seed"] + 2).start()
    w_src = StreamSource(dut, "w", gap_prob=cfg["gap_prob"], seed=cfg["seed"] + 3)
    x_src = StreamSource(dut, "x", gap_prob=cfg["gap_prob"], seed=cfg["seed"] + 4)
    w_src.push(*w_words)

    zero_acc = [0] * array.cols
    start = sink.cycle
    for p in range(plan.passes):
        fold = p % plan.folds
        for t in range(plan.t):
            if fold == 0:
                acc = zero_acc
            else:                           # the previous fold's result row is the psum
                while len(x_src.queue) > 2:
                    await FallingEdge(dut.clk)
                words = await sink.wait_for((p - 1) * plan.t + t + 1)
                acc = unpack(y_layout, words[(p - 1) * plan.t + t])
            word = pack(x_layout, {"groups": plan.buses[fold][t].tolist(), "acc": acc,
                                   "first": int(t == 0)})
            x_src.push(word)
    words = await sink.wait_for(plan.passes * plan.t)
    cycles = sink.cycles[-1] - start + 1

    expected = gemm_chain(x, w, idx, array.group, in_fmt, acc_fmt, ftz=array.ftz)
    got = np.zeros_like(expected)
    for tile_index, (c0, nc) in enumerate(plan.tiles):
        p = tile_index * plan.folds + plan.folds - 1
        rows = np.array([unpack(y_layout, wd) for wd in words[p * plan.t:(p + 1) * plan.t]],
                        dtype=np.uint64)
        got[:, c0:c0 + nc] = rows[:, :nc]
    bad = np.argwhere(got != expected)
    assert len(bad) == 0, (f"{len(bad)} of {expected.size} results differ; first at "
                           f"{bad[0].tolist()}: got {int(got[tuple(bad[0])]):#x} "
                           f"expected {int(expected[tuple(bad[0])]):#x}")
    dut._log.info("GEMM %dx%dx%d (%d:%d) on %dx%d: %d passes, %d cycles, bit-exact",
                  cfg["t"], cfg["k"], cfg["cout"], cfg["n"], array.group, array.rows,
                  array.cols, plan.passes, cycles)
    model = gemm_cycles(cfg["t"], cfg["k"], cfg["cout"], cfg["n"], array.group, array.rows,
                        array.cols, array.mul_latency, array.add_latency)
    with open(os.path.join(os.path.dirname(os.environ["SIM_CONFIG"]), "cycles.json"), "w") as f:
        json.dump({"cycles": cycles, "model": model, "passes": plan.passes, "t": plan.t}, f)
    if cfg["gap_prob"] == 0 and cfg["stall_prob"] == 0:
        assert abs(model - cycles) <= 0.02 * cycles, f"cycle model {model} vs measured {cycles}"
