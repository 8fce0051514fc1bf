"""Run the generated RTL from Python, without pytest.

Each function builds the design (cached under ``$BUILD_DIR``, default ``build/``), runs it in a
simulator through the project's cocotb testbenches (:func:`sim.runner.run`), reads the results
back and returns them as NumPy arrays (bit patterns) with the measured cycles::

    from sim.rtl import spartann_conv, sat_gemm, bdwp_step

* :func:`spartann_conv`: a conv layer's BP (``GI``) and/or WU (``GW``) on a SparTANN core,
  planned by :mod:`sim.spartann.driver`;
* :func:`sat_gemm`: ``Y = X * W`` (dense or N:M-pruned ``W``) on a SAT core;
* :func:`bdwp_step`: one BDWP training step (digits MLP) on the SAT engines.

With ``check=True`` (the default) every result is compared bit for bit with the golden model,
and, when the streams never stall, the measured cycles with the cycle model; a mismatch raises
:class:`RtlMismatch`. Cores default to small presets so that a call takes seconds (plus a
one-time build). ``sim``: ``"verilator"`` or ``"icarus"``; ``waves``: ``None`` (read
``$WAVES``), ``True``/``"vcd"`` or ``"fst"`` (the file is in the result's ``waves``);
``quiet`` (default): the simulator's output goes to log files in the build and run
directories instead of stdout.
"""

import hashlib
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hw.spartann.config import SMALL, SpartannConfig

__all__ = ["RtlMismatch", "ConvResult", "spartann_conv", "SPARTANN_SMALL", "GemmResult",
           "sat_gemm", "BdwpResult", "bdwp_step"]


class RtlMismatch(AssertionError):
    """The RTL disagrees with the golden model (results or cycle counts)."""


def _same(name, got, want):
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        raise RtlMismatch(f"{name}: RTL shape {got.shape}, golden {want.shape}")
    bad = np.argwhere(got != want)
    if len(bad):
        at = tuple(bad[0])
        raise RtlMismatch(f"{name}: {len(bad)} of {want.size} values differ; first at "
                          f"{list(map(int, at))}: RTL {int(got[at]):#x}, golden {int(want[at]):#x}")


def _workdir(workdir):
    """``(path, cleanup)``: ``workdir`` itself, or a temporary directory removed afterwards."""
    if workdir is not None:
        Path(workdir).mkdir(parents=True, exist_ok=True)
        return Path(workdir), None
    tmp = tempfile.TemporaryDirectory(prefix="sparse-train-rtl-")
    return Path(tmp.name), tmp


# -- SparTANN -------------------------------------------------------------------------------------
#: A quick SparTANN core for :func:`spartann_conv` (a :class:`SpartannConfig`): the ``small``
#: preset with smaller buffers and 3-cycle MAC lanes (4 FP32 lanes).
SPARTANN_SMALL = SMALL.replace(sparse_depth=64, b_rows=8, a_rows=32, out_rows=32, max_cols=16,
                               mac_latency=3)


@dataclass
class ConvResult:
    """What :func:`spartann_conv` measured. Arrays are bit patterns of the core's format."""
    gi: np.ndarray = None            #: input gradient ``(B, Z, H, W)`` from the RTL (BP)
    gw: np.ndarray = None            #: weight gradient ``(M, Z, K, K)`` from the RTL (WU)
    cycles: dict = field(default_factory=dict)        #: phase -> program cycles (overlapped)
    model_cycles: dict = field(default_factory=dict)  #: phase -> cycle model (no stalls)
    runs: dict = field(default_factory=dict)   #: phase -> per job ``run_cycles``, ``run_macs``
    plans: dict = field(default_factory=dict)  #: phase -> :class:`sim.spartann.driver.Plan`
    params: dict = None              #: the core's parameters
    waves: Path = None               #: waveform file, when traced


