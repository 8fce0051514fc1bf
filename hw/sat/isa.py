"""SAT core commands, HDL-free: opcodes, buffers, registers, the ``cmd`` payload fields and
what each command does (the instruction set of :class:`hw.sat.core.SatCore`).

Shared by the RTL (:func:`hw.sat.core.command_layout`), the golden model
(:mod:`sim.sat.model`) and the JSON manifest (:func:`table`); imports nothing but the
standard library, so hosts and tools can use it without Amaranth.

The ``cmd`` payload is, LSB first: ``op`` 3, ``sel`` 7, ``flag`` 1, ``a``, ``b``, ``c``
(``addr_width`` each), ``n0``, ``n1``, ``n2`` (``count_width`` each), ``n3``
(``count_width + 8``), ``value`` (``master_fmt`` width); :func:`address_widths` gives the
two widths from the deepest buffer.

**Compact activations (the data router).** An X row holds ``xg = x_groups(rows)`` (the next
power of two >= ``rows``) *groups* of ``m`` activations, group ``i`` at bits
``i*m*w .. (i+1)*m*w - 1`` (``w`` = ``in_fmt`` width). X is one flat array of groups: group
``g`` is group ``g mod xg`` of X row ``g // xg``, and lives in bank ``g mod xg`` (the X buffer
is ``xg`` memories, one group wide, so a window of up to ``xg`` consecutive groups is read in
one cycle). A GEMM operand ``x (T, K)`` (``K = Kg * m``, zero-padded to whole groups) is
stored once, row-major from group ``b * xg``: activation ``x[t, k]`` is element ``k mod m``
of group ``b*xg + t*Kg + k // m``. Every activation crosses ``din`` once: ``T*K`` values,
where the array's bus rows (``rows`` groups of ``m``, a group per kept weight row) would
carry each activation ``N`` times (the ``N`` kept rows of its group): 8x less traffic dense
at M = 8, 2x at 2:8, and as much more capacity. The router forms each bus row on chip: for fold
``f`` and activation row ``t``, array row ``r`` (kept weight row ``kk = f*rows + r``) gets group
``b*xg + t*Kg + kk // N`` of the command's ``N`` (``sel``), or zeros when ``kk >= Kg*N`` (the
padded rows of the last fold; their weights are -0, so they add exactly nothing). The groups
a fold reads are consecutive (at most ``rows`` of them), so they come from distinct banks.

**Concurrency.** Every command runs on one unit (:data:`UNITS`): LD (LOAD), EX (GEMM, SGD,
PRUNE, SET) or ST (DRAIN); the three run at the same time. Commands are *dispatched in
program order*, one per cycle at most; a command starts when its unit is free and it
:func:`conflicts` with no earlier command still running. Results therefore always equal
sequential execution (the golden model :mod:`sim.sat.model` is sequential). Conflicts are
data hazards (:func:`footprint`: same buffer or register, overlapping rows, at least one
writes) and structural ones (:func:`ports`: every buffer has one write port shared by LD and
EX, and one read port shared by EX and ST; O has a second read port for ST, so results drain
while a GEMM works on other O rows). Rejected commands (:func:`problem`) run on no unit.
Cycle formulas, per command and for whole programs: :mod:`sim.sat.cycles`.
"""

from dataclasses import dataclass
from enum import IntEnum

__all__ = ["Op", "Buf", "Reg", "Unit", "UNITS", "OP_BITS", "SEL_BITS", "FLAG_BITS",
           "GROUP_EXTRA_BITS", "FIELD_NAMES", "COMMANDS", "BUFFERS", "REGISTERS", "REJECTED",
           "address_widths", "field_widths", "field_offsets", "table", "x_groups",
           "x_rows", "problem", "footprint", "ports", "conflicts"]

#: Widths of the fixed fields ``op``, ``sel`` and ``flag`` (``sel`` holds a GEMM's N, up to
#: 64).
OP_BITS, SEL_BITS, FLAG_BITS = 3, 7, 1
#: ``n3`` (groups per activation row) is this much wider than the count fields: an operand
#: may fill the whole X buffer, ``xbuf_depth * x_groups`` groups.
GROUP_EXTRA_BITS = 8


class Op(IntEnum):
    """Command opcodes (``cmd.op``); what each does: :data:`COMMANDS`."""
    LOAD = 1
    DRAIN = 2
    GEMM = 3
    SGD = 4
    PRUNE = 5
    SET = 6


