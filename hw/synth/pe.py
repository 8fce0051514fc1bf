"""The quick synthesis target: the SAT PE (uMAC) alone, exactly as the PAPER core
instantiates it (``SatCore(PAPER).array.pe``, default latencies), through both flows.

- xcup: :func:`hw.synth.flow.synth_xilinx` (ABC9; classic ABC if ABC9 fails, recorded);
- ECP5: :func:`hw.synth.flow.synth_ecp5` (resources of the PE; nextpnr-ecp5 Fmax of the PE
  with registered ports).

Command line: ``python -m hw.synth.pe [-o build/reports]`` (``make synth-pe``) writes
``synth_pe.json`` and ``synth_pe.md``; work directory ``build/synth/pe/``. The JSON's flat
keys (``xcup_lut``, ``xcup_ff``, ``xcup_dsp``, ``ecp5_lut4``, ``ecp5_ff``,
``ecp5_mult18x18d``, ``ecp5_fmax_mhz``, ...) are listed in :data:`KEYS`.
"""

import argparse
import resource
import sys
import time
from pathlib import Path

from .flow import SynthError, synth_ecp5, synth_ecp5_abc, synth_xilinx, synth_xilinx_abc
from .report import command, git_info, md_table, tools_info, write_report

__all__ = ["KEYS", "VARIANT_KEYS", "DSP_LATENCIES", "TARGETS", "paper_pe", "with_fallback",
           "run_flows", "run_variants", "variant_pes", "report", "markdown", "main"]

#: The report's flat keys of the PAPER PE (besides ``info``, ``pe``, ``targets``, ``xcup``,
#: ``ecp5``, ``variants``).
KEYS = ["xcup_lut", "xcup_ff", "xcup_dsp", "xcup_carry4", "ecp5_lut4", "ecp5_ccu2c",
        "ecp5_ff", "ecp5_mult18x18d", "ecp5_fmax_mhz"]
#: Flat keys of the variants: the same PE with ``ftz=True`` (xcup) and the ECP5 variant
#: (:data:`DSP_LATENCIES`, ``dsp="ecp5"``).
VARIANT_KEYS = ["xcup_ftz_lut", "xcup_ftz_ff", "ecp5_dsp_fmax_mhz", "ecp5_dsp_lut4",
                "ecp5_dsp_ff"]
#: ``(mul_latency, add_latency)`` of the ECP5 variant: the PE with its product in an
#: instantiated MULT18X18D holding two of its registers and a fabric register behind the
#: activation select (``dsp="ecp5"``), as in the 4x4 array of ``make synth-cores``
#: (:data:`hw.synth.cores.ARRAY_DSP_LATENCIES`). At 4 + 8 the select drives the multiplier
#: directly, and that route alone swung the PE between 141 and 158 MHz with placement.
DSP_LATENCIES = (5, 8)
#: Issue 13's targets for the PE: xcup LUTs and DSP48E2s at most, ECP5 Fmax at least.
TARGETS = {"xcup_lut": 450, "xcup_dsp": 1, "ecp5_fmax_mhz": 150}


def paper_pe():
    """The PE of the PAPER SAT core (``SatCore(PAPER).array.pe``), default latencies."""
    from ..hier import part
    from ..sat.config import PAPER
    from ..sat.core import SatCore
    return part(SatCore, PAPER).array.pe


def _cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def with_fallback(abc9, abc, text, top, workdir):
    """Run ``abc9`` (an ABC9 flow); if the tool fails, ``abc`` (the classic-ABC flow).
    Adds the mapper used, the wall seconds and the tools' CPU seconds (``cpu_s``)."""
    start, cpu = time.monotonic(), _cpu()
    try:
        result, mapper = abc9(text, top, workdir), "abc9"
    except SynthError:
        result, mapper = abc(text, top, Path(workdir) / "abc"), "classic abc (abc9 failed)"
    return result | {"mapper": mapper, "seconds": round(time.monotonic() - start, 1),
                     "cpu_s": round(_cpu() - cpu, 1)}


def run_flows(component, top, workdir):
    """xcup and ECP5 (with nextpnr) of ``component`` as module ``top``: ``{xcup, ecp5}``."""
    from ..generate import to_verilog
    text = to_verilog(component, top)
    workdir = Path(workdir)
    return {"xcup": with_fallback(synth_xilinx, synth_xilinx_abc, text, top, workdir / "xcup"),
            "ecp5": with_fallback(synth_ecp5, synth_ecp5_abc, text, top, workdir / "ecp5")}


def variant_pes(pe):
    """``{"ftz": PE with ftz=True, "dsp": PE at DSP_LATENCIES with dsp="ecp5"}``."""
    from ..sat.stce import SystolicPE
    common = dict(group=pe.group, in_fmt=pe.in_fmt, acc_fmt=pe.acc_fmt)
    m, a = DSP_LATENCIES
    return {"ftz": SystolicPE(**common, mul_latency=pe.mul_latency, add_latency=pe.add_latency,
                              ftz=True),
            "dsp": SystolicPE(**common, mul_latency=m, add_latency=a, dsp="ecp5")}


