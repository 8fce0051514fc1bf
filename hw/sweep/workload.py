"""Workloads and the cycle models that time them, per design family; HDL-free.

Each ``*_cycles(params, workload)`` returns ``{"cycles", "macs", "model", "scope", "events",
...}``: ``cycles`` on the whole workload, ``macs`` its true MACs (the network's, dense; a
single unit gives ``ops``, its arithmetic operations, a MAC counting two), the
model that produced them, what the cycles include, and the event counts the energy estimate
(:mod:`hw.sweep.energy`) multiplies (MACs done, buffer accesses by buffer, off-chip bytes).

* ``sat_core``: the ResNet-18 GEMMs of :mod:`sim.bench.sat_resnet18` (FW, BW dX as sub-pixel
  phase GEMMs, WU dW) timed by its ``run`` (the array schedule of :mod:`sim.sat.cycles`:
  array only, no loads or drains), N:M on FW and dX.
* ``spartann_core``: conv layers planned by the driver (:mod:`sim.spartann.driver`, BP and
  WU, GO with uniformly random nonzeros at each density) and timed command by command by
  :func:`sim.spartann.cycles.command_cycles` (loads, runs and drains one after another).
* any other design (an FP unit): ``ops`` operations streamed back to back through a fully
  pipelined unit, ``ops + latency`` cycles.

When a family's end-to-end system model (``sim/<family>/system.py``) exists, the row says so in
``model_note``; this module times with the per-command models above.
"""

import importlib.util
import math
from contextlib import contextmanager

__all__ = ["ALEXNET", "LAYER_SETS", "cycles_for", "unit_cycles", "spartann_cycles",
           "sat_cycles", "buffer_bytes"]

#: AlexNet's conv layers as torchvision defines them (no groups), ImageNet 224x224:
#: ``(name, out channels M, in channels Z, input H=W, kernel, stride, pad)``.
ALEXNET = [("conv1", 64, 3, 224, 11, 4, 2), ("conv2", 192, 64, 27, 5, 1, 2),
           ("conv3", 384, 192, 13, 3, 1, 1), ("conv4", 256, 384, 13, 3, 1, 1),
           ("conv5", 256, 256, 13, 3, 1, 1)]
#: The single layer of :mod:`sim.bench.spartann_layer` (M 256, Z 64, 14x14, 3x3).
BENCH_LAYER = [("bench_layer", 256, 64, 14, 3, 1, 1)]
LAYER_SETS = {"alexnet": ALEXNET, "alexnet_conv2_5": ALEXNET[1:], "bench_layer": BENCH_LAYER}


def _system_note(family, used=False):
    if used:
        return f"system model sim/{family}/system.py"
    if importlib.util.find_spec(f"sim.{family}.system") is None:
        return f"sim/{family}/system.py absent: per-command model"
    if family == "spartann":
        return "sim/spartann/system.py exists; set workload.bandwidth to use it"
    return f"sim/{family}/system.py exists but is not used by the sweep yet"


# -- FP units ---------------------------------------------------------------------------------
#: Operation energy keys (hw.sweep.energy.OP_PJ) a unit's operation costs, by design name.
UNIT_OPS = {"fp_add": ("add",), "fp_mul": ("mul",), "fp_mac": ("mul", "add"),
            "fp_axpy": ("mul", "add")}


def unit_cycles(design, params, latency, workload):
    """``ops`` operations back to back through a pipelined unit: the first result comes
    ``latency`` cycles after the first input, the last ``ops - 1`` cycles later."""
    ops = int(workload.get("ops", 1024))
    fmt = params.get("fmt") or params.get("ab_fmt") or "fp32"
    events = {"ops": {f"{op}:{fmt}": ops for op in UNIT_OPS.get(design, ())},
              "sram": {}, "dram_bytes": 0}
    per_op = len(UNIT_OPS.get(design, ())) or 1
    return {"cycles": ops + latency, "macs": ops if per_op == 2 else 0, "ops": ops * per_op, "model": "pipelined unit: ops + latency (component.latency)",
            "scope": "the unit alone, one operation per cycle", "events": events}


# -- SparTANN ---------------------------------------------------------------------------------
@contextmanager
def _memo_schedule():
    """Replay each distinct job once: every z-tile of a layer runs the same jobs (same
    entries, same skip bits), so :func:`sim.spartann.cycles.schedule` is memoized on its
    arguments while the program is timed (same function of the same inputs)."""
    from sim.spartann import cycles

    original, cache = cycles.schedule, {}

    def schedule(phase, entries, skip, loop_latency, window=0):
        key = (phase, tuple(entries), tuple(int(s) for s in skip), loop_latency, window)
        if key not in cache:
            cache[key] = original(phase, entries, skip, loop_latency, window)
        return cache[key]

    cycles.schedule = schedule
    try:
        yield
    finally:
        cycles.schedule = original


