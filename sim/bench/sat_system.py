"""Benchmark: one whole ResNet-18 training iteration (224x224, batch 32) on the PAPER SAT core
as a system, dense and 2:8, at several external bandwidths: every load and drain counted.

For each bandwidth ``B`` (bytes/cycle, shared by din and dout; :mod:`sim.sat.system`) the
planner (:mod:`sim.sat.planner`) emits the iteration's command program (forward, backward
dX as sub-pixel phase GEMMs, weight gradient, SGD, and at 2:8 both PRUNEs of BDWP; true
MACs from :func:`sim.bench.sat_resnet18.layer_gemms`) and the system model times it. The beat
(``data_width``) is the paper's 512 bits, or the smallest power of two whose bytes reach
``B`` (so that one stream alone can use all of it); every other parameter is
:data:`hw.sat.config.PAPER`.

Reported per bandwidth and mode: end-to-end cycles, utilization (dense: true MACs / (1024 x
cycles)), GOPS at 180 MHz (2 x the dense iteration's true MACs / time: for 2:8 the
dense-equivalent rate), unit busy cycles, bytes moved per phase; the 2:8 whole-iteration
speedup; the array-only figures of :mod:`sim.bench.sat_resnet18` next to them. Targets
(issue 11): dense utilization >= 0.90 and 2:8 speedup >= 1.85 at <= 128 B/cycle.

Run: ``python -m sim.bench.sat_system [-o build/reports] [--plot PATH]``; writes
``sat_system.{json,md,png}``; the docs' figure is refreshed only by asking:
``--plot docs/img/sat_system.png``.
"""

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

from hw.progress import note
from hw.sat.config import PAPER
from sim.bench import sat_resnet18
from sim.bench.sat_resnet18 import LAYERS
from sim.sat.planner import plan_iteration, true_macs
from sim.sat.system import simulate

__all__ = ["BANDWIDTHS", "CLOCK_MHZ", "TARGETS", "beat_width", "timing_of", "measure", "run",
           "main"]

#: External bandwidths (bytes/cycle) of the table; 427 = four DDR4-2400 channels at 180 MHz.
BANDWIDTHS = (32, 64, 128, 256, 427)
#: The paper's clock.
CLOCK_MHZ = 180
#: Issue 11's targets: dense utilization, 2:8 speedup, at most this bandwidth.
TARGETS = {"dense_utilization": 0.90, "speedup_2of8": 1.85, "bandwidth": 128}
#: The paper's figures (end to end, XCVU9P at 180 MHz).
PAPER_FIGURES = {"gops": 299.86, "utilization": 299.86 / (2 * 1024 * 0.18),
                 "speedup_2of8": 1.75}


def beat_width(bandwidth, base=PAPER.data_width):
    """The beat: ``base`` bits, or the smallest power of two of bits whose bytes reach
    ``bandwidth``."""
    width = base
    while width // 8 < bandwidth:
        width *= 2
    return width


def timing_of(config):
    """:attr:`hw.sat.core.SatCore.timing` of ``config`` (builds the core's Python object;
    nothing is elaborated)."""
    from hw.sat.core import SatCore
    return SatCore(config).timing


def measure(bandwidth, batch=32, config=PAPER, layers=LAYERS, sparse=True, data_width=None):
    """Plan and time one iteration; returns a JSON-able dict."""
    width = data_width or beat_width(bandwidth, config.data_width)
    cfg = replace(config, data_width=width)
    timing = timing_of(cfg)
    t0 = time.monotonic()
    steps, gemms, plan = plan_iteration(layers, batch, cfg, timing, bandwidth, sparse=sparse)
    tl = simulate(steps, cfg, timing, bandwidth)
    # per GEMM the slower of its array cycles and its bytes at B: what perfect overlap within
    # each GEMM (and none across GEMMs) would give, plus the update's EX work
    bound = sum(max(t.cycles, t.bytes / (bandwidth or width / 8)) for _, t in plan.tilings)
    update = sum(v["ex_cycles"] for k, v in tl.by("phase").items() if k in ("SGD", "PRUNE"))
    phases = {k: {"bytes_in": int(v["bytes_in"]), "bytes_out": int(v["bytes_out"]),
                  "ex_cycles": int(v["ex_cycles"]), "commands": v["commands"]}
              for k, v in tl.by("phase").items() if k}
    return {"bandwidth": bandwidth, "data_width": width, "mode": "2:8" if sparse else "dense",
            "commands": len(steps), "cycles": tl.cycles, "macs": true_macs(gemms),
            "gemm_bound": int(bound + update),
            "busy": {k: int(v) for k, v in tl.busy.items()},
            "bytes_in": int(tl.bytes["din"]), "bytes_out": int(tl.bytes["dout"]),
            "phases": phases, "seconds": round(time.monotonic() - t0, 1)}


