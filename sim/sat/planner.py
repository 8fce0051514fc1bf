"""Whole-iteration planner of the SAT core: a network's GEMMs, SGD and PRUNEs as one command
program with ping-pong buffer regions, for the system model (:mod:`sim.sat.system`) and, on a
small core, for the RTL. HDL-free.

**GEMM blocking.** A GEMM ``Y (T x Cout) = X (T x K) * W`` at ``n:m`` has ``Kc = ceil(K/m)*n``
kept rows, ``F = ceil(Kc/R)`` folds and ``NT = ceil(Cout/C)`` column tiles. It runs as blocks
``(tb rows, fb folds, nb tiles)``, in the order ``for T block: for tile block: for fold
block``: one GEMM command per block, fold blocks after the first accumulate onto O
(``flag``), so each output keeps its one chain in array order and the results equal one
big GEMM bit for bit. After a tile block's last fold block its O rows are drained.

* ``fb = F`` ("X whole"): a T block's X rows (all folds) load once and serve every tile block;
  if also the whole W (``F*NT*R`` rows) fits a W region it loads once per GEMM ("W
  resident"), otherwise each tile block's W loads once per T block.
* ``fb < F``: each block loads its own X and W.

:func:`choose_tiling` picks, per GEMM, the block that minimizes the estimate
``max(array cycles, wire bytes / B)`` (ties: fewer bytes) within the regions.

**Regions (ping-pong).** W, X and O are split in two halves (W keeps a small area at its top
for PRUNE results); each new W / X block and each new O block goes to the other half, so the
next block loads, and the last one drains, while the array computes on this one. M, V, G, D
are split in halves for SGD/PRUNE chunks. Commands are emitted so that in-order dispatch
overlaps them: a block's loads come right after the previous GEMM, and a drain is emitted
after the next GEMM command (a drain placed right after its own GEMM would hold up the loads
behind it until that GEMM ends). The core itself orders any command that conflicts with a
running one (:func:`sim.sat.system.conflicts`), so the regions only decide how much
overlaps, never what is computed.

**Iteration (BDWP).** SET lr/mu/wd; forward GEMMs of every layer in order (N:M weights);
then for every layer in reverse: the activation-gradient GEMMs (N:M along output channels;
none for the first layer), the dense weight-gradient GEMM, and the weight update: LOAD M, V
and G (the host rounds the drained FP32 gradient to ``grad_fmt``), SGD, DRAIN M and V, then
PRUNE forward and backward from D into W and DRAIN of the pruned rows (the next iteration's
GEMMs load them). A dense iteration (``n = m``) drains D (the ``in_fmt`` copy) instead of
pruning. Host work between layers (im2col, ReLU, batch norm, the loss) is not modelled.
"""

from dataclasses import dataclass
from functools import lru_cache
from math import ceil

import numpy as np

from hw.sat.isa import Buf, Op, Reg, footprint, x_rows
from sim.sat.cycles import gemm_command_cycles
from sim.sat.driver import compact_rows
from sim.sat.model import Command
from sim.sat.system import Step

__all__ = ["Gemm", "Tiling", "network_gemms", "weight_shapes", "choose_tiling",
           "gemm_tilings", "Planner", "plan_iteration", "true_macs", "hazard", "hoist_loads",
           "load_rows", "run_on_model"]

PHASES = ("FW", "BW dX", "WU dW", "SGD", "PRUNE")


@dataclass(frozen=True)
class Gemm:
    """One GEMM of the network: ``(t x k) * (k x cout)`` with ``n`` kept of every ``m``
    along ``k`` (``n = m``: dense); ``key`` names its operands for the data path."""
    layer: str
    phase: str
    t: int
    k: int
    cout: int
    n: int
    key: object = None

    @property
    def macs(self):
        """True MACs (no padding)."""
        return self.t * self.k * self.cout


@dataclass(frozen=True)
class Tiling:
    """Block sizes of a GEMM: ``tb`` rows, ``fb`` folds, ``nb`` tiles, whether the whole W
    stays resident, and the estimate it was chosen by."""
    tb: int
    fb: int
    nb: int
    w_resident: bool
    cycles: float
    bytes: int


