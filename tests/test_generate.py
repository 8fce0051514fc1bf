"""Verilog generation, manifests, lint and parameter validation (the command line:
tests/test_cli.py)."""

import pytest

from hw.designs import DESIGNS, build
from hw.fp.format import BF16, FP16, FP32, FloatFormat, parse_format
from hw.fp.pipeline import place_registers
from hw.generate import LINT_WAIVERS, manifest, to_verilog

#: Every design at its test parameters plus a spread of other sizes, formats, latencies and
#: N:M ratios (edge sizes too: 1 lane, n = 1, 1x1 arrays, 1-bit counters), so that lint holds
#: at every size, not only the defaults (no zero-width wires, constant comparisons, ...).
LINT_CASES = [(key, spec.test_params) for key, spec in DESIGNS.items()] + [
    ("fp_add", {"fmt": "bf16", "latency": 0}), ("fp_add", {"fmt": "fp16", "latency": 1,
                                                          "tag_width": 3}),
    ("fp_add", {"fmt": "e4m3", "latency": 2}),
    ("fp_mul", {"fmt": "fp16", "out_fmt": "fp32"}), ("fp_mul", {"fmt": "bf16", "latency": 1,
                                                               "tag_width": 2}),
    ("fp_mul", {"fmt": "fp32", "out_fmt": "fp16", "latency": 4}),
    ("fp_mac", {"ab_fmt": "bf16", "tag_width": 4}), ("fp_mac", {"ab_fmt": "e4m3", "c_fmt": "fp16",
                                                               "latency": 0}),
    ("fp_mac", {"ab_fmt": "fp32", "c_fmt": "fp32", "latency": 3}),
    ("fp_axpy", {"fmt": "fp16", "latency": 2}), ("fp_axpy", {"fmt": "bf16", "latency": 0,
                                                            "tag_width": 1}),
    ("fp_convert", {"in_fmt": "fp32", "out_fmt": "fp16", "latency": 0}),
    ("fp_convert", {"in_fmt": "bf16", "out_fmt": "fp16", "latency": 2}),
    ("fp_convert", {"in_fmt": "e4m3", "out_fmt": "bf16", "tag_width": 2}),
    ("fp_div", {"fmt": "fp16", "latency": 1}), ("fp_div", {"fmt": "bf16", "latency": 0}),
    ("fp_div", {"fmt": "e5m2", "tag_width": 2}),
    ("fp_compare", {"fmt": "bf16", "magnitude": True, "latency": 0}),
    ("fp_compare", {"fmt": "fp16", "latency": 2, "tag_width": 1}),
    ("fp_abs", {"fmt": "fp16", "latency": 0}), ("fp_abs", {"fmt": "bf16", "latency": 3,
                                                          "tag_width": 2}),
    ("fp_itof", {"width": 8, "fmt": "fp16"}), ("fp_itof", {"width": 16, "fmt": "bf16",
                                                          "latency": 0}),
    ("fp_itof", {"width": 1, "fmt": "fp32", "tag_width": 2}),
    ("sat_stce", {"rows": 1, "cols": 1}),
    ("sat_stce", {"rows": 2, "cols": 3, "group": 4, "in_fmt": "bf16", "hierarchical": False}),
    ("sat_stce", {"rows": 3, "cols": 1, "group": 1, "mul_latency": 0, "add_latency": 1}),
    ("sat_stce", {"rows": 2, "cols": 2, "group": 2, "ftz": True, "mul_latency": 1}),
    ("fp_fmac", {"ftz": True, "latency": 0}), ("fp_fmac", {"ab_fmt": "e4m3", "c_fmt": "bf16"}),
    ("sat_topk", {"n": 1, "m": 4}), ("sat_topk", {"n": 4, "m": 4}),
    ("sat_topk", {"n": 2, "m": 16, "fmt": "bf16"}), ("sat_topk", {"n": 1, "m": 2}),
    ("sat_osre", {"lanes": 1, "n": 1, "m": 2}), ("sat_osre", {"lanes": 3, "n": 3, "m": 8,
                                                             "fmt": "bf16"}),
    ("sat_wuve", {"lanes": 2, "decoupled_wd": True}),
    ("sat_wuve", {"lanes": 1, "grad_fmt": "bf16", "weight_out_fmt": "bf16", "latency": 4,
                  "hierarchical": False}),
    ("sat_core", {"preset": "small", "rows": 4, "cols": 4, "n": 1, "m": 4, "lanes": 4}),
    ("sat_core", {"preset": "small", "rows": 1, "cols": 1, "n": 2, "m": 2, "lanes": 1}),
    ("sat_core", {"preset": "small", "rows": 2, "cols": 8, "n": 1, "m": 8, "lanes": 2}),
    ("spartann_threshold", {"lanes": 1, "fmt": "fp16", "latency": 0}),
    ("spartann_threshold", {"lanes": 3, "fmt": "bf16", "latency": 2}),
    ("spartann_encoder", {"fmt": "fp16", "idx_bits": 1, "max_rows": 1}),
    ("spartann_encoder", {"fmt": "bf16", "idx_bits": 8, "max_rows": 16}),
    ("spartann_decoder", {"fmt": "fp16", "idx_bits": 1, "row_bits": 1, "latency": 0}),
    ("spartann_decoder", {"fmt": "bf16", "idx_bits": 3, "row_bits": 5}),
    ("spartann_dts", {"counter_width": 8}),
    ("spartann_dts", {"counter_width": 1, "itof_latency": 0, "mul_latency": 0,
                      "div_latency": 0, "cmp_latency": 0}),
    ("spartann_core", {"preset": "small", "T": 1}),
    ("spartann_core", {"preset": "small", "T": 3, "fmt": "bf16"}),
    ("spartann_core", {"preset": "small", "fmt": "fp16", "mac_latency": 0, "thr_latency": 0,
                       "wu_window": 0, "idx_bits": 1}),
]