def _row(dense, sparse, slots):
    macs = dense["macs"]
    clock = CLOCK_MHZ * 1e6
    return {"bandwidth": dense["bandwidth"], "data_width": dense["data_width"],
            "dense_cycles": dense["cycles"], "sparse_cycles": sparse["cycles"],
            "dense_utilization": macs / (slots * dense["cycles"]),
            "dense_gops": 2 * macs / dense["cycles"] * clock / 1e9,
            "sparse_gops_dense_equivalent": 2 * macs / sparse["cycles"] * clock / 1e9,
            "speedup_2of8": dense["cycles"] / sparse["cycles"],
            "dense_seconds": dense["cycles"] / clock, "sparse_seconds": sparse["cycles"] / clock,
            "dense": dense, "sparse": sparse}


def _meets(row):
    return (row["dense_utilization"] >= TARGETS["dense_utilization"]
            and row["speedup_2of8"] >= TARGETS["speedup_2of8"])


def run(bandwidths=BANDWIDTHS, batch=32, config=PAPER, search=True):
    """The per-bandwidth table and the summary (see the module doc). ``search``: also
    bisect (to 8 B/cycle) for the smallest bandwidth that meets the targets."""
    slots = config.rows * config.cols
    rows = []
    for bw in bandwidths:
        note(f"B = {bw} B/cycle: dense")
        dense = measure(bw, batch, config, sparse=False)
        note(f"B = {bw} B/cycle: 2:8 ({dense['seconds']} s dense)")
        sparse = measure(bw, batch, config, sparse=True)
        rows.append(_row(dense, sparse, slots))
    met = [r for r in rows if _meets(r)]
    smallest = min((r["bandwidth"] for r in met), default=None)
    extra = []
    if search and smallest is not None:
        below = max((r["bandwidth"] for r in rows if r["bandwidth"] < smallest), default=0)
        lo, hi = below, smallest
        while hi - lo > 8:
            mid = (lo + hi) // 2
            note(f"search: B = {mid} B/cycle")
            r = _row(measure(mid, batch, config, sparse=False),
                     measure(mid, batch, config, sparse=True), slots)
            extra.append(r)
            lo, hi = (lo, mid) if _meets(r) else (mid, hi)
        smallest = hi
    ref = next((r for r in rows if r["bandwidth"] == TARGETS["bandwidth"]), rows[-1])
    _, array = sat_resnet18.run(batch=batch, rows=config.rows, cols=config.cols, n=config.n,
                                m=config.m, mul_latency=config.mul_latency,
                                add_latency=config.add_latency)
    summary = {
        "network": f"ResNet-18 224x224, batch {batch}, one training iteration (BDWP)",
        "core": f"PAPER ({config.rows}x{config.cols}, {config.n}:{config.m})",
        "scope": "end to end: every LOAD, GEMM, SGD, PRUNE and DRAIN of the iteration on the "
                 "system model (decoupled LD/EX/ST units, in-order dispatch, conflicts, "
                 "external bandwidth shared by din and dout); true MACs; host work not modelled",
        "bandwidth_bytes_per_cycle": ref["bandwidth"],
        "data_width": ref["data_width"],
        "dense_utilization": ref["dense_utilization"],
        "speedup_2of8": ref["speedup_2of8"],
        "dense_gops": ref["dense_gops"],
        "clock_mhz": CLOCK_MHZ,
        "targets": TARGETS,
        "targets_met": {"bandwidth": ref["bandwidth"], "met": _meets(ref)},
        "smallest_bandwidth_meeting_targets": smallest,
        "array_only": {"dense_utilization": array["dense_utilization"],
                       "speedup_2of8": array["iteration_speedup"],
                       "speedup_limit": array["iteration_speedup_limit"],
                       "dense_cycles": array["dense"], "sparse_cycles": array["sparse"],
                       "scope": array["scope"]},
        "paper": PAPER_FIGURES,
    }
    return rows, extra, summary