def spartann_conv(layer, go, w=None, ia=None, *, core=None, contexts=True, sim="verilator",
                  waves=None, gap_prob=0.0, seed=1, check=True, quiet=True, workdir=None):
    """A conv layer's backward pass on the SparTANN RTL.

    ``layer``: :class:`sim.spartann.driver.ConvLayer`; ``go`` (``layer.go_shape``) the output
    gradient, ``w`` (``layer.w_shape``) the weights and ``ia`` (``layer.ia_shape``) the input
    activations, all bit patterns of the core's format. With ``w`` the BP (``GI``) runs, with
    ``ia`` the WU (``GW``); both run one after the other on the same core. ``core``:
    a :class:`hw.spartann.config.SpartannConfig`, or a dict of its fields overriding
    :data:`SPARTANN_SMALL`. ``contexts``: plan the BP for the core's column contexts (auto
    m-tile). ``gap_prob``: probability of an idle cycle on the inputs and a stall on the output
    (``0``: the cycles must equal the cycle model).
    """
    from sim.spartann.cycles import command_cycles, program_cycles
    from sim.spartann.driver import CoreConfig, plan_bp, plan_wu
    from sim.spartann.tb_core import run_on_rtl

    if w is None and ia is None:
        raise ValueError("give w (BP), ia (WU) or both")
    params = core if isinstance(core, SpartannConfig) else SPARTANN_SMALL.replace(**(core or {}))
    cfg = CoreConfig(params, contexts=True if contexts else None)
    plans = {}
    if w is not None:
        plans["bp"] = plan_bp(layer, go, w, cfg)
    if ia is not None:
        plans["wu"] = plan_wu(layer, go, ia, cfg)
    segments = [{"program": p.program, "gap_prob": gap_prob, "stall_prob": gap_prob}
                for p in plans.values()]
    path, tmp = _workdir(workdir)
    try:
        raw = run_on_rtl(params, segments, sim=sim, seed=seed, out_dir=path, waves=waves,
                         quiet=quiet)
    finally:
        if tmp is not None:
            tmp.cleanup()
    result = ConvResult(params=params.as_dict(), plans=plans, waves=raw["waves"])
    drained = [np.asarray(x, dtype=np.uint64) for x in raw["drained"]]
    runs = raw["runs"]
    for (phase, plan), segment in zip(plans.items(), raw["segments"]):
        n = len(plan._drains)
        got, drained = plan.assemble(drained[:n]), drained[n:]
        setattr(result, "gi" if phase == "bp" else "gw", got)
        jobs = sum(cmd["op"].startswith("run_") for cmd in plan.program)
        result.runs[phase], runs = runs[:jobs], runs[jobs:]
        result.cycles[phase] = segment["cycles"]
        result.model_cycles[phase] = program_cycles(plan.program, params)
        if check:
            _same("GI" if phase == "bp" else "GW", got, plan.run())
            if not gap_prob and segment["commands"] != command_cycles(plan.program, params):
                raise RtlMismatch(f"{phase}: command cycles {segment['commands']} differ from "
                                  f"the cycle model {command_cycles(plan.program, params)}")
    return result


# -- SAT ------------------------------------------------------------------------------------------
@dataclass
class GemmResult:
    """What :func:`sat_gemm` measured. Arrays are bit patterns."""
    y: np.ndarray                    #: ``(T, Cout)`` result in the accumulation format (FP32)
    w_values: np.ndarray             #: compressed ``W`` the core ran: ``(K * n / m, Cout)``
    w_indices: np.ndarray            #: index of each value within its group of ``m``
    cycles: int                      #: cycles of the GEMM command
    model_cycles: int                #: the cycle model's GEMM cycles (no stalls)
    total_cycles: int                #: cycles of every command (loads, GEMM, drain)
    model_total_cycles: int
    n: int                           #: kept per group of ``m`` (``n == m``: dense)
    m: int
    params: dict = None              #: the core's parameters
    waves: Path = None


