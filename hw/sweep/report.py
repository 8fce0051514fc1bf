"""Tables, Pareto fronts, plots and the markdown report of a sweep; HDL-free. matplotlib is
optional (the ``bench`` extra): without it the report lists the fronts and draws no pictures.
"""

import csv
import json
import statistics
from pathlib import Path

from .energy import SOURCES, TECHNOLOGY

__all__ = ["FRONTS", "pareto", "best", "write_csv", "write_report"]

#: ``(name, x column, x better, y column, y better, title, figure of merit)``: figure of merit
#: ``("product", "min")``: x * y, lower is better; ``("ratio", "max")``: y / x, higher;
#: ``("y", "max")``: y alone.
FRONTS = [
    ("cycles_vs_luts", "xcup_luts", "min", "cycles", "min",
     "cycles on the workload vs LUTs (xcup)", ("product", "min")),
    ("throughput_vs_dsps", "xcup_dsps", "min", "throughput_gops", "max",
     "throughput at the ECP5 Fmax (GOPS) vs DSP48E2 (xcup)", ("ratio", "max")),
    ("fmax_vs_depth", "depth", "min", "ecp5_fmax_mhz", "max",
     "ECP5 Fmax (MHz) vs pipeline depth", ("y", "max")),
    ("energy_vs_cycles", "cycles", "min", "energy_uj", "min",
     "energy estimate (uJ) vs cycles", ("product", "min")),
    ("cycles_vs_mac_units", "mac_units", "min", "cycles", "min",
     "cycles on the workload vs MAC units (no synthesis needed)", ("product", "min")),
]
_MAIN = ["cycles", "array_cycles", "utilization", "macs", "xcup_luts", "xcup_ffs", "xcup_dsps", "ecp5_luts", "ecp5_dsps",
         "ecp5_fmax_mhz", "throughput_gops", "gops_per_klut", "gops_per_dsp", "energy_uj",
         "pj_per_mac", "lint_problems"]
_STEPS = ("generate", "lint", "cycles", "xcup", "ecp5")
_BASE = {"key", "sweep", "design", "status", "error", "seconds", "commit"}


def _better(a, b, sense):
    return a <= b if sense == "min" else a >= b


def pareto(rows, x, x_sense, y, y_sense):
    """Rows not dominated in ``(x, y)`` (each minimized or maximized), sorted by ``x``."""
    pts = [r for r in rows if r.get(x) is not None and r.get(y) is not None]
    front = []
    for r in pts:
        dominated = any(_better(o[x], r[x], x_sense) and _better(o[y], r[y], y_sense)
                        and (o[x], o[y]) != (r[x], r[y]) for o in pts)
        if not dominated:
            front.append(r)
    return sorted(front, key=lambda r: (r[x], r[y]))


def _merit(row, x, y, kind):
    if kind == "product":
        return row[x] * row[y]
    if kind == "ratio":
        return row[y] / row[x] if row[x] else None
    return row[y]


def best(rows, x, y, merit):
    """``[(merit, row), ...]`` best first by the front's figure of merit (rows with both
    values)."""
    kind, sense = merit
    scored = [(m, r) for r in rows if r.get(x) is not None and r.get(y) is not None
              for m in [_merit(r, x, y, kind)] if m is not None]
    scored.sort(key=lambda t: t[0], reverse=sense == "max")
    return scored


def _scalar(v):
    return v is None or isinstance(v, (int, float, str, bool))


def write_csv(out, rows=None):
    """``out/results.csv`` from ``rows`` (default: ``out/results.jsonl``); scalar columns."""
    out = Path(out)
    if rows is None:
        from .run import read_rows
        rows = list(read_rows(out / "results.jsonl").values())
    cols = []
    for r in rows:
        cols += [k for k, v in r.items() if k not in cols and _scalar(v)]
    path = out / "results.csv"
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: r.get(k) for k in cols})
    return path


def _params(spec, rows):
    """The parameters that vary across the points (else all given)."""
    keys = []
    for p in spec.points:
        keys += [k for k in p if k not in keys]
    varying = [k for k in keys if len({json.dumps(r.get(k)) for r in rows}) > 1]
    return varying or keys


def _short(row, params):
    return " ".join(f"{k}={row.get(k)}" for k in params)


def _label(row, params):
    """A point's label on a plot: its varying parameters' values, ``/``-separated (the
    plot's title names them)."""
    return "/".join(str(row.get(k)) for k in params)


def _fmt(v):
    if isinstance(v, float):
        return f"{v:,.3g}" if abs(v) < 100 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return "—" if v is None else str(v)


