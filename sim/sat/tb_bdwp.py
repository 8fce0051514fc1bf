"""One BDWP training step (``sim/sat/bdwp.py``) on the RTL engines, checked bit for bit.

:func:`run_step_rtl` runs three simulations, each fed by the previous one's RTL results:

1. STCE (``SystolicArray``): :func:`sim.sat.bdwp.step_schedule` runs inside the cocotb test,
   every GEMM on the array (tiled with :func:`sim.sat.driver.plan_gemm`; folds chain their
   partial sums through the array's ``acc`` input) and the host operations in between;
2. WUVE (``SGDLanes``): the FP16 gradients of step 1 update the FP32 master weights/momenta;
3. OSRE (``TopKLanes``): the new FP16 weights are re-pruned (``fc1`` forward, ``fc2`` forward
   and backward), each matrix streamed in blocks of ``lanes`` rows.

One cocotb test (:func:`bdwp_engine_job`) serves all three: ``$SIM_CONFIG`` names the engine,
its parameters, an ``.npz`` job and the ``.npz``/JSON files to write. Each engine does its
work once per phase in one simulation (default: back to back, then with 30% input gaps and
output stalls; every phase must give the same bits). In a phase without gaps or stalls the
cycles are checked exactly (STCE: ``sim.sat.cycles.gemm_cycles`` per GEMM; WUVE: back to
back, ``latency`` per transfer; OSRE: ``groups * m + latency``). :func:`check_step` compares
everything with the golden step.
"""

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly

from hw.sat.wuve import SGDLanes
from hw.sat.stce import SystolicArray
from hw.sat.osre import TopKLanes
from sim.sat.bdwp import LAYERS, Config, Operand, pad_cols, step_schedule
from sim.sat.wuve import config_bits
from sim.layout import pack, unpack
from sim.sat.cycles import gemm_cycles
from sim.sat.driver import plan_gemm
from sim.tb.stream import StreamSink, StreamSource, port, start_clock_and_reset

__all__ = ["run_step_rtl", "check_step", "OSRE_JOBS", "bdwp_engine_job"]

#: OSRE work of a step: (operand name, layer, axis of nm_prune).
OSRE_JOBS = (("fc1.fwd", "fc1", 1), ("fc2.fwd", "fc2", 1), ("fc2.bwd", "fc2", 0))


class Monitor:
    """Cycle of every transfer on the named streams (read-only phase after each falling
    edge, i.e. the cycle in which ``valid & ready`` holds)."""

    def __init__(self, dut, *prefixes):
        self.dut, self.cycle = dut, 0
        self.sig = {p: (port(dut, p, "valid"), port(dut, p, "ready")) for p in prefixes}
        self.log = {p: [] for p in prefixes}
        cocotb.start_soon(self._run())

    async def _run(self):
        while True:
            await FallingEdge(self.dut.clk)
            await ReadOnly()
            for p, (valid, ready) in self.sig.items():
                if int(valid.value) and int(ready.value):
                    self.log[p].append(self.cycle)
            self.cycle += 1


# -- STCE -----------------------------------------------------------------------------------
def _operands_to_npz(ops):
    out = {}
    for name, op in ops.items():
        out.update({f"{name}/values": op.values, f"{name}/indices": op.indices,
                    f"{name}/meta": np.array([op.n, op.group, op.k_len])})
    return out


def _operands_from_npz(job, names):
    return {name: Operand(job[f"{name}/values"], job[f"{name}/indices"],
                          *(int(v) for v in job[f"{name}/meta"])) for name in names}


