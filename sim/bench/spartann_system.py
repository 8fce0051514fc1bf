"""SparTANN end to end: conv layers of AlexNet (conv2-conv5) and a GoogLeNet-style 3x3 layer on
the PAPER core, BP and WU, every load and drain counted, at external bandwidths of 16-128 bytes
per cycle (the paper's Fig. 11 view; docs/spartann/system.md).

    python -m sim.bench.spartann_system -o build/reports [--plot PATH] [--quick]

Per layer, phase and GO density: the driver plans the layer on the ping-pong halves of the
dense buffers, :func:`sim.spartann.system.overlap` puts the sparse loads first in each gap
between runs and :func:`~sim.spartann.system.hoist` moves each dense load ahead of the runs
of the other half; the system model times it
(:func:`sim.spartann.system.simulate`: the core's units, conflicts and cycle formulas, plus
``B`` bytes per cycle per direction). Reported: all cycles, MAC-slot utilization over all
cycles (T-lane updates with a nonzero GO value / all cycles), speedup over the same core fed
dense GO, and over an ideal dense 32-lane engine (true MACs / 32: every valid tap, no padding
taps, one T-lane update a cycle, no loads).

GO: uniformly random nonzeros at densities 5-100% and at the densities measured in the real
training run of :mod:`sim.spartann.cnn` (conv2's GO through ReLU: zero skipping; conv1's GO
after DTS at s* = 0.5 and 0.7). Batch 1, groups ignored (AlexNet's conv2/4/5 use 2 groups).
The z-tiles of a layer have the same program up to the data (the driver's loops), so one
z-tile is planned and timed job by job, and its commands are repeated ``Z / T`` times for the
timeline, each copy on the dense-buffer halves the copy before left current (exact for the
model; the plan's one-off commands are not repeated).

Writes ``spartann_system.{json,md}`` and, with matplotlib, ``spartann_system.png``.
"""

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

from hw.progress import collect, note
from hw.spartann.isa import footprints
from hw.spartann.config import PAPER
from sim.spartann import cnn, system
from sim.spartann.cycles import command_cycles
from sim.spartann.driver import ConvLayer, CoreConfig, plan_bp, plan_wu

__all__ = ["LAYERS", "DENSITIES", "BANDWIDTHS", "real_densities", "measure_layer", "main"]

#: The layers (batch 1): AlexNet conv2-conv5 (Caffe shapes, groups ignored) and the 3x3 branch
#: of GoogLeNet's inception (3a).
LAYERS = {
    "AlexNet conv2": ConvLayer(batch=1, m=256, z=96, h=27, w=27, k=5, stride=1, pad=2),
    "AlexNet conv3": ConvLayer(batch=1, m=384, z=256, h=13, w=13, k=3, stride=1, pad=1),
    "AlexNet conv4": ConvLayer(batch=1, m=384, z=384, h=13, w=13, k=3, stride=1, pad=1),
    "AlexNet conv5": ConvLayer(batch=1, m=256, z=384, h=13, w=13, k=3, stride=1, pad=1),
    "GoogLeNet 3a 3x3": ConvLayer(batch=1, m=128, z=96, h=28, w=28, k=3, stride=1, pad=1),
}
DENSITIES = (0.05, 0.1, 0.2, 0.5, 1.0)
BANDWIDTHS = (16, 32, 64, 128)
#: Reported next to the ping-pong plans: the same layers planned on half 0 only (``single``:
#: what the core did before its dense buffers were double; every dense load and drain then
#: waits for the runs of its buffer).
BASELINE = "single"
#: Targets (issue 12): utilization over all cycles and speedup / (1 / density).
TARGET_UTILIZATION, TARGET_SPEEDUP = 0.90, 0.90


