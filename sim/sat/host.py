"""Host of a planned training iteration on a small SAT core: real data for every LOAD of a
:func:`sim.sat.planner.plan_iteration` program, and the golden value of every row it drains.
HDL-free.

:class:`NetworkData` holds one iteration's numbers: per GEMM random FP16 activations and
compressed N:M weights (the host's work between layers, im2col, ReLU, the loss, is not
modelled, so each GEMM has its own operands); per layer FP32 master weights and momenta
(``W[out, in]``, out channels padded to whole lane blocks, inputs to whole groups of ``m``)
and the FP16 gradient ``G = fp16(dW)``, the host's rounding of the iteration's own
weight-gradient GEMM. Its golden results come from the engines' golden models, not from the
core model: :func:`sim.sat.stce.gemm_chain` (GEMMs), :func:`sim.sat.wuve.sgd_lane` (SGD, with
the registers the program SETs), :func:`sim.sat.osre.topk_group` (both PRUNEs, on the updated
FP16 weights).

:func:`run_planned` executes the program on the core model (:class:`sim.sat.model.SatCoreModel`,
sequentially: the core's dispatch makes the overlapped run equal it), feeds every LOAD from
:class:`NetworkData`, and compares every drained row with its golden value bit for bit (a
PRUNE drain: the column block the PRUNE wrote). It returns the ``din`` beats and the
``dout`` words, which the RTL testbench then replays and compares.
"""

from math import ceil

import numpy as np

from hw.sat.isa import Buf, Op, Reg
from sim.fp import golden as fp
from sim.sat.osre import topk_group
from sim.sat.planner import load_rows
from sim.sat.stce import gemm_chain
from sim.sat.wuve import sgd_lane

__all__ = ["NetworkData", "run_planned"]


def _fp16(rng, shape):
    return rng.standard_normal(shape).astype(np.float16).view(np.uint16).astype(np.uint64)


def _fp32(rng, shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32).view(np.uint32).astype(
        np.uint64)


