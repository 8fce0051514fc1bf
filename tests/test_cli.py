"""The command line (``python -m hw``): list, generate (parameters, --help, errors) and
generate-all's progress lines."""

import json
import re
import subprocess
import sys

import pytest

from hw import cli
from hw.cli import main
from hw.designs import DESIGNS
from hw.fp.fmac import fused_supported
from hw.fp.format import parse_format
from hw.sat.config import resolve
from sim.runner import ROOT


#: Designs whose formats are tied: the fused MAC's accumulator stays FP32 while a and b take
#: each format (FP16 x FP16 + FP32 is supported; FP32 and BF16 products are rejected).
FMT_PAIRS = {"fp_fmac": {"c_fmt": "fp32"}}


def test_cli_generate_every_unit_in_every_preset(tmp_path):
    for design, spec in DESIGNS.items():
        fmt_keys = [k for k in spec.params if k.endswith("fmt") and k != "out_fmt"]
        for fmt in ("fp32", "fp16", "bf16"):
            args = ["generate", design, "-o", str(tmp_path), "--name", f"{design}_{fmt}"]
            for key, value in spec.test_params.items():
                args += [f"--{key.replace('_', '-')}", str(value)]
            for key in fmt_keys:
                args += [f"--{key.replace('_', '-')}", FMT_PAIRS.get(design, {}).get(key, fmt)]
            if design in FMT_PAIRS and not fused_supported(*(
                    parse_format(FMT_PAIRS[design].get(k, fmt)) for k in fmt_keys)):
                assert main(args) == 2               # rejected by the design's own check
                continue
            assert main(args) == 0
            info = json.loads((tmp_path / f"{design}_{fmt}.json").read_text())
            assert all(info["parameters"][k] == FMT_PAIRS.get(design, {}).get(k, fmt)
                       for k in fmt_keys)
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