def _plot(out, name, rows, front, x, y, title, params):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    from matplotlib.ticker import EngFormatter
    fig, ax = plt.subplots(figsize=(7.2, 4.6))
    pts = [r for r in rows if r.get(x) is not None and r.get(y) is not None]
    ax.scatter([r[x] for r in pts], [r[y] for r in pts], color="0.6", s=18, label="points")
    ax.plot([r[x] for r in front], [r[y] for r in front], "o-", color="tab:red", ms=5,
            drawstyle="steps-post", label="Pareto front")
    for i, r in enumerate(front):                # alternate above / below: neighbours apart
        ax.annotate(_label(r, params), (r[x], r[y]), fontsize=7,
                    xytext=(4, 5 if i % 2 == 0 else -11), textcoords="offset points")
    for axis, col in (("x", x), ("y", y)):         # log scale when a column spans 50x
        vals = [r[col] for r in pts if r[col] > 0]
        if vals and max(vals) > 50 * min(vals):
            getattr(ax, f"set_{axis}scale")("log")
    for axis, col in ((ax.xaxis, x), (ax.yaxis, y)):   # 200k, 1G rather than 2e5, 1e9
        if max((abs(r[col]) for r in pts), default=0) >= 1e4:
            axis.set_major_formatter(EngFormatter(sep=""))
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(f"{title}\nfront labelled {'/'.join(params)}", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    paths = []
    for ext in ("png", "svg"):
        path = out / f"{name}.{ext}"
        fig.savefig(path, dpi=120)
        paths.append(path)
    plt.close(fig)
    return paths


def _step_times(rows):
    lines = ["| step | points | median s | max s |", "|---|---|---|---|"]
    for step in _STEPS:
        vals = [r[f"{step}_s"] for r in rows if r.get(f"{step}_s") is not None]
        if vals:
            lines.append(f"| {step} | {len(vals)} | {statistics.median(vals):.1f} | "
                         f"{max(vals):.1f} |")
    return lines


def write_report(out, spec, rows, plots=True):
    """``out/report.md`` and the front plots (``out/<front>.png`` / ``.svg``); returns
    ``{name: path}`` of what it wrote."""
    out = Path(out)
    ok = [r for r in rows if r["status"] == "ok"]
    params = _params(spec, rows)
    files, lines = {}, [f"# Sweep `{spec.name}`: {spec.design}, {len(rows)} points", ""]
    if spec.description:
        lines += [spec.description, ""]
    first = next((r for r in rows if r.get("scope")), {})
    lines += [f"Points: {len(ok)} ok, {len(rows) - len(ok)} failed. Measured: "
              f"{', '.join(spec.measure)}. Workload: `{json.dumps(spec.workload)}`.", ""]
    if first:
        lines += [f"Cycles: {first.get('model')}; {first.get('scope')}"
                  + (f" ({first['model_note']})" if first.get("model_note") else "") + ".", ""]
    scope = next((r["synth_scope"] for r in rows if r.get("synth_scope")), None)
    if scope:
        flat = scope.startswith("flat")
        lines += [("Synthesis: the design flat (one module)" if flat else
                   "Synthesis per module: every Verilog module on its own (its submodules "
                   "black boxes), totals weighted by instance counts (" + scope + ")")
                  + "; Yosys `synth_xilinx -family xcup` and `synth_ecp5`; Fmax: nextpnr-ecp5 "
                  "(85k, out of context, registered ports) of the "
                  + ("design." if flat else "slowest leaf module (paths through the glue "
                     "modules are not timed).")
                  + next((f" ECP5 {r['ecp5_scope']}." for r in rows if r.get("ecp5_scope")),
                         ""), ""]
    if "energy" in spec.measure:
        lines += [f"Energy: an **estimate** from event counts, {TECHNOLOGY}; sources: "
                  + "; ".join(SOURCES) + " (hw/sweep/energy.py).", ""]
    cols = [c for c in _MAIN if any(r.get(c) is not None for r in rows)]
    lines += ["| " + " | ".join(params + cols + ["status"]) + " |",
              "|" + "---|" * (len(params) + len(cols) + 1)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(c)) for c in params + cols)
                     + f" | {r['status']} |")
    lines += ["", "## Time per point by step (seconds; synthesis: the sum over the point's "
              "modules, each measured once and shared)", ""] + _step_times(rows) + [""]
    for name, x, xs, y, ys, title, merit in FRONTS:
        front = pareto(ok, x, xs, y, ys)
        if not front:
            continue
        lines += [f"## {title}", ""]
        pics = _plot(out, name, ok, front, x, y, title, params) if plots else []
        for path in pics:
            files[path.name] = path
        if pics:
            lines += [f"![{name}]({pics[0].name})", ""]
        lines += ["Front: " + "; ".join(f"{_short(r, params)} ({x} {_fmt(r[x])}, {y} "
                                        f"{_fmt(r[y])})" for r in front) + ".", ""]
        ranked = best(ok, x, y, merit)
        what = {"product": f"{x} x {y}", "ratio": f"{y} / {x}", "y": y}[merit[0]]
        if ranked:
            (m1, r1), text = ranked[0], ""
            if len(ranked) > 1 and ranked[1][0]:
                m2, r2 = ranked[1]
                factor = m2 / m1 if merit[1] == "min" else m1 / m2
                text = (f"; runner-up {_short(r2, params)} ({_fmt(m2)}): the best is "
                        f"{factor:.3g}x better")
            lines += [f"Best by {what} ({'lower' if merit[1] == 'min' else 'higher'} is "
                      f"better): **{_short(r1, params)}** ({_fmt(m1)}){text}.", ""]
    failed = [r for r in rows if r["status"] != "ok"]
    if failed:
        lines += ["## Failed points", ""] + [f"- {_short(r, params)}: {r['error']}"
                                             for r in failed] + [""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    files["report"] = path
    return files