def true_macs(gemms):
    return sum(g.macs for g in gemms)


def network_gemms(layers, batch, n, m):
    """Every GEMM of one training iteration of ``layers`` (``(name, cin, cout, kernel, stride,
    size)``, :data:`sim.bench.sat_resnet18.LAYERS`), phases in iteration order: FW of each
    layer, then per layer in reverse BW dX (N:M; none for the first layer) and WU dW (dense).
    GEMM shapes and true MACs from :func:`sim.bench.sat_resnet18.layer_gemms`."""
    from sim.bench.sat_resnet18 import layer_gemms
    per = [(name, layer_gemms(cin, cout, kernel, stride, size, batch, input_grad=i > 0))
           for i, (name, cin, cout, kernel, stride, size) in enumerate(layers)]
    fw = [Gemm(name, "FW", *g, n, (name, "fwd", 0)) for name, gs in per for g in gs["fwd"]]
    bw = []
    for name, gs in reversed(per):
        bw += [Gemm(name, "BW dX", *g, n, (name, "bwd", j)) for j, g in enumerate(gs["bwd"])]
        bw += [Gemm(name, "WU dW", *g, m, (name, "wgt", 0)) for g in gs["wgt"]]
    return fw + bw


def weight_shapes(layers):
    """``{layer: (out channels, inputs per out channel)}`` of each layer's weight matrix."""
    return {name: (cout, cin * kernel * kernel)
            for name, cin, cout, kernel, _, _ in layers}