def test_cli_list_one_design(capsys):
    assert main(["list", "fp_mac"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("fp_mac: ") and "--ab-fmt (default: fp16)" in out
    assert "fp_add" not in out and "sat_core" not in out
    assert main(["list", "fp_nope"]) == 2
    err = capsys.readouterr().err
    assert "fp_nope" in err and err.count("\n") == 1


@pytest.mark.parametrize("design", ["fp_add", "sat_core", "spartann_core"])
def test_cli_generate_design_help(design, capsys, tmp_path):
    assert main(["generate", design, "--help", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: python -m hw generate {design}")
    for key, param in DESIGNS[design].params.items():
        line = next(li for li in out.splitlines() if li.split()[:1] == [f"--{key.replace('_', '-')}"])
        assert param.help in line and "default" in line
    assert "--output" in out and not list(tmp_path.iterdir())
    assert main(["generate", "-h"]) == 0 and "design" in capsys.readouterr().out


def test_cli_help_from_the_command_line():
    result = subprocess.run([sys.executable, "-m", "hw", "generate", "fp_mac", "--help"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0 and "--ab-fmt VALUE" in result.stdout
    assert "(default: fp16)" in result.stdout and not result.stderr


def test_cli_key_equals_value(tmp_path):
    assert main(["generate", "fp_add", "--fmt=bf16", "--latency", "2", "--tag-width=3",
                 "-o", str(tmp_path)]) == 0
    info = json.loads((tmp_path / "fp_add.json").read_text())
    assert info["parameters"] == {"fmt": "bf16", "latency": 2, "tag_width": 3}


@pytest.mark.parametrize("args,expected", [
    (["generate", "fp_add", "--fmt", "fp17"], "parameter fmt='fp17' is invalid: "),
    (["generate", "fp_add", "--fmt=fp17"], "parameter fmt='fp17' is invalid: "),
    (["generate", "fp_add", "--latency", "-1"], "parameter latency='-1' is invalid: "),
    (["generate", "fp_add", "--latency", "x"], "parameter latency='x' is invalid: not an integer"),
    (["generate", "fp_add", "--latency=1.5"], "parameter latency='1.5' is invalid: "),
    (["generate", "fp_add", "--latency"], "parameter latency needs a value"),
    (["generate", "fp_add", "--bogus", "1"], "no parameter 'bogus'"),
    (["generate", "fp_add", "fp16"], "expected --parameter"),
    (["generate", "fp_nope"], "unknown design 'fp_nope'"),
    (["generate"], "generate needs a design"),
    (["generate", "fp_compare", "--magnitude", "maybe"], "parameter magnitude='maybe' is invalid"),
    (["generate", "fp_convert", "--in-fmt", "e1m3"], "exp_bits"),
    (["generate", "sat_core", "--rows", "abc"], "parameter rows='abc' is invalid: not an integer"),
    (["generate", "sat_core", "--rows", "0"], "parameter rows='0' is invalid: must be an integer"),
    (["generate", "sat_core", "--rows", "300"], "parameter rows='300' is invalid: "),
    (["generate", "sat_core", "--preset", "big"], "parameter preset='big' is invalid: "),
    (["generate", "sat_core", "--preset", "small", "--lanes", "2"],
     "parameter lanes='2' is invalid: must divide cols = 3 (an OSRE result fills whole "
     "column blocks of a W row), not 2; use one of 1, 3"),
    (["generate", "sat_core", "--preset", "small", "--data-width", "12"],
     "parameter data_width='12' is invalid: must be a multiple of 8"),
    (["generate", "spartann_core", "--T", "0"], "parameter T='0' is invalid: "),
    (["generate", "spartann_core", "--fmt", "e8m30"], "parameter fmt='e8m30' is invalid: "),
    (["list", "fp_add", "extra"], "unrecognized arguments: extra"),
])
def test_cli_bad_parameters_exit_2_with_one_line(args, expected, capsys, tmp_path):
    assert main(args + ["-o", str(tmp_path)] if args[0] == "generate" else args) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and expected in captured.err, captured.err
    assert captured.err.count("\n") == 1 and not captured.out
    assert not list(tmp_path.iterdir())


def test_cli_errors_from_the_command_line_have_no_traceback():
    for args in (["--rows", "abc"], ["--rows", "0"], ["--latency=x"]):
        design = "fp_add" if "latency" in args[0] else "sat_core"
        result = subprocess.run([sys.executable, "-m", "hw", "generate", design, *args],
                                capture_output=True, text=True, cwd=ROOT)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert result.stderr.count("\n") == 1 and "is invalid" in result.stderr


def test_sat_core_lanes_follow_cols():
    """Shrinking cols without --lanes takes the largest divisor of cols up to the preset's
    lanes; a given lanes is kept (and checked: it must divide cols)."""
    assert resolve("paper", cols=8).lanes == 8
    assert resolve("paper", cols=24).lanes == 24
    assert resolve("paper", cols=48).lanes == 24
    assert resolve("paper", cols=64).lanes == 32
    assert resolve("small", cols=8).lanes == 2
    assert resolve("paper", cols=8, lanes=4).lanes == 4
    with pytest.raises(ValueError, match="^lanes must divide cols = 8"):
        resolve("paper", cols=8, lanes=5)


def test_cli_sat_core_smaller_cols_generate(tmp_path):
    assert main(["generate", "sat_core", "--preset=small", "--cols", "4", "-o", str(tmp_path)]) == 0
    info = json.loads((tmp_path / "sat_core.json").read_text())
    assert info["parameters"]["cols"] == 4 and info["parameters"]["lanes"] == 2


def test_generate_all_prints_a_progress_line_per_design(monkeypatch, capsys, tmp_path):
    subset = {k: DESIGNS[k] for k in ("fp_add", "fp_abs")}
    monkeypatch.setattr(cli, "DESIGNS", subset)
    monkeypatch.setenv("PROGRESS", "1")
    assert main(["generate-all", "-o", str(tmp_path)]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3, lines
    for line, label in zip(lines, ["fp_add", "fp_abs", "2 designs into"]):
        assert line.startswith("[") and " s] " + label in line and line.endswith(" s)")
    assert sorted(p.name for p in tmp_path.glob("*.v")) == ["fp_abs.v", "fp_add.v"]
    assert (tmp_path / "fp_add.json").exists() and (tmp_path / "fp_abs.json").exists()


def test_progress_step_and_collect(monkeypatch, capsys):
    from concurrent.futures import ThreadPoolExecutor

    from hw import progress
    monkeypatch.setenv("PROGRESS", "1")
    with progress.step("work", start=True):
        pass
    with ThreadPoolExecutor(2) as pool:
        out = progress.collect({"a": pool.submit(int, "1"), "b": pool.submit(int, "2")}, "jobs")
    assert out == {"a": 1, "b": 2} and list(out) == ["a", "b"]
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].endswith("] work ...") and lines[1].endswith(" s)") and "] work (" in lines[1]
    assert lines[2].endswith("] 2 jobs running")
    assert sorted(li.split("] ")[1].split()[0] for li in lines[3:]) == ["a", "b"]
    assert all(re.match(r"\[ *\d+\.\d s\] ", li) for li in lines)
    monkeypatch.setenv("PROGRESS", "0")
    with progress.step("quiet"):
        pass
    assert capsys.readouterr().err == ""