def run_variants(pe, root):
    """xcup of the ``ftz`` variant, ECP5 (with nextpnr) of the ``dsp`` variant."""
    from ..generate import to_verilog
    out, variants = {}, variant_pes(pe)
    for key, flow, fallback in (("ftz", synth_xilinx, synth_xilinx_abc),
                                ("dsp", synth_ecp5, synth_ecp5_abc)):
        v = variants[key]
        out[key] = {"module": v.module_name, **with_fallback(
            flow, fallback, to_verilog(v, v.module_name), v.module_name, root / key)}
    return out


def flat_keys(x, e):
    """The report's flat keys from an xcup and an ECP5 result."""
    return {"xcup_lut": x["luts"], "xcup_ff": x["ffs"], "xcup_dsp": x["dsps"],
            "xcup_carry4": x["carry4"], "ecp5_lut4": e["luts"], "ecp5_ccu2c": e["ccu2c"],
            "ecp5_ff": e["ffs"], "ecp5_mult18x18d": e["dsps"], "ecp5_fmax_mhz": e["fmax_mhz"]}


def targets(keys):
    """Each of :data:`TARGETS` with the measured value and whether it is met."""
    out = {}
    for key, limit in TARGETS.items():
        value = keys[key]
        met = None if value is None else (value >= limit if key.endswith("mhz")
                                          else value <= limit)
        out[key] = {"target": limit, "measured": value, "met": met}
    return out


def report(out_dir, root="build/synth/pe"):
    """Synthesize the PAPER PE; write ``out_dir/synth_pe.{json,md}``; return the data."""
    start = time.monotonic()
    pe = paper_pe()
    top = pe.module_name
    flows = run_flows(pe, top, root)
    keys = flat_keys(flows["xcup"], flows["ecp5"])
    variants = run_variants(pe, Path(root))
    keys.update({"xcup_ftz_lut": variants["ftz"]["luts"], "xcup_ftz_ff": variants["ftz"]["ffs"],
                 "ecp5_dsp_fmax_mhz": variants["dsp"]["fmax_mhz"],
                 "ecp5_dsp_lut4": variants["dsp"]["luts"], "ecp5_dsp_ff": variants["dsp"]["ffs"]})
    info = {**tools_info(), **git_info(), "seconds": round(time.monotonic() - start, 1)}
    data = {**keys, "info": info,
            "pe": {"module": top, "mul_latency": pe.mul_latency, "add_latency": pe.add_latency,
                   "group": pe.group, "in_fmt": pe.in_fmt.name, "acc_fmt": pe.acc_fmt.name},
            "targets": targets(keys),
            "variants": {k: {kk: vv for kk, vv in v.items() if kk != "cells"}
                         for k, v in variants.items()},
            **{fam: {k: v for k, v in flows[fam].items() if k != "cells"} | {
                "cells": flows[fam]["cells"]} for fam in ("xcup", "ecp5")}}
    write_report(out_dir, "synth_pe", data, markdown(data))
    return data


def markdown(data):
    """The report as markdown."""
    pe, info = data["pe"], data["info"]
    rows = [[k, data[k]] for k in KEYS + VARIANT_KEYS]
    lines = [f"# SAT PE synthesis ({info['date']})", "",
             f"`{pe['module']}`: the uMAC of the PAPER SAT core (bus of {pe['group']}, "
             f"{pe['in_fmt']} x {pe['in_fmt']} + {pe['acc_fmt']}, {pe['mul_latency']} + "
             f"{pe['add_latency']} stages). Commit {info['commit']}"
             + (" with uncommitted changes under hw/" if info["dirty"] else "") + ".", "",
             *md_table(["key", "value"], rows), "",
             *md_table(["target", "limit", "measured", "met"],
                       [[k, t["target"], t["measured"], t["met"]]
                        for k, t in data["targets"].items()]), "",
             f"Variants: `{data['variants']['ftz']['module']}` (flush-to-zero) xcup "
             f"{data['xcup_ftz_lut']} LUT, {data['xcup_ftz_ff']} FF; "
             f"`{data['variants']['dsp']['module']}` (product in an instantiated MULT18X18D "
             f"with its input and output registers) ECP5 {data['ecp5_dsp_lut4']} LUT4, "
             f"{data['ecp5_dsp_ff']} FF, **{data['ecp5_dsp_fmax_mhz']} MHz**.", "",
             f"LUT mappers: xcup {data['xcup']['mapper']}, ECP5 {data['ecp5']['mapper']}. "
             f"Seconds (wall / tools' CPU): xcup {data['xcup']['seconds']} / "
             f"{data['xcup']['cpu_s']}, ECP5 + nextpnr {data['ecp5']['seconds']} / "
             f"{data['ecp5']['cpu_s']}; total wall {info['seconds']}.", "",
             f"Tools: {info['yosys']}; {info['nextpnr']}.", ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m hw.synth.pe",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("-o", "--output", default="build/reports", help="report directory")
    args = parser.parse_args(argv)
    return command(
        lambda: report(args.output),
        lambda d: (f"wrote {args.output}/synth_pe.json and .md ({d['info']['seconds']} s): "
                   f"xcup {d['xcup_lut']} LUT {d['xcup_ff']} FF {d['xcup_dsp']} DSP48E2; "
                   f"ECP5 {d['ecp5_fmax_mhz']} MHz; ftz xcup {d['xcup_ftz_lut']} LUT; "
                   f"dsp='ecp5' {DSP_LATENCIES} ECP5 {d['ecp5_dsp_fmax_mhz']} MHz"),
        lambda d: "")


if __name__ == "__main__":
    sys.exit(main())
