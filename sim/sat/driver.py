"""Host side of the SAT engines: the GEMM tiling driver and the core's command programs.

:func:`plan_gemm` tiles a GEMM onto the STCE systolic array (what the array is fed, fold by
fold). :class:`Program` builds the command words and input beats of a core program,
rejecting (``ValueError``) any command whose ranges do not fit the buffers, and runs it on the
core model (:class:`sim.sat.model.SatCoreModel`) to get the expected output beats. The RTL
rejects such commands too (``error`` status, nothing written); :meth:`Program.raw` sends one
anyway to test that. :func:`stage_gemm` and :func:`gemm_result` run a whole GEMM through a
program.

Tiling: ``Y (T x Cout) = X (T x K) * W`` with ``W`` given in compressed N:M form (``Kc = K*N/M``
kept rows, each with an in-group index) or dense (``N = M``, index ``k mod M``). Output
columns are split into tiles of ``cols``; the kept rows into folds of ``rows``. Fold ``f``
of a tile receives the previous fold's results as its partial sums, so the whole reduction
is one sequential chain (see :mod:`sim.sat.stce`). Padding contributes exactly nothing:
padded weights are -0 and padded activations +0, so their product is -0 and ``s + (-0) == s``.
"""

from dataclasses import dataclass

import numpy as np

from hw.sat.isa import Buf, Op
from sim.sat.model import Command

__all__ = ["Plan", "plan_gemm", "dense_as_nm", "Program", "stage_gemm", "gemm_result"]

NEG_ZERO = {16: 0x8000, 32: 0x80000000}


def dense_as_nm(w, group):
    """A dense (K, C) weight as the compressed form the array reads: N = M = ``group``."""
    k, cols = w.shape
    pad = (-k) % group
    if pad:
        raise ValueError(f"dense K={k} must be a multiple of the array group {group}; pad it")
    indices = np.tile((np.arange(k) % group)[:, None], (1, cols)).astype(np.uint64)
    return np.asarray(w, dtype=np.uint64), indices, group


@dataclass
class Plan:
    """Per (tile, fold): weight rows and activation-bus rows for the array."""
    rows: int
    cols: int
    group: int
    tiles: list          # [(col0, ncols)]
    folds: int
    weights: list        # [tile][fold] -> (values (R, C), indices (R, C))
    buses: list          # [fold] -> groups (T, R, G)
    t: int

    @property
    def passes(self):
        return len(self.tiles) * self.folds