def real_densities(iterations=120, seed=0):
    """GO densities of the digits CNN's training run (means after the DTS warm-up), and the
    DTS tracking error at s* = 0.5, closed loop, for the paper's rule and the relative variant
    (beyond the paper): ``({name: density}, {"paper": pp, "relative": pp})``."""
    out, error = {}, {}
    for target in (0.5, 0.7):
        note(f"real gradients: DTS s* = {target} ({iterations} iterations)")
        run = cnn.train(cnn.dts_policy(target), iterations=iterations, seed=seed)
        warm = cnn.warm_up(run)
        if target == 0.5:
            out["real: ReLU only (conv2 GO)"] = float(run.go_density[warm:].mean())
            error["paper"] = 100 * float(np.abs(run.sparsity[warm:] - target).mean())
        out[f"real: DTS s*={target} (conv1 GO)"] = float(run.go1_density[warm:].mean())
    note(f"real gradients: DTS relative variant s* = 0.5 ({iterations} iterations)")
    run = cnn.train(cnn.relative_policy(0.5), iterations=iterations, seed=seed)
    warm = cnn.warm_up(run, "relative")
    error["relative"] = 100 * float(np.abs(run.sparsity[warm:] - 0.5).mean())
    return out, error


def _fp32(rng, shape):
    return rng.standard_normal(shape).astype(np.float32).view(np.uint32).astype(np.uint64)


def _go(rng, layer, density):
    go = np.where(rng.random(layer.go_shape) < density, _fp32(rng, layer.go_shape), 0)
    return go.astype(np.uint64)


def measure_layer(layer, go, phase, params, bandwidths, rng):
    """One layer, phase and GO, the whole layer (``Z / T`` z-tiles): ``{"updates", "jobs",
    bandwidth: {"cycles", "read", "write", "run", "busy", "cycles_single"}}`` (``"inf"``: no
    bandwidth limit; ``busy``: each unit's busy cycles; ``cycles_single``: the same layer
    planned on half 0 of every dense buffer, :data:`BASELINE`)."""
    T = params.T
    if layer.z % T:
        raise ValueError(f"{layer}: Z must be a multiple of T = {T}")
    tiles = layer.z // T
    one = replace(layer, z=T)
    cfg = CoreConfig(params, contexts=True) if phase == "bp" else CoreConfig(params)
    other = _fp32(rng, one.w_shape if phase == "bp" else one.ia_shape)
    programs, stats = {}, None
    for double in (True, False):
        plan = (plan_bp if phase == "bp" else plan_wu)(one, go, other,
                                                       replace(cfg, double=double))
        raw, stats = plan.program, stats or plan.stats
        # One-off commands: BP's set_theta, WU's zeroed Dense Buf B halves (drains clear them).
        head = (1 + double) if phase == "wu" else \
            sum(1 for c in raw[:1] if c["op"] == "set_theta")
        tile = system.overlap(raw)
        by_id = {id(c): n for c, n in zip(tile, command_cycles(tile, params))}
        copies = raw[:]
        for k in range(1, tiles):
            # z-tile k starts on the halves z-tile k-1 left current (as one plan of the whole
            # layer does): its halves are the first tile's, flipped where the tile flips them
            # an odd number of times (A tiles are keyed by z, so nothing is kept across tiles).
            flip = {b: k * h % 2 for b, h in plan.half.items()}
            for c in raw[head:]:
                copy = _flipped(c, flip)
                by_id[id(copy)] = by_id[id(c)]
                copies.append(copy)
        full = system.overlap(copies)
        if double:
            full = system.hoist(full)
        programs[double] = (full, [by_id[id(c)] for c in full], footprints(full, params))
    out = {"updates": stats.updates * tiles, "jobs": stats.jobs * tiles}
    for bw in (None,) + tuple(bandwidths):
        t = system.simulate(*programs[True][:1], params, bw, *programs[True][1:])
        d = system.simulate(*programs[False][:1], params, bw, *programs[False][1:])
        out["inf" if bw is None else bw] = {"cycles": t.total, "read": t.read,
                                            "write": t.write, "run": t.busy["run"],
                                            "busy": t.busy, "cycles_single": d.total}
    return out


_BUF = {"load_a": "a", "load_b": "b", "drain_b": "b", "drain_out": "out"}


def _flipped(cmd, flip):
    """``cmd`` with its dense halves flipped where ``flip`` (per buffer: 0 or 1) says."""
    cmd = dict(cmd)
    if cmd["op"] in _BUF and "half" in cmd:
        cmd["half"] ^= flip[_BUF[cmd["op"]]]
    for buf in ("a", "b", "out"):
        if f"{buf}_half" in cmd:
            cmd[f"{buf}_half"] ^= flip[buf]
    return cmd