def buffer_bytes(family, cfg):
    """On-chip buffer sizes in bytes and the bits of one access, by buffer name."""
    if family == "spartann_core":
        w = cfg.format.width
        entry = w + cfg.idx_bits + 2
        return {"sparse": (cfg.sparse_depth * entry / 8, entry),
                "dense_a": (cfg.a_rows * cfg.T * w / 8, cfg.T * w),
                "dense_b": (cfg.b_rows * cfg.T * w / 8, cfg.T * w),
                "out": (cfg.out_rows * cfg.T * w / 8, cfg.T * w)}
    from hw.sat.config import index_width
    ins, acc = cfg.in_format.width, cfg.acc_format.width
    wrow = cfg.cols * (ins + index_width(cfg.m))
    return {"w": (cfg.wbuf_depth * wrow / 8, wrow),
            "x": (cfg.xbuf_depth * cfg.rows * cfg.m * ins / 8, cfg.rows * cfg.m * ins),
            "o": (cfg.obuf_depth * cfg.cols * acc / 8, cfg.cols * acc)}


def spartann_cycles(params, workload):
    """Cycles, true MACs and events of BP and WU of every layer at every GO density."""
    import numpy as np

    from hw.spartann.config import resolve
    from sim.spartann.cycles import command_cycles
    from sim.spartann.driver import ConvLayer, CoreConfig, plan_bp, plan_wu

    cfg = resolve(**params)
    layers = workload.get("layers", "alexnet_conv2_5")
    layers_name = layers if isinstance(layers, str) else "custom layers"
    layers = LAYER_SETS[layers] if isinstance(layers, str) else [
        (d.get("name", f"layer{i}"), d["m"], d["z"], d["h"], d["k"], d.get("stride", 1),
         d.get("pad", 0)) for i, d in enumerate(layers)]
    batch = int(workload.get("batch", 1))
    densities = workload.get("densities", [0.1, 0.3])
    phases = workload.get("phases", ["bp", "wu"])
    rng = np.random.default_rng(int(workload.get("seed", 0)))
    core = CoreConfig(cfg, contexts=True)
    bandwidth, system = workload.get("bandwidth"), None
    if bandwidth is not None:
        if importlib.util.find_spec("sim.spartann.system") is None:
            raise ValueError("workload.bandwidth needs the system model sim/spartann/system.py")
        from sim.spartann import system
    word, one = cfg.format.width, cfg.format.bias << cfg.format.man_bits    # 1.0
    total = {"cycles": 0, "serial_cycles": 0, "run_cycles": 0, "macs": 0, "updates": 0}
    sram = {"sparse": 0, "dense_a": 0, "dense_b": 0, "out": 0}
    dram, per = 0.0, []
    for name, m, z, h, k, stride, pad in layers:
        layer = ConvLayer(batch=batch, m=m, z=z, h=h, w=h, k=k, stride=stride, pad=pad)
        tiles = -(-z // cfg.T)
        for density in densities:
            go = np.where(rng.random(layer.go_shape) < density, one, 0).astype(np.uint64)
            for phase in phases:
                other = np.zeros(layer.w_shape if phase == "bp" else layer.ia_shape, np.uint64)
                if system is not None:          # loads reordered to overlap the runs
                    plan = system.plan(phase, layer, go, other, core)
                else:
                    plan = (plan_bp if phase == "bp" else plan_wu)(layer, go, other, core)
                with _memo_schedule():
                    cyc = command_cycles(plan.program, cfg)
                run = sum(c for c, cmd in zip(cyc, plan.program) if cmd["op"].startswith("run"))
                s = plan.stats
                if system is not None:
                    timeline = system.simulate(plan.program, cfg, bandwidth, cycles=cyc)
                    cycles, moved = timeline.total, timeline.read + timeline.write
                else:
                    cycles = sum(cyc)
                    moved = ((s.a_words + s.b_words + s.drained_words) * word
                             + s.entries * (word + cfg.idx_bits + 2)) / 8
                # every z-tile does the same updates; the last may use fewer than T lanes
                macs = s.updates // tiles * z
                total["cycles"] += cycles
                total["serial_cycles"] += sum(cyc)
                total["run_cycles"] += run
                total["updates"] += s.updates
                total["macs"] += macs
                per.append({"layer": name, "density": density, "phase": phase,
                            "cycles": cycles, "serial_cycles": sum(cyc), "run_cycles": run,
                            "updates": s.updates,
                            "macs": macs})
                # events, in accesses of one buffer row (T words; a Sparse Buf entry)
                dense_in, acc = ("dense_b", "out") if phase == "bp" else ("dense_a", "dense_b")
                sram["sparse"] += 2 * s.entries                  # loaded once, read once
                sram[dense_in] += s.updates                      # the operand row
                sram[acc] += 2 * s.updates                       # read-modify-write
                sram["dense_a"] += s.a_words // cfg.T            # loads
                sram["dense_b"] += s.b_words // cfg.T
                sram[acc] += s.drained_words // cfg.T            # drains
                dram += moved
    fmt = cfg.fmt
    lanes_ops = total["updates"] * cfg.T       # lanes switch in lock step (padding included)
    bufs = buffer_bytes("spartann_core", cfg)
    events = {"ops": {f"mul:{fmt}": lanes_ops, f"add:{fmt}": lanes_ops},
              "sram": {k: [v, *bufs[k]] for k, v in sram.items()}, "dram_bytes": dram}
    if system is not None:
        model = ("sim.spartann.system.simulate on sim.spartann.system.plan (driver plans, "
                 "sparse loads first in each gap)")
        how = (f"end to end: units run concurrently as the core dispatches them, external "
               f"memory {bandwidth} bytes/cycle per direction")
    else:
        model = "sim.spartann.cycles.command_cycles on sim.spartann.driver plans"
        how = "loads, runs and drains one after another (no overlap, no bandwidth limit)"
    return {**total, "model": model, "model_note": _system_note("spartann", system is not None),
            "scope": f"{layers_name} batch {batch}, GO densities {densities}, "
                     f"{'+'.join(phases)}: {how}", "per_run": per, "events": events}


# -- SAT --------------------------------------------------------------------------------------
def sat_cycles(params, workload):
    """Cycles (array only) and events of ResNet-18 training GEMMs at the point's N:M."""
    from hw.sat.config import index_width, resolve
    from sim.bench.sat_resnet18 import run

    cfg = resolve(**params)
    batch = int(workload.get("batch", 32))
    results, summary = run(batch=batch, rows=cfg.rows, cols=cfg.cols, n=cfg.n, m=cfg.m,
                           mul_latency=cfg.mul_latency, add_latency=cfg.add_latency)
    n, m, rows, cols = cfg.n, cfg.m, cfg.rows, cfg.cols
    ins, acc, idx = cfg.in_format.width, cfg.acc_format.width, index_width(m)
    sram = {"w": 0, "x": 0, "o": 0}
    dram, done = 0.0, 0
    for r in results:
        for step in ("fwd", "bwd", "wgt"):
            for g in r[step]["gemms"]:
                t, k, c = g["t"], g["k"], g["cout"]
                kept = -(-k // m) * m * n // m if step != "wgt" else -(-k // m) * m
                folds, tiles = max(1, math.ceil(kept / rows)), math.ceil(c / cols)
                passes = folds * tiles
                sram["w"] += passes * rows                  # weight rows into the array
                sram["x"] += passes * t                     # activation rows streamed
                sram["o"] += tiles * t * (2 * folds - 1)    # results written, chains read
                done += t * kept * c
                dram += (kept * c * (ins + idx) + t * k * ins + t * c * acc) / 8
    bufs = buffer_bytes("sat_core", cfg)
    events = {"ops": {f"mul:{cfg.in_fmt}": done, f"add:{cfg.acc_fmt}": done},
              "sram": {k: [v, *bufs[k]] for k, v in sram.items()}, "dram_bytes": dram}
    return {"cycles": summary["sparse"], "dense_cycles": summary["dense"],
            "macs": summary["macs"], "macs_done": done,
            "utilization": done / (rows * cols * summary["sparse"]),     # MACs done
            "model": "sim.bench.sat_resnet18.run (sim.sat.cycles.gemm_cycles)",
            "model_note": _system_note("sat"),
            "scope": f"ResNet-18 batch {batch}, FW + BW dX at {n}:{m} + WU dW dense: "
                     + summary["scope"] + "; off-chip bytes: each operand and result once",
            "events": events}


def cycles_for(design, params, latency, workload):
    """The family's cycle model for ``design`` at ``params`` (``latency``: the generated
    component's, for single units)."""
    if design == "spartann_core":
        return spartann_cycles(params, workload)
    if design == "sat_core":
        return sat_cycles(params, workload)
    if latency is None:
        raise ValueError(f"design {design} has no fixed latency and no cycle model")
    return unit_cycles(design, params, latency, workload)