def plan_gemm(x, w_values, w_indices, n, group, rows, cols, in_width):
    """Plan ``x (T, K) * W`` where ``W`` is compressed (Kc, Cout) with ``n`` kept per
    ``group``; the array has ``rows`` x ``cols`` PEs and ``group``-wide activation buses."""
    x = np.asarray(x, dtype=np.uint64)
    t, k = x.shape
    kc, cout = w_values.shape
    if k % group or kc * group != k * n:
        raise ValueError(f"K={k} and Kc={kc} do not fit {n}:{group} groups")
    folds = max(1, -(-kc // rows))
    neg_zero = NEG_ZERO.get(in_width, 1 << (in_width - 1))
    tiles = [(c0, min(cols, cout - c0)) for c0 in range(0, cout, cols)]
    weights = []
    for c0, nc in tiles:
        per_fold = []
        for f in range(folds):
            values = np.full((rows, cols), neg_zero, dtype=np.uint64)
            indices = np.zeros((rows, cols), dtype=np.uint64)
            k0, k1 = f * rows, min(kc, (f + 1) * rows)
            values[:k1 - k0, :nc] = w_values[k0:k1, c0:c0 + nc]
            indices[:k1 - k0, :nc] = w_indices[k0:k1, c0:c0 + nc]
            per_fold.append((values, indices))
        weights.append(per_fold)
    buses = []
    padded = np.concatenate([x, np.zeros((t, group), dtype=np.uint64)], axis=1)
    for f in range(folds):
        bus = np.zeros((t, rows, group), dtype=np.uint64)
        for r in range(rows):
            kk = f * rows + r
            if kk < kc:
                g = kk // n
                bus[:, r, :] = padded[:, g * group:(g + 1) * group]
        buses.append(bus)
    return Plan(rows, cols, group, tiles, folds, weights, buses, t)


class Program:
    """A host program: command words, ``din`` beats and the model's expected results."""

    def __init__(self, model):
        self.model = model
        self.commands, self.din = [], []

    def _add(self, cmd, din=()):
        problem = self.model.problem(cmd)
        if problem is not None:
            raise ValueError(problem)
        self.commands.append(cmd)
        self.din += list(din)
        return cmd

    def raw(self, cmd):
        """Append ``cmd`` without the host's checks (to see the core reject it)."""
        self.commands.append(cmd)

    def load(self, buf, addr, rows):
        rows = np.asarray(rows, dtype=np.uint64).reshape(-1, *self.model.shape[buf])
        beats = [b for row in rows for b in self.model.to_beats(buf, self.model.pack_row(buf, row))]
        return self._add(Command(Op.LOAD, sel=buf, a=addr, n0=len(rows)), beats)

    def drain(self, buf, addr, count):
        return self._add(Command(Op.DRAIN, sel=buf, a=addr, n0=count))

    def gemm(self, w_addr, x_addr, o_addr, t, folds, tiles, accumulate=False):
        return self._add(Command(Op.GEMM, flag=int(accumulate), a=w_addr, b=x_addr, c=o_addr,
                                 n0=t, n1=folds, n2=tiles))

    def sgd(self, addr, d_addr, count):
        return self._add(Command(Op.SGD, a=addr, b=d_addr, n0=count))

    def prune(self, src, dst, groups, col_block=0, backward=False, stride=0):
        return self._add(Command(Op.PRUNE, flag=int(backward), a=src, b=dst, c=stride,
                                 n0=groups, n1=col_block))

    def set(self, reg, bits):
        return self._add(Command(Op.SET, sel=reg, value=int(bits)))

    def run(self):
        """Execute on the model. Returns ``(dout beats, errors, cycles)``: beats as
        ``(data, last)`` pairs, and per command its error flag and stall-free cycle count
        (``None`` without timing)."""
        din, out, errors, cycles = iter(self.din), [], [], []
        for cmd in self.commands:
            if self.model.timing is not None:
                cycles.append(self.model.cycles(cmd))
            beats, error = self.model.execute(cmd, din)
            out += beats
            errors.append(error)
        return out, errors, cycles or None

    def words(self):
        return [self.model.encode(c) for c in self.commands]


def stage_gemm(prog, x, w_values, w_indices, n, w_addr=0, x_addr=0, o_addr=0,
               accumulate=False):
    """Host side of ``x (T, K) * W`` (``W`` compressed ``(Kc, Cout)``, ``n`` kept per ``m``):
    tile and fold it with :func:`plan_gemm`, load W and X, run the GEMM.
    Returns the plan (the results are O rows ``o_addr + tile * T + t``)."""
    model = prog.model
    plan = plan_gemm(x, w_values, w_indices, n, model.m, model.rows, model.cols,
                     model.in_fmt.width)
    weights = [np.stack([vals, ids], axis=-1) for tile in plan.weights for vals, ids in tile]
    prog.load(Buf.W, w_addr, np.concatenate(weights))
    prog.load(Buf.X, x_addr, np.concatenate(plan.buses))
    prog.gemm(w_addr, x_addr, o_addr, plan.t, plan.folds, len(plan.tiles), accumulate)
    return plan


def gemm_result(model, plan, beats):
    """``Y (T, Cout)`` from the drained beats of the plan's O rows (``(data, last)`` pairs)."""
    per_row = model.beats[Buf.O]
    rows = [model.unpack_row(Buf.O, model.from_beats(Buf.O, [d for d, _ in
                                                             beats[i:i + per_row]]))
            for i in range(0, len(beats), per_row)]
    cout = sum(nc for _, nc in plan.tiles)
    y = np.zeros((plan.t, cout), np.uint64)
    for j, (c0, nc) in enumerate(plan.tiles):
        y[:, c0:c0 + nc] = np.array(rows[j * plan.t:(j + 1) * plan.t])[:, :nc]
    return y
