"""Block-RAM mapping of the SAT core's buffers on the XCVU9P family (``synth_xilinx -family
xcup``): each buffer shape (:class:`hw.sat.buffer.SatBuffer`, one Verilog module per shape)
synthesized once, its RAMB36E2 / RAMB18E2 / URAM288 / LUTRAM / FF cells counted and
multiplied by its instances, against the device's 2,160 RAMB36 (75.9 Mbit) and 960 URAM288
(270 Mbit)::

    python -m hw.synth.buffers [--preset paper] [--uram] [-o build/reports]

writes ``sat_buffers[_uram].json`` and ``.md`` (Yosys' ``memory_libmap`` choice per shape,
``mapping memory ... via ...``). ``--uram``: ``synth_xilinx -uram`` (URAM288 allowed for
large memories). Runs one Yosys per shape (a few minutes in all for PAPER).
"""

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from hw.generate import to_verilog
from hw.hier import part
from hw.progress import step
from hw.sat.config import resolve
from hw.sat.core import SatCore
from hw.synth.modules import XCUP_RAM_BITS, XCUP_TYPES, strip_memory_init, summarize, yosys_cells

__all__ = ["XCVU9P", "buffer_shapes", "map_buffers", "main"]

#: XCVU9P block memories: count and bits of each kind.
XCVU9P = {"RAMB36": 2160, "URAM": 960}
_COLUMNS = ("RAMB36", "RAMB18", "URAM", "LUTRAM", "LUT", "FF")


def buffer_shapes(config):
    """``{module name: (SatBuffer, [instance names])}`` of a core built from ``config``."""
    shapes = {}
    for name, buffer in part(SatCore, config).buffer_parts().items():
        shapes.setdefault(buffer.module_name, (buffer, []))[1].append(name)
    return shapes


def map_buffers(config, workdir, uram=False):
    """Synthesize every buffer shape of ``config``; returns the report dict."""
    rows, total = [], Counter()
    for name, (buffer, names) in buffer_shapes(config).items():
        with step(f"{name} x{len(names)}"):
            text = strip_memory_init(to_verilog(buffer, name))
            run = yosys_cells(text, name, Path(workdir) / name, "xcup", uram=uram)
        cells = summarize(run["cells"], "xcup")
        per = {k: cells.get(k, 0) for k in _COLUMNS}
        row = {"module": name, "instances": names, "count": len(names), "bits": buffer.bits,
               "per_instance": per, "memories": run["memories"], "seconds": run["seconds"]}
        rows.append(row)
        for k, v in per.items():
            total[k] += v * len(names)
    bits = sum(r["bits"] * r["count"] for r in rows)
    ram_bits = sum(total[k] * XCUP_RAM_BITS[k] for k in XCUP_RAM_BITS)
    return {"scope": "SAT core buffers only (synth_xilinx -family xcup" + (" -uram" if uram
                                                                         else "") + ")",
            "uram": uram, "buffers": rows, "total": dict(total), "bits": bits,
            "mbit": round(bits / 1e6, 2), "block_ram_bits": ram_bits,
            "fill": round(bits / ram_bits, 3) if ram_bits else None,
            "xcvu9p": {"RAMB36": XCVU9P["RAMB36"], "URAM": XCVU9P["URAM"],
                       "ramb36_used": round((total["RAMB36"] + total["RAMB18"] / 2)
                                            / XCVU9P["RAMB36"], 3),
                       "uram_used": round(total["URAM"] / XCVU9P["URAM"], 3)}}


def markdown(report):
    lines = [f"Scope: {report['scope']}.", "",
             "| module | instances | Mbit each | " + " | ".join(_COLUMNS) + " (each) | Yosys mapping |",
             "|---|---|---|" + "---|" * len(_COLUMNS) + "---|"]
    for r in report["buffers"]:
        lines.append(f"| `{r['module']}` | {r['count']} | {r['bits'] / 1e6:.2f} | "
                     + " | ".join(str(r["per_instance"][k]) for k in _COLUMNS)
                     + " | " + "; ".join(r["memories"]) + " |")
    t, x = report["total"], report["xcvu9p"]
    lines += ["", f"Total: {report['mbit']} Mbit in " + ", ".join(f"{t.get(k, 0)} {k}"
                                                          for k in _COLUMNS)
              + f"; block-RAM bits used {report['block_ram_bits'] / 1e6:.1f} Mbit "
              f"(fill {report['fill']}); XCVU9P: {x['ramb36_used']:.1%} of its "
              f"{x['RAMB36']} RAMB36, {x['uram_used']:.1%} of its {x['URAM']} URAM288."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m hw.synth.buffers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="paper", help="SatConfig preset (paper, small)")
    parser.add_argument("--uram", action="store_true", help="allow URAM288 (synth_xilinx -uram)")
    parser.add_argument("-o", "--out", default="build/reports", help="report directory")
    parser.add_argument("--workdir", default="build/synth/sat_buffers", help="Yosys runs")
    args = parser.parse_args(argv)
    report = map_buffers(resolve(args.preset), args.workdir, args.uram)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = "sat_buffers" + ("_uram" if args.uram else "")
    (out / f"{stem}.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / f"{stem}.md").write_text(markdown(report))
    sys.stdout.write(markdown(report))


if __name__ == "__main__":
    main()
