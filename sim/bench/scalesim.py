"""Benchmark: SCALE-Sim v3 against the STCE cycle model on ResNet-18's dense GEMMs.

Every forward, backward (activation-gradient) and weight-gradient GEMM of
:data:`sim.bench.sat_resnet18.LAYERS` (batch 32, 224x224; the GEMMs of
:func:`~sim.bench.sat_resnet18.layer_gemms`, where a strided layer's activation gradient is one
GEMM per sub-pixel phase, so every GEMM is true work) runs on a 32x32 array in SCALE-Sim
(weight-stationary, the STCE dataflow, plus output-stationary for reference) and in our cycle
model :func:`sim.sat.cycles.gemm_cycles` (``mul_latency`` 2, ``add_latency`` 3). Utilization =
true MACs / (array MAC slots x cycles), array only (no loads/drains, no external bandwidth
limit).

Shape mapping: our GEMM is ``(T x K) * (K x Cout)``; SCALE-Sim's GEMM topology row is
``M, N, K`` with ``M`` the rows of the input operand (streamed through a WS array), ``K`` the
reduction (mapped onto the array rows in WS) and ``N`` the output columns (array columns).
So ``M = T``, ``K = K``, ``N = Cout``: the same roles as in the STCE.

SCALE-Sim runs with 64 MB SRAMs in its bandwidth-estimating (CALC) mode, so it reports no
stall cycles: its "Total Cycles" are the array's compute schedule, which is what our model
counts. SCALE-Sim's memory model is a Python loop over every demand row, far too slow for
these layers (a full batch-32 ResNet-18 would take hours), so large GEMMs are *sampled*: SCALE-Sim
runs a smaller GEMM with the same array and edge folds (streamed dimension cut to
``stream_cap``, each spatial dimension cut to at most three folds keeping the partial last
fold), and its measured per-fold time is scaled to the full fold count and stream length. All
of SCALE-Sim's folds of a GEMM take the same time, so this is exact; :data:`CHECKS` re-checks it
against full SCALE-Sim runs on every invocation.
Run: ``python -m sim.bench.scalesim [-o build/reports]``.
"""

import argparse
import builtins
import contextlib
import io
import json
import tempfile
import time
import warnings
from math import ceil
from pathlib import Path

from sim.bench.sat_resnet18 import LAYERS, PHASE_NAMES, SCOPE, STEPS, layer_gemms
from hw.sat.config import PAPER
from sim.sat.cycles import gemm_cycles
from hw.progress import note

__all__ = ["scalesim_run", "scalesim_cycles", "stce_cycles", "run", "main", "CHECKS"]

#: The STCE array of the paper (:data:`hw.sat.config.PAPER`).
ARRAY = {k: getattr(PAPER, k) for k in ("rows", "cols", "mul_latency", "add_latency")}
#: SRAM size (kB) of each of SCALE-Sim's three buffers.
SRAM_KB = 65536
#: Full SCALE-Sim runs beyond this many demand rows (simulated cycles) are sampled instead.
MAX_ROWS = 20_000
#: Length of the streamed dimension in a sample.
STREAM_CAP = 64
#: (M, K, N, rows, cols) shapes on which a sampled and a full SCALE-Sim run must agree.
CHECKS = [(200, 150, 70, 32, 32), (300, 40, 100, 32, 32), (90, 70, 21, 8, 8)]

_CONFIG = """[general]
run_name = run

[run_presets]
InterfaceBandwidth = CALC
UseRamulatorTrace = False

[architecture_presets]
ArrayHeight = {rows}
ArrayWidth = {cols}
IfmapSramSzkB = {sram}
FilterSramSzkB = {sram}
OfmapSramSzkB = {sram}
IfmapOffset = 0
FilterOffset = 100000000
OfmapOffset = 200000000
Bandwidth = 64
Dataflow = {dataflow}
ReadRequestBuffer = 32
WriteRequestBuffer = 32

[layout]
IfmapCustomLayout = False
IfmapSRAMBankBandwidth = 64
IfmapSRAMBankNum = 1
IfmapSRAMBankPort = 2
FilterCustomLayout = False
FilterSRAMBankBandwidth = 64
FilterSRAMBankNum = 1
FilterSRAMBankPort = 2

[sparsity]
SparsitySupport = false
SparseRep = ellpack_block
OptimizedMapping = false
BlockSize = 8
RandomNumberGeneratorSeed = 40
"""