@pytest.mark.parametrize("design,params", LINT_CASES,
                         ids=[f"{d}-{'-'.join(f'{k}{v}' for k, v in p.items())}"
                              for d, p in LINT_CASES])
def test_verilator_lint_wall_clean(design, params, lint):
    component, _ = build(design, **params)
    lint(to_verilog(component, design))


def test_lint_cases_cover_every_design_beyond_its_test_parameters():
    for design in DESIGNS:
        others = [p for d, p in LINT_CASES if d == design and p != DESIGNS[design].test_params]
        assert len(others) >= 2, design


def test_lint_waivers_are_only_yosys_artifacts():
    assert set(LINT_WAIVERS) == {"WIDTHEXPAND", "WIDTHTRUNC", "UNUSEDSIGNAL", "PROCASSINIT"}


def test_verilog_is_reproducible():
    a = to_verilog(build("fp_add", fmt="fp16")[0], "x")
    b = to_verilog(build("fp_add", fmt="fp16")[0], "x")
    assert a == b and "module x(" in a


def test_manifest_describes_ports_and_timing():
    component, params = build("fp_mac", latency=5, tag_width=3)
    info = manifest(component, "fp_mac", params)
    assert info["timing"] == {"latency": 5, "throughput": 1}
    ports = {p["name"]: p for p in info["ports"]}
    assert set(ports) == {"i__valid", "i__payload", "o__valid", "o__payload"}
    assert ports["i__payload"]["fields"] == {
        "a": {"offset": 0, "width": 16}, "b": {"offset": 16, "width": 16},
        "c": {"offset": 32, "width": 32}, "tag": {"offset": 64, "width": 3}}
    assert ports["i__payload"]["width"] == 67 and ports["o__payload"]["width"] == 35
    assert all(p["meaning"] for p in info["ports"])
    assert info["clock"]["name"] == "clk" and info["reset"]["name"] == "rst"


@pytest.mark.parametrize("kwargs,needle", [
    ({"latency": -1}, "latency"), ({"latency": 1.5}, "latency"), ({"latency": 65}, "latency"),
    ({"tag_width": -2}, "tag_width"), ({"fmt": "fp8"}, "fmt"), ({"fmt": FloatFormat(5, 10)}, None),
])
def test_unit_parameter_validation(kwargs, needle):
    from hw.fp.add import FloatAdd
    if needle is None:
        assert FloatAdd(**kwargs).fmt == FP16
        return
    with pytest.raises(ValueError, match=needle):
        FloatAdd(**kwargs)


def test_format_type():
    assert (FP32.width, FP32.bias, FP32.canonical_nan) == (32, 127, 0x7FC00000)
    assert (FP16.width, FP16.emin, FP16.canonical_nan) == (16, -14, 0x7E00)
    assert (BF16.width, BF16.max_normal, BF16.canonical_nan) == (16, 0x7F7F, 0x7FC0)
    assert parse_format("E4M3") == FloatFormat(4, 3) and FloatFormat(4, 3).name == "e4m3"
    for bad in [(1, 3), (12, 3), (5, 0), (5, 24), (5.0, 3), (True, 3)]:
        with pytest.raises(ValueError, match="exp_bits|man_bits"):
            FloatFormat(*bad)


@pytest.mark.parametrize("weights,latency,expected", [
    ([1, 1, 1, 1], 0, [0, 0, 0, 0]),
    ([1, 1, 1, 1], 1, [0, 0, 0, 1]),
    ([1, 1, 1, 1], 2, [0, 1, 0, 1]),
    ([1, 1, 1, 1], 4, [1, 1, 1, 1]),
    ([1, 1, 1, 1], 6, [1, 1, 1, 3]),
    ([3, 1, 1, 1], 2, [1, 0, 0, 1]),
])
def test_register_placement(weights, latency, expected):
    counts = place_registers(weights, latency)
    assert counts == expected and sum(counts) == latency


def test_latency_and_placement_are_queryable():
    component, _ = build("fp_add", latency=3)
    assert component.latency == 3 and component.throughput == 1
    assert sum(c for _, c in component.register_placement) == 3


def test_timing_is_read_in_one_place():
    from hw.timing import Pipelined, Timed, port_doc, timing
    unit, _ = build("fp_add", fmt="fp16", latency=2)
    assert isinstance(unit, Pipelined) and isinstance(unit, Timed) and unit.latency == 2
    assert timing(unit) == {"latency": 2, "throughput": 1}
    assert port_doc(unit)["o__valid"].startswith("a result")
    assert timing(object()) == {} and port_doc(object()) == {}