class Buf(IntEnum):
    """Buffer codes (``cmd.sel`` of LOAD and DRAIN); contents: :data:`BUFFERS`."""
    W = 0
    X = 1
    O = 2
    M = 3
    V = 4
    G = 5
    D = 6


class Reg(IntEnum):
    """Configuration register codes (``cmd.sel`` of SET); meaning: :data:`REGISTERS`."""
    LR = 0
    MU = 1
    WD = 2


#: What one row of each buffer holds.
BUFFERS = {
    Buf.W: "compressed weights: cols x {value (in_fmt), index}",
    Buf.X: "compact activations: x_groups groups of m values (in_fmt); one flat array of "
           "groups (group g: row g // x_groups, bank g mod x_groups)",
    Buf.O: "partial sums / results: cols x acc_fmt",
    Buf.M: "master weights: lanes x master_fmt",
    Buf.V: "momenta: lanes x master_fmt",
    Buf.G: "gradients: lanes x grad_fmt",
    Buf.D: "dense low-precision weights: lanes x in_fmt (WUVE out, OSRE in)",
}

#: What each configuration register holds (``master_fmt`` bits, from ``cmd.value``).
REGISTERS = {
    Reg.LR: "learning rate",
    Reg.MU: "momentum factor",
    Reg.WD: "weight decay (the decay factor when decoupled_wd)",
}

#: Payload field names, LSB first.
FIELD_NAMES = ("op", "sel", "flag", "a", "b", "c", "n0", "n1", "n2", "n3", "value")

#: Per op: ``(meaning, {field: meaning})`` (fields not listed are ignored; ``op`` is the
#: opcode). ``beats(buf)`` is ``ceil(row width / data_width)``.
COMMANDS = {
    Op.LOAD: ("take n0 * beats(sel) beats from din (LSB first) into rows a .. a+n0-1 of "
              "buffer sel",
              {"sel": "buffer (Buf)", "a": "first row", "n0": "rows"}),
    Op.DRAIN: ("send rows a .. a+n0-1 of buffer sel on dout as beats, last on the final beat",
               {"sel": "buffer (Buf)", "a": "first row", "n0": "rows"}),
    Op.GEMM: ("pass p = tile*n1 + fold streams W rows a + p*rows .. through the STCE array "
              "with, per activation row t, the bus row the data router forms from X groups "
              "b*x_groups + t*n3 + (fold*rows + r) // sel (zeros for kept rows r >= n3*sel), "
              "partial sums from O rows c + tile*n0 + t (zero for fold 0 unless flag), "
              "results back to them",
              {"sel": "N: weights kept per group of m (N = m: dense)",
               "flag": "accumulate onto O (fold 0 too)", "a": "first W row",
               "b": "first X row (operand starts at group b * x_groups)", "c": "first O row",
               "n0": "T: activation rows", "n1": "folds: ceil(n3 * sel / rows)",
               "n2": "tiles", "n3": "Kg: groups of m activations per activation row"}),
    Op.SGD: ("one WUVE step on rows a .. a+n0-1 of M, V, G: w' to M, v' to V, the in_fmt "
             "copy of w' to D rows b ..",
             {"a": "first M/V/G row", "b": "first D row", "n0": "rows"}),
    Op.PRUNE: ("N:M top-K of n0 groups of m values per lane (D rows a + s forward; L x L "
               "blocks of D rows a + blk*c + l through the transposer when flag), n0*n "
               "compressed rows into W rows b .., columns [n1*lanes, n1*lanes + lanes)",
               {"flag": "backward (transposed) read", "a": "first D row", "b": "first W row",
                "c": "block stride in D rows (backward)", "n0": "groups",
                "n1": "column block"}),
    Op.SET: ("write value into configuration register sel",
             {"sel": "register (Reg)", "value": "register value (master_fmt bits)"}),
}

#: What happens to a command the core cannot execute.
REJECTED = ("a command whose ranges do not fit its buffers, with a zero count, a GEMM whose "
            "N is not 1..m or whose folds are not ceil(n3 * N / rows), or an unknown op, "
            "buffer or register is rejected: it runs on no unit, nothing is read or written, "
            "and error is set until the next command is dispatched")

#: The stream each command moves data on.
_STREAMS = {Op.LOAD: "din", Op.DRAIN: "dout"}


def address_widths(max_depth):
    """``(addr_width, count_width)`` of the payload for the deepest buffer's row count."""
    return max(1, (max_depth - 1).bit_length()), max_depth.bit_length()


