"""Benchmark: ResNet-18 conv/linear layers as GEMMs on the STCE array, dense vs N:M.

Uses the cycle model of :mod:`sim.sat.cycles` (equal to measured RTL cycles on every
stall-free test case) for the full-size 32x32 array, where RTL simulation is too slow.
Forward: ``(B*Ho*Wo) x (Cin*k*k) * (Cin*k*k) x Cout``, weights N:M along input channels.
Backward (activation gradient): ``(B*Hi*Wi) x (Cout*k*k) * (Cout*k*k) x Cin``, N:M along
output channels. Weight gradient: ``(Cin*k*k) x (B*Ho*Wo) * (B*Ho*Wo) x Cout``, dense. conv1 has no
activation gradient (nothing upstream). The backward GEMM of a strided layer is modelled as
the stride-1 transposed convolution over the input (an upper bound on its rows). The model
assumes the array is never starved by memory: it measures the array's own schedule only.
Run: ``python -m sim.bench.sat_resnet18 [-o build/reports]``.
"""

import argparse
import json
from pathlib import Path

from hw.sat.config import PAPER
from sim.sat.cycles import gemm_cycles

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


def _pad(k, group):
    return -(-k // group) * group


def layer_gemms(cin, cout, kernel, stride, size, batch):
    """The three GEMMs (T, K, Cout) of a layer: forward, backward, weight gradient."""
    out = max(1, size // stride)
    fwd = (batch * out * out, cin * kernel * kernel, cout)
    bwd = (batch * size * size, cout * kernel * kernel, cin)
    wgt = (cin * kernel * kernel, batch * out * out, cout)
    return fwd, bwd, wgt


def run(batch=32, rows=PAPER.rows, cols=PAPER.cols, n=PAPER.n, m=PAPER.m,
        mul_latency=PAPER.mul_latency, add_latency=PAPER.add_latency):
    """Cycles of every layer (defaults: the paper's array, :data:`hw.sat.config.PAPER`)."""
    arr = dict(rows=rows, cols=cols, mul_latency=mul_latency, add_latency=add_latency)
    results = []
    for name, cin, cout, kernel, stride, size in LAYERS:
        row = {"layer": name}
        for step, (t, k, c) in zip(("fwd", "bwd", "wgt"),
                                   layer_gemms(cin, cout, kernel, stride, size, batch)):
            if name == "conv1" and step == "bwd":       # no gradient into the input image
                t = 0
            kd = _pad(k, m)
            dense = gemm_cycles(t, kd, c, m, m, **arr) if t else 0
            sparse = dense if step == "wgt" or not t else gemm_cycles(t, kd, c, n, m, **arr)
            ideal = t * k * c / (rows * cols)
            row[step] = {"t": t, "k": k, "cout": c, "dense": dense, "sparse": sparse,
                         "dense_util": ideal / dense if dense else 1.0}
        results.append(row)
    totals = {mode: sum(r[s][mode] for r in results for s in ("fwd", "bwd", "wgt"))
              for mode in ("dense", "sparse")}
    fb = {mode: sum(r[s][mode] for r in results for s in ("fwd", "bwd"))
          for mode in ("dense", "sparse")}
    macs = sum(r[s]["t"] * r[s]["k"] * r[s]["cout"] for r in results for s in ("fwd", "bwd", "wgt"))
    summary = {"batch": batch, "array": f"{rows}x{cols}", "nm": f"{n}:{m}",
               "dense_utilization": macs / (rows * cols * totals["dense"]),
               "fwd_bwd_speedup": fb["dense"] / fb["sparse"],
               "iteration_speedup": totals["dense"] / totals["sparse"], **totals}
    return results, summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-o", "--output", default="build/reports")
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args(argv)
    results, summary = run(batch=args.batch)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_sat_resnet18.json").write_text(json.dumps(
        {"summary": summary, "layers": results}, indent=1))
    lines = ["| layer | step | T | K | Cout | dense cycles | 2:8 cycles | dense util |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        for s in ("fwd", "bwd", "wgt"):
            g = r[s]
            lines.append(f"| {r['layer']} | {s} | {g['t']} | {g['k']} | {g['cout']} | "
                         f"{g['dense']} | {g['sparse']} | {g['dense_util']:.3f} |")
    text = "\n".join(lines) + "\n\n" + json.dumps(summary, indent=1) + "\n"
    (out / "bench_sat_resnet18.md").write_text(text)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
