"""Synthesis of the floating-point units: latch check, ECP5 (Yosys + nextpnr) and Xilinx
UltraScale+ (Yosys) resource and timing reports.

Command line: ``python -m hw.synth.fp [--quick] [-o build/reports]`` writes ``synth_fp.json``
and ``synth_fp.md``; each design runs in its own work directory ``build/synth/<label>/``.
``python -m hw.synth.fp --sweep`` writes ``synth_fp_sweep.{json,md}``: the area-latency-Fmax
table (:data:`SWEEP`: FP32 add, FP32 mul, FP16 and BF16 MAC, the FP32 ``alpha*x+y`` lane,
conversions, a few latencies each, the multipliers also with ``dsp="ecp5"``: instantiated
MULT18X18D cells with their registers), so a user can pick a latency; ``--only A,B`` runs
the sweep rows whose label starts with one of the given prefixes.
"""

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from ..checks import latch_check
from ..progress import note
from .flow import synth_ecp5, synth_xilinx
from .report import command, fmax_text, git_info, md_table, tools_info, write_report

__all__ = ["synth_design", "report", "markdown", "sweep_markdown", "DEFAULT_DESIGNS",
           "QUICK_DESIGNS", "SWEEP", "sweep_designs", "TARGET_MHZ", "main"]

#: Fmax (MHz) a unit must reach on ECP5 to count as "meets" in the report (issue 13: FP32
#: add, FP32 mul and the FP16 MAC at some latency).
TARGET_MHZ = 200

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
    ("fp_mul-fp32-dsp", "fp_mul", {"fmt": "fp32", "dsp": "ecp5"}),
    ("fp_mac-fp16-fp32-dsp", "fp_mac", {"ab_fmt": "fp16", "c_fmt": "fp32", "dsp": "ecp5"}),
]
QUICK_DESIGNS = DEFAULT_DESIGNS[:3]
#: The area-latency-Fmax sweep: ``(label, design, params, latencies)``; ``None`` is the
#: unit's default latency.
SWEEP = [
    ("fp_add-fp32", "fp_add", {"fmt": "fp32"}, [4, 8, None]),
    ("fp_mul-fp32", "fp_mul", {"fmt": "fp32"}, [4, None]),
    ("fp_mac-fp16-fp32", "fp_mac", {"ab_fmt": "fp16", "c_fmt": "fp32"}, [8, 16, None]),
    ("fp_mac-bf16-fp32", "fp_mac", {"ab_fmt": "bf16", "c_fmt": "fp32"}, [8, None]),
    ("fp_mul-fp32-dsp", "fp_mul", {"fmt": "fp32", "dsp": "ecp5"}, [4, 8, None]),
    ("fp_mul-fp16-dsp", "fp_mul", {"fmt": "fp16", "dsp": "ecp5"}, [None]),
    ("fp_mac-fp16-fp32-dsp", "fp_mac", {"ab_fmt": "fp16", "c_fmt": "fp32", "dsp": "ecp5"},
     [8, 12, 16, None]),
    ("fp_axpy-fp32-dsp", "fp_axpy", {"fmt": "fp32", "dsp": "ecp5"}, [8, 12, 16, None]),
    ("fp_convert-fp16-fp32", "fp_convert", {"in_fmt": "fp16", "out_fmt": "fp32"}, [2, None]),
    ("fp_convert-fp32-fp16", "fp_convert", {"in_fmt": "fp32", "out_fmt": "fp16"}, [2, None]),
]


def sweep_designs(sweep=SWEEP, only=None):
    """:data:`SWEEP` as ``(label, design, params)`` runs, one per latency: the shortest
    latency of every unit first, the defaults (also in ``synth_fp``) last. ``only``: label
    prefixes to keep (e.g. ``["fp_mul-fp32-dsp"]``)."""
    runs = [(f"{label}-l{'default' if lat is None else lat}", design,
             params if lat is None else {**params, "latency": lat}, rank)
            for label, design, params, lats in sweep for rank, lat in enumerate(lats)]
    if only:
        runs = [r for r in runs if any(r[0].startswith(prefix) for prefix in only)]
        if not runs:
            raise ValueError(f"--only {','.join(only)} matches no sweep label; labels: "
                             + ", ".join(label for label, *_ in sweep))
    runs.sort(key=lambda r: (r[2].get("latency") is None, r[3]))
    return [r[:3] for r in runs]


def _format_text(params):
    """Human-readable number formats of a unit from its parameters (and its hard
    multiplier when instantiated)."""
    dsp = params.get("dsp")
    if dsp not in (None, "none"):
        return f"{_format_text({**params, 'dsp': None})}, {dsp.upper()} MULT18X18D"
    if "ab_fmt" in params:
        return f"{params['ab_fmt']}×{params['ab_fmt']}+{params['c_fmt']}"
    if "in_fmt" in params:
        return f"{params['in_fmt']}→{params['out_fmt']}"
    if params.get("out_fmt") not in (None, params["fmt"]):
        return f"{params['fmt']}→{params['out_fmt']}"
    return params["fmt"]


def synth_design(label, design, params, root="build/synth"):
    """Build one design, run the latch check and both flows in ``root/label``; return a dict."""
    from ..designs import build
    from ..generate import to_verilog

    component, used = build(design, **params)
    text = to_verilog(component, design)
    workdir = Path(root) / label
    start = time.monotonic()
    result = {"label": label, "design": design, "params": used, "format": _format_text(used),
              "latency": component.latency, "latches": latch_check(text, design, workdir),
              "ecp5": synth_ecp5(text, design, workdir),
              # an ECP5 cell instantiated: no Xilinx run
              "xcup": (None if used.get("dsp") == "ecp5" else
                       synth_xilinx(text, design, workdir))}
    result["seconds"] = round(time.monotonic() - start, 1)
    return result


