"""Benchmark: ResNet-18 conv/linear layers as GEMMs on the STCE array, dense vs N:M.

Uses the cycle model of :mod:`sim.sat.cycles` (equal to measured RTL cycles on every
stall-free test case) for the full-size 32x32 array, where RTL simulation is too slow.
Three phases per layer, every GEMM ``(T x K) * (K x Cout)``:

* FW (forward): ``(B*Ho*Wo) x (Cin*k*k) * (Cin*k*k) x Cout``, weights N:M along input channels.
* BW dX (activation gradient): N:M along output channels. A stride-``s`` layer's dX is the
  ``s*s`` sub-pixel (phase) decomposition of the transposed convolution: the input pixels with
  ``(h mod s, w mod s) = (ph, pw)`` form one GEMM ``(B*Hph*Wpw) x (Cout*taps) * (Cout*taps) x
  Cin`` over only the kernel taps that reach them (``taps`` = the ``kh, kw`` with ``h + pad - kh
  = 0 mod s``); phases no tap reaches (a 1x1 stride-2 kernel's odd pixels) have a zero gradient
  and no GEMM. So the array does no zero-inserted work and dX's MACs equal FW's: each forward
  MAC (padding taps included, as FW counts them) has exactly one dX partner. conv1 has no dX
  (nothing upstream).
* WU dW (weight gradient): ``(Cin*k*k) x (B*Ho*Wo) * (B*Ho*Wo) x Cout``, dense.

Utilization = true MACs / (array MAC slots x cycles). The numbers are the array only (no
loads/drains, no external bandwidth limit): the model assumes the buffers always keep the array
fed. The 2:8 iteration-speedup limit is the dense cycles over the dense cycles with only the N:M
GEMMs (FW, dX) cut by ``m/n``.
Run: ``python -m sim.bench.sat_resnet18 [-o build/reports]``.
"""

import argparse
import json
from pathlib import Path

from hw.sat.config import PAPER
from sim.sat.cycles import gemm_cycles

__all__ = ["LAYERS", "STEPS", "PHASE_NAMES", "SCOPE", "layer_gemms", "run", "main"]

# (name, Cin, Cout, kernel, stride, input H=W) for 224x224 ImageNet ResNet-18.
LAYERS = [("conv1", 3, 64, 7, 2, 224)]
for stage, (cin, cout, size) in enumerate([(64, 64, 56), (64, 128, 56), (128, 256, 28),
                                           (256, 512, 14)], start=1):
    stride = 1 if stage == 1 else 2
    out = size // stride
    LAYERS += [(f"layer{stage}.0.conv1", cin, cout, 3, stride, size),
               (f"layer{stage}.0.conv2", cout, cout, 3, 1, out),
               (f"layer{stage}.1.conv1", cout, cout, 3, 1, out),
               (f"layer{stage}.1.conv2", cout, cout, 3, 1, out)]
    if stride == 2:
        LAYERS.append((f"layer{stage}.0.downsample", cin, cout, 1, stride, size))
LAYERS.append(("fc", 512, 1000, 1, 1, 1))

#: The three GEMM phases of a layer, in order, and what each is called in the reports.
STEPS = ("fwd", "bwd", "wgt")
PHASE_NAMES = {"fwd": "FW", "bwd": "BW dX", "wgt": "WU dW"}
#: What the cycles and utilizations include.
SCOPE = "array only (no loads/drains, no external bandwidth limit)"