async def _stce_gemm(dut, array, streams, job, timed):
    """``job.x * job.op`` on the array; returns (FP32 bits (T, C), measured dict)."""
    x_src, w_src, sink = streams
    op = job.op
    assert op.group == array.group, f"operand group {op.group} != array bus {array.group}"
    x = pad_cols(job.x, op.k_len)
    plan = plan_gemm(x, op.values, op.indices, op.n, array.group, array.rows, array.cols, 16)
    w_layout, x_layout = array.w.payload.shape(), array.x.payload.shape()
    y_layout = array.y.payload.shape()
    base, start = len(sink.words), sink.cycle
    w_src.push(*(pack(w_layout, {"values": vals[r].tolist(), "indices": ids[r].tolist()})
                 for tile in plan.weights for vals, ids in tile for r in range(array.rows)))
    for p in range(plan.passes):
        fold = p % plan.folds
        for t in range(plan.t):
            acc = [0] * array.cols
            if fold:                        # the previous fold's result row is the psum
                while len(x_src.queue) > 2:
                    await FallingEdge(dut.clk)
                words = await sink.wait_for(base + (p - 1) * plan.t + t + 1)
                acc = unpack(y_layout, words[base + (p - 1) * plan.t + t])
            x_src.push(pack(x_layout, {"groups": plan.buses[fold][t].tolist(), "acc": acc,
                                       "first": int(t == 0)}))
    words = (await sink.wait_for(base + plan.passes * plan.t))[base:]
    cycles = sink.cycles[-1] - start + 1
    cols = op.values.shape[1]
    out = np.zeros((plan.t, cols), np.uint64)
    for tile, (c0, nc) in enumerate(plan.tiles):
        p = tile * plan.folds + plan.folds - 1
        rows = [unpack(y_layout, w) for w in words[p * plan.t:(p + 1) * plan.t]]
        out[:, c0:c0 + nc] = np.array(rows, np.uint64)[:, :nc]
    kc = op.values.shape[0]
    model = gemm_cycles(plan.t, op.k_len, cols, op.n, array.group, array.rows, array.cols,
                        array.mul_latency, array.add_latency)
    measured = {"t": plan.t, "k": op.k_len, "kc": kc, "c": cols, "n": op.n,
                "passes": plan.passes,
                "cycles": cycles, "model": model,
                "mac_utilization": plan.t * kc * cols / (cycles * array.rows * array.cols)}
    if timed:
        assert cycles == model, f"GEMM {job.name}: {cycles} cycles, cycle model {model}"
    return out, measured


def _timed(phase):
    return not (phase["gap_prob"] or phase["stall_prob"])


async def _stce(dut, cfg, job):
    """Set up the array's streams; returns ``work(phase)`` running the step's GEMMs."""
    array = SystolicArray(**cfg["params"])
    await start_clock_and_reset(dut, dut.x__valid, dut.w__valid, dut.y__ready)
    seed = cfg["seed"]
    streams = (StreamSource(dut, "x", seed=seed), StreamSource(dut, "w", seed=seed + 1),
               StreamSink(dut, "y", seed=seed + 2).start())
    ops = _operands_from_npz(job, ("fc1.fwd", "fc2.fwd", "fc2.bwd"))

    async def work(phase):
        streams[0].gap_prob = streams[1].gap_prob = phase["gap_prob"]
        streams[2].stall_prob = phase["stall_prob"]
        schedule = step_schedule(ops, job["x16"], job["labels"], Config(**cfg["step"]))
        out, measured, result = {}, {}, None
        try:
            while True:
                gemm = schedule.send(result)
                result, measured[gemm.name] = await _stce_gemm(dut, array, streams, gemm,
                                                               _timed(phase))
                out[f"gemm/{gemm.name}"] = result
        except StopIteration as stop:
            host = stop.value
        out.update({k: host[k] for k in ("h16", "dz16", "dy1_16")})
        out.update({f"g16/{k}": v for k, v in host["g16"].items()})
        return out, measured
    return work


# -- WUVE -----------------------------------------------------------------------------------
def _check_timing(name, ins, lasts, outs, latency):
    """No input bubble, and each result exactly ``latency`` cycles after the last input it
    depends on (``lasts``: those inputs' cycles)."""
    assert ins == list(range(ins[0], ins[0] + len(ins))), f"{name}: input bubble"
    got = sorted(set(o - i for i, o in zip(lasts, outs)))
    assert len(lasts) == len(outs) and got == [latency], f"{name}: latency {got} != {latency}"


