"""The sweep engine on Dask distributed: every step of every point is a task (Verilog
generation, lint, the cycle model; synthesis one task per Verilog module and FPGA family,
shared by the points that contain the same module), results written as they arrive.

Cluster: ``scheduler`` (``tcp://HOST:PORT``) or ``$DASK_SCHEDULER_ADDRESS`` names an existing
one; else a :class:`distributed.LocalCluster` with one single-threaded worker process per CPU
(``workers`` to choose). Workers need this package installed and a working directory where
``out_root`` may be written (the client writes the results; workers write tool logs).

Results under ``out_root/NAME/``: ``results.jsonl`` (one JSON row per point, appended as each
finishes: the durable log a rerun resumes from), ``results.csv`` (rewritten from it),
``spec.json``, ``report.md`` and the Pareto plots (:mod:`hw.sweep.report`). Synthesized
modules are cached in ``out_root/modules/KEY.json`` for every sweep.
"""

import fnmatch
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..progress import note, restart
from .energy import estimate
from .points import depth, git_commit, label, mac_units, module_key, point_key, tool_versions
from .spec import Spec, load_spec
from ..synth.modules import instance_counts, sliced
from .step import StepError, clocked_leaf, run_step

__all__ = ["run_sweep", "read_rows", "SweepResult"]

#: xcup / ECP5 summary columns that go into a row (family column -> row column).
XCUP_COLS = {"LUT": "luts", "FF": "ffs", "DSP48E2": "dsps", "CARRY4": "carry4",
             "RAMB36": "ramb36", "RAMB18": "ramb18", "URAM": "uram", "ram_kbit": "ram_kbit",
             "LUTRAM": "lutram"}
ECP5_COLS = {"LUT4": "luts", "lut_eq": "lut_eq", "CCU2C": "ccu2c", "FF": "ffs",
             "MULT18X18D": "dsps", "DP16KD": "dp16kd", "DPR16X4": "dpr16x4"}


@dataclass
class SweepResult:
    """What :func:`run_sweep` did: the rows of every point of the spec (in spec order), how
    many points ran now, and where the results are."""
    rows: list
    ran: int
    out: Path
    seconds: float
    files: dict = field(default_factory=dict)


def read_rows(path):
    """``{key: row}`` of a ``results.jsonl`` (the last row of a key wins)."""
    rows = {}
    path = Path(path)
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                rows[row["key"]] = row
    return rows


def _client(scheduler, workers):
    from distributed import Client, LocalCluster

    address = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")
    if address:
        return Client(address), None, address
    cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                           processes=True, dashboard_address=":0",
                           silence_logs=logging.ERROR)     # failed steps are in the rows
    return Client(cluster), cluster, f"LocalCluster ({len(cluster.workers)} workers)"


def _check(spec):
    """Design and parameter names against the registry (values: by each point's build)."""
    from ..designs import DESIGNS

    if spec.design not in DESIGNS:
        raise ValueError(f"design must be one of {sorted(DESIGNS)}, not {spec.design!r}")
    allowed = DESIGNS[spec.design].params
    for point in spec.points:
        bad = [k for k in point if k not in allowed]
        if bad:
            raise ValueError(f"design {spec.design} has no parameter(s) {bad}; allowed: "
                             f"{sorted(allowed)}")


#: Arguments longer than this are scattered to the workers rather than embedded in a task.
SCATTER_BYTES = 1 << 20


class _Point:
    """One point in flight: its futures by step, results and errors."""

    def __init__(self, index, params, key):
        self.index, self.params, self.key = index, params, key
        self.pending, self.results, self.errors = set(), {}, {}
        self.modules = {}           # (family, module) -> synthesis result
        self.started = time.monotonic()