def _case(layer, density, phase, params, bandwidths, seed):
    """One layer, GO density and phase (a pool job; GO is the same for BP and WU)."""
    rng = np.random.default_rng(seed)
    go = _go(rng, replace(layer, z=params.T), density)
    return {"density": density, **measure_layer(layer, go, phase, params, bandwidths, rng)}


def measure(layers=LAYERS, densities=DENSITIES, real=None, bandwidths=BANDWIDTHS,
            params=PAPER, seed=0, jobs=None):
    """``{layer: {phase: {case: result}}}`` (:func:`measure_layer`, plus ``density`` and
    ``ideal_dense_cycles``); cases: ``densities`` named ``"5%"`` etc. and ``real``
    (``{name: density}``). ``jobs`` worker processes (default: the CPUs)."""
    cases = {f"{d:.0%}": d for d in densities}
    cases.update(real or {})
    tasks = [(name, case, phase) for name in layers for case in cases for phase in ("bp", "wu")]
    with ProcessPoolExecutor(jobs or os.cpu_count()) as pool:
        futures = {f"{n}: {p.upper()} at {c}": pool.submit(
            _case, layers[n], cases[c], p, params, bandwidths,
            seed + 1000 * list(layers).index(n) + list(cases).index(c)) for n, c, p in tasks}
        done = collect(futures, "layer cases")
    result = {n: {"bp": {}, "wu": {}} for n in layers}
    for (n, c, p), r in zip(tasks, done.values()):
        result[n][p][c] = r
    for n in layers:
        dense = result[n]["bp"]["100%"]["updates"] if "100%" in cases else None
        for phase in ("bp", "wu"):
            for r in result[n][phase].values():
                r["ideal_dense_cycles"] = dense
    return result


def summarize(result, bandwidths=BANDWIDTHS, min_density=0.05):
    """Per case (layer, phase, density) and bandwidth: utilization, speedup over the same core
    fed dense and over the ideal dense engine; the lowest utilization per bandwidth and
    whether the targets hold at every density >= ``min_density``."""
    rows, worst, ok = [], {}, {}
    for name, phases in result.items():
        for phase, cases in phases.items():
            dense = cases["100%"]
            for case, r in cases.items():
                for bw in ("inf",) + tuple(bandwidths):
                    c = r[bw]["cycles"]
                    util = r["updates"] / c
                    vs_dense = dense[bw]["cycles"] / c
                    vs_ideal = r["ideal_dense_cycles"] / c
                    proj = r["updates"] / r[bw]["cycles_single"]
                    rows.append({"layer": name, "phase": phase, "case": case,
                                 "density": r["density"], "bandwidth": bw, "cycles": c,
                                 "updates": r["updates"], "utilization": util,
                                 "speedup_vs_dense_core": vs_dense,
                                 "speedup_vs_ideal_dense": vs_ideal,
                                 "speedup_over_inverse_density": vs_ideal * r["density"],
                                 "utilization_single": proj,
                                 "busy": r[bw]["busy"],
                                 "read_bytes_per_cycle": r[bw]["read"] / c,
                                 "write_bytes_per_cycle": r[bw]["write"] / c})
                    if r["density"] >= min_density:
                        worst[bw] = min(worst.get(bw, 1.0), util)
                        worst[f"{bw} single"] = min(worst.get(f"{bw} single", 1.0), proj)
                        hit = util >= TARGET_UTILIZATION and \
                            vs_ideal * r["density"] >= TARGET_SPEEDUP
                        ok[bw] = ok.get(bw, True) and hit
    return rows, worst, ok


def workload(rows, bandwidths=BANDWIDTHS):
    """Whole workload (every layer, BP + WU) per case and bandwidth: ``{case: {bandwidth:
    (cycles, utilization, speedup vs the ideal dense engine, speedup vs the core fed dense)}}``
    (sums of cycles, updates and ideal cycles over the layers and both phases)."""
    acc = {}
    for r in rows:
        a = acc.setdefault(r["case"], {}).setdefault(r["bandwidth"], [0, 0, 0.0, 0.0, r["density"]])
        a[0] += r["cycles"]
        a[1] += r["updates"]
        a[2] += r["speedup_vs_ideal_dense"] * r["cycles"]
        a[3] += r["cycles"] * r["speedup_vs_dense_core"]
    return {case: {bw: (c, u / c, ideal / c, dense / c) for bw, (c, u, ideal, dense, _) in by.items()}
            for case, by in acc.items()}