async def _lanes_phase(phase, streams, words, count):
    """Send ``words``, collect ``count`` results; returns them and this phase's transfer
    cycles on ``i`` and ``o``."""
    source, sink, monitor = streams
    source.gap_prob, sink.stall_prob = phase["gap_prob"], phase["stall_prob"]
    first_in, first_out = len(monitor.log["i"]), len(sink.words)
    await source.send(words)
    got = (await sink.wait_for(first_out + count))[first_out:]
    while len(monitor.log["o"]) < first_out + count:    # the monitor samples after the sink
        await FallingEdge(sink.clk)
    return got, monitor.log["i"][first_in:], monitor.log["o"][first_out:first_out + count]


async def _wuve(dut, cfg, job):
    lanes = SGDLanes(**cfg["params"])
    await start_clock_and_reset(dut, dut.i__valid, dut.o__ready)
    for name in ("lr", "mu", "wd"):
        getattr(dut, name).value = config_bits(cfg[name], "fp32")
    streams = (StreamSource(dut, "i", seed=cfg["seed"]),
               StreamSink(dut, "o", seed=cfg["seed"] + 1).start(), Monitor(dut, "i", "o"))
    count, width = len(job["g"]), lanes.lanes
    elems = [np.concatenate([job[f], np.zeros(-count % width, np.uint64)]) for f in "gwv"]
    in_layout, out_layout = lanes.i.payload.shape(), lanes.o.payload.shape()
    words = [pack(in_layout, [{"g": int(g), "w": int(w), "v": int(v)} for g, w, v in
                              zip(*(e[k:k + width] for e in elems))])
             for k in range(0, len(elems[0]), width)]

    async def work(phase):
        got, ins, outs = await _lanes_phase(phase, streams, words, len(words))
        got = [lane for word in got for lane in unpack(out_layout, word)]
        out = {f: np.array([lane[f] for lane in got[:count]], np.uint64)
               for f in ("w", "v", "w_lp")}
        measured = {"transfers": len(words), "cycles": outs[-1] - ins[0] + 1,
                    "latency": lanes.latency}
        if _timed(phase):
            _check_timing("WUVE", ins, ins, outs, lanes.latency)
            assert measured["cycles"] == len(words) + lanes.latency, measured
        return out, measured
    return work