def field_widths(addr_width, count_width, value_width):
    """``{field: width}`` of the ``cmd`` payload, LSB first."""
    return {"op": OP_BITS, "sel": SEL_BITS, "flag": FLAG_BITS,
            "a": addr_width, "b": addr_width, "c": addr_width,
            "n0": count_width, "n1": count_width, "n2": count_width,
            "n3": count_width + GROUP_EXTRA_BITS, "value": value_width}


def field_offsets(widths):
    """``{field: (offset, width)}`` of ``widths`` (a :func:`field_widths` result)."""
    result, offset = {}, 0
    for name, width in widths.items():
        result[name] = (offset, width)
        offset += width
    return result


def table(addr_width, count_width, value_width):
    """The command set as JSON-able data: payload fields, every command (opcode, name,
    meaning, the fields it uses with offset and width), buffers and registers."""
    offsets = field_offsets(field_widths(addr_width, count_width, value_width))
    commands = []
    for op, (meaning, fields) in COMMANDS.items():
        entry = {"name": op.name, "opcode": int(op), "meaning": meaning,
                 "fields": {name: {"offset": offsets[name][0], "width": offsets[name][1],
                                   "meaning": fields[name]}
                            for name in FIELD_NAMES if name in fields}}
        if op in _STREAMS:
            entry["stream"] = _STREAMS[op]
        commands.append(entry)
    return {
        "source": __name__,
        "fields": {name: {"offset": o, "width": w} for name, (o, w) in offsets.items()},
        "width": sum(w for _, w in offsets.values()),
        "commands": commands,
        "rejected": REJECTED,
        "enums": {"Buf": {b.name: {"code": int(b), "meaning": BUFFERS[b]} for b in Buf},
                  "Reg": {r.name: {"code": int(r), "meaning": REGISTERS[r]} for r in Reg}},
    }


# -- compact activations -----------------------------------------------------------------------
def x_groups(rows):
    """Groups of ``m`` activations per X row (and X banks): the next power of two >= ``rows``
    (a fold reads at most ``rows`` consecutive groups; a power of two makes the bank of a
    group its low address bits)."""
    return 1 << max(0, rows - 1).bit_length()


