"""Python model of the SAT core (``hw/sat/core.py``) executing a command program.

The model keeps every buffer as an array of elements (bit patterns), executes commands with the
engines' golden models (:func:`sim.sat.stce.systolic_fold`, :func:`sim.sat.osre.topk_group`,
the WUVE lane in :func:`sgd_lane`), packs rows into stream beats exactly as the RTL does, and
predicts each command's cycle count when the streams never stall (:meth:`SatCoreModel.cycles`).

:class:`Program` is the host side: it builds the command words and input beats of a program,
rejecting (``ValueError``) any command whose ranges do not fit the buffers, and runs it on the
model to get the expected output beats. The RTL rejects such commands too (``error`` status,
nothing written); :meth:`Program.raw` sends one anyway to test that.
"""

from dataclasses import dataclass

import numpy as np

from hw.fp.format import parse_format
from hw.sat.isa import FIELD_NAMES, Buf, Op, Reg, address_widths, field_widths
from hw.sat.config import resolve
from sim.golden import fp
from sim.sat.stce import systolic_fold
from sim.sat.osre import topk_group
from sim.sat.driver import plan_gemm

__all__ = ["Command", "SatCoreModel", "Program", "sgd_lane", "gemm_cycles", "stage_gemm",
           "gemm_result", "CYCLE_MODEL"]


@dataclass(frozen=True)
class Command:
    """One ``cmd`` word (field meaning per op: :data:`hw.sat.isa.COMMANDS`)."""
    op: int
    sel: int = 0
    flag: int = 0
    a: int = 0
    b: int = 0
    c: int = 0
    n0: int = 0
    n1: int = 0
    n2: int = 0
    value: int = 0


FIELDS = FIELD_NAMES

#: :meth:`SatCoreModel.cycles` as formulas (Python expressions) over the command's fields and
#: the core's :attr:`~hw.sat.core.SatCore.timing`; the JSON manifest records them, and
#: tests/test_manifest.py checks them against the model. Bump ``version`` when they change.
CYCLE_MODEL = {
    "function": "sim.sat.model.SatCoreModel.cycles",
    "version": 1,
    "measures": "cycles from a command's acceptance to its completion, + 1 (the cycles "
                "status: back to back, the next command is accepted that many cycles after "
                "it), with din and dout never stalling",
    "symbols": {
        **{f: f"field {f} of the command" for f in ("sel", "flag", "n0", "n1", "n2")},
        "beats": "beats per row of a buffer (timing.beats, by name; sel is the code, Buf)",
        "rows": "array rows (timing.rows)", "lanes": "WUVE/OSRE lanes (timing.lanes)",
        "n": "values kept per group (timing.n)", "m": "group size (timing.m)",
        "array_latency": "STCE array latency (timing.array_latency)",
        "swap_wave": "STCE weight-swap wave (timing.swap_wave)",
        "wuve_latency": "WUVE lane pipeline stages (timing.wuve_latency)",
        "osre_latency": "OSRE lane latency (timing.osre_latency)",
    },
    "commands": {
        "LOAD": "2 + n0 * beats[sel]",
        "DRAIN": "3 + n0 * beats[sel]",
        "GEMM": "3 + rows + n0 + array_latency"
                " + n2 * (n1 - 1) * max(n0, swap_wave + rows + 1, array_latency + 1)"
                " + (n2 - 1) * max(n0, swap_wave + rows + 1)",
        "SGD": "3 + n0 + wuve_latency",
        "PRUNE": "2 + lanes * flag + n0 * m + osre_latency + n",
        "SET": "2",
        "rejected": "2",
    },
}


def sgd_lane(g, w, v, lr, mu, third, grad_fmt, master_fmt, out_fmt, decoupled):
    """The WUVE lane on bit patterns; ``third`` is ``wd`` (or ``decay`` when decoupled).
    Same operation order as :func:`sim.sat.wuve.sgd_step`."""
    g32 = fp.convert(g, grad_fmt, master_fmt)
    mu_v = fp.mul(mu, v, master_fmt)
    if decoupled:
        v_new = fp.add(master_fmt, mu_v, g32)
        w_new = fp.add(master_fmt, fp.mul(third, w, master_fmt),
                       fp.mul(lr, v_new, master_fmt), sub=1)
    else:
        d = fp.add(master_fmt, g32, fp.mul(third, w, master_fmt))
        v_new = fp.add(master_fmt, mu_v, d)
        w_new = fp.add(master_fmt, w, fp.mul(lr, v_new, master_fmt), sub=1)
    return w_new, v_new, fp.convert(w_new, master_fmt, out_fmt)