def sat_gemm(x, w, *, n=None, core="small", sim="verilator", waves=None, gap_prob=0.0,
             seed=1, check=True, quiet=True, **overrides):
    """``Y = X * W`` on the SAT core RTL.

    ``x``: ``(T, K)`` activations, ``w``: ``(K, Cout)`` dense weights, both FP16 bit patterns
    (the core's ``in_fmt``). ``n``: keep the ``n`` largest-magnitude weights of every group of
    ``m`` consecutive K (the core's ``m``; BDWP's N:M pruning, :func:`sim.sat.osre.nm_prune`)
    and run the sparse GEMM; ``None`` or ``m``: dense. ``core``: a preset of
    :mod:`hw.sat.config` (``"small"``: a 2 x 3 array, m = 4), ``overrides`` its parameters.
    ``K`` must be a multiple of ``m``; ``T``, ``K`` and ``Cout`` must fit the buffers.
    """
    from hw.sat.core import Buf, Op, SatCore
    from hw.sat.config import resolve
    from sim.sat.stce import gemm_chain
    from sim.sat.osre import nm_prune
    from sim.sat.driver import Program, gemm_result, stage_gemm
    from sim.sat.model import SatCoreModel
    from sim.runner import run

    params = resolve(core, **overrides)
    component = SatCore(params)
    model = SatCoreModel(params, component.timing)
    m = model.m
    n = m if n is None else int(n)
    if not 1 <= n <= m:
        raise ValueError(f"n must be in 1..{m} (the core's m), not {n}")
    x = np.asarray(x, dtype=np.uint64)
    w = np.asarray(w, dtype=np.uint64)
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[0]:
        raise ValueError(f"x must be (T, K) and w (K, Cout), not {x.shape} and {w.shape}")
    if w.shape[0] % m:
        raise ValueError(f"K = {w.shape[0]} must be a multiple of m = {m}")
    _, vals, ids = nm_prune(w, n, m, 0, model.in_fmt)         # (Cout, groups, n)
    w_values = vals.transpose(1, 2, 0).reshape(-1, w.shape[1]).astype(np.uint64)
    w_indices = ids.transpose(1, 2, 0).reshape(-1, w.shape[1]).astype(np.uint64)

    prog = Program(model)
    plan = stage_gemm(prog, x, w_values, w_indices, n)
    prog.drain(Buf.O, 0, plan.t * len(plan.tiles))
    want_beats, errors, model_cycles = prog.run()
    dw = model.data_width
    phase = {"name": "gemm", "cmds": prog.words(), "din": prog.din, "dout": None,
             "errors": errors, "cycles": None, "gap_prob": gap_prob, "stall_prob": gap_prob}
    path, tmp = _workdir(None)
    try:
        measured = path / "measured.json"
        config = {"seed": seed, "phases": [phase], "measured": str(measured)}
        top = f"sat_core_{core}"
        if params != resolve(core):
            top += "_" + hashlib.sha256(json.dumps(params.as_dict(), sort_keys=True)
                                        .encode()).hexdigest()[:8]
        ran = run(component, top, "sim.sat.tb_core", config, sim=sim, waves=waves,
                  quiet=quiet, testcase="sat_core_runs_programs")
        got = json.loads(measured.read_text())[0]
    finally:
        tmp.cleanup()
    mask = (1 << dw) - 1
    beats = [(word & mask, word >> dw) for word in got["dout"]]
    y = gemm_result(model, plan, beats)
    gemm_at = [c.op for c in prog.commands].index(Op.GEMM)
    result = GemmResult(y=y, w_values=w_values, w_indices=w_indices,
                        cycles=got["cycles"][gemm_at], model_cycles=model_cycles[gemm_at],
                        total_cycles=sum(got["cycles"]), model_total_cycles=sum(model_cycles),
                        n=n, m=m, params=params.as_dict(), waves=ran.waves)
    if check:
        if beats != want_beats:
            _same("Y", y, gemm_result(model, plan, want_beats))
            raise RtlMismatch("dout beats differ from the core model's")
        _same("Y vs gemm_chain", y, gemm_chain(x, w_values, w_indices, m, model.in_fmt,
                                              model.acc_fmt))
        if not gap_prob and got["cycles"] != model_cycles:
            raise RtlMismatch(f"command cycles {got['cycles']} differ from the model "
                              f"{model_cycles}")
    return result