class NetworkData:
    """Operands and golden results of one planned iteration (see the module doc).

    ``gemms``, ``shapes``: from :func:`~sim.sat.planner.plan_iteration` /
    :func:`~sim.sat.planner.weight_shapes`; ``registers``: ``{Reg: bits}`` the program SETs."""

    def __init__(self, gemms, shapes, config, registers, rng):
        self.config, self.registers = config, registers
        m, lanes = config.m, config.lanes
        self.operands, self.golden = {}, {}
        for g in gemms:
            kg = ceil(g.k / m)
            x = np.zeros((g.t, kg * m), np.uint64)
            x[:, :g.k] = _fp16(rng, (g.t, g.k))
            values = _fp16(rng, (kg * g.n, g.cout))
            if g.n == m:
                indices = np.tile(np.arange(m, dtype=np.uint64), kg)[:, None].repeat(g.cout, 1)
            else:
                indices = rng.integers(0, m, (kg * g.n, g.cout)).astype(np.uint64)
            self.operands[g.key] = (x, values, indices)
            self.golden[g.key] = gemm_chain(x, values, indices, m, config.in_format,
                                            config.acc_format)
        self.layers = {}
        for g in gemms:
            if g.phase != "WU dW" or g.layer in self.layers:
                continue
            cout, fan_in = shapes[g.layer]
            rows, cols = ceil(cout / lanes) * lanes, ceil(fan_in / m) * m
            w, v = _fp32(rng, (rows, cols)), _fp32(rng, (rows, cols), 0.1)
            grad = np.zeros((rows, cols), np.uint64)
            dw = self.golden[g.key]                        # (fan_in, cout) FP32
            grad[:cout, :fan_in] = fp.convert(dw[:fan_in, :cout].T, config.acc_format,
                                              config.grad_format)
            new_w, new_v, w_lp = sgd_lane(
                grad, w, v, registers[Reg.LR], registers[Reg.MU], registers[Reg.WD],
                config.grad_format, config.master_format, config.in_format,
                config.decoupled_wd)
            self.layers[g.layer] = {"M": w, "V": v, "G": grad, "M'": np.asarray(new_w),
                                    "V'": np.asarray(new_v), "D'": np.asarray(w_lp)}

    # -- rows ------------------------------------------------------------------------------
    def _chunk(self, matrix, ob0, obn, i0, kin):
        """Rows of an SGD chunk: row ``ob*kin + k`` = out channels of block ``ob0 + ob``
        (one lane each) of input ``i0 + k`` (the D layout of docs/sat/core.md)."""
        lanes = self.config.lanes
        block = matrix[ob0 * lanes:(ob0 + obn) * lanes, i0:i0 + kin]        # (obn*L, kin)
        return block.reshape(obn, lanes, kin).transpose(0, 2, 1).reshape(obn * kin, lanes)

    def load(self, step, model):
        """The rows of a planned LOAD (model row shape)."""
        kind = step.data[0]
        if kind in ("X", "W"):
            return load_rows(step, self.operands, model)
        layer, *chunk = step.data[1:]
        return self._chunk(self.layers[layer][kind], *chunk)

    def check_drain(self, step, rows, model):
        """Compare the drained ``rows`` (model row shape) with their golden values; returns
        the kind checked (``None``: untagged)."""
        if step.data is None:
            return None
        kind, *rest = step.data
        cfg = self.config
        if kind == "O":
            key, t0, tt, c0, nn = rest
            y = self.golden[key]
            for j, row in enumerate(rows):
                tile, t = divmod(j, tt)
                col0 = (c0 + tile) * cfg.cols
                width = min(cfg.cols, y.shape[1] - col0)
                _same(row[:width], y[t0 + t, col0:col0 + width], f"O of {key}")
            return kind
        if kind in ("M", "V", "D"):
            layer, *chunk = rest
            _same(rows, self._chunk(self.layers[layer][kind + "'"], *chunk), f"{kind} {layer}")
            return kind
        layer, ob, i0, groups, block, *chunk = rest
        lanes, n, m = cfg.lanes, cfg.n, cfg.m
        w_lp = self.layers[layer]["D'"]
        col = block * lanes
        if kind == "PF":           # lanes: out channels of block ob, groups along inputs
            seq = w_lp[ob * lanes:(ob + 1) * lanes, i0:i0 + groups * m]
        else:                      # lanes: inputs i0 .., groups along out channels from ob*L
            obn, i_end = chunk
            if groups * m > obn * lanes:
                return None        # its groups reach past the chunk's rows: not this layer's
            seq = w_lp[ob * lanes:ob * lanes + groups * m, i0:min(i0 + lanes, i_end)].T
        values, indices = topk_group(seq.reshape(len(seq), groups, m), n, cfg.in_format)
        for lane in range(len(seq)):
            got = rows[:, col + lane]                       # (groups * n, 2)
            _same(got[:, 0], values[lane].reshape(-1), f"{kind} {layer} values")
            _same(got[:, 1], indices[lane].reshape(-1), f"{kind} {layer} indices")
        return kind


def _same(got, want, what):
    got, want = np.asarray(got, np.uint64), np.asarray(want, np.uint64)
    if not np.array_equal(got, want):
        bad = np.argwhere(got != want)
        raise AssertionError(f"{what}: {len(bad)} of {got.size} elements differ from the "
                             f"golden model, first at {tuple(bad[0])}")


def run_planned(steps, data, model):
    """Execute ``steps`` on ``model`` with the rows of ``data`` (:class:`NetworkData`);
    check every tagged drain against its golden value. Returns ``(din beats, dout words
    (data | last << data_width), {kind: drains checked})``."""
    din, dout, checked = [], [], {}
    dw = model.data_width
    for step in steps:
        cmd, beats = step.cmd, []
        if cmd.op == Op.LOAD:
            buf = Buf(cmd.sel)
            for row in data.load(step, model):
                beats += model.to_beats(buf, model.pack_row(buf, row))
        din += beats
        out, error = model.execute(cmd, iter(beats))
        if error:
            raise ValueError(f"rejected: {cmd} ({model.problem(cmd)})")
        dout += [d | last << dw for d, last in out]
        if cmd.op == Op.DRAIN:
            buf, per = Buf(cmd.sel), model.beats[Buf(cmd.sel)]
            words = [d for d, _ in out]
            rows = np.stack([model.unpack_row(buf, model.from_beats(buf, words[j:j + per]))
                             for j in range(0, len(words), per)])
            kind = data.check_drain(step, rows, model)
            if kind is not None:
                checked[kind] = checked.get(kind, 0) + 1
    return din, dout, checked
