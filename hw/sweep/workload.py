"""Workloads and the cycle models that time them, per design family; HDL-free.

Each ``*_cycles(params, workload)`` returns ``{"cycles", "macs", "model", "scope", "events",
...}``: ``cycles`` on the whole workload, ``macs`` its true MACs (the network's, dense; a
single unit gives ``ops``, its arithmetic operations, a MAC counting two), the
model that produced them, what the cycles include, and the event counts the energy estimate
(:mod:`hw.sweep.energy`) multiplies (MACs done, buffer accesses by buffer, off-chip bytes).

* ``sat_core``: one ResNet-18 training iteration (BDWP at the point's N:M: FW, BW dX, WU dW,
  SGD, PRUNE) planned by :func:`sim.sat.planner.plan_iteration` and timed end to end by
  :func:`sim.sat.system.simulate` (every LOAD and DRAIN, ``bandwidth`` bytes/cycle shared by
  din and dout); the array-only cycles of :mod:`sim.bench.sat_resnet18` alongside.
* ``spartann_core``: conv layers planned by the driver (:mod:`sim.spartann.driver`, BP and
  WU, GO with uniformly random nonzeros at each density), timed end to end by
  :mod:`sim.spartann.system` when ``bandwidth`` is given, else command by command by
  :func:`sim.spartann.cycles.command_cycles` (loads, runs and drains one after another).
* any other design (an FP unit): ``ops`` operations streamed back to back through a fully
  pipelined unit, ``ops + latency`` cycles.

``model_note`` says which model timed the row.
"""

import importlib.util
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
    depth, width = cfg.depth, cfg.row_width
    return {b.name.lower(): (depth[b] * width[b] / 8, width[b]) for b in depth}


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
def _sat_array_only(cfg, batch):
    """The array-only figures of :mod:`sim.bench.sat_resnet18` (no loads or drains)."""
    from sim.bench.sat_resnet18 import run

    _, summary = run(batch=batch, rows=cfg.rows, cols=cfg.cols, n=cfg.n, m=cfg.m,
                     mul_latency=cfg.mul_latency, add_latency=cfg.add_latency)
    return summary


