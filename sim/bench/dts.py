"""Sparsity tracking of DTS against the paper's two baselines (Fig. 8a): on real gradients
(conv2's input gradient of a small CNN trained on digits, :mod:`sim.spartann.cnn`, closed
loop: the sparsified gradient is what trains conv1) and, as an extra case, on the synthetic
drifting, non-Gaussian sequence of :func:`sim.spartann.dts.gradient_sequence`.

    python -m sim.bench.dts -o build/reports [--plot PATH]

For s* = 0.5 and 0.7 it runs DTS (the bit-exact golden model of the RTL), the Gaussian
threshold ``|mu| + z sigma`` of the previous iteration and the static threshold (the
s*-quantile of ``|G_1|``), and reports mean and largest ``|s - s*|`` after the warm-up and how
often DTS's +-20% clamp binds. On real gradients also DTS's relative variant (beyond the
paper, default off: per-sample threshold ``k * max|GI_b|``, clamp x0.5..x2; its own warm-up
rule). Real gradients: one training run per method and target, the
warm-up from the data (:func:`sim.spartann.cnn.warm_up`: theta_1 = 0, theta_2 = max/100 and
the initial +20% climb); synthetic: ``WARM_UP`` iterations.
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
from sim.spartann import cnn
from sim.spartann.dts import WARM_UP, gradient_sequence, run_dts, run_gaussian, run_static
from hw.progress import note

__all__ = ["measure", "measure_real", "main"]

TARGETS = (0.5, 0.7)
METHODS = {"DTS": run_dts, "Gaussian": run_gaussian, "static": run_static}


def _entry(run, target, warm_up, variant="paper"):
    err = np.abs(run.sparsity[warm_up:] - target)
    binds = cnn.clamp_binds(run, target, variant)[max(warm_up - 1, 0):]
    return {"sparsity": run.sparsity.tolist(), "mean_err": float(err.mean()),
            "max_err": float(err.max()), "warm_up": warm_up,
            "binds_up": int((binds > 0).sum()), "binds_down": int((binds < 0).sum())}


def measure(iterations=60, elements=50_000, seed=2024, targets=TARGETS):
    """Synthetic sequence: ``{target: {method: {"sparsity": [...], "mean_err", "max_err",
    "warm_up", "binds_up", "binds_down"}}}`` (errors after ``WARM_UP`` iterations, as
    fractions; binds: updates after the warm-up whose ``s*/s`` lies beyond +-20%)."""
    grads = gradient_sequence(iterations, elements, seed)
    result = {}
    for target in targets:
        result[target] = {}
        for name, policy in METHODS.items():
            note(f"synthetic: s* = {target}, {name}")
            result[target][name] = _entry(policy(grads, target), target, WARM_UP)
    return result


def measure_real(iterations=120, seed=0, targets=TARGETS, variants=True):
    """Real gradients (closed loop, one training run per method and target): as
    :func:`measure`, with the warm-up of the DTS run (:func:`sim.spartann.cnn.warm_up`) for
    all three methods of a target, and ``accuracy`` / ``final_loss`` of each run. With
    ``variants``, also DTS's relative variant (beyond the paper; its own warm-up rule)."""
    result = {}
    for target in targets:
        result[target] = {}
        runs = {}
        for name, policy in cnn.POLICIES.items():
            note(f"real: s* = {target}, {name} ({iterations} iterations)")
            runs[name] = cnn.train(policy(target), iterations=iterations, seed=seed)
        warm = cnn.warm_up(runs["DTS"])
        for name, run in runs.items():
            result[target][name] = {**_entry(run, target, warm), "accuracy": run.accuracy,
                                    "final_loss": float(run.losses[-10:].mean())}
        for name, policy in (cnn.VARIANT_POLICIES.items() if variants else ()):
            note(f"real: s* = {target}, {name} ({iterations} iterations)")
            run = cnn.train(policy(target), iterations=iterations, seed=seed)
            result[target][name] = {**_entry(run, target, cnn.warm_up(run, "relative"),
                                             "relative"),
                                    "accuracy": run.accuracy,
                                    "final_loss": float(run.losses[-10:].mean())}
    return result


