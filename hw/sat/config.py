"""Named parameter sets of the SAT core (:class:`hw.sat.core.SatCore`).

``PAPER`` is the configuration of the CEST paper (32 x 32 uMACs, 2:8, FP16 operands with FP32
accumulation and master weights, 32 WUVE lanes, 32 OSRE lanes). The paper gives no buffer
sizes; ours (about 5.2 Mbit in all, a fraction of an XCVU9P's 76 Mbit of block RAM):

=========  ======  =====================================  ==========  ==========
buffer     rows    one row                                 bits/row    total
=========  ======  =====================================  ==========  ==========
weight W   2048    32 columns x (fp16 value + 3-bit index)  608         1.19 Mbit
act. X     512     32 array rows x 8 fp16 (one x-bus row)   4096        2.00 Mbit
output O   512     32 fp32 partial sums                     1024        0.50 Mbit
master M   512     32 fp32 master weights                   1024        0.50 Mbit
moment. V  512     32 fp32 momenta                          1024        0.50 Mbit
grad. G    512     32 fp16 gradients                        512         0.25 Mbit
dense D    512     32 fp16 weights (WUVE out, OSRE in)      512         0.25 Mbit
=========  ======  =====================================  ==========  ==========

W holds 64 passes of the 32 x 32 array (e.g. a 2:8-pruned 512 x 512 layer: 4 folds x 16
column tiles); X holds 512 x-bus rows, e.g. 3 folds of 170 activation rows (chained folds run
at the array's full rate from ``T = latency + 1 = 131`` rows on); M/V/G/D hold 16,384 weights.
The data streams are 512 bits wide (a 64-byte AXI4-Stream beat).

``SMALL`` is a 2 x 3 core with 2:4 sparsity and 3 lanes, for tests.
"""

from types import MappingProxyType

__all__ = ["PAPER", "SMALL", "PRESETS", "resolve"]

PAPER = MappingProxyType({
    "rows": 32, "cols": 32, "n": 2, "m": 8,
    "in_fmt": "fp16", "acc_fmt": "fp32", "grad_fmt": "fp16", "master_fmt": "fp32",
    "lanes": 32, "mul_latency": 2, "add_latency": 3, "sgd_latency": None,
    "decoupled_wd": False, "data_width": 512,
    "wbuf_depth": 2048, "xbuf_depth": 512, "obuf_depth": 512, "sgd_depth": 512,
    "dbuf_depth": 512,
})

SMALL = MappingProxyType({
    **PAPER,
    "rows": 2, "cols": 3, "n": 2, "m": 4, "lanes": 3,
    "mul_latency": 1, "add_latency": 2, "sgd_latency": 4, "data_width": 32,
    "wbuf_depth": 64, "xbuf_depth": 64, "obuf_depth": 32, "sgd_depth": 16, "dbuf_depth": 32,
})

PRESETS = MappingProxyType({"paper": PAPER, "small": SMALL})


def resolve(preset="paper", **overrides):
    """The parameters of ``preset`` with every override that is not ``None`` applied.

    ``lanes`` must divide ``cols``; when ``lanes`` is not given and the preset's does not
    divide the ``cols`` given, it becomes the largest divisor of ``cols`` not above the
    preset's (e.g. ``cols=8`` on the paper preset: 8 lanes)."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {', '.join(PRESETS)}, not {preset!r}")
    unknown = set(overrides) - set(PAPER)
    if unknown:
        raise ValueError(f"unknown SAT core parameter(s) {sorted(unknown)}")
    params = dict(PRESETS[preset])
    params.update({k: v for k, v in overrides.items() if v is not None})
    cols, lanes = params["cols"], params["lanes"]
    if (overrides.get("lanes") is None and isinstance(cols, int) and cols >= 1
            and isinstance(lanes, int) and lanes >= 1 and cols % lanes):
        params["lanes"] = max(d for d in range(1, min(cols, lanes) + 1) if cols % d == 0)
    return params