def x_rows(t, kg, xg):
    """X rows an operand of ``t`` activation rows of ``kg`` groups fills (``xg`` groups a
    row): ``ceil(t * kg / xg)``."""
    return -(-t * kg // xg)


# -- units, validation, footprints, conflicts ---------------------------------------------------
class Unit(IntEnum):
    """The three units; each runs one command at a time, all three at once."""
    LD = 0
    EX = 1
    ST = 2

    def __str__(self):
        return self.name


#: The unit of every op.
UNITS = {Op.LOAD: Unit.LD, Op.DRAIN: Unit.ST, Op.GEMM: Unit.EX, Op.SGD: Unit.EX,
         Op.PRUNE: Unit.EX, Op.SET: Unit.EX}


def _prune_read_end(cmd, cfg):
    columns = cmd.n0 * cfg.m
    blocks = -(-columns // cfg.lanes)
    return cmd.a + ((blocks - 1) * cmd.c + cfg.lanes if cmd.flag else columns)


def problem(cmd, cfg):
    """Why a core with configuration ``cfg`` (:class:`hw.sat.config.SatConfig`) rejects
    ``cmd`` (any object with the :data:`FIELD_NAMES` attributes), ``None`` when it runs."""
    d, op = cfg.depth, cmd.op
    if op in (Op.LOAD, Op.DRAIN):
        if cmd.sel not in set(Buf):
            return f"buffer {cmd.sel} does not exist"
        if cmd.n0 == 0:
            return "row count is 0"
        if cmd.a + cmd.n0 > d[Buf(cmd.sel)]:
            return (f"{Buf(cmd.sel).name} rows {cmd.a}..{cmd.a + cmd.n0 - 1} exceed its "
                    f"depth {d[Buf(cmd.sel)]}")
    elif op == Op.GEMM:
        t, folds, tiles, kg, n = cmd.n0, cmd.n1, cmd.n2, cmd.n3, cmd.sel
        if 0 in (t, folds, tiles, kg):
            return "T, folds, tiles and groups per row (n3) must be nonzero"
        if not 1 <= n <= cfg.m:
            return f"GEMM N (sel) = {n} is not in 1..m = {cfg.m}"
        if folds != -(-kg * n // cfg.rows):
            return (f"GEMM folds {folds} != ceil(n3 * N / rows) = "
                    f"{-(-kg * n // cfg.rows)}")
        x_end = cmd.b * cfg.x_groups + t * kg
        if x_end > d[Buf.X] * cfg.x_groups:
            return f"GEMM needs X groups up to {x_end - 1}, depth {d[Buf.X]} rows"
        for buf, end in ((Buf.W, cmd.a + tiles * folds * cfg.rows), (Buf.O, cmd.c + tiles * t)):
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
        if cmd.n1 >= -(-cfg.cols // cfg.lanes):
            return f"column block {cmd.n1} is beyond the {cfg.cols} columns"
        end = _prune_read_end(cmd, cfg)
        if end > d[Buf.D]:
            return f"PRUNE reads D rows up to {end - 1}, depth {d[Buf.D]}"
        if cmd.b + cmd.n0 * cfg.n > d[Buf.W]:
            return f"PRUNE writes W rows up to {cmd.b + cmd.n0 * cfg.n - 1}, depth {d[Buf.W]}"
    elif op == Op.SET:
        if cmd.sel not in set(Reg):
            return f"register {cmd.sel} does not exist"
    else:
        return f"unknown op {op}"
    return None


def footprint(cmd, cfg):
    """``(reads, writes)`` of an accepted ``cmd``: tuples of ``(space, first, end)`` row
    ranges, ``space`` a :class:`Buf` or ``"REG"`` (the configuration registers, rows = their
    codes). Ranges are hulls (a backward PRUNE's strided D blocks, a GEMM's X rows from its
    first to its last group); rejected commands (:func:`problem`) have none."""
    if problem(cmd, cfg) is not None:
        return (), ()
    op, r = Op(cmd.op), cfg.rows
    if op == Op.LOAD:
        return (), ((Buf(cmd.sel), cmd.a, cmd.a + cmd.n0),)
    if op == Op.DRAIN:
        return ((Buf(cmd.sel), cmd.a, cmd.a + cmd.n0),), ()
    if op == Op.GEMM:
        t, folds, tiles = cmd.n0, cmd.n1, cmd.n2
        o = (Buf.O, cmd.c, cmd.c + tiles * t)
        return ((Buf.W, cmd.a, cmd.a + tiles * folds * r),
                (Buf.X, cmd.b, cmd.b + x_rows(t, cmd.n3, cfg.x_groups)), o), (o,)
    if op == Op.SGD:
        mvg = tuple((b, cmd.a, cmd.a + cmd.n0) for b in (Buf.M, Buf.V, Buf.G))
        return (*mvg, ("REG", 0, len(Reg))), (*mvg[:2], (Buf.D, cmd.b, cmd.b + cmd.n0))
    if op == Op.PRUNE:
        return (((Buf.D, cmd.a, _prune_read_end(cmd, cfg)),),
                ((Buf.W, cmd.b, cmd.b + cmd.n0 * cfg.n),))
    return (), (("REG", int(cmd.sel), int(cmd.sel) + 1),)     # SET


def ports(cmd, cfg):
    """Memory ports an accepted ``cmd`` uses: ``"<buf>.w"`` (the one write port, LD or EX),
    ``"<buf>.r"`` (the read port EX and ST share), ``"O.st"`` (O's second read port, ST's
    own)."""
    reads, writes = footprint(cmd, cfg)
    st = UNITS.get(cmd.op) == Unit.ST
    used = {f"{b.name}.w" for b, _, _ in writes if b != "REG"}
    used |= {("O.st" if st and b == Buf.O else f"{b.name}.r") for b, _, _ in reads
             if b != "REG"}
    return frozenset(used)


def _overlap(x, y):
    return x[0] == y[0] and x[1] < y[2] and y[1] < x[2]


def conflicts(first, second, cfg):
    """Whether ``first`` and ``second`` (accepted commands) may not run at the same time:
    the same unit, a shared memory port (:func:`ports`), or a data hazard (overlapping rows of
    one buffer, or one register, that at least one of them writes)."""
    if problem(first, cfg) is not None or problem(second, cfg) is not None:
        return False
    if UNITS[Op(first.op)] == UNITS[Op(second.op)]:
        return True
    if ports(first, cfg) & ports(second, cfg):
        return True
    r1, w1 = footprint(first, cfg)
    r2, w2 = footprint(second, cfg)
    return (any(_overlap(a, b) for a in w1 for b in (*r2, *w2))
            or any(_overlap(a, b) for a in r1 for b in w2))