def _squeeze_max(*args, **kwargs):
    """``max`` that returns a size-1 array as a 0-d array: SCALE-Sim 3.0.0 calls
    ``int(max(list of shape-(1,) arrays))``, which the pinned NumPy 2.4 rejects."""
    import numpy as np
    result = builtins.max(*args, **kwargs)
    if isinstance(result, np.ndarray) and result.size == 1:
        return result.reshape(())
    return result


def _scalesim():
    """The ``scalesim`` class, with the NumPy 2 workaround installed (ImportError if absent)."""
    from scalesim.memory import double_buffered_scratchpad_mem
    from scalesim.scale_sim import scalesim
    double_buffered_scratchpad_mem.max = _squeeze_max
    return scalesim


def _folds(m, k, n, rows, cols, dataflow):
    """``(folds, streamed length)`` of SCALE-Sim's mapping: WS maps K x N onto the array and
    streams M; OS maps M x N and streams K."""
    if dataflow == "ws":
        return ceil(k / rows) * ceil(n / cols), m
    if dataflow == "os":
        return ceil(m / rows) * ceil(n / cols), k
    raise ValueError(f"dataflow must be 'ws' or 'os', not {dataflow!r}")


def scalesim_run(m, k, n, rows=PAPER.rows, cols=PAPER.cols, dataflow="ws"):
    """One quiet SCALE-Sim run of GEMM ``(M x K) * (K x N)`` in a temporary directory.

    Returns ``dict(cycles, stall_cycles, util, mapping_eff)`` from its compute report
    ("Total Cycles", stalls, "Overall Util" and "Mapping Efficiency" as fractions).
    """
    scalesim = _scalesim()
    _folds(m, k, n, rows, cols, dataflow)
    with tempfile.TemporaryDirectory(prefix="scalesim_") as tmp:
        tmp = Path(tmp)
        (tmp / "scale.cfg").write_text(_CONFIG.format(rows=rows, cols=cols, sram=SRAM_KB,
                                                      dataflow=dataflow))
        (tmp / "gemm.csv").write_text(f"Layer, M, N, K,\ngemm, {m}, {n}, {k},\n")
        (tmp / "layout.csv").write_text("Layer,\n")
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sim = scalesim(save_disk_space=True, verbose=False, config=str(tmp / "scale.cfg"),
                           topology=str(tmp / "gemm.csv"), layout=str(tmp / "layout.csv"),
                           input_type_gemm=True)
            sim.run_scale(top_path=str(tmp / "out"))
            _, cycles, stalls, util, mapping, _ = \
                sim.runner.single_layer_sim_object_list[0].get_compute_report_items()
    return {"cycles": int(cycles), "stall_cycles": int(stalls), "util": util / 100,
            "mapping_eff": mapping / 100}


def _sample_dim(size, width):
    """``size`` cut to at most three folds of ``width``, keeping the partial last fold."""
    if size <= 3 * width:
        return size
    return 2 * width + (size % width or width)


def scalesim_cycles(m, k, n, rows=PAPER.rows, cols=PAPER.cols, dataflow="ws",
                    max_rows=MAX_ROWS, stream_cap=STREAM_CAP):
    """SCALE-Sim "Total Cycles" of GEMM ``(M x K) * (K x N)``: a full run when it simulates at
    most ``max_rows`` cycles, else a sampled run scaled up (see the module docstring).

    Returns ``dict(cycles, sampled, sample, fill_per_fold)``; ``fill_per_fold`` is the
    measured per-fold time minus the streamed length (WS ``2R + C - 2``, OS ``R + C - 2``).
    """
    folds, stream = _folds(m, k, n, rows, cols, dataflow)
    if folds * (stream + 2 * rows + cols) <= max_rows:
        sample = (m, k, n)
    elif dataflow == "ws":
        sample = (min(m, stream_cap), _sample_dim(k, rows), _sample_dim(n, cols))
    else:
        sample = (_sample_dim(m, rows), min(k, stream_cap), _sample_dim(n, cols))
    result = scalesim_run(*sample, rows, cols, dataflow)
    if result["stall_cycles"]:
        raise RuntimeError(f"SCALE-Sim stalled {result['stall_cycles']} cycles on {sample}")
    s_folds, s_stream = _folds(*sample, rows, cols, dataflow)
    per_fold, rest = divmod(result["cycles"] + 1, s_folds)    # Total Cycles = demand rows - 1
    if rest:
        raise RuntimeError(f"SCALE-Sim folds of {sample} differ in length: {result}")
    fill = per_fold - s_stream
    return {"cycles": folds * (fill + stream) - 1, "sampled": sample != (m, k, n),
            "sample": list(sample), "fill_per_fold": fill}