def markdown(results, info):
    """The report as a markdown document."""
    head = ["unit", "format", "latency", "ECP5 LUT4", "CCU2C", "FF", "DSP", "Fmax MHz",
            f"≥ {TARGET_MHZ} MHz?", "xcup LUT", "FF", "DSP48E2", "CARRY8", "CARRY4"]
    rows = []
    for r in results:
        e, x = r["ecp5"], r["xcup"] or _NO_XCUP
        fmax = e["fmax_mhz"]
        rows.append([r["design"], r["format"], r["latency"], e["luts"], e["ccu2c"], e["ffs"],
                     e["dsps"], fmax_text(fmax),
                     "—" if fmax is None else ("yes" if fmax >= TARGET_MHZ else "**no**"),
                     x["luts"], x["ffs"], x["dsps"], x["carry8"], x["carry4"]])
    lines = [f"# Floating-point unit synthesis ({info['date']})", "", *md_table(head, rows)]
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


def sweep_markdown(results, info):
    """The sweep as markdown: one row per unit and latency, the default marked."""
    head = ["unit", "format", "latency", "ECP5 LUT4", "CCU2C", "FF", "MULT18", "Fmax MHz",
            "xcup LUT", "FF", "DSP48E2"]
    rows = []
    for r in results:
        e, x = r["ecp5"], r["xcup"] or _NO_XCUP
        default = r["label"].endswith("-ldefault")
        rows.append([r["design"], r["format"],
                     f"**{r['latency']}** (default)" if default else r["latency"],
                     e["luts"], e["ccu2c"], e["ffs"], e["dsps"], fmax_text(e["fmax_mhz"]),
                     x["luts"], x["ffs"], x["dsps"]])
    return "\n".join([f"# Floating-point units: area, latency, Fmax ({info['date']})", "",
                      *md_table(head, rows), "",
                      f"Flows as in `synth_fp.md` (ECP5: Yosys `synth_ecp5` + nextpnr-ecp5 "
                      f"85k out of context, registered ports; xcup: `synth_xilinx -family "
                      f"xcup`). Commit {info.get('commit', '?')}. {info['yosys']}; "
                      f"{info['nextpnr']}. Wall time {info['seconds']} s."
                      + (f" **Partial**: still running {', '.join(info['pending'])}."
                         if info.get("pending") else ""), ""])


def report(designs, out_dir, root="build/synth", workers=2, stem="synth_fp"):
    """Run every ``(label, design_key, params)`` of ``designs`` through both flows (in a
    process pool) and write ``out_dir/<stem>.json`` and ``out_dir/<stem>.md``. The sweep
    (``stem`` ending in ``sweep``) rewrites its report as each design finishes."""
    start = time.monotonic()
    if len({label for label, _, _ in designs}) != len(designs):
        raise ValueError("design labels must be unique")
    partial = stem.endswith("sweep")
    order = [label for label, _, _ in designs]
    commit = git_info()                                 # the code measured: as at the start
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(synth_design, label, design, params, root): label
                   for label, design, params in designs}
        found = {}
        for future in as_completed(futures):
            found[futures[future]] = future.result()
            note(f"{futures[future]} done ({len(found)} of {len(futures)})")
            if partial and len(found) < len(futures):
                _write(out_dir, stem, [found[k] for k in order if k in found], start,
                       [k for k in order if k not in found], commit)
    results = [found[k] for k in order]
    return _write(out_dir, stem, results, start, [], commit)


#: The xcup columns of a unit that instantiates an ECP5 cell (not synthesized for xcup).
_NO_XCUP = {k: "—" for k in ("luts", "ffs", "dsps", "carry8", "carry4")}


def _write(out_dir, stem, results, start, pending, commit):
    first = next((r for r in results if r["xcup"]), results[0])
    info = {**tools_info(),
            "ecp5_commands": [c.replace(first["design"], "TOP") for c in
                              first["ecp5"]["commands"]],
            "xcup_commands": [c.replace(first["design"], "TOP") for c in
                              (first["xcup"] or {"commands": [""]})["commands"]],
            "seconds": round(time.monotonic() - start, 1), **commit, "pending": pending}
    write_report(out_dir, stem, {"info": info, "results": results},
                 (sweep_markdown if stem.endswith("sweep") else markdown)(results, info))
    return results, info


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m hw.synth.fp",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="only fp_add, fp_mul and fp_mac")
    parser.add_argument("--sweep", action="store_true",
                        help="the area-latency-Fmax table (SWEEP) into synth_fp_sweep.*")
    parser.add_argument("--only", type=lambda text: text.split(","),
                        help="with --sweep: only the rows whose label starts with one of these "
                             "comma-separated prefixes (e.g. fp_mul-fp32-dsp,fp_axpy)")
    parser.add_argument("-o", "--output", default="build/reports", help="report directory")
    parser.add_argument("-j", "--workers", type=int, default=2, help="parallel Yosys runs")
    args = parser.parse_args(argv)
    stem = "synth_fp_sweep" if args.sweep else "synth_fp"
    designs = (sweep_designs(only=args.only) if args.sweep else
               QUICK_DESIGNS if args.quick else DEFAULT_DESIGNS)
    return command(
        lambda: report(designs, args.output, workers=args.workers, stem=stem),
        lambda done: f"wrote {args.output}/{stem}.md and {stem}.json "
                     f"({done[1]['seconds']} s)",
        lambda done: ", ".join(r["label"] for r in done[0] if r["latches"]))


if __name__ == "__main__":
    sys.exit(main())
