"""An energy **estimate** from event counts: operations x energy per operation, on-chip buffer
accesses x energy per access (by buffer size and access width), off-chip bytes x energy per
byte. HDL-free, no tools: the table below, with its sources, is the whole model.

Technology: the operation and SRAM figures are Horowitz's 45 nm (0.9 V) numbers; the DRAM
figure is per byte of an off-chip DRAM access, as SparTANN (Sec. 5.2.1) takes it. Our designs
are FPGA RTL, so the estimate says what the same event counts would cost in a 45 nm ASIC with
those memories; it is not a measurement of an FPGA's power.

Sources:

* M. Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014, p. 10-14
  (45 nm): FP16 add 0.4 pJ, FP16 mult 1.1 pJ, FP32 add 0.9 pJ, FP32 mult 3.7 pJ; SRAM read of
  64 bits: 8 KB 10 pJ, 32 KB 20 pJ, 1 MB 100 pJ; DRAM 1.3-2.6 nJ per 64 bits.
* 160 pJ/byte for DRAM: SparTANN (Sec. 5.2.1) citing EIE (Han et al., ISCA 2016), which takes
  Horowitz's 640 pJ per 32-bit DRAM access (20 pJ/bit).
* BF16 and other narrow formats: the FP16 figures (assumption: a bfloat16 multiplier has a
  narrower significand than FP16's, so FP16's figure is an upper bound); formats wider than 16
  bits: the FP32 figures.
* SRAM of other sizes: log-log interpolation between Horowitz's three points (extrapolated
  beyond them), scaled linearly with the access width (``bits / 64``); a write costs as a read.
"""

import math

from ..fp.format import parse_format

__all__ = ["OP_PJ", "SRAM_PJ_64B", "DRAM_PJ_PER_BYTE", "TECHNOLOGY", "SOURCES", "op_pj",
           "sram_pj", "estimate"]

#: pJ per operation by (operation, format class), Horowitz ISSCC 2014, 45 nm.
OP_PJ = {("add", "fp16"): 0.4, ("mul", "fp16"): 1.1, ("add", "fp32"): 0.9,
         ("mul", "fp32"): 3.7}
#: (bytes, pJ per 64-bit read) of an SRAM, Horowitz ISSCC 2014, 45 nm.
SRAM_PJ_64B = ((8 * 1024, 10.0), (32 * 1024, 20.0), (1024 * 1024, 100.0))
#: pJ per byte of off-chip DRAM traffic (SparTANN Sec. 5.2.1, after EIE / Horowitz).
DRAM_PJ_PER_BYTE = 160.0
TECHNOLOGY = "45 nm (Horowitz, ISSCC 2014); DRAM 160 pJ/byte (SparTANN, EIE)"
SOURCES = ("M. Horowitz, Computing's energy problem, ISSCC 2014 (45 nm)",
           "SparTANN Sec. 5.2.1: DRAM 160 pJ/byte, after EIE (Han et al., ISCA 2016)")


def op_pj(op, fmt):
    """pJ of one ``op`` (``add`` or ``mul``) in float format ``fmt`` (see the table)."""
    width = parse_format(fmt).width
    return OP_PJ[(op, "fp16" if width <= 16 else "fp32")]


def sram_pj(size_bytes, bits):
    """pJ of one access of ``bits`` to an SRAM of ``size_bytes`` (log-log interpolation)."""
    pts = [(math.log(s), math.log(e)) for s, e in SRAM_PJ_64B]
    x = math.log(max(size_bytes, 1))
    (x0, y0), (x1, y1) = (pts[0], pts[1]) if x < pts[1][0] else (pts[1], pts[2])
    return math.exp(y0 + (y1 - y0) * (x - x0) / (x1 - x0)) * bits / 64


def estimate(events):
    """Energy estimate in microjoules from ``events`` = ``{"ops": {"mul:fp16": n, ...},
    "sram": {buffer: [accesses, size_bytes, bits], ...}, "dram_bytes": n}``:
    ``{"energy_uj", "compute_uj", "sram_uj", "dram_uj", "technology"}``."""
    compute = sum(n * op_pj(*key.split(":")) for key, n in events.get("ops", {}).items())
    sram = sum(n * sram_pj(size, bits) for n, size, bits in events.get("sram", {}).values())
    dram = events.get("dram_bytes", 0) * DRAM_PJ_PER_BYTE
    return {"energy_uj": (compute + sram + dram) / 1e6, "compute_uj": compute / 1e6,
            "sram_uj": sram / 1e6, "dram_uj": dram / 1e6, "technology": TECHNOLOGY}