def gemm_cycles(t, folds, tiles, timing):
    """Stall-free cycles of a GEMM command: :func:`sim.sat.cycles.gemm_cycles` (the array's
    own schedule) plus 3 (acceptance, the range check, the buffers' read register). The
    partial-sum read port is transparent, so a chained row enters one cycle after the result
    it continues is written, as in the testbench that model was validated on."""
    rows, latency, wave = timing["rows"], timing["array_latency"], timing["swap_wave"]
    start = rows + 1
    passes = tiles * folds
    for p in range(passes - 1):
        dependent = (p + 1) % folds != 0
        start += max(t, wave + rows + 1, latency + 1 if dependent else 0)
    return 3 + start + t - 1 + latency


class SatCoreModel:
    """Buffers, configuration registers and command semantics of one SAT core."""

    def __init__(self, params=None, timing=None, **overrides):
        p = dict(params) if params is not None else resolve(**overrides)
        self.p, self.timing = p, timing
        self.rows, self.cols, self.n, self.m, self.lanes = (p[k] for k in
                                                            ("rows", "cols", "n", "m", "lanes"))
        self.in_fmt, self.acc_fmt = parse_format(p["in_fmt"]), parse_format(p["acc_fmt"])
        self.grad_fmt, self.master_fmt = parse_format(p["grad_fmt"]), parse_format(p["master_fmt"])
        self.index_width = max(1, (self.m - 1).bit_length())
        self.depth = {Buf.W: p["wbuf_depth"], Buf.X: p["xbuf_depth"], Buf.O: p["obuf_depth"],
                      Buf.M: p["sgd_depth"], Buf.V: p["sgd_depth"], Buf.G: p["sgd_depth"],
                      Buf.D: p["dbuf_depth"]}
        lanes = self.lanes
        self.shape = {Buf.W: (self.cols, 2), Buf.X: (self.rows, self.m), Buf.O: (self.cols,),
                      Buf.M: (lanes,), Buf.V: (lanes,), Buf.G: (lanes,), Buf.D: (lanes,)}
        ew = self.in_fmt.width + self.index_width
        self.elem_width = {Buf.W: ew, Buf.X: self.in_fmt.width, Buf.O: self.acc_fmt.width,
                           Buf.M: self.master_fmt.width, Buf.V: self.master_fmt.width,
                           Buf.G: self.grad_fmt.width, Buf.D: self.in_fmt.width}
        self.row_width = {b: int(np.prod(self.shape[b][:1 if b == Buf.W else None]))
                          * self.elem_width[b] for b in Buf}
        self.data_width = p["data_width"]
        self.beats = {b: -(-w // self.data_width) for b, w in self.row_width.items()}
        self.mem = {b: np.zeros((self.depth[b], *self.shape[b]), np.uint64) for b in Buf}
        self.config = {r: 0 for r in Reg}
        self.widths = field_widths(*address_widths(max(self.depth.values())),
                                   self.master_fmt.width)

    # -- encoding ----------------------------------------------------------------------------
    def encode(self, cmd):
        """The ``cmd`` payload bits of ``cmd``."""
        word, offset = 0, 0
        for name in FIELDS:
            value, width = int(getattr(cmd, name)), self.widths[name]
            if not 0 <= value < 1 << width:
                raise ValueError(f"command field {name}={value} does not fit {width} bits")
            word |= value << offset
            offset += width
        return word

    def pack_row(self, buf, row):
        """Row elements (shape ``self.shape[buf]``) -> the row's bits."""
        row = np.asarray(row, dtype=np.uint64).reshape(self.shape[buf])
        if buf == Buf.W:
            elems = [int(v) | int(i) << self.in_fmt.width for v, i in row]
        else:
            elems = [int(e) for e in row.reshape(-1)]
        width, word = self.elem_width[buf], 0
        for k, e in enumerate(elems):
            word |= (e & ((1 << width) - 1)) << (k * width)
        return word

    def unpack_row(self, buf, word):
        width = self.elem_width[buf]
        count = self.row_width[buf] // width
        elems = [(word >> (k * width)) & ((1 << width) - 1) for k in range(count)]
        if buf == Buf.W:
            mask = (1 << self.in_fmt.width) - 1
            elems = [(e & mask, e >> self.in_fmt.width) for e in elems]
        return np.array(elems, dtype=np.uint64).reshape(self.shape[buf])

    def to_beats(self, buf, word):
        dw = self.data_width
        return [(word >> (k * dw)) & ((1 << dw) - 1) for k in range(self.beats[buf])]

    def from_beats(self, buf, beats):
        word = sum(int(b) << (k * self.data_width) for k, b in enumerate(beats))
        return word & ((1 << self.row_width[buf]) - 1)

    # -- validation --------------------------------------------------------------------------
    def problem(self, cmd):
        """Why the core rejects ``cmd`` (``None`` when it is accepted)."""
        d, op = self.depth, cmd.op
        if op in (Op.LOAD, Op.DRAIN):
            if cmd.sel not in set(Buf):
                return f"buffer {cmd.sel} does not exist"
            if cmd.n0 == 0:
                return "row count is 0"
            if cmd.a + cmd.n0 > d[Buf(cmd.sel)]:
                return (f"{Buf(cmd.sel).name} rows {cmd.a}..{cmd.a + cmd.n0 - 1} exceed its "
                        f"depth {d[Buf(cmd.sel)]}")
        elif op == Op.GEMM:
            t, folds, tiles = cmd.n0, cmd.n1, cmd.n2
            if 0 in (t, folds, tiles):
                return "T, folds and tiles must be nonzero"
            for buf, end in ((Buf.W, cmd.a + tiles * folds * self.rows),
                             (Buf.X, cmd.b + folds * t), (Buf.O, cmd.c + tiles * t)):
                if end > d[buf]:
                    return f"GEMM needs {buf.name} rows up to {end - 1}, depth {d[buf]}"
        elif op == Op.SGD:
            if cmd.n0 == 0:
                return "row count is 0"
            if cmd.a + cmd.n0 > d[Buf.M] or cmd.b + cmd.n0 > d[Buf.D]:
                return f"SGD rows exceed M/V/G depth {d[Buf.M]} or D depth {d[Buf.D]}"
        elif op == Op.PRUNE:
            if cmd.n0 == 0:
                return "group count is 0"
            if cmd.n1 >= -(-self.cols // self.lanes):
                return f"column block {cmd.n1} is beyond the {self.cols} columns"
            columns = cmd.n0 * self.m
            blocks = -(-columns // self.lanes)
            end = cmd.a + ((blocks - 1) * cmd.c + self.lanes if cmd.flag else columns)
            if end > d[Buf.D]:
                return f"PRUNE reads D rows up to {end - 1}, depth {d[Buf.D]}"
            if cmd.b + cmd.n0 * self.n > d[Buf.W]:
                return f"PRUNE writes W rows up to {cmd.b + cmd.n0 * self.n - 1}, depth {d[Buf.W]}"
        elif op == Op.SET:
            if cmd.sel not in set(Reg):
                return f"register {cmd.sel} does not exist"
        else:
            return f"unknown op {op}"
        return None

    # -- execution ---------------------------------------------------------------------------
    def execute(self, cmd, din):
        """Run ``cmd``, taking LOAD beats from the iterator ``din``. Returns
        ``(dout beats as (data, last) pairs, error flag)``."""
        if self.problem(cmd) is not None:
            return [], 1
        op, mem = cmd.op, self.mem
        out = []
        if op == Op.LOAD:
            buf = Buf(cmd.sel)
            for r in range(cmd.n0):
                word = self.from_beats(buf, [next(din) for _ in range(self.beats[buf])])
                mem[buf][cmd.a + r] = self.unpack_row(buf, word)
        elif op == Op.DRAIN:
            buf = Buf(cmd.sel)
            for r in range(cmd.n0):
                out += [(b, 0) for b in self.to_beats(buf, self.pack_row(buf, mem[buf][cmd.a + r]))]
            out[-1] = (out[-1][0], 1)
        elif op == Op.GEMM:
            self._gemm(cmd)
        elif op == Op.SGD:
            self._sgd(cmd)
        elif op == Op.PRUNE:
            self._prune(cmd)
        elif op == Op.SET:
            self.config[Reg(cmd.sel)] = cmd.value
        return out, 0

    def _gemm(self, cmd):
        t, folds, tiles, r = cmd.n0, cmd.n1, cmd.n2, self.rows
        w, x, o = self.mem[Buf.W], self.mem[Buf.X], self.mem[Buf.O]
        for tile in range(tiles):
            out = slice(cmd.c + tile * t, cmd.c + (tile + 1) * t)
            for fold in range(folds):
                p = tile * folds + fold
                weights = w[cmd.a + p * r:cmd.a + (p + 1) * r]
                groups = x[cmd.b + fold * t:cmd.b + (fold + 1) * t]
                chained = fold > 0 or cmd.flag
                acc = o[out] if chained else np.zeros((t, self.cols), np.uint64)
                o[out] = systolic_fold(groups, weights[..., 0], weights[..., 1], acc,
                                       self.in_fmt, self.acc_fmt)

    def _sgd(self, cmd):
        rows, c = slice(cmd.a, cmd.a + cmd.n0), self.config
        w_new, v_new, w_lp = sgd_lane(
            self.mem[Buf.G][rows], self.mem[Buf.M][rows], self.mem[Buf.V][rows],
            c[Reg.LR], c[Reg.MU], c[Reg.WD], self.grad_fmt, self.master_fmt, self.in_fmt,
            self.p["decoupled_wd"])
        self.mem[Buf.M][rows], self.mem[Buf.V][rows] = w_new, v_new
        self.mem[Buf.D][cmd.b:cmd.b + cmd.n0] = w_lp

    def lane_sequences(self, cmd):
        """(lanes, columns) values the OSRE lanes receive for PRUNE ``cmd``."""
        d, lanes, columns = self.mem[Buf.D], self.lanes, cmd.n0 * self.m
        if not cmd.flag:
            return d[cmd.a:cmd.a + columns].T
        blocks = -(-columns // lanes)
        seq = np.concatenate([d[cmd.a + b * cmd.c:cmd.a + b * cmd.c + lanes]
                              for b in range(blocks)], axis=1)
        return seq[:, :columns]

    def _prune(self, cmd):
        seq = self.lane_sequences(cmd)
        values, indices = topk_group(seq.reshape(self.lanes, cmd.n0, self.m), self.n,
                                     self.in_fmt)
        w = self.mem[Buf.W]
        for lane in range(self.lanes):
            col = cmd.n1 * self.lanes + lane
            if col >= self.cols:
                break
            rows = cmd.b + np.arange(cmd.n0 * self.n)
            w[rows, col, 0] = values[lane].reshape(-1)
            w[rows, col, 1] = indices[lane].reshape(-1)

    # -- timing ------------------------------------------------------------------------------
    def cycles(self, cmd):
        """Cycles from acceptance to completion + 1 (the ``cycles`` status), without stalls."""
        if self.timing is None:
            raise ValueError("cycles() needs the core's timing (SatCore.timing)")
        tm, op = self.timing, cmd.op
        if self.problem(cmd) is not None or op == Op.SET:
            return 2
        if op == Op.LOAD:
            return 2 + cmd.n0 * self.beats[Buf(cmd.sel)]
        if op == Op.DRAIN:
            return 3 + cmd.n0 * self.beats[Buf(cmd.sel)]
        if op == Op.GEMM:
            return gemm_cycles(cmd.n0, cmd.n1, cmd.n2, tm)
        if op == Op.SGD:
            return 3 + cmd.n0 + tm["wuve_latency"]
        columns = cmd.n0 * self.m
        return 2 + (self.lanes if cmd.flag else 0) + columns + tm["osre_latency"] + self.n


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
    tile and fold it with :func:`sim.sat.driver.plan_gemm`, load W and X, run the GEMM.
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