class _Engine:
    def __init__(self, spec, client, out, modules_dir, tools):
        self.spec, self.client, self.out, self.tools = spec, client, out, tools
        self.modules_dir = modules_dir
        self.futures = {}           # future -> (kind, point or module key)
        self.module_waiters = {}    # module key -> [(point, family, module)]
        self.module_futures = {}    # module key -> future
        self.ac = None
        self.done, self.ran, self.total = 0, 0, 0

    def submit(self, step, args, workdir, tag, index):
        """Submit one step; the points' order is the tasks' priority (earlier points first,
        so finished rows arrive while the sweep runs)."""
        timeout = self.spec.timeouts["xcup" if step == "synth" and args["family"] == "xcup"
                                     else "ecp5" if step == "synth" else step]
        # a large Verilog text (the PAPER SAT core's is ~12 MB) goes to the cluster once, as
        # data, not inside the task graph
        args = {k: self.client.scatter(v) if isinstance(v, str) and len(v) > SCATTER_BYTES
                else v for k, v in args.items()}
        future = self.client.submit(run_step, step, args, str(workdir), timeout,
                                    self.spec.retries, pure=False, priority=-index)
        self.futures[future] = tag
        self.ac.add(future)
        return future

    def start(self, point):
        wd = self.out / "work" / point.key
        spec = self.spec
        needs_verilog = {"generate", "lint", "xcup", "ecp5"} & set(spec.measure)
        unit = spec.design not in ("spartann_core", "sat_core")
        if needs_verilog or (unit and "cycles" in spec.measure):
            args = {"design": spec.design, "params": point.params, "workdir": str(wd / "gen")}
            point.pending.add("generate")
            self.submit("generate", args, wd, ("point", point, "generate"), point.index)
        if "cycles" in spec.measure and not unit:
            self._cycles(point, None)

    def _cycles(self, point, latency):
        args = {"design": self.spec.design, "params": point.params, "latency": latency,
                "workload": self.spec.workload}
        point.pending.add("cycles")
        self.submit("cycles", args, self.out / "work" / point.key, ("point", point, "cycles"),
                    point.index)

    def _generated(self, point, gen):
        spec, wd = self.spec, self.out / "work" / point.key
        if "lint" in spec.measure:
            point.pending.add("lint")
            self.submit("lint", {"text": gen["text"], "top": gen["top"],
                                 "workdir": str(wd / "lint")}, wd, ("point", point, "lint"),
                        point.index)
        if "cycles" in spec.measure and spec.design not in ("spartann_core", "sat_core"):
            self._cycles(point, gen["latency"])
        for family in ("xcup", "ecp5"):
            if family not in spec.measure:
                continue
            for module, subs in gen["graph"].items():
                text = sliced(gen["text"], module, gen["graph"])
                untimed = any(fnmatch.fnmatchcase(module, p) for p in spec.synth["untimed"])
                if family == "ecp5" and spec.synth["ecp5"] == "timing" and (
                        untimed or not clocked_leaf(text, subs)):
                    continue                    # no ECP5 run: nothing nextpnr would time
                self._module(point, family, module, sorted(subs), text, list(gen["graph"]),
                             timed=not untimed)

    def _module(self, point, family, module, subs, text, names, timed=True):
        variant = family if timed or family != "ecp5" else "ecp5:untimed"
        mkey = module_key(text, variant, self.tools, names)
        cached = self.modules_dir / f"{mkey}.json"
        if cached.exists():
            point.modules[(family, module)] = json.loads(cached.read_text())
            return
        point.pending.add(f"{family}:{module}")
        self.module_waiters.setdefault(mkey, []).append((point, family, module))
        if mkey not in self.module_futures:
            args = {"text": text, "module": module, "subs": subs, "family": family,
                    "workdir": str(self.modules_dir / mkey), "timed": timed}
            self.module_futures[mkey] = self.submit("synth", args, self.modules_dir / mkey,
                                                    ("module", mkey, f"{family}:{module}"),
                                                    point.index)

    def finished(self, future):
        tag = self.futures.pop(future)
        error = None
        try:
            result = future.result()
        except StepError as exc:                       # the step's own message
            result, error = None, " ".join(str(exc).split())
        except Exception as exc:                       # noqa: BLE001 - recorded in the row
            result, error = None, " ".join(f"{type(exc).__name__}: {exc}".split())
        if tag[0] == "module":
            mkey = tag[1]
            if error is None:
                self.modules_dir.mkdir(parents=True, exist_ok=True)
                (self.modules_dir / f"{mkey}.json").write_text(json.dumps(result))
            note(f"synthesis of {tag[2]} {'failed: ' + error if error else 'done'} "
                 f"({result['seconds'] if result else '-'} s)")
            for point, family, module in self.module_waiters.pop(mkey, []):
                if error is None:
                    point.modules[(family, module)] = result
                else:
                    point.errors.setdefault(family, f"{module}: {error}")
                self._step_done(point, f"{family}:{module}")
            return
        _, point, step = tag
        if error is None:
            point.results[step] = result
            if step == "generate":
                self._generated(point, result)
        else:
            point.errors[step] = error
        self._step_done(point, step)

    def _step_done(self, point, step):
        point.pending.discard(step)
        if not point.pending:
            row = make_row(self.spec, point, self.tools)
            with (self.out / "results.jsonl").open("a") as f:
                f.write(json.dumps(row, default=str) + "\n")
            from .report import write_csv
            write_csv(self.out)
            self.done += 1
            bar = "#" * (20 * self.done // self.total)
            note(f"[{bar:<20}] {self.done}/{self.total} {row['status']}: {label(point.params)} "
                 f"({_steps_text(row)})")


def _steps_text(row):
    parts = [f"{s} {row[f'{s}_s']} s" for s in ("generate", "lint", "cycles", "xcup", "ecp5")
             if row.get(f"{s}_s") is not None]
    return "; ".join([", ".join(parts)] * bool(parts)
                     + [f"error: {row['error']}"] * bool(row.get("error")))


def _synth_columns(point, family, gen, cols):
    """Instance-weighted totals of the point's modules for ``family`` (row columns); ``None``
    totals when some modules had no run (``synth.ecp5 = "timing"``: Fmax only)."""
    counts = instance_counts(gen["text"], gen["top"])
    complete = all((family, module) in point.modules for module in counts)
    totals = {c: 0 if complete else None for c in cols.values()}
    fmax, slowest, seconds = None, None, 0.0
    for module, n in counts.items():
        res = point.modules.get((family, module))
        if res is None:
            continue
        for key, col in cols.items():
            if complete:
                totals[col] += n * res["summary"].get(key, 0)
        seconds += res["seconds"]
        if res.get("fmax_mhz") is not None and (fmax is None or res["fmax_mhz"] < fmax):
            fmax, slowest = res["fmax_mhz"], module
    row = {f"{family}_{c}": v for c, v in totals.items()}
    row[f"{family}_s"] = round(seconds, 1)
    if family == "ecp5":
        row.update(ecp5_fmax_mhz=fmax, ecp5_fmax_module=slowest)
        if not complete:
            row["ecp5_scope"] = (f"timing only: {sum(m[0] == 'ecp5' for m in point.modules)} "
                                 f"clocked leaf modules placed, no ECP5 resource totals")
    return row, counts


def make_row(spec, point, tools):
    """The table row of a finished point: parameters, every measurement, derived figures,
    the energy estimate, per-step seconds, and the errors of failed steps."""
    r, p = point.results, point.params
    row = {"key": point.key, "sweep": spec.name, "design": spec.design, **p}
    gen = r.get("generate")
    if gen:
        row.update(generate_s=gen["seconds"], verilog_bytes=gen["verilog_bytes"],
                   modules=gen["modules"], latency=gen["latency"])
    if "lint" in r:
        row.update(lint_problems=r["lint"]["problems"], lint_s=r["lint"]["seconds"])
    try:
        row["depth"] = depth(spec.design, p, gen["latency"] if gen else None)
        row["mac_units"] = mac_units(spec.design, p)
    except ValueError as exc:
        point.errors.setdefault("parameters", str(exc))
    cyc = r.get("cycles")
    if cyc:
        row.update({k: v for k, v in cyc.items() if not isinstance(v, (dict, list))})
        row["cycles_s"] = row.pop("seconds")
        row["cycles_detail"] = cyc.get("per_run")
    if gen:
        scope = []
        for family, cols in (("xcup", XCUP_COLS), ("ecp5", ECP5_COLS)):
            if family in spec.measure and family not in point.errors:
                cols_row, counts = _synth_columns(point, family, gen, cols)
                row.update(cols_row)
                scope = counts
        if scope:
            row["synth_scope"] = ("flat (one module)" if len(scope) == 1 else
                                  "per module, instance-weighted: " + ", ".join(
                                      f"{m} x{n}" for m, n in scope.items()))
    if "energy" in spec.measure and cyc:
        row.update({k: v for k, v in estimate(cyc["events"]).items()})
        if cyc.get("macs"):
            row["pj_per_mac"] = row["energy_uj"] * 1e6 / cyc["macs"]
    _derived(row)
    row["status"] = "failed" if point.errors else "ok"
    row["error"] = "; ".join(f"{s}: {e}" for s, e in point.errors.items()) or None
    row["seconds"] = round(time.monotonic() - point.started, 1)
    row["commit"] = tools.get("commit")
    return row


def _derived(row):
    """Throughput at the measured ECP5 Fmax (2 operations per MAC), per xcup LUT and DSP."""
    macs, cycles, fmax = row.get("macs"), row.get("cycles"), row.get("ecp5_fmax_mhz")
    ops = row.get("ops") or 2 * (macs or 0)
    if ops and cycles and fmax:
        row["throughput_gops"] = ops * fmax / cycles / 1e3
        if row.get("xcup_luts"):
            row["gops_per_klut"] = row["throughput_gops"] / row["xcup_luts"] * 1e3
        if row.get("xcup_dsps"):
            row["gops_per_dsp"] = row["throughput_gops"] / row["xcup_dsps"]
    if macs and cycles:
        row["macs_per_cycle"] = macs / cycles


def _selected(params, only):
    """Whether ``params`` has, for every ``{name: [values]}`` of ``only``, one of the values
    (compared as text: ``rows=4`` selects ``rows = 4``)."""
    return all(str(params.get(k)) in [str(v) for v in vals] for k, vals in (only or {}).items())


def run_sweep(spec, *, out_root="build/sweeps", scheduler=None, workers=None,
              retry_failed=False, plots=True, only=None):
    """Run the sweep ``spec`` (a :class:`Spec` or a TOML path): every point without a row in
    ``out_root/NAME/results.jsonl`` (and, with ``retry_failed``, every failed one); then
    write the CSV, the report and the plots. ``only`` (``{parameter: [values]}``) runs just
    the points that match; their keys are the full sweep's, so a later full run skips them.
    Returns a :class:`SweepResult` (rows of every point of the spec that has one)."""
    restart()
    start = time.monotonic()
    spec = spec if isinstance(spec, Spec) else load_spec(spec)
    _check(spec)
    out = Path(out_root) / spec.name
    out.mkdir(parents=True, exist_ok=True)
    tools = tool_versions(spec.measure)
    extra = spec.synth if spec.synth != {"ecp5": "all", "untimed": []} else None
    keys = [point_key(spec.design, p, spec.workload, spec.measure, tools, extra)
            for p in spec.points]
    tools["commit"] = git_commit()
    (out / "spec.json").write_text(json.dumps({"spec": spec.__dict__, "tools": tools},
                                              indent=1, default=str) + "\n")
    have = read_rows(out / "results.jsonl")
    todo = [(i, p, k) for i, (p, k) in enumerate(zip(spec.points, keys))
            if (k not in have or (retry_failed and have[k]["status"] != "ok"))
            and _selected(p, only)]
    chosen = sum(_selected(p, only) for p in spec.points)
    note(f"sweep {spec.name}: {len(spec.points)} points"
         + (f", {chosen} selected by only={only}" if only else "")
         + f", {chosen - len(todo)} already done, {len(todo)} to run")
    if todo:
        from distributed import as_completed

        client, cluster, where = _client(scheduler, workers)
        note(f"running on {where}")
        try:
            engine = _Engine(spec, client, out, Path(out_root) / "modules", tools)
            engine.total = len(todo)
            engine.ac = as_completed([])
            for index, params, key in todo:
                point = _Point(index, params, key)
                engine.start(point)
                if not point.pending:                   # nothing to run (e.g. energy only)
                    engine._step_done(point, None)
            for future in engine.ac:
                engine.finished(future)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    from .report import write_csv, write_report
    rows = read_rows(out / "results.jsonl")
    ordered = [rows[k] for k in keys if k in rows]
    files = {"csv": write_csv(out, ordered), **write_report(out, spec, ordered, plots=plots)}
    return SweepResult(ordered, len(todo), out, round(time.monotonic() - start, 1), files)
