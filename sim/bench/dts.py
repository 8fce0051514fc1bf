"""Sparsity tracking of DTS against the paper's two baselines (Fig. 8a), on the synthetic
drifting, non-Gaussian gradient sequence of :func:`sim.spartann.dts.gradient_sequence`.

    python -m sim.bench.dts -o build/reports [--plot PATH]

For s* = 0.5 and 0.7 it runs DTS (the bit-exact golden model of the RTL), the Gaussian
threshold ``|mu| + z sigma`` of the previous iteration and the static threshold (the
s*-quantile of ``|G_1|``), and reports mean and largest ``|s - s*|`` after the warm-up.
Writes ``dts.md``, ``dts.json`` and, where matplotlib is installed (``make bench`` installs
it), the plot ``dts_tracking.png`` to the output folder; ``--plot PATH`` puts the plot
elsewhere (the docs' figure is refreshed only by asking: ``--plot docs/img/dts_tracking.png``),
``--plot ''`` skips it.
"""

import argparse
import json
from pathlib import Path

import numpy as np

from hw.spartann.dts import DTSUnit
from sim.spartann.dts import WARM_UP, gradient_sequence, run_dts, run_gaussian, run_static
from hw.progress import note

__all__ = ["measure", "main"]

TARGETS = (0.5, 0.7)
METHODS = {"DTS": run_dts, "Gaussian": run_gaussian, "static": run_static}


def measure(iterations=60, elements=50_000, seed=2024, targets=TARGETS):
    """``{target: {method: {"sparsity": [...], "mean_err", "max_err"}}}`` (errors after
    ``WARM_UP`` iterations, as fractions)."""
    grads = gradient_sequence(iterations, elements, seed)
    result = {}
    for target in targets:
        note(f"target sparsity {target}")
        result[target] = {}
        for name, policy in METHODS.items():
            s = policy(grads, target).sparsity
            err = np.abs(s[WARM_UP:] - target)
            result[target][name] = {"sparsity": s.tolist(), "mean_err": float(err.mean()),
                                    "max_err": float(err.max())}
    return result


def table(result):
    lines = ["| s* | method | mean abs(s - s*) | max abs(s - s*) |", "|---|---|---|---|"]
    for target, methods in result.items():
        for name, r in methods.items():
            lines.append(f"| {target} | {name} | {100 * r['mean_err']:.2f} pp "
                         f"| {100 * r['max_err']:.2f} pp |")
    return "\n".join(lines)


def plot(result, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(result), figsize=(5.5 * len(result), 3.6), sharey=True)
    styles = {"DTS": ("tab:red", "-"), "Gaussian": ("tab:blue", "--"),
              "static": ("tab:gray", ":")}
    for ax, (target, methods) in zip(np.atleast_1d(axes), result.items()):
        iterations = np.arange(1, len(methods["DTS"]["sparsity"]) + 1)
        ax.axvspan(0.5, WARM_UP + 0.5, color="0.93", label="warm-up")
        ax.axhline(target, color="k", lw=0.8, label=f"target s* = {target}")
        for name, r in methods.items():
            color, dash = styles[name]
            ax.plot(iterations, r["sparsity"], dash, color=color, lw=1.6,
                    label=f"{name} (mean error {100 * r['mean_err']:.1f} pp)")
        ax.set_xlabel("training iteration")
        ax.set_title(f"s* = {target}")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    np.atleast_1d(axes)[0].set_ylabel("sparsity of G (zeros / elements)")
    fig.suptitle("Threshold sparsification: tracking the target sparsity "
                 "(synthetic drifting Laplace/Student-t gradients)", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", default="build/reports", help="report folder")
    parser.add_argument("--plot", default=None,
                        help="plot file (default: OUT/dts_tracking.png; '' to skip)")
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--elements", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args(argv)

    result = measure(args.iterations, args.elements, args.seed)
    unit = DTSUnit()
    text = (f"# DTS sparsity tracking\n\n{args.iterations} iterations of {args.elements} "
            f"elements (seed {args.seed}); errors after a warm-up of {WARM_UP} iterations.\n\n"
            f"{table(result)}\n\nRTL update latency (default DTSUnit): {unit.cycles} cycles.\n")
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "dts.md").write_text(text)
    summary = {"iterations": args.iterations, "elements": args.elements, "seed": args.seed,
               "warm_up": WARM_UP, "rtl_cycles": unit.cycles,
               "results": {str(t): m for t, m in result.items()}}
    (out / "dts.json").write_text(json.dumps(summary, indent=1))
    plot_path = out / "dts_tracking.png" if args.plot is None else args.plot
    if plot_path:
        try:
            plot(result, plot_path)
            print(f"plot: {plot_path}")
        except ImportError:
            print("plot skipped: matplotlib is not installed (make bench installs it)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
