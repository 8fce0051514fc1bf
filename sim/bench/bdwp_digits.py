"""Benchmark: golden BDWP training (``sim/sat/bdwp.py``) on digits, dense vs N:M.

For every N:M (``N = M`` is dense on the same code path) and seed: ``--steps`` golden steps
(array-exact FP16 x FP16 -> FP32 GEMMs, WUVE, OSRE), test accuracy every ``--eval-every``
steps, the same training in plain float32 numpy (BLAS, same masks), and the STCE work of
one step (kept MACs; cycles from ``sim.sat.cycles`` on a ``--rows`` x ``--cols`` array).
Writes ``bdwp_digits.md`` and ``bdwp_digits.json`` to ``-o``.
Run: ``python -m sim.bench.bdwp_digits -o build/reports``.
"""

import argparse
import json
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from sim.sat import bdwp
from sim.sat.cycles import gemm_cycles
from hw.progress import note

CONFIGS = [(8, 8), (2, 4), (2, 8), (1, 4), (1, 8)]


def step_gemms(cfg):
    """(name, T, K, C, N) of the step's GEMMs (K padded to a multiple of M)."""
    pad = lambda k: -(-k // cfg.m) * cfg.m
    b, h, n, m = cfg.batch, cfg.hidden, cfg.n, cfg.m
    return [("fwd1", b, bdwp.FEATURES, h, n), ("fwd2", b, h, bdwp.CLASSES, n),
            ("bwd2", b, pad(bdwp.CLASSES), h, n), ("wg2", bdwp.CLASSES, b, h, m),
            ("wg1", h, b, bdwp.FEATURES, m)]


def step_cost(cfg, rows, cols):
    gemms = step_gemms(cfg)
    macs = sum(t * k * n // cfg.m * c for _, t, k, c, n in gemms)
    cycles = sum(gemm_cycles(t, k, c, n, cfg.m, rows, cols, 2, 3) for _, t, k, c, n in gemms)
    return macs, cycles


def _one(args):
    n, m, seed, steps, eval_every, hidden, batch = args
    cfg = bdwp.Config(n=n, m=m, seed=seed, hidden=hidden, batch=batch)
    data = bdwp.load_data()
    start = time.time()
    with np.errstate(all="ignore"):
        result = bdwp.train(cfg, steps, data, eval_every=eval_every)
    return {"n": n, "m": m, "seed": seed, "test_acc": result["test_acc"],
            "train_acc": result["train_acc"], "curve": result["curve"],
            "numpy_f32_test_acc": bdwp.train_numpy_f32(cfg, steps, data),
            "seconds": round(time.time() - start, 1)}


def run(steps=1000, seeds=(0, 1, 2), configs=CONFIGS, eval_every=100, hidden=64, batch=32,
        rows=4, cols=4, jobs=1, log=note):
    tasks = [(n, m, s, steps, eval_every, hidden, batch) for n, m in configs for s in seeds]
    runs = []
    with Pool(jobs) as pool:
        for r in pool.imap(_one, tasks):
            log(f"{r['n']}:{r['m']} seed {r['seed']}: test {r['test_acc']:.4f} "
                f"(numpy float32 {r['numpy_f32_test_acc']:.4f}) in {r['seconds']} s")
            runs.append(r)
    rows_out = []
    for n, m in configs:
        mine = [r for r in runs if (r["n"], r["m"]) == (n, m)]
        cfg = bdwp.Config(n=n, m=m, hidden=hidden, batch=batch)
        macs, cycles = step_cost(cfg, rows, cols)
        acc = [r["test_acc"] for r in mine]
        rows_out.append({"nm": "dense" if n == m else f"{n}:{m}", "n": n, "m": m,
                         "test_acc_mean": float(np.mean(acc)), "test_acc_min": min(acc),
                         "test_acc_max": max(acc),
                         "train_acc_mean": float(np.mean([r["train_acc"] for r in mine])),
                         "numpy_f32_test_acc_mean": float(np.mean(
                             [r["numpy_f32_test_acc"] for r in mine])),
                         "step_macs": macs, "step_cycles": cycles})
    dense = next(r for r in rows_out if r["n"] == r["m"])
    for r in rows_out:
        r["vs_dense_points"] = 100 * (r["test_acc_mean"] - dense["test_acc_mean"])
        r["step_speedup"] = dense["step_cycles"] / r["step_cycles"]
    setup = {"steps": steps, "seeds": list(seeds), "hidden": hidden, "batch": batch,
             "eval_every": eval_every, "array": f"{rows}x{cols}",
             **{k: getattr(bdwp.Config(), k) for k in ("lr", "mu", "wd", "loss_scale")}}
    return {"setup": setup, "summary": rows_out, "runs": runs}


def markdown(report):
    s = report["setup"]
    lines = [f"BDWP on digits: 64-{s['hidden']}-10 MLP, batch {s['batch']}, {s['steps']} steps, "
             f"seeds {s['seeds']}, lr {s['lr']}, momentum {s['mu']}, wd {s['wd']}, "
             f"loss scale {s['loss_scale']}; STCE cycles per step from the cycle model on "
             f"{s['array']}.", "",
             "| N:M | test acc (mean) | min..max | vs dense | train acc | numpy float32 "
             "| MACs/step | STCE cycles/step | speedup |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in report["summary"]:
        lines.append(f"| {r['nm']} | {100 * r['test_acc_mean']:.2f}% | "
                     f"{100 * r['test_acc_min']:.2f}..{100 * r['test_acc_max']:.2f} | "
                     f"{r['vs_dense_points']:+.2f} | {100 * r['train_acc_mean']:.2f}% | "
                     f"{100 * r['numpy_f32_test_acc_mean']:.2f}% | {r['step_macs']:,} | "
                     f"{r['step_cycles']:,} | {r['step_speedup']:.2f}x |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-o", "--output", default="build/reports")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..SEEDS-1")
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    args = parser.parse_args(argv)
    report = run(steps=args.steps, seeds=tuple(range(args.seeds)), eval_every=args.eval_every,
                 jobs=args.jobs)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bdwp_digits.json").write_text(json.dumps(report, indent=1))
    text = markdown(report)
    (out / "bdwp_digits.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
