"""SparTANN benchmark: BP and WU job cycles measured on the RTL at GO densities 5%-100%.

``python -m sim.bench.spartann -o build/reports [--sim verilator] [--config 8:4 ...]``
(``MAC_LATENCY:WU_WINDOW`` pairs; default 8:4 (the preset), 8:0 (in-order WU), 23:4, 23:8)

For each density a job of ``cols`` GO columns of ``rows`` output channels (uniformly random
nonzeros) runs as RUN_BP and as RUN_WU on one core; the core's own ``run_cycles`` counter is
read back and compared with the cycle model (``sim/spartann/cycles.py``) and with the ideal
(one nonzero per cycle). Speedup over the same hardware fed dense = cycles of the 100%-dense
job / cycles of the sparse job (the target: close to 1/density). The drained buffers are
checked bit for bit against the core model. Loading costs (LOAD_* command cycles measured on
the RTL) are reported separately: commands run one at a time, so loads are not hidden.
Cycles do not depend on T (the lanes work in lock step), so a narrow core is simulated.
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from hw.spartann.config import PAPER
from sim.spartann import csc
from sim.spartann.model import CoreModel
from sim.spartann.cycles import ideal_cycles, schedule
from sim.spartann.tb_core import run_on_rtl
from hw.progress import note

DENSITIES = (0.05, 0.10, 0.25, 0.50, 0.75, 1.00)


def _random_fp32(rng, shape):
    """Finite FP32 bit patterns of moderate magnitude (no NaN/inf: the bench measures time)."""
    values = rng.standard_normal(shape).astype(np.float32)
    return values.view(np.uint32).astype(np.uint64)


def _job(rng, rows, cols, density, idx_bits):
    """GO matrix (rows x cols) with exactly round(density * rows) nonzeros per column,
    rows chosen at random, encoded; columns ordered longest first (all equal here)."""
    go = np.zeros((rows, cols), dtype=np.uint64)
    keep = max(1, round(density * rows))
    for c in range(cols):
        chosen = rng.choice(rows, size=keep, replace=False)
        go[chosen, c] = _random_fp32(rng, keep)
    return go, csc.encode(go, idx_bits)


def measure(params, rows, cols, densities=DENSITIES, sim="verilator", seed=7):
    """Runs every density's BP and WU job on the RTL; returns a list of result dicts."""
    rng = np.random.default_rng(seed)
    w = _random_fp32(rng, (rows, params.T))
    ia = _random_fp32(rng, (cols, params.T))
    program, jobs = [], []
    for density in densities:
        go, entries = _job(rng, rows, cols, density, params.idx_bits)
        addr, skip = list(range(cols)), [0] * cols
        program += [{"op": "load_b", "vectors": w}, {"op": "load_sparse", "entries": entries},
                    {"op": "load_cols", "addr": addr, "skip": skip}, {"op": "run_bp"},
                    {"op": "drain_out", "count": cols},
                    {"op": "load_a", "vectors": ia}, {"op": "load_b",
                                                      "vectors": np.zeros_like(w)},
                    {"op": "run_wu"}, {"op": "drain_b", "count": rows}]
        jobs.append((density, entries, skip))
    model = CoreModel(params)
    want = model.execute(program)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.time()
        result = run_on_rtl(params, [{"program": program, "gap_prob": 0.0, "stall_prob": 0.0}],
                            sim=sim, seed=seed, out_dir=tmp,
                            toplevel=f"spartann_bench_t{params.T}_l{params.mac_latency}_w{params.wu_window}")
        wall = time.time() - t0
    got = [np.asarray(d, dtype=np.uint64) for d in result["drained"]]
    exact = len(got) == len(want) and all(np.array_equal(g, w_) for g, w_ in zip(got, want))
    commands = result["segments"][0]["commands"]
    runs = result["runs"]
    out = []
    per_density = len(program) // len(densities)
    for k, (density, entries, skip) in enumerate(jobs):
        cmds = commands[k * per_density:(k + 1) * per_density]
        for phase, run in zip(("bp", "wu"), runs[2 * k:2 * k + 2]):
            model_sched = schedule(phase, entries, skip, params.loop_latency, params.wu_window)
            out.append({
                "density": density, "phase": phase, "entries": len(entries),
                "macs": run["run_macs"], "rtl_cycles": run["run_cycles"],
                "model_cycles": model_sched.run_cycles,
                "ideal_cycles": ideal_cycles(entries, skip, params.loop_latency),
                "utilization": run["run_macs"] / run["run_cycles"],
                "load_cycles": (cmds[0] + cmds[1] + cmds[2]) if phase == "bp"
                else (cmds[5] + cmds[6] + cmds[1] + cmds[2]),
                "drain_cycles": cmds[4] if phase == "bp" else cmds[8],
            })
    dense = {r["phase"]: r["rtl_cycles"] for r in out if r["density"] == 1.0}
    for r in out:
        r["speedup"] = dense[r["phase"]] / r["rtl_cycles"]
        r["speedup_vs_ideal"] = r["speedup"] * r["density"]
    return out, {"bit_exact": exact, "sim_wall_s": round(wall, 1)}