def markdown(rows, worst, ok, bandwidths, real, dts_error, seconds):
    lines = ["# SparTANN end to end: conv layers on the PAPER core", "",
             f"`python -m sim.bench.spartann_system` ({seconds} s). All cycles of each layer's "
             "program (loads, runs, drains; units overlapping by the core's dispatch rule), "
             "external bandwidth B bytes per cycle per direction. util = T-lane updates with "
             "a nonzero GO value / all cycles; vs dense core = cycles fed dense GO / cycles; "
             "vs ideal = (true MACs / 32) / cycles.", "",
             "Real-run densities: " + ", ".join(f"{k} {v:.1%}" for k, v in real.items())
             + f"; DTS mean |s - s*| at s* = 0.5 (closed loop): paper rule "
             f"{dts_error['paper']:.2f} pp, relative variant {dts_error['relative']:.2f} pp.", "",
             "Lowest utilization over the layers, both phases and densities >= 5%: "
             + ", ".join(f"B = {bw}: {worst[bw]:.1%}" + (" (targets met)" if ok[bw] else "")
                         for bw in ("inf",) + tuple(bandwidths))
             + "; the same layers planned on half 0 only (no ping-pong): "
             + ", ".join(f"B = {bw}: {worst[f'{bw} single']:.1%}"
                         for bw in ("inf",) + tuple(bandwidths)), "",
             "## Whole workload (all layers, BP + WU)", "",
             "speedup over the ideal dense engine / utilization over all cycles / speedup over "
             "the same core fed dense", "",
             "| GO density | no limit | " + " | ".join(f"B = {bw}" for bw in bandwidths) + " |",
             "|---|---|" + "---|" * len(bandwidths)]
    for case, by in workload(rows, bandwidths).items():
        lines.append(f"| {case} | " + " | ".join(
            f"{by[bw][2]:.2f}x / {by[bw][1]:.1%} / {by[bw][3]:.2f}x"
            for bw in ("inf",) + tuple(bandwidths)) + " |")
    lines.append("")
    for phase in ("bp", "wu"):
        lines += [f"## {phase.upper()}", "",
                  "| layer | GO density | " + " | ".join(
                      f"B={bw}: cycles / util / vs dense core / vs ideal"
                      for bw in bandwidths) + " |",
                  "|---|---|" + "---|" * len(bandwidths)]
        table = {}
        for r in rows:
            if r["phase"] == phase and r["bandwidth"] != "inf":
                table.setdefault((r["layer"], r["case"]), {})[r["bandwidth"]] = r
        for (layer, case), by_bw in table.items():
            cells = [f"{by_bw[bw]['cycles']:,} / {by_bw[bw]['utilization']:.1%} / "
                     f"{by_bw[bw]['speedup_vs_dense_core']:.2f}x / "
                     f"{by_bw[bw]['speedup_vs_ideal_dense']:.2f}x" for bw in bandwidths]
            lines.append(f"| {layer} | {case} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def totals(result, bandwidth, cases, key="cycles"):
    """Whole workload (all layers, BP + WU) per case: ``{case: (speedup vs ideal, util)}``
    (``key="cycles_single"``: planned on half 0 only)."""
    out = {}
    for case in cases:
        cyc = sum(result[n][p][case][bandwidth][key] for n in result for p in ("bp", "wu"))
        upd = sum(result[n][p][case]["updates"] for n in result for p in ("bp", "wu"))
        ideal = sum(result[n][p][case]["ideal_dense_cycles"] for n in result
                    for p in ("bp", "wu"))
        out[case] = (ideal / cyc, upd / cyc)
    return out


def plot(result, bandwidths, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    cases = list(next(iter(result.values()))["bp"])
    uniform = sorted((c for c in cases if not c.startswith("real")),
                     key=lambda c: result[next(iter(result))]["bp"][c]["density"])
    dens = [result[next(iter(result))]["bp"][c]["density"] for c in uniform]
    for bw in ("inf",) + tuple(bandwidths):
        t = totals(result, bw, uniform)
        label = "no limit" if bw == "inf" else f"B = {bw} B/cycle"
        axes[0].plot(dens, [t[c][0] for c in uniform], "o-", ms=3, label=label)
        axes[1].plot(dens, [100 * t[c][1] for c in uniform], "o-", ms=3, label=label)
    t = totals(result, 64, uniform, "cycles_single")
    label = "B = 64, planned on half 0 only (no ping-pong)"
    axes[0].plot(dens, [t[c][0] for c in uniform], "s:", ms=3, color="tab:red", label=label)
    axes[1].plot(dens, [100 * t[c][1] for c in uniform], "s:", ms=3, color="tab:red",
                 label=label)
    axes[0].plot(dens, [1 / d for d in dens], "k--", lw=0.8, label="1 / density")
    real = [c for c in cases if c.startswith("real")]
    t = totals(result, 64, real)
    for c in real:
        d = result[next(iter(result))]["bp"][c]["density"]
        axes[0].plot([d], [t[c][0]], "r*", ms=9)
        axes[0].annotate(c.replace("real: ", ""), (d, t[c][0]), fontsize=6,
                         xytext=(4, 4), textcoords="offset points")
    axes[0].set(xscale="log", yscale="log", xlabel="GO density",
                ylabel="speedup over an ideal dense 32-lane engine",
                title="AlexNet conv2-5 + GoogLeNet 3x3, BP + WU, all cycles")
    axes[1].set(xscale="log", xlabel="GO density", ylabel="MAC-slot utilization (%)",
                title="utilization over all cycles", ylim=(0, 100))
    axes[1].axhline(90, color="k", lw=0.6, ls=":")
    for ax in axes:
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", default="build/reports", help="report folder")
    parser.add_argument("--plot", default=None,
                        help="plot file (default: OUT/spartann_system.png; '' to skip)")
    parser.add_argument("-j", "--jobs", type=int, default=None,
                        help="worker processes (default: the CPUs)")
    parser.add_argument("--quick", action="store_true",
                        help="one small layer, densities 10%% and 100%%, 20 CNN iterations "
                             "(a smoke run)")
    args = parser.parse_args(argv)
    t0 = time.time()
    layers, densities, iterations = LAYERS, DENSITIES, 120
    if args.quick:
        layers = {"small 3x3": ConvLayer(batch=1, m=64, z=64, h=8, w=8, k=3, stride=1, pad=1)}
        densities, iterations = (0.1, 1.0), 20
    real, dts_error = real_densities(iterations)
    result = measure(layers, densities, real, jobs=args.jobs)
    rows, worst, ok = summarize(result)
    meeting = [bw for bw in BANDWIDTHS if ok[bw]]
    chosen = meeting[0] if meeting else 64
    seconds = round(time.time() - t0, 1)
    text = markdown(rows, worst, ok, BANDWIDTHS, real, dts_error, seconds)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "spartann_system.md").write_text(text + "\n")
    summary = {
        "core": PAPER.as_dict(),
        "bandwidth_bytes_per_cycle": chosen,
        "min_utilization": worst[chosen],
        "min_utilization_by_bandwidth": {str(bw): worst[bw] for bw in worst
                                         if "single" not in str(bw)},
        "single_half_min_utilization_by_bandwidth": {
            str(bw).split()[0]: worst[bw] for bw in worst if "single" in str(bw)},
        "targets_met_by_bandwidth": {str(bw): ok[bw] for bw in ok},
        "smallest_bandwidth_meeting_targets": meeting[0] if meeting else None,
        "targets": {"utilization": TARGET_UTILIZATION,
                    "speedup_over_inverse_density": TARGET_SPEEDUP, "min_density": 0.05},
        "dts_real_mean_error_pp": dts_error,
        "real_densities": real,
        "workload_totals_at_64": {c: {"speedup_vs_ideal_dense": s, "utilization": u}
                                  for c, (s, u) in totals(
                                      result, 64, list(next(iter(result.values()))["bp"])).items()},
        "layers": {n: vars(l) for n, l in layers.items()},
        "rows": rows,
        "seconds": seconds,
    }
    (out / "spartann_system.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(text)
    plot_path = out / "spartann_system.png" if args.plot is None else args.plot
    if plot_path:
        try:
            plot(result, BANDWIDTHS, plot_path)
            print(f"plot: {plot_path}")
        except ImportError:
            print("plot skipped: matplotlib is not installed (make bench installs it)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