def sat_events(steps, gemms, cfg, moved):
    """Energy events of a planned SAT program (``steps``: :class:`sim.sat.system.Step`):
    the MACs done (true MACs after N:M pruning) and the WUVE's FP operations (3 multiplies
    and 3 adds per weight and SGD step, :func:`sim.sat.wuve.sgd_lane`), buffer row accesses
    by buffer (a LOAD writes its rows, a DRAIN reads them; a GEMM reads ``rows`` W rows and
    ``T`` X rows per pass and writes ``T`` O rows, reading them back when a fold continues a
    chain; SGD reads M, V, G and writes M, V, D; PRUNE reads ``m`` D rows and writes ``n`` W
    rows per group), and ``moved`` bytes off chip (the system model's din + dout)."""
    from hw.sat.isa import Buf, Op

    acc = dict.fromkeys((b.name.lower() for b in Buf), 0)
    sgd_elems = 0
    for s in steps:
        c = s.cmd
        if c.op in (Op.LOAD, Op.DRAIN):
            acc[Buf(c.sel).name.lower()] += c.n0
        elif c.op == Op.GEMM:
            passes = c.n1 * c.n2
            acc["w"] += passes * cfg.rows
            acc["x"] += passes * c.n0
            acc["o"] += c.n2 * c.n0 * (2 * c.n1 - 1 + (1 if c.flag else 0))
        elif c.op == Op.SGD:
            for b in ("m", "v", "g", "m", "v", "d"):
                acc[b] += c.n0
            sgd_elems += c.n0 * cfg.lanes
        elif c.op == Op.PRUNE:
            acc["d"] += c.n0 * cfg.m
            acc["w"] += c.n0 * cfg.n
    done = sum(g.t * -(-g.k // cfg.m) * g.n * g.cout for g in gemms)
    bufs = buffer_bytes("sat_core", cfg)
    ops = {f"mul:{cfg.in_fmt}": done, f"add:{cfg.acc_fmt}": done}
    for op in ("mul", "add"):
        key = f"{op}:{cfg.master_fmt}"
        ops[key] = ops.get(key, 0) + 3 * sgd_elems
    return {"ops": ops, "sram": {k: [v, *bufs[k]] for k, v in acc.items() if v},
            "dram_bytes": moved}, done


def sat_cycles(params, workload):
    """Cycles of one ResNet-18 training iteration (BDWP at the point's N:M) end to end on the
    system model, with its energy events; the array-only cycles alongside (ResNet-18 only).
    ``workload``: ``bandwidth`` (bytes/cycle, needed), ``batch`` (32), ``layers`` (a list of
    ``{name, cin, cout, kernel, stride, size}`` instead of ResNet-18)."""
    from hw.sat.config import resolve
    from sim.bench.sat_resnet18 import LAYERS
    from sim.bench.sat_system import timing_of
    from sim.sat.planner import plan_iteration, true_macs
    from sim.sat.system import simulate

    cfg = resolve(**params)
    batch = int(workload.get("batch", 32))
    bandwidth = workload.get("bandwidth")
    if bandwidth is None:
        raise ValueError("workload.bandwidth (bytes/cycle shared by din and dout) is needed: "
                         "the SAT workload runs end to end on sim/sat/system.py")
    if not (isinstance(bandwidth, (int, float)) and bandwidth > 0):
        raise ValueError(f"workload.bandwidth must be a positive number of bytes/cycle, "
                         f"not {bandwidth!r}")
    network = workload.get("network", "resnet18")
    if network != "resnet18":
        raise ValueError(f"workload.network must be 'resnet18' (or give workload.layers), "
                         f"not {network!r}")
    layers = LAYERS
    if "layers" in workload:        # [{name, cin, cout, kernel, stride, size}, ...]
        layers = [(d.get("name", f"layer{i}"), d["cin"], d["cout"], d["kernel"],
                   d.get("stride", 1), d["size"]) for i, d in enumerate(workload["layers"])]
        network = f"{len(layers)} given layers"
    else:
        network = "ResNet-18"
    timing = timing_of(cfg)
    steps, gemms, _ = plan_iteration(layers, batch, cfg, timing, bandwidth, sparse=True)
    tl = simulate(steps, cfg, timing, bandwidth)
    moved = tl.bytes["din"] + tl.bytes["dout"]
    events, done = sat_events(steps, gemms, cfg, moved)
    phases = [{"phase": k, "bytes_in": int(v["bytes_in"]), "bytes_out": int(v["bytes_out"]),
               "ex_cycles": int(v["ex_cycles"]), "commands": v["commands"]}
              for k, v in tl.by("phase").items() if k]
    array = _sat_array_only(cfg, batch) if layers is LAYERS else {}
    n, m, rows, cols = cfg.n, cfg.m, cfg.rows, cfg.cols
    per_phase = {f"mb_{p['phase'].lower().replace(' ', '_')}": (p["bytes_in"] + p["bytes_out"])
                 / 1e6 for p in phases}            # MB moved per phase (in + out)
    return {"cycles": tl.cycles, "macs": true_macs(gemms), "macs_done": done,
            "utilization": done / (rows * cols * tl.cycles),     # MACs done per PE slot
            "commands": len(steps), "bandwidth": bandwidth, "data_width": cfg.data_width,
            "bytes_in": int(tl.bytes["din"]), "bytes_out": int(tl.bytes["dout"]),
            **{f"busy_{u.lower()}": int(v) for u, v in tl.busy.items()}, **per_phase,
            "array_cycles": array.get("sparse"), "array_dense_cycles": array.get("dense"),
            "model": "sim.sat.system.simulate on sim.sat.planner.plan_iteration",
            "model_note": _system_note("sat", True),
            "scope": f"{network} batch {batch}, one BDWP training iteration at {n}:{m} (FW, "
                     f"BW dX at N:M, WU dW dense, SGD, PRUNE): end to end, every LOAD and "
                     f"DRAIN, external memory {bandwidth} bytes/cycle shared by din and dout "
                     f"(beat {cfg.data_width} bits); host work not modelled; array_cycles: "
                     f"the array alone (sim.bench.sat_resnet18)",
            "per_run": phases, "events": events}


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