def table(result):
    lines = ["| s* | method | warm-up | mean abs(s - s*) | max abs(s - s*) "
             "| clamp binds up / down |",
             "|---|---|---|---|---|---|"]
    for target, methods in result.items():
        for name, r in methods.items():
            binds = f"{r['binds_up']} / {r['binds_down']}" if name.startswith("DTS") else "-"
            lines.append(f"| {target} | {name} | {r['warm_up']} | {100 * r['mean_err']:.2f} pp "
                         f"| {100 * r['max_err']:.2f} pp | {binds} |")
    return "\n".join(lines)


def plot(cases, path):
    """``cases``: ``{title: result}``, one row of panels (one per target) each."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ncols = max(len(r) for r in cases.values())
    fig, axes = plt.subplots(len(cases), ncols, figsize=(5.5 * ncols, 3.4 * len(cases)),
                             sharey=True, squeeze=False)
    styles = {"DTS": ("tab:red", "-"), "Gaussian": ("tab:blue", "--"),
              "static": ("tab:gray", ":"), "DTS relative": ("tab:green", "-")}
    for row, (title, result) in zip(axes, cases.items()):
        for ax, (target, methods) in zip(row, result.items()):
            iterations = np.arange(1, len(methods["DTS"]["sparsity"]) + 1)
            warm = methods["DTS"]["warm_up"]
            ax.axvspan(0.5, warm + 0.5, color="0.93", label="warm-up")
            ax.axhline(target, color="k", lw=0.8, label=f"target s* = {target}")
            for name, r in methods.items():
                color, dash = styles[name]
                ax.plot(iterations, r["sparsity"], dash, color=color, lw=1.3,
                        label=f"{name} (mean error {100 * r['mean_err']:.1f} pp)")
            ax.set_xlabel("training iteration")
            ax.set_title(f"{title}, s* = {target}", fontsize=9)
            ax.set_ylim(0, 1)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, loc="lower right")
        row[0].set_ylabel("sparsity (zeros / elements)")
    fig.suptitle("Threshold sparsification: tracking the target sparsity", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", default="build/reports", help="report folder")
    parser.add_argument("--plot", default=None,
                        help="plot file (default: OUT/dts_tracking.png; '' to skip)")
    parser.add_argument("--iterations", type=int, default=120,
                        help="training iterations of the CNN (real gradients)")
    parser.add_argument("--seed", type=int, default=0, help="CNN seed")
    parser.add_argument("--synthetic-iterations", type=int, default=60)
    parser.add_argument("--elements", type=int, default=50_000, help="synthetic elements")
    parser.add_argument("--synthetic-seed", type=int, default=2024)
    args = parser.parse_args(argv)

    real = measure_real(args.iterations, args.seed)
    synthetic = measure(args.synthetic_iterations, args.elements, args.synthetic_seed)
    unit = DTSUnit()
    text = (f"# DTS sparsity tracking\n\n"
            f"## Real gradients (default)\n\nconv2 input gradient of the digits CNN "
            f"(sim/spartann/cnn.py), {args.iterations} training iterations (seed {args.seed}), "
            f"closed loop; warm-up from the data (theta_1 = 0, theta_2 = max/100, the initial "
            f"+20% climb); clamp binds (+20% / -20%; x2 / x0.5 for the relative variant) "
            f"counted after it.\n\n{table(real)}\n\n"
            f"## Synthetic sequence (extra case)\n\n{args.synthetic_iterations} iterations of "
            f"{args.elements} elements (seed {args.synthetic_seed}); errors after a warm-up of "
            f"{WARM_UP} iterations.\n\n{table(synthetic)}\n\n"
            f"RTL update latency (default DTSUnit): {unit.cycles} cycles.\n")
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "dts.md").write_text(text)
    summary = {"real": {"iterations": args.iterations, "seed": args.seed,
                        "results": {str(t): m for t, m in real.items()}},
               "synthetic": {"iterations": args.synthetic_iterations, "elements": args.elements,
                             "seed": args.synthetic_seed, "warm_up": WARM_UP,
                             "results": {str(t): m for t, m in synthetic.items()}},
               "rtl_cycles": unit.cycles}
    (out / "dts.json").write_text(json.dumps(summary, indent=1))
    plot_path = out / "dts_tracking.png" if args.plot is None else args.plot
    if plot_path:
        try:
            plot({"real gradients (digits CNN, conv2 GI)": real,
                  "synthetic sequence": synthetic}, plot_path)
            print(f"plot: {plot_path}")
        except ImportError:
            print("plot skipped: matplotlib is not installed (make bench installs it)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
