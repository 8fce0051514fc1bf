"""Verilog generation, manifests, the command line, lint and parameter validation."""

import json
import subprocess
import sys

import pytest

from hw.cli import main
from hw.designs import DESIGNS, build
from hw.fp.format import BF16, FP16, FP32, FloatFormat, parse_format
from hw.fp.pipeline import place_registers
from hw.generate import LINT_WAIVERS, manifest, to_verilog
from sim.runner import ROOT, tool_env

LINT_CASES = [(key, spec.test_params) for key, spec in DESIGNS.items()] + [
    ("fp_add", {"fmt": "bf16", "latency": 0}), ("fp_mul", {"fmt": "fp16", "out_fmt": "fp32"}),
    ("fp_div", {"fmt": "fp16", "latency": 1}), ("fp_mac", {"ab_fmt": "bf16", "tag_width": 4}),
    ("fp_compare", {"fmt": "bf16", "magnitude": True, "latency": 0}),
]


@pytest.mark.parametrize("design,params", LINT_CASES,
                         ids=[f"{d}-{'-'.join(f'{k}{v}' for k, v in p.items())}"
                              for d, p in LINT_CASES])
def test_verilator_lint_wall_clean(design, params, tmp_path):
    component, _ = build(design, **params)
    path = tmp_path / f"{design}.v"
    path.write_text(to_verilog(component, design))
    env = {**__import__("os").environ, **tool_env()}
    result = subprocess.run(["verilator", "--lint-only", "-Wall", str(path)],
                            capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "%Warning" not in result.stderr and "%Error" not in result.stderr, result.stderr


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


def test_cli_generate_every_unit_in_every_preset(tmp_path):
    for design, spec in DESIGNS.items():
        fmt_keys = [k for k in spec.params if k.endswith("fmt") and k != "out_fmt"]
        for fmt in ("fp32", "fp16", "bf16"):
            args = ["generate", design, "-o", str(tmp_path), "--name", f"{design}_{fmt}"]
            for key, value in spec.test_params.items():
                args += [f"--{key.replace('_', '-')}", str(value)]
            for key in fmt_keys:
                args += [f"--{key.replace('_', '-')}", fmt]
            assert main(args) == 0
            info = json.loads((tmp_path / f"{design}_{fmt}.json").read_text())
            assert all(info["parameters"][k] == fmt for k in fmt_keys)
            text = (tmp_path / f"{design}_{fmt}.v").read_text()
            modules = [line.split()[1].split("(")[0] for line in text.splitlines()
                       if line.startswith("module ")]
            assert modules[0] == f"{design}_{fmt}" and len(set(modules)) == len(modules)


def test_cli_list_and_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "hw", "list"], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    for design in DESIGNS:
        assert design in out
    assert "--latency" in out and "(default: fp32)" in out


@pytest.mark.parametrize("args,needle", [
    (["generate", "fp_add", "--fmt", "fp17"], "fmt"),
    (["generate", "fp_add", "--latency", "-1"], "latency"),
    (["generate", "fp_add", "--bogus", "1"], "bogus"),
    (["generate", "fp_nope"], "fp_nope"),
    (["generate", "fp_compare", "--magnitude", "maybe"], "magnitude"),
    (["generate", "fp_convert", "--in-fmt", "e1m3"], "exp_bits"),
])
def test_cli_bad_parameters_exit_nonzero_naming_them(args, needle, capsys, tmp_path):
    assert main(args + ["-o", str(tmp_path)]) != 0
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1


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
