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

__all__ = ["Plan", "plan_gemm", "dense_as_nm", "compact_rows", "Program", "stage_gemm",
           "gemm_result"]

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


def compact_rows(x, group, x_groups):
    """X rows of the compact activation format (:mod:`hw.sat.isa`): ``x (T, K)`` (``K`` a
    multiple of ``group``) row-major as ``T * K / group`` groups, ``x_groups`` groups a row,
    the last row zero-padded. Returns ``(rows, x_groups, group)``."""
    x = np.asarray(x, dtype=np.uint64)
    t, k = x.shape
    if k % group:
        raise ValueError(f"K={k} must be a multiple of the group {group}; pad it")
    flat = x.reshape(-1, group)
    pad = (-len(flat)) % x_groups
    flat = np.concatenate([flat, np.zeros((pad, group), np.uint64)])
    return flat.reshape(-1, x_groups, group)


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

    def gemm(self, w_addr, x_addr, o_addr, t, folds, tiles, accumulate=False, *, n, groups):
        """GEMM of ``t`` activation rows of ``groups`` groups each (X from row ``x_addr``) at
        ``n`` kept per group of ``m``, ``folds`` x ``tiles`` passes (W from ``w_addr``)."""
        return self._add(Command(Op.GEMM, sel=n, flag=int(accumulate), a=w_addr, b=x_addr,
                                 c=o_addr, n0=t, n1=folds, n2=tiles, n3=groups))

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
    tile and fold it with :func:`plan_gemm`, load W and the compact X (:func:`compact_rows`:
    every activation once), run the GEMM. Returns the plan (the results are O rows
    ``o_addr + tile * T + t``)."""
    model = prog.model
    plan = plan_gemm(x, w_values, w_indices, n, model.m, model.rows, model.cols,
                     model.in_fmt.width)
    weights = [np.stack([vals, ids], axis=-1) for tile in plan.weights for vals, ids in tile]
    prog.load(Buf.W, w_addr, np.concatenate(weights))
    prog.load(Buf.X, x_addr, compact_rows(x, model.m, model.x_groups))
    prog.gemm(w_addr, x_addr, o_addr, plan.t, plan.folds, len(plan.tiles), accumulate,
              n=n, groups=np.shape(x)[1] // model.m)
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


def _random_values(rng, fmt, shape):
    """Operand bits: mostly finite values of moderate range, some uniformly random bits
    (specials, subnormals)."""
    from sim.fp import golden as fp
    values = fp.from_float64(fmt, rng.normal(0, 1, shape) * 2.0 ** rng.integers(-6, 6, shape))
    raw = rng.integers(0, 1 << fmt.width, shape, dtype=np.uint64)
    return np.where(rng.random(shape) < 0.1, raw, np.asarray(values, np.uint64)).astype(np.uint64)


def _random_rows(model, rng, buf, count):
    shape = (count, *model.shape[buf])
    if buf == Buf.W:
        values = _random_values(rng, model.in_fmt, shape[:-1])
        return np.stack([values, rng.integers(0, model.m, shape[:-1], dtype=np.uint64)], -1)
    fmt = {Buf.X: model.in_fmt, Buf.O: model.acc_fmt, Buf.M: model.master_fmt,
           Buf.V: model.master_fmt, Buf.G: model.grad_fmt, Buf.D: model.in_fmt}[buf]
    return _random_values(rng, fmt, shape)


def _random_command(model, rng, op):
    """A random command of ``op`` whose ranges fit (``None`` if none was found)."""
    from sim.sat.wuve import config_bits
    d, cfg = model.depth, model.config

    def at(depth, size):
        return int(rng.integers(0, depth - size + 1)) if size <= depth else None
    for _ in range(50):
        if op in (Op.LOAD, Op.DRAIN):
            buf = Buf(int(rng.integers(0, len(Buf))))
            n0 = int(rng.integers(1, min(4, d[buf]) + 1))
            cmd = Command(op, sel=buf, a=at(d[buf], n0), n0=n0)
        elif op == Op.GEMM:
            n, kg = int(rng.integers(1, model.m + 1)), int(rng.integers(1, 5))
            t, tiles = int(rng.integers(1, 7)), int(rng.integers(1, 3))
            folds = -(-kg * n // model.rows)
            a = at(d[Buf.W], tiles * folds * model.rows)
            xrows = -(-t * kg // model.x_groups) + 1
            b, c = at(d[Buf.X], xrows), at(d[Buf.O], tiles * t)
            if None in (a, b, c):
                continue
            cmd = Command(op, sel=n, flag=int(rng.integers(0, 2)), a=a, b=b, c=c, n0=t,
                          n1=folds, n2=tiles, n3=kg)
        elif op == Op.SGD:
            n0 = int(rng.integers(1, 5))
            a, b = at(d[Buf.M], n0), at(d[Buf.D], n0)
            if None in (a, b):
                continue
            cmd = Command(op, a=a, b=b, n0=n0)
        elif op == Op.PRUNE:
            groups, backward = int(rng.integers(1, 3)), int(rng.integers(0, 2))
            stride = int(rng.integers(1, model.lanes + 3)) if backward else 0
            cmd = Command(op, flag=backward, a=int(rng.integers(0, d[Buf.D])),
                          b=int(rng.integers(0, d[Buf.W])), c=stride, n0=groups,
                          n1=int(rng.integers(0, cfg.col_blocks)))
        else:
            value = config_bits(float(rng.choice([0.0, 0.01, 0.5, 0.9, 1e-3])),
                                model.master_fmt)
            cmd = Command(Op.SET, sel=int(rng.integers(0, 3)), value=value)
        if None not in (cmd.a, cmd.b) and model.problem(cmd) is None:
            return cmd
    return None


#: Relative frequency of each op in :func:`random_program` (None: an illegal command).
RANDOM_MIX = {Op.LOAD: 6, Op.DRAIN: 4, Op.GEMM: 4, Op.SGD: 2, Op.PRUNE: 2, Op.SET: 1,
              None: 1}


def random_program(model, rng, length):
    """A seeded random program of about ``length`` commands on ``model``'s core: LOADs of
    random rows into every buffer (first one per buffer, so everything is defined), DRAINs,
    GEMMs (random N, groups, T, folds, tiles, accumulate), SGDs, PRUNEs both ways, SETs and
    illegal commands (sent with :meth:`Program.raw`). Ranges are random, so commands overlap
    or conflict in every combination the core's units allow."""
    prog = Program(model)
    for buf in Buf:
        prog.load(buf, 0, _random_rows(model, rng, buf, model.depth[buf]))
    for reg in range(3):
        prog.set(reg, _random_command(model, rng, Op.SET).value)
    ops = list(RANDOM_MIX)
    weights = np.array([RANDOM_MIX[o] for o in ops], float)
    while len(prog.commands) < length + len(Buf) + 3:
        op = ops[int(rng.choice(len(ops), p=weights / weights.sum()))]
        if op is None:
            good = _random_command(model, rng, Op(int(rng.integers(1, 6))))
            bad = [Command(0), Command(7), Command(Op.SET, sel=3),
                   Command(Op.LOAD, sel=7, n0=1), Command(Op.DRAIN, sel=Buf.O, n0=0)]
            if good is not None:
                bad.append(Command(good.op, sel=good.sel, flag=good.flag,
                                   a=model.depth[Buf.W] - 1, b=good.b, c=good.c,
                                   n0=good.n0 + 8, n1=good.n1, n2=good.n2, n3=good.n3))
            cmd = bad[int(rng.integers(0, len(bad)))]
            if model.problem(cmd) is not None:
                prog.raw(cmd)
            continue
        cmd = _random_command(model, rng, op)
        if cmd is None:
            continue
        if op == Op.LOAD:
            prog.load(Buf(cmd.sel), cmd.a, _random_rows(model, rng, Buf(cmd.sel), cmd.n0))
        else:
            prog._add(cmd)
    return prog