def _markdown(rows, extra, s):
    lines = [f"# SAT system: {s['network']}, {s['core']} at {s['clock_mhz']} MHz", "",
             f"Scope: {s['scope']}.", "",
             "| B (B/cycle) | beat (bits) | dense cycles | dense util | dense GOPS | 2:8 cycles "
             "| 2:8 GOPS (dense-equiv.) | 2:8 speedup | 2:8 EX busy | 2:8 per-GEMM bound |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows + extra, key=lambda r: r["bandwidth"]):
        sp = r["sparse"]
        lines.append(f"| {r['bandwidth']} | {r['data_width']} | {r['dense_cycles']:,} | "
                     f"{r['dense_utilization']:.3f} | {r['dense_gops']:.1f} | "
                     f"{r['sparse_cycles']:,} | {r['sparse_gops_dense_equivalent']:.1f} | "
                     f"{r['speedup_2of8']:.3f}x | {sp['busy']['EX']:,} | "
                     f"{sp['gemm_bound']:,} |")
    a, p = s["array_only"], s["paper"]
    lines += ["", "EX busy: cycles the EX unit works (GEMM, SGD, PRUNE, SET). Per-GEMM bound: the "
              "sum over GEMMs of the slower of their array cycles and their wire bytes / B, "
              "plus the update's EX cycles (perfect overlap inside each GEMM, none across).",
              "", f"Array only ({a['scope']}): dense utilization {a['dense_utilization']:.3f}, "
              f"2:8 speedup {a['speedup_2of8']:.3f}x (limit {a['speedup_limit']:.3f}x). Paper "
              f"(end to end): {p['gops']} GOPS = {p['utilization']:.3f} utilization, 2:8 "
              f"{p['speedup_2of8']}x.", "",
              f"Targets (dense >= {s['targets']['dense_utilization']}, 2:8 >= "
              f"{s['targets']['speedup_2of8']}x at <= {s['targets']['bandwidth']} B/cycle): "
              f"{'met' if s['targets_met']['met'] else 'not met'} at "
              f"{s['targets_met']['bandwidth']} B/cycle; smallest bandwidth meeting them: "
              f"{s['smallest_bandwidth_meeting_targets']} B/cycle.", "",
              "Bytes moved per phase (MB, in / out) and EX cycles (M):", "",
              "| B | mode | " + " | ".join(
                  ("FW", "BW dX", "WU dW", "SGD", "PRUNE")) + " |",
              "|---|---|---|---|---|---|---|"]
    for r in rows:
        for mode in ("dense", "sparse"):
            ph = r[mode]["phases"]
            cells = [f"{ph[k]['bytes_in'] / 1e6:,.0f} / {ph[k]['bytes_out'] / 1e6:,.0f} "
                     f"({ph[k]['ex_cycles'] / 1e6:.2f})" if k in ph else "-"
                     for k in ("FW", "BW dX", "WU dW", "SGD", "PRUNE")]
            lines.append(f"| {r['bandwidth']} | {r[mode]['mode']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(rows, summary, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bws = [r["bandwidth"] for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    ax1.plot(bws, [r["dense_gops"] for r in rows], "o-", label="dense")
    ax1.plot(bws, [r["sparse_gops_dense_equivalent"] for r in rows], "s-",
             label="2:8 (dense-equivalent)")
    ax1.axhline(summary["paper"]["gops"], color="gray", ls=":", label="paper (299.86)")
    ax1.axhline(2 * 1024 * CLOCK_MHZ / 1000, color="k", lw=0.8, label="dense peak (368.6)")
    ax1.set_xscale("log", base=2)
    ax1.set_xticks(bws, [str(b) for b in bws])
    ax1.set_xlabel("external bandwidth B (bytes/cycle)")
    ax1.set_ylabel(f"GOPS at {CLOCK_MHZ} MHz")
    ax1.legend(fontsize=7)
    ax1.grid(alpha=0.3)
    ax2.plot(bws, [r["speedup_2of8"] for r in rows], "o-", color="tab:red",
             label="2:8 speedup, end to end")
    ax2.axhline(summary["array_only"]["speedup_2of8"], color="tab:red", ls="--", lw=0.8,
                label="array only")
    ax2.axhline(summary["array_only"]["speedup_limit"], color="k", lw=0.8,
                label="limit (true MACs)")
    ax2.axhline(summary["targets"]["speedup_2of8"], color="gray", ls=":", label="target")
    ax2.axhline(summary["paper"]["speedup_2of8"], color="tab:blue", ls=":", label="paper")
    ax2.set_xscale("log", base=2)
    ax2.set_xticks(bws, [str(b) for b in bws])
    ax2.set_xlabel("external bandwidth B (bytes/cycle)")
    ax2.set_ylabel("whole-iteration speedup")
    ax2.legend(fontsize=7)
    ax2.grid(alpha=0.3)
    fig.suptitle("SAT ResNet-18 training iteration, end to end (system model)", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default="build/reports")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--bandwidths", default=",".join(map(str, BANDWIDTHS)),
                        help="comma-separated bytes/cycle")
    parser.add_argument("--no-search", action="store_true",
                        help="skip the search for the smallest bandwidth meeting the targets")
    parser.add_argument("--plot", default=None,
                        help="plot file (default: OUT/sat_system.png; '' to skip)")
    args = parser.parse_args(argv)
    bws = tuple(int(b) for b in args.bandwidths.split(","))
    rows, extra, summary = run(bws, args.batch, search=not args.no_search)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    summary["table"] = [{k: v for k, v in r.items() if k not in ("dense", "sparse")}
                        for r in sorted(rows + extra, key=lambda r: r["bandwidth"])]
    (out / "sat_system.json").write_text(json.dumps(
        {**summary, "per_bandwidth": rows, "search": extra}, indent=1) + "\n")
    (out / "sat_system.md").write_text(_markdown(rows, extra, summary))
    print(_markdown(rows, extra, summary))
    path = out / "sat_system.png" if args.plot is None else args.plot
    if path:
        try:
            plot(rows, summary, path)
            print(f"plot: {path}")
        except ImportError:
            print("plot skipped: matplotlib is not installed (make bench installs it)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
