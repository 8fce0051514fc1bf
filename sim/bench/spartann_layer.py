"""SparTANN whole-layer estimate: BP of a conv layer planned by the driver and timed by the
validated cycle model (``sim/spartann/cycles.py``, equal to the RTL's cycles), with and
without the planner knowing the core's column contexts (auto m-tile, full-round jobs).

``python -m sim.bench.spartann_layer -o build/reports`` writes ``spartann_layer.{md,json}``.
Layer: batch 1, M = 256 output / Z = 64 input channels, 14 x 14, 3 x 3, stride 1, pad 1; GO
with uniformly random nonzeros at each density; core: the PAPER preset (T = 32, 1024-entry
Sparse Buf, 10 contexts). Run cycles are the RUN_BP commands; all cycles include the loads and
drains (not overlapped with the runs).
"""

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from hw.spartann.config import PAPER
from sim.spartann.cycles import command_cycles
from sim.spartann.driver import ConvLayer, CoreConfig, plan_bp
from hw.progress import note

DENSITIES = (0.05, 0.1, 0.3, 0.5, 1.0)
LAYER = ConvLayer(batch=1, m=256, z=64, h=14, w=14, k=3, stride=1, pad=1)


def _fp32(rng, shape):
    return rng.standard_normal(shape).astype(np.float32).view(np.uint32).astype(np.uint64)


def measure(layer=LAYER, params=PAPER, densities=DENSITIES, seed=0):
    rng = np.random.default_rng(seed)
    base = CoreConfig(params)
    w = _fp32(rng, layer.w_shape)
    rows = []
    for density in densities:
        note(f"density {density}")
        go = np.where(rng.random(layer.go_shape) < density, _fp32(rng, layer.go_shape), 0)
        go = go.astype(np.uint64)
        results = []
        for cfg in (base, replace(base, contexts=params.contexts)):
            plan = plan_bp(layer, go, w, cfg)
            cycles = command_cycles(plan.program, params)
            run = sum(c for c, cmd in zip(cycles, plan.program) if cmd["op"] == "run_bp")
            results.append({"contexts": cfg.contexts, "m_tile": plan.cfg.m_tile,
                            "jobs": plan.stats.jobs, "updates": plan.stats.updates,
                            "run_cycles": run, "all_cycles": sum(cycles),
                            "utilization": plan.stats.updates / run if run else 0.0})
        rows.append({"density": density, "plain": results[0], "contexts": results[1]})
    return rows


def markdown(rows, seconds):
    L = LAYER
    lines = [f"# SparTANN conv-layer BP on the PAPER core (cycle model; {seconds} s)", "",
             f"Layer: batch {L.batch}, M {L.m}, Z {L.z}, {L.h}x{L.w}, k {L.k}, stride "
             f"{L.stride}, pad {L.pad}. The m-tile and the job cuts change no result (tested "
             "bit for bit in tests/spartann/test_spartann_driver.py).", "",
             "| GO density | planner | m-tile | jobs | updates | RUN cycles | util | all cycles |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        for key, name in (("plain", "m-tile = b_rows"), ("contexts", "contexts = 10")):
            x = r[key]
            lines.append(f"| {r['density']:.0%} | {name} | {x['m_tile']} | {x['jobs']} | "
                         f"{x['updates']} | {x['run_cycles']} | {x['utilization']:.1%} | "
                         f"{x['all_cycles']} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", default="build/reports")
    args = parser.parse_args(argv)
    t0 = time.time()
    rows = measure()
    seconds = round(time.time() - t0, 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "spartann_layer.json").write_text(json.dumps(rows, indent=1) + "\n")
    text = markdown(rows, seconds)
    (out / "spartann_layer.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