def stce_cycles(t, k, cout, rows=PAPER.rows, cols=PAPER.cols, mul_latency=PAPER.mul_latency,
                add_latency=PAPER.add_latency):
    """Our cycle model of the dense GEMM ``(T x K) * (K x Cout)`` on the STCE."""
    return gemm_cycles(t, k, cout, 1, 1, rows, cols, mul_latency, add_latency)


def check_sampling(checks=CHECKS):
    """Sampled and full SCALE-Sim runs of each ``(M, K, N, rows, cols)``, both dataflows."""
    out = []
    for m, k, n, rows, cols in checks:
        for dataflow in ("ws", "os"):
            full = scalesim_run(m, k, n, rows, cols, dataflow)["cycles"]
            sampled = scalesim_cycles(m, k, n, rows, cols, dataflow, max_rows=0, stream_cap=16)
            out.append({"shape": [m, k, n], "array": f"{rows}x{cols}", "dataflow": dataflow,
                        "full": full, "sampled": sampled["cycles"],
                        "sample": sampled["sample"]})
            if full != sampled["cycles"]:
                raise RuntimeError(f"sampling is not exact: {out[-1]}")
    return out


def run(batch=32, array=ARRAY):
    """Per-GEMM rows and a summary (see :func:`main` for the report). The GEMMs are those of
    :func:`sim.bench.sat_resnet18.layer_gemms`: a strided layer's activation gradient is one
    GEMM per sub-pixel phase, so every GEMM's ``M*K*N`` is true work and the utilizations
    count true MACs."""
    area = array["rows"] * array["cols"]
    dims = (array["rows"], array["cols"])
    rows = []
    for index, (name, cin, cout, kernel, stride, size) in enumerate(LAYERS):
        note(f"{name} (SCALE-Sim ws + os, our model)")
        gemms = layer_gemms(cin, cout, kernel, stride, size, batch, input_grad=index > 0)
        for step in STEPS:                  # conv1 has no bwd: no gradient into the image
            for part, (t, k, c) in enumerate(gemms[step], start=1):
                ws = scalesim_cycles(t, k, c, *dims, "ws")
                os_ = scalesim_cycles(t, k, c, *dims, "os")
                ours = stce_cycles(t, k, c, **array)
                macs = t * k * c
                rows.append({"layer": name, "step": step,
                             "part": f"{part}/{len(gemms[step])}", "M": t, "K": k, "N": c,
                             "macs": macs, "scalesim_ws": ws["cycles"],
                             "scalesim_os": os_["cycles"], "stce": ours,
                             "ratio": ours / ws["cycles"],
                             "util_ws": macs / (area * ws["cycles"]),
                             "util_os": macs / (area * os_["cycles"]),
                             "util_stce": macs / (area * ours),
                             "sampled": ws["sampled"] or os_["sampled"],
                             "sample_ws": ws["sample"], "sample_os": os_["sample"],
                             "fill_ws": ws["fill_per_fold"], "fill_os": os_["fill_per_fold"]})

    def totals(subset):
        total = {key: sum(r[key] for r in subset)
                 for key in ("macs", "scalesim_ws", "scalesim_os", "stce")}
        return {"gemms": len(subset), **total, "ratio": total["stce"] / total["scalesim_ws"],
                "util_ws": total["macs"] / (area * total["scalesim_ws"]),
                "util_os": total["macs"] / (area * total["scalesim_os"]),
                "util_stce": total["macs"] / (area * total["stce"])}

    summary = {"batch": batch, "array": f"{array['rows']}x{array['cols']}",
               "mul_latency": array["mul_latency"], "add_latency": array["add_latency"],
               "scope": SCOPE, "sampled_gemms": sum(r["sampled"] for r in rows),
               **totals(rows),
               "phases": {PHASE_NAMES[step]: totals([r for r in rows if r["step"] == step])
                          for step in STEPS}}
    return rows, summary