def _pad(k, group):
    return -(-k // group) * group


def _phases(size, kernel, stride):
    """``(pixels, taps)`` along one axis for each phase ``0 .. stride-1`` of the transposed
    convolution (``pad = (kernel - 1) // 2``, as ResNet-18's convolutions)."""
    pad = (kernel - 1) // 2
    return [(len(range(p, size, stride)),
             sum((p + pad - kh) % stride == 0 for kh in range(kernel)))
            for p in range(stride)]


def layer_gemms(cin, cout, kernel, stride, size, batch, input_grad=True):
    """The GEMMs ``(T, K, Cout)`` of a layer: ``{"fwd": [...], "bwd": [...], "wgt": [...]}``.
    FW and WU dW are one GEMM each; BW dX is one per sub-pixel phase with any taps (none
    when ``input_grad`` is false). Their ``T*K*Cout`` are the true MACs of each phase."""
    out = max(1, size // stride)
    bwd = []
    if input_grad:
        axis = _phases(size, kernel, stride)
        bwd = [(batch * ph * pw, cout * th * tw, cin)
               for ph, th in axis for pw, tw in axis if th and tw and ph and pw]
    return {"fwd": [(batch * out * out, cin * kernel * kernel, cout)], "bwd": bwd,
            "wgt": [(cin * kernel * kernel, batch * out * out, cout)]}


def run(batch=32, rows=PAPER.rows, cols=PAPER.cols, n=PAPER.n, m=PAPER.m,
        mul_latency=PAPER.mul_latency, add_latency=PAPER.add_latency):
    """Cycles and true MACs of every GEMM and layer, and a summary per phase (defaults: the
    paper's array, :data:`hw.sat.config.PAPER`)."""
    arr = dict(rows=rows, cols=cols, mul_latency=mul_latency, add_latency=add_latency)
    slots = rows * cols
    results = []
    for index, (name, cin, cout, kernel, stride, size) in enumerate(LAYERS):
        row = {"layer": name}
        gemms = layer_gemms(cin, cout, kernel, stride, size, batch, input_grad=index > 0)
        for step in STEPS:
            entries = []
            for t, k, c in gemms[step]:
                kd = _pad(k, m)
                dense = gemm_cycles(t, kd, c, m, m, **arr)
                sparse = dense if step == "wgt" else gemm_cycles(t, kd, c, n, m, **arr)
                entries.append({"t": t, "k": k, "cout": c, "macs": t * k * c,
                                "dense": dense, "sparse": sparse,
                                "dense_util": t * k * c / (slots * dense)})
            macs = sum(e["macs"] for e in entries)
            dense = sum(e["dense"] for e in entries)
            row[step] = {"gemms": entries, "macs": macs, "dense": dense,
                         "sparse": sum(e["sparse"] for e in entries),
                         "dense_util": macs / (slots * dense) if dense else None}
        results.append(row)

    def total(steps, key):
        return sum(r[s][key] for r in results for s in steps)

    phases = {}
    for step in STEPS:
        macs, dense, sparse = (total([step], key) for key in ("macs", "dense", "sparse"))
        phases[PHASE_NAMES[step]] = {
            "gemms": sum(len(r[step]["gemms"]) for r in results), "macs": macs,
            "dense": dense, "sparse": sparse, "dense_utilization": macs / (slots * dense),
            "sparse_speedup": dense / sparse}
    dense, sparse, macs = (total(STEPS, key) for key in ("dense", "sparse", "macs"))
    fb_dense, fb_sparse = total(("fwd", "bwd"), "dense"), total(("fwd", "bwd"), "sparse")
    summary = {"batch": batch, "array": f"{rows}x{cols}", "nm": f"{n}:{m}", "scope": SCOPE,
               "phases": phases, "macs": macs, "dense": dense, "sparse": sparse,
               "dense_utilization": macs / (slots * dense),
               "fwd_bwd_speedup": fb_dense / fb_sparse, "fwd_bwd_speedup_limit": m / n,
               "iteration_speedup": dense / sparse,
               # only the N:M GEMMs (FW, dX) get m/n fewer cycles; dW stays dense
               "iteration_speedup_limit": dense / (fb_dense * n / m + total(["wgt"], "dense"))}
    return results, summary


def _markdown(results, summary):
    s = summary
    lines = [f"# ResNet-18 on the {s['array']} STCE, batch {s['batch']}, dense vs {s['nm']}: "
             f"{s['scope']}", "",
             "Utilization = true MACs / (array MAC slots x cycles); BW dX of a strided layer is "
             "one GEMM per sub-pixel phase (no zero-inserted work).", "",
             "| phase | GEMMs | true MACs | dense cycles | dense util | "
             f"{s['nm']} cycles | {s['nm']} speedup |", "|---|---|---|---|---|---|---|"]
    for name, p in s["phases"].items():
        lines.append(f"| {name} | {p['gemms']} | {p['macs']:,} | {p['dense']:,} | "
                     f"{p['dense_utilization']:.3f} | {p['sparse']:,} | "
                     f"{p['sparse_speedup']:.3f}x |")
    lines += [f"| **total** | | **{s['macs']:,}** | **{s['dense']:,}** | "
              f"**{s['dense_utilization']:.3f}** | **{s['sparse']:,}** | "
              f"**{s['iteration_speedup']:.3f}x** |", "",
              f"FW + BW dX speedup at {s['nm']}: {s['fwd_bwd_speedup']:.3f}x (limit "
              f"{s['fwd_bwd_speedup_limit']:.3f}x); whole iteration: "
              f"{s['iteration_speedup']:.3f}x (limit {s['iteration_speedup_limit']:.3f}x: "
              "dense cycles over dense cycles with only FW and dX cut by m/n).", "",
              f"| layer | phase | T | K | Cout | true MACs | dense cycles | {s['nm']} cycles | "
              "dense util |", "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        for step in STEPS:
            for g in r[step]["gemms"]:
                lines.append(f"| {r['layer']} | {PHASE_NAMES[step]} | {g['t']} | {g['k']} | "
                             f"{g['cout']} | {g['macs']:,} | {g['dense']:,} | "
                             f"{g['sparse']:,} | {g['dense_util']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-o", "--output", default="build/reports")
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args(argv)
    results, summary = run(batch=args.batch)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_sat_resnet18.json").write_text(json.dumps(
        {"summary": summary, "layers": results}, indent=1) + "\n")
    (out / "bench_sat_resnet18.md").write_text(_markdown(results, summary))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