def markdown(results, info, params, rows, cols):
    lines = [f"# SparTANN job cycles on the RTL ({info['sim']}, T={params.T}, "
             f"mac_latency={params.mac_latency}, loop_latency={params.loop_latency}, "
             f"wu_window={params.wu_window})", "",
             f"Job: {cols} GO columns x {rows} output channels; BP and WU; drained buffers "
             f"bit-exact vs the core model: {info['bit_exact']}. Simulation {info['sim_wall_s']} s.",
             "",
             "| density | phase | entries | MACs | RTL cycles | model | ideal | util | speedup "
             "vs dense | x density | loads (cycles) | drain |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['density']:.0%} | {r['phase']} | {r['entries']} | {r['macs']} | "
                     f"{r['rtl_cycles']} | {r['model_cycles']} | {r['ideal_cycles']} | "
                     f"{r['utilization']:.1%} | {r['speedup']:.2f} | "
                     f"{r['speedup_vs_ideal']:.3f} | {r['load_cycles']} | {r['drain_cycles']} |")
    lines += ["", "util = MACs / RTL cycles (one T-lane update per cycle is 100%); "
              "x density = speedup x density (1.0 = exactly 1/density); loads = LOAD_B + "
              "LOAD_SPARSE + LOAD_COLS (+ LOAD_A for WU) command cycles, not overlapped with "
              "the run."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", default="build/reports")
    parser.add_argument("--sim", default="verilator")
    parser.add_argument("--T", type=int, default=4)
    parser.add_argument("--rows", type=int, default=128)
    parser.add_argument("--cols", type=int, default=128)
    parser.add_argument("--config", nargs="+", default=["8:4", "8:0", "23:4", "23:8"],
                        help="MAC_LATENCY:WU_WINDOW pairs")
    args = parser.parse_args(argv)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    report, texts = [], []
    for config in args.config:
        note(f"mac_latency:wu_window {config}: jobs on the RTL ({args.sim}) ...")
        mac_latency, wu_window = (int(x) for x in config.split(":"))
        params = PAPER.replace(T=args.T, sparse_depth=args.rows * args.cols, b_rows=args.rows,
                               a_rows=args.cols, out_rows=args.cols, max_cols=args.cols,
                               mac_latency=mac_latency, wu_window=wu_window)
        results, info = measure(params, args.rows, args.cols, sim=args.sim)
        info["sim"] = args.sim
        report.append({"params": params.as_dict(), "info": info, "results": results})
        texts.append(markdown(results, info, params, args.rows, args.cols))
        print(texts[-1])
    (out_dir / "spartann_jobs.md").write_text("\n".join(texts))
    (out_dir / "spartann_jobs.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