def _markdown(rows, summary, checks, seconds):
    """The report as a markdown document."""
    s = summary
    lines = [f"# SCALE-Sim v3 vs the STCE cycle model: ResNet-18, batch {s['batch']}, "
             f"{s['array']} array, {s['scope']}", "",
             "M = T (activation rows, streamed), K = reduction (array rows), N = Cout (array "
             "columns). Cycles: SCALE-Sim \"Total Cycles\" (no stalls) and our model "
             f"(`sim/sat/cycles.py`, mul_latency {s['mul_latency']}, add_latency "
             f"{s['add_latency']}). Utilization = true MACs (M*K*N) / (cycles * R * C); a "
             "strided layer's bwd (dX) is one GEMM per sub-pixel phase (part), so no GEMM "
             "does zero-inserted work. ratio = ours / SCALE-Sim WS. * = SCALE-Sim run on a "
             "sample and scaled (exact, see below).", "",
             "| phase | GEMMs | true MACs | SCALE-Sim WS | ours | ratio | util WS | util ours "
             "| SCALE-Sim OS | util OS |", "|" + "---|" * 10]
    for name, p in list(s["phases"].items()) + [("**all**", s)]:
        lines.append(f"| {name} | {p['gemms']} | {p['macs']:,} | {p['scalesim_ws']:,} | "
                     f"{p['stce']:,} | {p['ratio']:.3f} | {p['util_ws']:.3f} | "
                     f"{p['util_stce']:.3f} | {p['scalesim_os']:,} | {p['util_os']:.3f} |")
    lines += ["", "| layer | step | part | M | K | N | SCALE-Sim WS | ours | ratio | util WS "
              "| util ours | SCALE-Sim OS | util OS |", "|" + "---|" * 13]
    for r in rows:
        mark = "*" if r["sampled"] else ""
        lines.append(f"| {r['layer']} | {r['step']} | {r['part']} | {r['M']} | {r['K']} | "
                     f"{r['N']} | {r['scalesim_ws']:,}{mark} | {r['stce']:,} | "
                     f"{r['ratio']:.3f} | {r['util_ws']:.3f} | {r['util_stce']:.3f} | "
                     f"{r['scalesim_os']:,}{mark} | {r['util_os']:.3f} |")
    lines.append(f"| **total** | | | | | | **{s['scalesim_ws']:,}** | **{s['stce']:,}** | "
                 f"**{s['ratio']:.3f}** | **{s['util_ws']:.3f}** | **{s['util_stce']:.3f}** | "
                 f"**{s['scalesim_os']:,}** | **{s['util_os']:.3f}** |")
    lines += ["", f"{s['sampled_gemms']} of {s['gemms']} GEMMs sampled. Sampling check "
              "(full SCALE-Sim run vs sampled + scaled, must be equal):", "",
              "| M x K x N | array | dataflow | full | sampled | sample |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {'x'.join(map(str, c['shape']))} | {c['array']} | {c['dataflow']} | "
              f"{c['full']} | {c['sampled']} | {'x'.join(map(str, c['sample']))} |"
              for c in checks]
    lines += ["", f"Run time: {seconds:.1f} s.", ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m sim.bench.scalesim",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("-o", "--output", default="build/reports")
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args(argv)
    start = time.monotonic()
    checks = check_sampling()
    rows, summary = run(batch=args.batch)
    seconds = time.monotonic() - start
    summary["seconds"] = round(seconds, 1)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "scalesim.json").write_text(json.dumps(
        {"summary": summary, "checks": checks, "gemms": rows}, indent=1) + "\n")
    (out / "scalesim.md").write_text(_markdown(rows, summary, checks, seconds))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
