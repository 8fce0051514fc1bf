"""SparTANN synthesis report: Yosys cell counts of the core and of its sparsity-support
blocks (ECP5 and Xilinx UltraScale+), ECP5 Fmax (nextpnr) of one MAC lane and of a small core,
and the latch check of the default core.

Command line: ``python -m hw.synth.spartann [-o build/reports] [--skip-pnr] [--skip-paper]``
writes ``synth_spartann.md`` and ``synth_spartann.json``; work directories are
``build/synth/spartann/<label>/``. The core is synthesized per module: every
Verilog module it emits (core glue + buffers, scheduler, MAC lanes, one lane, threshold lanes,
DTS) is synthesized flat on its own with the others as black boxes; the core's totals are the
instance-weighted sums (the lane counted T times). The encoder
and the decoder, which the core does not contain, are synthesized stand-alone.
"""

import argparse
import json
import sys
import time
from dataclasses import replace
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from amaranth.hdl import Module, Shape
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..checks import latch_check
from ..fp.muladd import FloatMulAdd
from ..generate import to_verilog
from ..hier import part
from ..progress import collect
from ..spartann.config import PAPER
from ..spartann.core import SparTANNCore
from ..spartann.decoder import IndexDecoder
from ..spartann.encoder import SparsifierEncoder
from ..spartann.isa import col_layout, dense_layout, entry_layout
from .flow import synth_ecp5
from .modules import (ECP5_TYPES, LUT_EQ, XCUP_TYPES, module_totals, per_module, summarize,
                      yosys_cells)
from .report import command, md_table, tools_info, write_report

__all__ = ["ECP5_TYPES", "XCUP_TYPES", "LUT_EQ", "yosys_cells", "module_totals", "summarize",
           "core_blocks", "standalone_blocks", "report", "main"]

#: Sparsity-support blocks of the core (Verilog module prefix -> description).
SPARSE_BLOCKS = {"spartann_scheduler": "scheduler (BP column contexts, S0/S1, index decode)",
                 "spartann_threshold": "threshold lanes + statistics (sparsifier)",
                 "spartann_dts": "DTS unit"}


def _find(modules, prefix):
    names = [n for n in modules if n.startswith(prefix)]
    return names[0] if names else None


def core_blocks(text, top, workdir, family):
    """Synthesis of every Verilog module of the core on its own (the other modules black
    boxes, :func:`hw.synth.modules.per_module`): per-block summaries including submodules,
    the core's own cells (glue and buffers) and the core's total (instance-weighted sum)."""
    run = per_module(text, top, workdir, family)
    modules = run["modules"]
    blocks = {"core (total)": summarize(run["totals"][top], family)}
    for prefix in ("spartann_lanes", *SPARSE_BLOCKS):
        name = _find(modules, prefix)
        if name is not None:
            blocks[prefix] = summarize(run["totals"][name], family)
    own = {c: n for c, n in modules[top].items() if c not in modules}
    blocks["core glue + buffers"] = summarize(own, family)
    lane = _find(modules, "spartann_axpy")
    if lane is not None:
        blocks["one MAC lane"] = summarize(run["totals"][lane], family)
    return {"blocks": blocks, "seconds": run["seconds"], "commands": run["commands"],
            "memories": sorted(m for ms in run["memories"].values() for m in ms),
            "mappers": run["mappers"]}


def standalone_blocks(params):
    """``(label, component, top)`` of the sparsity blocks outside the core."""
    rows = max(params.b_rows, 2)
    row_bits = (rows - 1).bit_length()
    return [("encoder", SparsifierEncoder(params.fmt, params.idx_bits, max_rows=rows),
             "spartann_encoder"),
            ("decoder", IndexDecoder(params.fmt, params.idx_bits, row_bits),
             "spartann_decoder")]