# -- OSRE -----------------------------------------------------------------------------------
def osre_words(rows16, lanes, m):
    """Input words for a matrix whose rows are walked (one lane per row, blocks of ``lanes``
    rows, each row padded with +0 to a multiple of ``m``)."""
    rows = pad_cols(rows16, -(-rows16.shape[1] // m) * m)
    rows = np.concatenate([rows, np.zeros((-len(rows) % lanes, rows.shape[1]), np.uint64)])
    return [sum(int(v) << (16 * lane) for lane, v in enumerate(rows[b:b + lanes, t]))
            for b in range(0, len(rows), lanes) for t in range(rows.shape[1])]


async def _osre(dut, cfg, job):
    osre = TopKLanes(**cfg["params"])
    await start_clock_and_reset(dut, dut.i__valid, dut.o__ready)
    streams = (StreamSource(dut, "i", seed=cfg["seed"]),
               StreamSink(dut, "o", seed=cfg["seed"] + 1).start(), Monitor(dut, "i", "o"))
    layout, m = osre.o.payload.shape(), osre.m
    words, plans = [], []
    for name, layer, axis in OSRE_JOBS:
        w = job[layer]
        rows16 = w if axis == 1 else np.ascontiguousarray(w.T)
        new = osre_words(rows16, osre.lanes, m)
        plans.append((name, len(rows16), -(-rows16.shape[1] // m), len(new) // m))
        words += new
    groups = len(words) // m

    async def work(phase):
        got, ins, outs = await _lanes_phase(phase, streams, words, groups)
        results, out, first = [unpack(layout, word) for word in got], {}, 0
        for name, rows, per_row, count in plans:
            block = results[first:first + count]          # [block * per_row + g][lane]
            first += count
            lanes = np.array([[[lane["values"], lane["indices"]] for lane in r] for r in block])
            lanes = lanes.reshape(-1, per_row, osre.lanes, 2, osre.n).transpose(0, 2, 1, 3, 4)
            lanes = lanes.reshape(-1, per_row, 2, osre.n)[:rows]
            out[f"{name}/values"] = lanes[:, :, 0].astype(np.uint64)
            out[f"{name}/indices"] = lanes[:, :, 1].astype(np.int64)
        measured = {"transfers": len(words), "groups": groups,
                    "cycles": outs[-1] - ins[0] + 1, "latency": osre.latency}
        if _timed(phase):
            _check_timing("OSRE", ins, ins[m - 1::m], outs, osre.latency)
            assert measured["cycles"] == groups * m + osre.latency, measured
        return out, measured
    return work


ENGINES = {"stce": _stce, "wuve": _wuve, "osre": _osre}


@cocotb.test()
async def bdwp_engine_job(dut):
    """Run the engine's share of the step once per phase (the first one's results are
    written; later phases, e.g. with gaps and stalls, must reproduce them bit for bit)."""
    cfg = json.loads(Path(os.environ["SIM_CONFIG"]).read_text())
    with np.load(cfg["job"]) as f:
        job = dict(f)
    work = await ENGINES[cfg["engine"]](dut, cfg, job)
    first, measured = None, []
    for number, phase in enumerate(cfg["phases"]):
        out, numbers = await work(phase)
        measured.append({**phase, **numbers})
        if first is None:
            first = out
        for key, value in out.items():
            assert np.array_equal(value, first[key]), f"phase {number}: {key} differs"
        dut._log.info("%s phase %d %s: %s", cfg["engine"], number, phase, numbers)
    np.savez(cfg["out"], **first)
    Path(cfg["measured"]).write_text(json.dumps(measured, indent=1))


# -- orchestration (pytest side) --------------------------------------------------------------
def _simulate(engine, component, top, params, job, workdir, sim, extra, waves=None,
              quiet=False):
    from sim.runner import run
    workdir = Path(workdir)
    paths = {k: workdir / f"{engine}_{k}" for k in ("job.npz", "out.npz", "measured.json")}
    np.savez(paths["job.npz"], **job)
    config = {"engine": engine, "params": params, "job": str(paths["job.npz"]),
              "out": str(paths["out.npz"]), "measured": str(paths["measured.json"]), **extra}
    tag = hashlib.sha256(str(workdir.resolve()).encode()).hexdigest()[:10]
    ran = run(component, top, "sim.sat.tb_bdwp", config, sim=sim,
              test_name=f"bdwp_{engine}_{tag}", waves=waves, quiet=quiet)
    with np.load(paths["out.npz"]) as f:
        return dict(f), json.loads(paths["measured.json"].read_text()), ran.waves


#: Each engine does its work twice: back to back (timed), then with 30% gaps and stalls.
PHASES = ((0.0, 0.0), (0.3, 0.3))


def run_step_rtl(state, x16, labels, cfg, workdir, *, sim="verilator", rows=4, cols=4,
                 sgd_lanes=4, sgd_latency=8, osre_lanes=4, phases=PHASES, seed=1, waves=None,
                 quiet=False):
    """Run one training step from ``state`` on the RTL engines (each fed by the previous
    engine's RTL results), once per ``(gap_prob, stall_prob)`` phase. Returns ``{"stce":
    ..., "wuve": ..., "osre": ..., "measured": {engine: [per phase]}}`` (raw arrays), plus
    ``"waves": {engine: waveform file}`` when tracing (``waves`` and ``quiet`` as in
    :func:`sim.runner.run`)."""
    streams = {"seed": seed, "phases": [{"gap_prob": g, "stall_prob": s} for g, s in phases]}
    array = dict(rows=rows, cols=cols, group=cfg.m, in_fmt="fp16", acc_fmt="fp32",
                 mul_latency=2, add_latency=3)
    job = {"x16": np.asarray(x16, np.uint64), "labels": np.asarray(labels, np.int64),
           **_operands_to_npz(state.ops)}
    stce, m_stce, w_stce = _simulate("stce", SystolicArray(**array),
                                     f"stce_{rows}x{cols}_g{cfg.m}", array, job, workdir, sim,
                                     {**streams, "step": asdict(cfg)}, waves, quiet)

    sgd = dict(lanes=sgd_lanes, latency=sgd_latency)
    sizes = [state.w32[k].size for k in LAYERS]
    job = {"g": np.concatenate([stce[f"g16/{k}"].ravel() for k in LAYERS]),
           "w": np.concatenate([state.w32[k].ravel() for k in LAYERS]),
           "v": np.concatenate([state.v32[k].ravel() for k in LAYERS])}
    scaled = {"lr": cfg.lr / cfg.loss_scale, "mu": cfg.mu, "wd": cfg.wd * cfg.loss_scale}
    wuve_raw, m_wuve, w_wuve = _simulate("wuve", SGDLanes(**sgd),
                                 f"sat_wuve_lanes{sgd_lanes}_latency{sgd_latency}", sgd,
                                 job, workdir, sim, {**streams, **scaled}, waves, quiet)
    split = np.cumsum(sizes)[:-1]
    wuve = {f"{f}/{k}": part.reshape(state.w32[k].shape) for f in ("w", "v", "w_lp")
            for k, part in zip(LAYERS, np.split(wuve_raw[f], split))}

    osre_p = dict(lanes=osre_lanes, n=cfg.n, m=cfg.m, fmt="fp16")
    job = {k: wuve[f"w_lp/{k}"] for k in LAYERS}
    osre, m_osre, w_osre = _simulate("osre", TopKLanes(**osre_p),
                                     f"sat_osre_lanes{osre_lanes}_n{cfg.n}_m{cfg.m}_w16",
                                     osre_p, job, workdir, sim, streams, waves, quiet)
    out = {"stce": stce, "wuve": wuve, "osre": osre,
           "measured": {"stce": m_stce, "wuve": m_wuve, "osre": m_osre}}
    if w_stce is not None:
        out["waves"] = {"stce": w_stce, "wuve": w_wuve, "osre": w_osre}
    return out


def _same(name, got, want):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{name}: shape {got.shape} != {want.shape}"
    bad = np.argwhere(got != want)
    assert not len(bad), (f"{name}: {len(bad)}/{want.size} differ; first at {bad[0].tolist()}:"
                          f" got {int(got[tuple(bad[0])]):#x}, "
                          f"expected {int(want[tuple(bad[0])]):#x}")


def check_step(rtl, record, new_state):
    """Every RTL intermediate equals the golden step (``train_step``'s record and new
    state) bit for bit; returns the number of values compared."""
    pairs = [(f"GEMM {k}", rtl["stce"][f"gemm/{k}"], y) for k, (_, y) in record["gemms"].items()]
    pairs += [(k, rtl["stce"][k], record["host"][k]) for k in ("h16", "dz16", "dy1_16")]
    pairs += [(f"gradient {k}", rtl["stce"][f"g16/{k}"], record["host"]["g16"][k])
              for k in LAYERS]
    for k in LAYERS:
        pairs += [(f"master w {k}", rtl["wuve"][f"w/{k}"], new_state.w32[k]),
                  (f"momentum {k}", rtl["wuve"][f"v/{k}"], new_state.v32[k]),
                  (f"fp16 w {k}", rtl["wuve"][f"w_lp/{k}"], new_state.w16[k])]
    for name, _, _ in OSRE_JOBS:
        op = new_state.ops[name]
        got = Operand.from_groups(rtl["osre"][f"{name}/values"], rtl["osre"][f"{name}/indices"],
                                  op.group)
        pairs += [(f"{name} values", got.values, op.values),
                  (f"{name} indices", got.indices, op.indices)]
    for name, got, want in pairs:
        _same(name, got, want)
    return sum(np.asarray(want).size for _, _, want in pairs)