@dataclass
class BdwpResult:
    """What :func:`bdwp_step` measured (see :func:`sim.sat.tb_bdwp.run_step_rtl`)."""
    rtl: dict                        #: every RTL intermediate: ``stce``, ``wuve``, ``osre``
    state: object                    #: the new state (:class:`sim.sat.bdwp.State`) from the RTL
    golden_state: object             #: the golden step's new state
    cycles: dict                     #: engine -> measured cycles (first phase)
    model_cycles: dict               #: engine -> cycle model
    measured: dict                   #: engine -> per phase details (every GEMM for ``stce``)
    compared: int = 0                #: values compared with the golden step (``check``)
    waves: dict = None               #: engine -> waveform file, when traced


def bdwp_step(config=None, *, state=None, x16=None, labels=None, rows=4, cols=4, sgd_lanes=4,
              osre_lanes=4, sim="verilator", waves=None, gap_prob=0.0, seed=1, check=True,
              quiet=True, workdir=None):
    """One BDWP training step on the SAT engine RTL: the step's GEMMs on an ``rows x cols``
    STCE array, the SGD update on the WUVE lanes, the N:M re-pruning on the OSRE lanes.

    ``config``: :class:`sim.sat.bdwp.Config` (default: 2:8, hidden 16, batch 8); ``state`` the
    model to train (default: :func:`sim.sat.bdwp.init_state`); ``x16`` / ``labels`` a batch (default:
    the first batch of the digits training set, FP16 bit patterns).
    """
    from sim.sat import bdwp
    from sim.sat.tb_bdwp import check_step, run_step_rtl

    cfg = config or bdwp.Config(n=2, m=8, hidden=16, batch=8)
    state = bdwp.init_state(cfg) if state is None else state
    if x16 is None or labels is None:
        x_train, y_train = bdwp.load_data()[:2]
        x16, labels = bdwp.to_fp16(x_train[:cfg.batch]), y_train[:cfg.batch]
    with np.errstate(all="ignore"):
        golden, record = bdwp.train_step(state, x16, labels, cfg)
    path, tmp = _workdir(workdir)
    try:
        with np.errstate(all="ignore"):
            rtl = run_step_rtl(state, x16, labels, cfg, path, sim=sim, rows=rows, cols=cols,
                               sgd_lanes=sgd_lanes, osre_lanes=osre_lanes,
                               phases=((gap_prob, gap_prob),), seed=seed, waves=waves,
                               quiet=quiet)
    finally:
        if tmp is not None:
            tmp.cleanup()
    measured = {e: phases[0] for e, phases in rtl["measured"].items()}
    gemms = {k: g for k, g in measured["stce"].items() if isinstance(g, dict)}
    cycles = {"stce": sum(g["cycles"] for g in gemms.values()),
              "wuve": measured["wuve"]["cycles"], "osre": measured["osre"]["cycles"]}
    model = {"stce": sum(g["model"] for g in gemms.values()),
             "wuve": measured["wuve"]["transfers"] + measured["wuve"]["latency"],
             "osre": measured["osre"]["groups"] * cfg.m + measured["osre"]["latency"]}
    compared = 0
    if check:
        try:
            compared = check_step(rtl, record, golden)
        except AssertionError as error:
            raise RtlMismatch(str(error)) from None
        if not gap_prob and cycles != model:
            raise RtlMismatch(f"cycles {cycles} differ from the cycle model {model}")
    new = _state_from_rtl(rtl, golden, cfg)
    return BdwpResult(rtl=rtl, state=new, golden_state=golden, cycles=cycles,
                      model_cycles=model, measured=rtl["measured"], compared=compared,
                      waves=rtl.get("waves"))


def _state_from_rtl(rtl, golden, cfg):
    """The new training state assembled from the RTL's WUVE and OSRE outputs."""
    from dataclasses import replace
    from sim.sat.bdwp import LAYERS, Operand
    from sim.sat.tb_bdwp import OSRE_JOBS

    ops = dict(golden.ops)
    for name, _, _ in OSRE_JOBS:
        ops[name] = Operand.from_groups(rtl["osre"][f"{name}/values"],
                                        rtl["osre"][f"{name}/indices"], golden.ops[name].group)
    return replace(golden, w32={k: rtl["wuve"][f"w/{k}"] for k in LAYERS},
                   v32={k: rtl["wuve"][f"v/{k}"] for k in LAYERS},
                   w16={k: rtl["wuve"][f"w_lp/{k}"] for k in LAYERS}, ops=ops)