class BufferModel(wiring.Component):
    """One core buffer on its own: a ``Memory`` of ``width`` x ``depth`` with the core's
    ports (one sync read port with enable, one write port), to see how it maps."""

    def __init__(self, width, depth):
        self.width, self.depth = width, depth
        super().__init__({"raddr": In(range(depth)), "ren": In(1), "rdata": Out(width),
                          "waddr": In(range(depth)), "wen": In(1), "wdata": In(width)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = Memory(shape=self.width, depth=self.depth, init=[])
        rd, wr = mem.read_port(), mem.write_port()
        m.d.comb += [rd.addr.eq(self.raddr), rd.en.eq(self.ren), self.rdata.eq(rd.data),
                     wr.addr.eq(self.waddr), wr.en.eq(self.wen), wr.data.eq(self.wdata)]
        return m


def buffer_blocks(params):
    """``(label, BufferModel, top, sparse?)`` of every buffer of the core with ``params``."""
    fmt = params.format
    dense = Shape.cast(dense_layout(params.T, fmt)).width
    spec = [("buf_a", dense, params.a_rows, False), ("buf_b", dense, params.b_rows, False),
            ("buf_out", dense, params.out_rows, False),
            # Double (two halves, one memory each in the core): rows of sparse_beat entries.
            ("buf_sparse", Shape.cast(entry_layout(fmt, params.idx_bits)).width
             * params.sparse_beat, 2 * -(-params.sparse_depth // params.sparse_beat), True),
            ("col_desc", Shape.cast(col_layout(params.a_rows, params.out_rows,
                                               params.sparse_depth)).width,
             2 * params.max_cols, True)]
    return [(label, part(BufferModel, width, depth), f"spartann_{label}", sparse)
            for label, width, depth, sparse in spec]


def _cells_both(component, top, root):
    text = to_verilog(component, top)
    return {fam: summarize(r["cells"], fam) | {"seconds": r["seconds"]}
            for fam in ("ecp5", "xcup")
            for r in [yosys_cells(text, top, Path(root) / fam, fam)]}


def _share(part, whole, keys):
    return {k: (round(100 * part[k] / whole[k], 2) if whole.get(k) else None) for k in keys}


ECP5_KEYS = ["lut_eq", "LUT4", "CCU2C", "FF", "MULT18X18D", "DP16KD", "DPR16X4"]
XCUP_KEYS = ["LUT", "FF", "CARRY4", "DSP48E2", "RAMB36", "RAMB18", "LUTRAM"]


def sparsity_share(entry, standalone):
    """Sparsity support of one core run (``entry``: ``{ecp5, xcup}`` of :func:`core_blocks`)
    with the sparse buffers (Sparse Buf + column tables) from ``standalone``: per family the
    parts, their sum, the core's total and the sum's share of it (%) per resource type."""
    out = {}
    for fam, keys in (("ecp5", ECP5_KEYS), ("xcup", XCUP_KEYS)):
        blocks = entry[fam]["blocks"]
        parts = {SPARSE_BLOCKS[p]: blocks[p] for p in SPARSE_BLOCKS if p in blocks}
        for label, r in standalone.items():
            if r.get("sparse"):
                parts[f"{label} ({r['width']} x {r['depth']})"] = r[fam]
        logic = {k: sum(v.get(k, 0) for n, v in parts.items() if n in SPARSE_BLOCKS.values())
                 for k in keys}
        total = {k: sum(v.get(k, 0) for v in parts.values()) for k in keys}
        core = blocks["core (total)"]
        out[fam] = {"parts": parts, "logic": logic, "total": total, "core": core,
                    "logic_share_pct": _share(logic, core, keys),
                    "share_pct": _share(total, core, keys)}
    return out


def _cores(root, paper):
    """Per-module cell counts (both families) of the PAPER core (T=32) or, with
    ``paper=False``, of the T=4 core with PAPER buffers."""
    core = SparTANNCore("paper", T=None if paper else 4)
    label = "paper" if paper else "paper_T4"
    text = to_verilog(core, "spartann_core")
    entry = {"params": core.params.as_dict()}
    for fam in ("ecp5", "xcup"):
        entry[fam] = core_blocks(text, "spartann_core", Path(root) / label / fam, fam)
    return {label: entry}


def _latches(root):
    """Latch check (Yosys ``proc; opt``) of the default (PAPER) core: ``(cells, seconds)``."""
    t0 = time.monotonic()
    text = to_verilog(SparTANNCore("paper"), "spartann_core")
    cells = latch_check(text, "spartann_core", Path(root) / "paper_latch")
    return {"latches": cells, "seconds": round(time.monotonic() - t0, 1)}


def _fmax(root, small_T):
    """nextpnr Fmax of one FP32 lane (latency 8 and 23) and of a small core."""
    fmax = {}
    for lat in (8, 23):
        top = f"axpy_fp32_l{lat}"
        t0 = time.monotonic()
        r = synth_ecp5(to_verilog(FloatMulAdd("fp32", "fp32", latency=lat), top), top,
                       Path(root) / f"pnr_{top}")
        fmax[f"lane latency {lat}"] = _pnr_row(r, t0)
    core = SparTANNCore("small", T=small_T, mac_latency=8)
    t0 = time.monotonic()
    r = synth_ecp5(to_verilog(core, "spartann_core"), "spartann_core",
                   Path(root) / f"pnr_core_T{small_T}")
    fmax[f"core SMALL T={small_T} mac_latency=8"] = _pnr_row(r, t0) | {
        "params": core.params.as_dict()}
    return fmax


def _standalone(root, paper):
    """Stand-alone encoder, decoder and every buffer of the measured core."""
    params = PAPER if paper else replace(PAPER, T=4)
    out = {label: _cells_both(comp, top, Path(root) / label)
           for label, comp, top in standalone_blocks(PAPER)}
    for label, comp, top, sparse in buffer_blocks(params):
        out[label] = _cells_both(comp, top, Path(root) / "buffers" / label) | {
            "sparse": sparse, "width": comp.width, "depth": comp.depth}
    return out


def report(out_dir, root="build/synth/spartann", *, pnr=True, paper=True, small_T=2,
           workers=2):
    """Run every measurement (``workers`` processes), write ``out_dir/synth_spartann.{json,md}``;
    return the result dict."""
    start = time.monotonic()
    result = {"info": tools_info()}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        jobs = {"cores": pool.submit(_cores, root, paper),
                "latch_check": pool.submit(_latches, root),
                "standalone": pool.submit(_standalone, root, paper)}
        if pnr:
            jobs["fmax"] = pool.submit(_fmax, root, small_T)
        result.update(collect(jobs, "synthesis jobs"))
        for entry in result["cores"].values():
            entry["sparsity"] = sparsity_share(entry, result["standalone"])
    result["info"]["seconds"] = round(time.monotonic() - start, 1)
    write_report(out_dir, "synth_spartann", result, markdown(result), ensure_ascii=True)
    return result


def _pnr_row(r, t0):
    return {k: r[k] for k in ("luts", "ccu2c", "ffs", "dsps", "fmax_mhz", "critical_path")} | {
        "seconds": round(time.monotonic() - t0, 1)}


HEAD = ["block", "ECP5 LUT-eq", "LUT4", "CCU2C", "FF", "MULT18", "DP16KD", "DPR16X4",
        "xcup LUT", "FF", "CARRY4", "DSP48E2", "RAMB36", "RAMB18", "LUTRAM"]


def _row(label, e, x):
    return [label, *(e.get(k, "") for k in ECP5_KEYS), *(x.get(k, "") for k in XCUP_KEYS)]


def markdown(result):
    """The report as markdown."""
    lines = [f"# SparTANN synthesis ({result['info']['date']})", ""]
    for label, entry in result["cores"].items():
        p = entry["params"]
        lines += [f"## Core `{label}` (T={p['T']}, {p['fmt']}, mac_latency={p['mac_latency']}, "
                  f"a/b/out rows {p['a_rows']}/{p['b_rows']}/{p['out_rows']}, sparse_depth "
                  f"{p['sparse_depth']}, max_cols {p['max_cols']})", "",
                  "Every module synthesized on its own, the others black boxes; totals are "
                  "instance-weighted sums. Yosys seconds per module: ECP5 "
                  + ", ".join(f"{k.split('_0')[0]} {v}" for k, v in entry["ecp5"]["seconds"].items())
                  + "; xcup "
                  + ", ".join(f"{k.split('_0')[0]} {v}" for k, v in entry["xcup"]["seconds"].items())
                  + ".", ""]
        rows = [_row(block, entry["ecp5"]["blocks"][block],
                     entry["xcup"]["blocks"].get(block, {}))
                for block in entry["ecp5"]["blocks"]]
        lines += md_table(HEAD, rows)
        for fam in ("ecp5", "xcup"):
            odd = {k: v for k, v in entry[fam]["mappers"].items() if not v.startswith("abc9")}
            if odd:
                lines += ["", f"{fam} LUT mapping other than abc9: "
                          + ", ".join(f"`{k}`: {v}" for k, v in odd.items()) + "."]
        lines += ["", "Memory mapping (Yosys `memory_libmap`, ECP5): "
                  + "; ".join(sorted(set(entry["ecp5"]["memories"]))) + ".", ""]
        if "sparsity" in entry:
            sp = entry["sparsity"]
            lines += [f"### Sparsity support of `{label}`", ""]
            rows = [_row(name, part, sp["xcup"]["parts"].get(name, {}))
                    for name, part in sp["ecp5"]["parts"].items()]
            rows.append(_row("**sparsity logic** (scheduler + threshold + DTS)",
                             sp["ecp5"]["logic"], sp["xcup"]["logic"]))
            rows.append(_row("**sparsity total** (logic + sparse buffers)",
                             sp["ecp5"]["total"], sp["xcup"]["total"]))
            rows.append(_row("whole core", sp["ecp5"]["core"], sp["xcup"]["core"]))
            rows.append(_row("logic share %", sp["ecp5"]["logic_share_pct"],
                             sp["xcup"]["logic_share_pct"]))
            rows.append(_row("total share %", sp["ecp5"]["share_pct"], sp["xcup"]["share_pct"]))
            lines += md_table(HEAD, rows) + [""]
    lines += ["## Stand-alone blocks and buffers (flattened, each on its own)", ""]
    rows = [_row(label + (f" ({r['width']} x {r['depth']})" if "width" in r else ""),
                 r["ecp5"], r["xcup"]) for label, r in result["standalone"].items()]
    lines += md_table(HEAD, rows)
    if "fmax" in result:
        lines += ["", "## ECP5 Fmax (nextpnr-ecp5 --85k, out of context, registered ports)", ""]
        rows = []
        for label, r in result["fmax"].items():
            cp = r["critical_path"] or {}
            rows.append([label, r["luts"], r["ccu2c"], r["ffs"], r["dsps"], r["fmax_mhz"],
                         f"`{cp.get('from')}` → `{cp.get('to')}` {cp.get('total_ns')} ns "
                         f"({cp.get('logic_ns')} logic + {cp.get('routing_ns')} routing)",
                         r["seconds"]])
        lines += md_table(["design", "LUT4", "CCU2C", "FF", "DSP", "Fmax MHz", "critical path",
                         "s"], rows)
    lc = result.get("latch_check")
    if lc:
        lines += ["", "Latch check of the PAPER core (Yosys `proc; opt`): "
                  + ("no latches" if not lc["latches"] else f"**{len(lc['latches'])} latches**")
                  + f" ({lc['seconds']} s)."]
    lines += ["", f"Tools: {result['info']['yosys']}; {result['info']['nextpnr']}. "
              f"Wall time {result['info']['seconds']} s.", "",
              f"LUT-eq = LUT4 + {LUT_EQ['CCU2C']}·CCU2C + {LUT_EQ['DPR16X4']}·TRELLIS_DPR16X4 "
              "(ECP5 LUT sites); xcup LUTRAM = RAM32M/RAM64M/RAM*X1D and SRL16E/SRLC32E cells.", ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m hw.synth.spartann",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("-o", "--output", default="build/reports", help="report directory")
    parser.add_argument("--skip-pnr", action="store_true", help="no nextpnr (Fmax) runs")
    parser.add_argument("--skip-paper", action="store_true",
                        help="only the T=4 core with PAPER buffers (not T=32)")
    parser.add_argument("--render", metavar="JSON",
                        help="only rewrite the markdown from an existing report JSON")
    args = parser.parse_args(argv)
    if args.render:
        result = json.loads(Path(args.render).read_text())
        for entry in result["cores"].values():
            entry["sparsity"] = sparsity_share(entry, result["standalone"])
        Path(args.render).write_text(json.dumps(result, indent=2) + "\n")
        Path(args.render).with_suffix(".md").write_text(markdown(result))
        return 0
    return command(
        lambda: report(args.output, pnr=not args.skip_pnr, paper=not args.skip_paper),
        lambda done: f"wrote {args.output}/synth_spartann.md and .json "
                     f"({done['info']['seconds']} s)",
        lambda done: (f"the paper core ({len(done['latch_check']['latches'])} cells)"
                      if done["latch_check"]["latches"] else ""))


if __name__ == "__main__":
    sys.exit(main())