def _regions(config):
    """Ping-pong halves: ``{buf: (base0, base1, size)}``; W keeps ``prune`` rows at its top."""
    depth = config.depth
    prune = 2 * config.lanes * config.n if config.n < config.m else 0
    prune = min(prune, depth[Buf.W] // 4)
    out = {}
    for buf in Buf:
        usable = depth[buf] - (prune if buf == Buf.W else 0)
        half = usable // 2
        out[buf] = (0, half, half)
    out["prune"] = (depth[Buf.W] - prune, prune)
    return out


def _shape(g, config):
    """``(kg, folds, tiles, q)``: groups of ``m`` per activation row, folds, column tiles, and
    the fold step ``q`` at which a fold block ends on a group boundary."""
    r, c, m = config.rows, config.cols, config.m
    kg = ceil(g.k / m)
    return kg, max(1, ceil(kg * g.n / r)), ceil(g.cout / c), g.n // _gcd(r, g.n)


def _groups(folds, g, config):
    """Groups of ``m`` a block of ``folds`` folds (a multiple of the fold step) covers."""
    return folds * config.rows // g.n


def _wire(config, buf, rows):
    return rows * config.beats[buf] * config.data_width // 8


def _blocks(total, size):
    """``[(size, count), (rest, 1)]`` of ``total`` cut in blocks of ``size``."""
    full, rest = divmod(total, size)
    return [(size, full)] + ([(rest, 1)] if rest else [])


def gemm_tilings(g, config, timing):
    """Every feasible :class:`Tiling` of ``g`` with its estimate (array cycles of its GEMM
    commands; wire bytes of its loads and drains)."""
    r, xg = config.rows, config.x_groups
    kg, folds, tiles, q = _shape(g, config)
    reg = _regions(config)
    wh, xh, oh = reg[Buf.W][2], reg[Buf.X][2], reg[Buf.O][2]
    steps = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)
    fbs = sorted({folds, *[q * f for f in steps if q * f < folds]})
    out = []
    for fb in fbs:
        gb = min(kg, _groups(fb, g, config))
        chunks = [(gk, ceil(gk * g.n / r), cnt) for gk, cnt in _blocks(kg, gb)]
        whole_x = fb == folds
        for nb in range(1, tiles + 1):
            if fb * nb * r > wh:
                continue
            tb = min(g.t, xh * xg // gb, oh // nb)
            if tb < 1:
                continue
            blocks_t = ceil(g.t / tb)
            tb = ceil(g.t / blocks_t)                     # even blocks
            resident = whole_x and folds * tiles * r <= wh
            cyc, x_rows_total = 0, 0
            for tt, ct in _blocks(g.t, tb):
                for nn, cn in _blocks(tiles, nb):
                    for gk, ff, cf in chunks:
                        cyc += ct * cn * cf * gemm_command_cycles(tt, ff, nn, timing)
                        if not whole_x:
                            x_rows_total += ct * cn * cf * x_rows(tt, gk, xg)
                if whole_x:
                    x_rows_total += ct * x_rows(tt, kg, xg)
            w_bytes = _wire(config, Buf.W, folds * tiles * r) * (1 if resident else blocks_t)
            o_bytes = _wire(config, Buf.O, g.t * tiles)
            out.append(Tiling(tb, fb, nb, resident, cyc,
                              _wire(config, Buf.X, x_rows_total) + w_bytes + o_bytes))
    return out


def choose_tiling(g, config, timing, bandwidth):
    """The :class:`Tiling` of ``g`` with the least ``max(cycles, bytes / bandwidth)``."""
    cands = gemm_tilings(g, config, timing)
    if not cands:
        raise ValueError(f"{g.layer} {g.phase}: no block of ({g.t}, {g.k}, {g.cout}) fits "
                         "the buffers")
    bw = bandwidth or config.data_width / 8
    return min(cands, key=lambda c: (max(c.cycles, c.bytes / bw), c.bytes))


class Planner:
    """Emits a command program (a list of :class:`sim.sat.system.Step`) block by block."""

    def __init__(self, config, timing, bandwidth=None):
        self.config, self.timing, self.bandwidth = config, timing, bandwidth
        self.regions = _regions(config)
        self.steps = []
        self.turn = dict.fromkeys(Buf, 0)
        self.pending = []                    # drains waiting for the next EX command
        self.tilings = []

    # -- primitives --------------------------------------------------------------------------
    def _emit(self, cmd, phase, layer, data=None):
        self.steps.append(Step(cmd, phase, layer, data))

    def _next(self, buf):
        base0, base1, size = self.regions[buf]
        self.turn[buf] ^= 1
        return (base1 if self.turn[buf] else base0), size

    def load(self, buf, addr, rows, phase, layer, data=None):
        self._emit(Command(Op.LOAD, sel=buf, a=addr, n0=rows), phase, layer, data)

    def ex(self, cmd, phase, layer):
        """An EX command, then the drains that were waiting for it (a drain of rows it
        writes goes before it)."""
        before = [s for s in self.pending if hazard(s.cmd, cmd, self.config)]
        self.steps += before
        self._emit(cmd, phase, layer)
        self.steps += [s for s in self.pending if s not in before]
        self.pending = []

    def drain_later(self, buf, addr, rows, phase, layer, data=None):
        self.pending.append(Step(Command(Op.DRAIN, sel=buf, a=addr, n0=rows), phase, layer,
                                 data))

    def flush(self):
        """Emit the waiting drains, then move every LOAD as early as it may go (see
        :func:`hoist_loads`)."""
        self.steps += self.pending
        self.pending = []
        self.steps = hoist_loads(self.steps, self.config)

    # -- GEMM --------------------------------------------------------------------------------
    def gemm(self, g, tiling=None):
        cfg, r, xg = self.config, self.config.rows, self.config.x_groups
        tiling = tiling or choose_tiling(g, cfg, self.timing, self.bandwidth)
        self.tilings.append((g, tiling))
        kg, folds, tiles, _ = _shape(g, cfg)
        tb, fb, nb = tiling.tb, tiling.fb, tiling.nb
        whole_x = fb == folds
        if tiling.w_resident:
            w_base, _ = self._next(Buf.W)
            self.load(Buf.W, w_base, folds * tiles * r, g.phase, g.layer,
                      ("W", g.key, 0, folds, 0, tiles))
        for t0 in range(0, g.t, tb):
            tt = min(tb, g.t - t0)
            if whole_x:
                x_base, _ = self._next(Buf.X)
                self.load(Buf.X, x_base, x_rows(tt, kg, xg), g.phase, g.layer,
                          ("X", g.key, t0, tt, 0, kg))
            for c0 in range(0, tiles, nb):
                nn = min(nb, tiles - c0)
                o_addr, _ = self._next(Buf.O)
                if whole_x and not tiling.w_resident:
                    wa, _ = self._next(Buf.W)
                    self.load(Buf.W, wa, folds * nn * r, g.phase, g.layer,
                              ("W", g.key, 0, folds, c0, nn))
                for f0 in range(0, folds, fb):
                    g0 = f0 * r // g.n
                    gk = min(kg - g0, _groups(fb, g, cfg))
                    ff = ceil(gk * g.n / r)
                    if whole_x:
                        xa = x_base
                        if tiling.w_resident:
                            wa = w_base + c0 * folds * r
                    else:
                        xa, _ = self._next(Buf.X)
                        self.load(Buf.X, xa, x_rows(tt, gk, xg), g.phase, g.layer,
                                  ("X", g.key, t0, tt, g0, gk))
                        wa, _ = self._next(Buf.W)
                        self.load(Buf.W, wa, ff * nn * r, g.phase, g.layer,
                                  ("W", g.key, f0, ff, c0, nn))
                    self.ex(Command(Op.GEMM, sel=g.n, flag=int(f0 > 0), a=wa, b=xa, c=o_addr,
                                    n0=tt, n1=ff, n2=nn, n3=gk), g.phase, g.layer)
                self.drain_later(Buf.O, o_addr, tt * nn, g.phase, g.layer,
                                 ("O", g.key, t0, tt, c0, nn))

    # -- weight update -----------------------------------------------------------------------
    def update(self, layer, cout, fan_in, sparse):
        """SGD of a ``cout x fan_in`` weight matrix in chunks of out-channel blocks x inputs,
        then (``sparse``) PRUNE forward and backward and DRAIN of the pruned W rows, or
        (dense) DRAIN of the ``in_fmt`` copy D."""
        cfg = self.config
        lanes, m, n = cfg.lanes, cfg.m, cfg.n
        half = min(self.regions[Buf.M][2], self.regions[Buf.D][2])
        unit_k = lanes * m // _gcd(lanes, m)                 # inputs per chunk step
        k_pad = ceil(fan_in / m) * m
        blocks = ceil(cout / lanes)
        per = min(blocks, 4)
        ki = (half // per) // unit_k * unit_k
        if ki == 0:
            per, ki = 1, max(m, half // unit_k * unit_k or half // m * m)
        ki = min(ki, ceil(k_pad / unit_k) * unit_k)
        prune_base, prune_rows = self.regions["prune"]
        pturn = 0
        for ob0 in range(0, blocks, per):
            obn = min(per, blocks - ob0)
            for i0 in range(0, k_pad, ki):
                kin = min(ki, k_pad - i0)
                rows = obn * kin
                a, _ = self._next(Buf.M)
                d, _ = self._next(Buf.D)
                for buf in (Buf.M, Buf.V, Buf.G):
                    self.load(buf, a, rows, "SGD", layer, (buf.name, layer, ob0, obn, i0, kin))
                self.ex(Command(Op.SGD, a=a, b=d, n0=rows), "SGD", layer)
                chunk = (layer, ob0, obn, i0, kin)
                self.drain_later(Buf.M, a, rows, "SGD", layer, ("M", *chunk))
                self.drain_later(Buf.V, a, rows, "SGD", layer, ("V", *chunk))
                if not sparse:
                    self.drain_later(Buf.D, d, rows, "PRUNE", layer, ("D", *chunk))
                    continue
                for ob in range(obn):               # forward: groups along inputs
                    kept = ceil(kin / m) * n
                    for w0 in range(0, kept, prune_rows // 2):
                        base = prune_base + pturn * (prune_rows // 2)
                        pturn ^= 1
                        groups = min(prune_rows // 2, kept - w0) // n
                        self.ex(Command(Op.PRUNE, a=d + ob * kin + w0 // n * m, b=base,
                                        n0=groups, n1=(ob0 + ob) % cfg.col_blocks),
                                "PRUNE", layer)
                        self.drain_later(Buf.W, base, groups * n, "PRUNE", layer,
                                         ("PF", layer, ob0 + ob, i0 + w0 // n * m, groups,
                                          (ob0 + ob) % cfg.col_blocks))
                groups = ceil(obn * lanes / m)          # backward: groups along outputs
                groups = min(groups, prune_rows // 2 // n)
                for ib in range(ceil(kin / lanes)):
                    a_ib = d + ib * lanes
                    g_ib = groups
                    while g_ib and a_ib + (ceil(g_ib * m / lanes) - 1) * kin + lanes > \
                            cfg.depth[Buf.D]:
                        g_ib -= 1                       # a partial last block stays inside D
                    if not g_ib:
                        continue
                    base = prune_base + pturn * (prune_rows // 2)
                    pturn ^= 1
                    self.ex(Command(Op.PRUNE, flag=1, a=a_ib, b=base, c=kin, n0=g_ib,
                                    n1=ib % cfg.col_blocks), "PRUNE", layer)
                    self.drain_later(Buf.W, base, g_ib * n, "PRUNE", layer,
                                     ("PB", layer, ob0, i0 + ib * lanes, g_ib,
                                      ib % cfg.col_blocks, obn, i0 + kin))


_footprint = lru_cache(maxsize=1 << 16)(footprint)


def hazard(first, second, config):
    """Whether the two commands touch a common row or register and one of them writes it
    (the order of such a pair is part of the program's meaning)."""
    r1, w1 = _footprint(first, config)
    r2, w2 = _footprint(second, config)

    def overlap(x, y):
        return x[0] == y[0] and x[1] < y[2] and y[1] < x[2]
    return (any(overlap(a, b) for a in w1 for b in (*r2, *w2))
            or any(overlap(a, b) for a in r1 for b in w2))


def hoist_loads(steps, config, window=256):
    """The program with every LOAD moved earlier, past commands it has no :func:`hazard`
    with, so it fills its half while the array works on the other one: it lands behind the
    first EX command after the last command it must wait for (and behind the DRAINs right
    after that EX, which wait for earlier work), never before the previous LOAD. Any
    earlier, and a load still waiting would hold up the EX commands behind it (dispatch is
    in order). Results are unchanged: only independent commands swap places. Hazards are
    searched ``window`` commands back."""
    out, floor = [], 0
    for step in steps:
        if step.cmd.op != Op.LOAD:
            out.append(step)
            continue
        pos = len(out)
        for h in range(len(out) - 1, max(-1, len(out) - 1 - window), -1):
            if hazard(out[h].cmd, step.cmd, config):
                pos = h + 1
                while pos < len(out) and out[pos].cmd.op in (Op.LOAD, Op.DRAIN):
                    pos += 1
                pos = min(pos + 1, len(out))     # behind the next EX command
                while pos < len(out) and out[pos].cmd.op == Op.DRAIN:
                    pos += 1
                break
        else:
            pos = floor
        pos = max(pos, floor)
        out.insert(pos, step)
        floor = pos + 1
    return out


def _gcd(a, b):
    while b:
        a, b = b, a % b
    return a


def plan_iteration(layers, batch, config, timing, bandwidth=None, sparse=True, registers=None):
    """The command program of one training iteration of ``layers`` (see the module doc):
    returns ``(steps, gemms, planner)``. ``sparse``: the config's ``n:m`` for FW and BW dX and
    the PRUNEs; otherwise dense (``m:m``) with no PRUNE. ``registers``: ``{Reg: bits}`` the
    SETs write (default 0)."""
    n = config.n if sparse else config.m
    gemms = network_gemms(layers, batch, n, config.m)
    shapes = weight_shapes(layers)
    plan = Planner(config, timing, bandwidth)
    for reg in (Reg.LR, Reg.MU, Reg.WD):
        value = (registers or {}).get(reg, 0)
        plan.ex(Command(Op.SET, sel=reg, value=value), "SGD", "")
    done = set()
    for g in gemms:
        plan.gemm(g)
        if g.phase == "WU dW" and g.layer not in done:
            done.add(g.layer)
            plan.update(g.layer, *shapes[g.layer], sparse=sparse and config.n < config.m)
    plan.flush()
    return plan.steps, gemms, plan


# -- data of a planned program (small cores: the program run on the model or the RTL) ------------
def load_rows(step, operands, model):
    """The rows a planned LOAD of a GEMM operand carries (``step.data``; ``operands``:
    ``{key: (x (T, K), w_values (Kc, Cout), w_indices (Kc, Cout))}`` as bit patterns, the
    weight compressed with the GEMM's ``n`` kept of every ``m``), shaped as ``model`` rows."""
    kind, key, *rest = step.data
    x, w_values, w_indices = operands[key]
    cfg = model.config
    m, r, c = cfg.m, cfg.rows, cfg.cols
    if kind == "X":
        t0, tt, g0, gk = rest
        block = np.zeros((tt, gk * m), np.uint64)
        part = np.asarray(x, np.uint64)[t0:t0 + tt, g0 * m:(g0 + gk) * m]
        block[:, :part.shape[1]] = part
        return compact_rows(block, m, cfg.x_groups)
    if kind == "W":
        f0, ff, c0, nn = rest
        kc, cout = w_values.shape
        neg_zero = np.uint64(1 << (cfg.in_format.width - 1))
        rows = []
        for tile in range(c0, c0 + nn):
            for fold in range(f0, f0 + ff):
                values = np.full((r, c), neg_zero, np.uint64)
                indices = np.zeros((r, c), np.uint64)
                k0, k1 = fold * r, min(kc, (fold + 1) * r)
                c1 = min(cout, (tile + 1) * c)
                if k1 > k0 and c1 > tile * c:
                    values[:k1 - k0, :c1 - tile * c] = w_values[k0:k1, tile * c:c1]
                    indices[:k1 - k0, :c1 - tile * c] = w_indices[k0:k1, tile * c:c1]
                rows.append(np.stack([values, indices], axis=-1))
        return np.concatenate(rows)
    raise ValueError(f"no rows for a {kind} load")


def run_on_model(steps, operands, model):
    """Execute a planned GEMM program on ``model`` (:class:`sim.sat.model.SatCoreModel`,
    sequentially: the core's conflict rule makes the overlapped run equal it) and return
    ``({key: Y (T, Cout) bits}, din beats, dout beats)``."""
    cfg = model.config
    din, dout, results = [], [], {}
    for step in steps:
        cmd = step.cmd
        beats = []
        if cmd.op == Op.LOAD and step.data is not None:
            for row in load_rows(step, operands, model):
                beats += model.to_beats(Buf(cmd.sel), model.pack_row(Buf(cmd.sel), row))
        din += beats
        out, error = model.execute(cmd, iter(beats))
        if error:
            raise ValueError(f"rejected: {cmd} ({model.problem(cmd)})")
        dout += out
        if cmd.op == Op.DRAIN and step.data is not None and step.data[0] == "O":
            _, key, t0, tt, c0, nn = step.data
            per = model.beats[Buf.O]
            words = [d for d, _ in out]
            x, w_values, _ = operands[key]
            y = results.setdefault(key, np.zeros((len(x), w_values.shape[1]), np.uint64))
            for j in range(tt * nn):
                row = model.unpack_row(Buf.O, model.from_beats(Buf.O, words[j * per:(j + 1) * per]))
                tile, t = divmod(j, tt)
                col0 = (c0 + tile) * cfg.cols
                width = min(cfg.cols, y.shape[1] - col0)
                y[t0 + t, col0:col0 + width] = row[:width]
    return results, din, dout
