"""SparTANN core commands: opcodes, stream payload layouts, and a program's stream transfers.

The host drives the core through stream ``cmd`` (:func:`cmd_layout`: ``op``, 32-bit ``arg``).
Load commands take their data from ``dense_in`` (:func:`dense_layout`: one T-vector a beat),
``sparse_in`` (:func:`sparse_beat_layout`: ``sparse_beat`` CSC entries a beat) or ``col_in``
(:func:`col_layout`: one ``{addr, skip, end}`` descriptor a beat); drains send T-vectors on
``out`` (:func:`out_layout`, ``last`` on the final vector of a drain).

**Units and dispatch** (docs/spartann/index.md, *Units and ordering*). Every command runs on
one unit (:data:`UNIT`): ``dense`` (LOAD_A/B), ``sparse`` (LOAD_SPARSE), ``cols`` (LOAD_COLS),
``run`` (RUN_BP/WU), ``drain`` (DRAIN_OUT/B), ``ctrl`` (SET_*, CLEAR_STATS, DTS_UPDATE). The
Sparse Buf and the column table are double (halves 0 and 1): a load fills the half the last
run did not use and the next run reads the half filled last (renamed in program order).
Dense Buf A, Dense Buf B and the Out Buf are double too (ping-pong halves 0 and 1), named
explicitly: a load or drain names its half in ``arg`` bit :data:`HALF_BIT` (the count in the
bits below it), a run the halves it uses in ``arg`` bits 0 (A), 1 (B) and 2 (Out)
(:func:`dense_halves`; programs: ``"half"`` on loads and drains, ``"a_half"``, ``"b_half"``,
``"out_half"`` on runs, default 0). The
core takes commands **in program order**, at most one a cycle; a command is taken when its
unit is idle and it :func:`conflicts` with no running command (a buffer one writes and the
other reads or writes). Commands running together therefore never touch the same data, and
results equal executing the program one command at a time (the golden model,
:class:`sim.spartann.model.CoreModel`). :func:`footprints` resolves a program's halves and
rejected commands, :func:`dispatch` gives each command's start cycle from its unit cycles
(:func:`sim.spartann.cycles.command_cycles`, the one place of the cycle formulas).

**Rejected commands** (:func:`rejected`, counted in the core's ``errors`` output; nothing else
changes): an unknown opcode; a load whose count exceeds its buffer (its data are taken and
dropped, so the streams stay in step); a drain whose count exceeds its buffer (nothing sent);
a run whose Sparse Buf half holds a different number of columns than its column table half.

A *program* (shared with :mod:`sim.spartann.model`) is a list of dicts, one per
command; :func:`transfers` turns it into the words each stream carries.

Everything but the ``*_layout`` functions (which import ``amaranth.lib.data`` when called) is
HDL-free: opcodes, widths, :data:`COMMANDS` and :func:`table` need only the standard library.
"""

from enum import IntEnum
from typing import NamedTuple

import numpy as np

__all__ = ["Op", "OP_BITS", "ARG_BITS", "TARGET_BITS", "PROGRAM_OPS", "COMMANDS", "cmd_layout",
           "dense_layout", "entry_layout", "sparse_beat_layout", "col_layout", "out_layout",
           "addr_bits", "row_bits", "ptr_bits", "transfers", "table", "UNITS", "UNIT",
           "RESOURCES", "Footprint", "footprint", "conflicts", "rejected", "footprints",
           "dispatch", "column_ends", "HALF_BIT", "COUNT_MASK", "RUN_HALF_BITS",
           "dense_halves"]

#: Width of ``cmd.op`` and ``cmd.arg``; DTS target sparsity is an FP32 pattern.
OP_BITS, ARG_BITS, TARGET_BITS = 4, 32, 32
#: LOAD_A/B and DRAIN_OUT/B: ``arg`` bit of the Dense Buf / Out Buf half; the count is below it.
HALF_BIT = ARG_BITS - 1
COUNT_MASK = (1 << HALF_BIT) - 1
#: RUN_BP/WU: ``arg`` bit of the half of Dense Buf A, Dense Buf B and the Out Buf it uses.
RUN_HALF_BITS = {"a_half": 0, "b_half": 1, "out_half": 2}


class Op(IntEnum):
    """Command opcodes; ``arg`` is a count, a bit pattern or unused (:data:`COMMANDS`)."""
    LOAD_A = 0
    LOAD_B = 1
    LOAD_SPARSE = 2
    LOAD_COLS = 3
    RUN_BP = 4
    RUN_WU = 5
    DRAIN_OUT = 6
    DRAIN_B = 7
    SET_THETA = 8
    SET_TARGET = 9
    CLEAR_STATS = 10
    DTS_UPDATE = 11
    SET_PAD_LANES = 12


#: Program op names (lower case) and their opcodes.
PROGRAM_OPS = {op.name.lower(): op for op in Op}

#: Per op: ``(meaning, meaning of arg or None when unused, stream it moves data on or None)``.
COMMANDS = {
    Op.LOAD_A: ("take n = arg[30:0] T-vectors from dense_in into Dense Buf A half arg[31] "
                "rows 0 .. n-1", "T-vectors (bits 30..0), half (bit 31)", "dense_in"),
    Op.LOAD_B: ("take n = arg[30:0] T-vectors from dense_in into Dense Buf B half arg[31] "
                "rows 0 .. n-1", "T-vectors (bits 30..0), half (bit 31)", "dense_in"),
    Op.LOAD_SPARSE: ("take arg CSC entries (ceil(arg / sparse_beat) beats) from sparse_in into "
                     "the free Sparse Buf half", "entries", "sparse_in"),
    Op.LOAD_COLS: ("take arg {addr, skip, end} column descriptors from col_in into the free "
                   "column table half", "descriptors", "col_in"),
    Op.RUN_BP: ("BP job: Out[a_c] += v * B[m] over every loaded column (halves: A arg[0], "
                "B arg[1], Out arg[2])", "halves (bits 2..0)", None),
    Op.RUN_WU: ("WU job: B[m] += v * A[a_c] over every loaded column (halves: A arg[0], "
                "B arg[1], Out arg[2])", "halves (bits 2..0)", None),
    Op.DRAIN_OUT: ("send Out half arg[31] rows 0 .. n-1 (n = arg[30:0]) through the "
                   "sparsifier (theta, statistics) on out, last on the final row; the rows "
                   "are cleared to +0", "rows (bits 30..0), half (bit 31)", "out"),
    Op.DRAIN_B: ("send Dense Buf B half arg[31] rows 0 .. n-1 (n = arg[30:0]) raw on out, "
                 "last on the final row; the rows are cleared to +0",
                 "rows (bits 30..0), half (bit 31)", "out"),
    Op.SET_THETA: ("theta = arg", "threshold bits (datapath format, low bits)", None),
    Op.SET_TARGET: ("DTS target sparsity = arg", "FP32 bits", None),
    Op.CLEAR_STATS: ("elements = zeros = 0, max_abs = +0", None, None),
    Op.DTS_UPDATE: ("theta = DTS(theta, target, statistics); statistics cleared", None, None),
    Op.SET_PAD_LANES: ("leave the last min(arg, T - 1) lanes out of the statistics", "lanes",
                       None),
}


def addr_bits(a_rows, out_rows):
    """Width of a column address (a row of Dense Buf A in WU, of the Out Buf in BP)."""
    return max(1, (max(a_rows, out_rows) - 1).bit_length())


def ptr_bits(sparse_depth):
    """Width of a Sparse Buf entry index ``0 .. sparse_depth`` (a column's ``end``)."""
    return max(1, sparse_depth.bit_length())


def row_bits(b_rows):
    """Width of a decoded row (a row of Dense Buf B; it wraps beyond ``b_rows - 1``)."""
    return max(1, (b_rows - 1).bit_length())


def cmd_layout():
    from amaranth.lib import data
    return data.StructLayout({"op": OP_BITS, "arg": ARG_BITS})


def dense_layout(T, fmt):
    """One T-vector of datapath words (lane l at bit ``l * fmt.width``)."""
    from amaranth.lib import data
    return data.ArrayLayout(fmt.width, T)


def entry_layout(fmt, idx_bits):
    """One CSC entry (docs/spartann/index.md): ``value``, ``delta``, ``filler``, ``last``."""
    from amaranth.lib import data
    return data.StructLayout({"value": fmt.width, "delta": idx_bits, "filler": 1, "last": 1})


def sparse_beat_layout(fmt, idx_bits, sparse_beat):
    """One ``sparse_in`` beat: ``sparse_beat`` entries (entry k at bit ``k * entry width``);
    the last beat of a load carries ``arg mod sparse_beat`` entries (the rest are ignored)."""
    from amaranth.lib import data
    return data.ArrayLayout(entry_layout(fmt, idx_bits), sparse_beat)


def col_layout(a_rows, out_rows, sparse_depth):
    """One column descriptor: its buffer ``addr``, the ``skip`` bit and ``end``, the Sparse
    Buf index after its last entry (:func:`column_ends`)."""
    from amaranth.lib import data
    return data.StructLayout({"addr": addr_bits(a_rows, out_rows), "skip": 1,
                              "end": ptr_bits(sparse_depth)})


def out_layout(T, fmt):
    """A drained T-vector and ``last`` (1 on the final vector of a drain, as TLAST)."""
    from amaranth.lib import data
    return data.StructLayout({"values": dense_layout(T, fmt), "last": 1})


def table():
    """The command set as JSON-able data: payload fields and every command (opcode, name,
    meaning, the fields it uses with offset and width, the data stream it uses)."""
    fields = {"op": {"offset": 0, "width": OP_BITS}, "arg": {"offset": OP_BITS, "width": ARG_BITS}}
    commands = []
    for op, (meaning, arg, stream) in COMMANDS.items():
        entry = {"name": op.name, "opcode": int(op), "meaning": meaning,
                 "fields": {} if arg is None else {"arg": {**fields["arg"], "meaning": arg}}}
        if stream is not None:
            entry["stream"] = stream
        commands.append(entry)
    return {"source": __name__, "fields": fields, "width": OP_BITS + ARG_BITS,
            "commands": commands}


def _pack_vector(vector, width):
    word = 0
    for lane, value in enumerate(vector):
        word |= (int(value) & ((1 << width) - 1)) << (lane * width)
    return word


def _half(cmd):
    half = int(cmd.get("half", 0))
    if half not in (0, 1):
        raise ValueError(f"{cmd['op']}: half must be 0 or 1, not {half!r}")
    return half


def _count_arg(name, count, half):
    if not 0 <= count <= COUNT_MASK:
        raise ValueError(f"{name}: count {count} does not fit {HALF_BIT} bits")
    return count | half << HALF_BIT


def dense_halves(cmd):
    """``{"a_half", "b_half", "out_half"}`` of program command ``cmd``: the Dense Buf A, Dense
    Buf B and Out Buf halves it uses (a run: its keys, default 0; a load or drain: its
    ``"half"`` for its buffer, 0 for the others)."""
    name = cmd["op"]
    if name in ("run_bp", "run_wu"):
        out = {k: int(cmd.get(k, 0)) for k in RUN_HALF_BITS}
        for k, h in out.items():
            if h not in (0, 1):
                raise ValueError(f"{name}: {k} must be 0 or 1, not {h!r}")
        return out
    key = {"load_a": "a_half", "load_b": "b_half", "drain_b": "b_half",
           "drain_out": "out_half"}.get(name)
    out = dict.fromkeys(RUN_HALF_BITS, 0)
    if key is not None:
        out[key] = _half(cmd)
    return out


def column_ends(entries):
    """Per column of ``entries`` (CSC entries in order), the index after its last entry."""
    return [i + 1 for i, e in enumerate(entries) if e[3]]


def transfers(program, config):
    """Stream words of ``program`` on a core of ``config``
    (:class:`~hw.spartann.config.SpartannConfig`): a dict with lists ``cmd``, ``dense_in``,
    ``sparse_in`` (beats of ``sparse_beat`` entries), ``col_in`` (in the order the core
    consumes them) and ``drains`` (the rows each drain sends, in order; rejected drains, which
    send nothing, left out). Data are raw bit patterns. A ``load_cols`` without ``end`` takes the column ends
    of the last ``load_sparse`` before it (:func:`column_ends`). ``{"op": "raw", "opcode": n,
    "arg": x}`` sends any command word (rejected when ``n`` is not an opcode)."""
    c = config
    width, idx_bits, K = c.format.width, c.idx_bits, c.sparse_beat
    abits, ewidth = addr_bits(c.a_rows, c.out_rows), width + idx_bits + 2
    words = {"cmd": [], "dense_in": [], "sparse_in": [], "col_in": [], "drains": []}
    ends = []
    for cmd in program:
        name = cmd["op"]
        if name == "raw":
            words["cmd"].append(int(cmd["opcode"]) % (1 << OP_BITS) | int(cmd["arg"]) << OP_BITS)
            continue
        if name not in PROGRAM_OPS:
            raise ValueError(f"op must be one of {sorted(PROGRAM_OPS)}, not {name!r}")
        op, arg = PROGRAM_OPS[name], 0
        half = _half(cmd)
        if name in ("load_a", "load_b"):
            vectors = np.asarray(cmd["vectors"], dtype=np.uint64).reshape(-1, c.T)
            words["dense_in"] += [_pack_vector(v, width) for v in vectors]
            arg = _count_arg(name, len(vectors), half)
        elif name == "load_sparse":
            packed = [int(value) | int(delta) << width | int(filler) << (width + idx_bits)
                      | int(last) << (width + idx_bits + 1)
                      for value, delta, filler, last in cmd["entries"]]
            words["sparse_in"] += [_pack_vector(packed[i:i + K], ewidth)
                                   for i in range(0, len(packed), K)]
            arg = len(packed)
            ends = column_ends(cmd["entries"])
        elif name == "load_cols":
            end = list(cmd["end"]) if "end" in cmd else ends
            if len(end) < len(cmd["addr"]):
                end = list(end) + [0] * (len(cmd["addr"]) - len(end))
            words["col_in"] += [int(a) | int(s) << abits | int(e) << (abits + 1)
                                for a, s, e in zip(cmd["addr"], cmd["skip"], end)]
            arg = len(cmd["addr"])
        elif name in ("drain_out", "drain_b"):
            count = int(cmd["count"])
            rows = c.out_rows if name == "drain_out" else c.b_rows
            if count <= rows:
                words["drains"].append(count)
            arg = _count_arg(name, count, half)
        elif name in ("run_bp", "run_wu"):
            arg = sum(h << RUN_HALF_BITS[k] for k, h in dense_halves(cmd).items())
        elif name == "set_pad_lanes":
            arg = int(cmd["count"])
        elif name in ("set_theta", "set_target"):
            arg = int(cmd["bits"])
        if not 0 <= arg < 1 << ARG_BITS:
            raise ValueError(f"{name}: argument {arg} does not fit {ARG_BITS} bits")
        words["cmd"].append(int(op) | arg << OP_BITS)
    return words


# -- units, footprints, dispatch (HDL-free; shared with the cycle and system models) ------------
#: The units, in the order of the core's ``unit_busy`` output bits.
UNITS = ("dense", "sparse", "cols", "run", "drain", "ctrl")

#: The unit every opcode runs on.
UNIT = {Op.LOAD_A: "dense", Op.LOAD_B: "dense", Op.LOAD_SPARSE: "sparse",
        Op.LOAD_COLS: "cols", Op.RUN_BP: "run", Op.RUN_WU: "run", Op.DRAIN_OUT: "drain",
        Op.DRAIN_B: "drain", Op.SET_THETA: "ctrl", Op.SET_TARGET: "ctrl",
        Op.CLEAR_STATS: "ctrl", Op.DTS_UPDATE: "ctrl", Op.SET_PAD_LANES: "ctrl"}

#: What commands read and write: Dense Buf A / B, the Out Buf, the Sparse Buf and column
#: table halves, and the registers theta, target, pad (SET_PAD_LANES) and stats.
RESOURCES = ("A0", "A1", "B0", "B1", "OUT0", "OUT1", "S0", "S1", "C0", "C1", "THETA", "TARGET",
             "PAD", "STATS")


class Footprint(NamedTuple):
    """One command as dispatched: its ``unit`` (``None``: it occupies none), the
    :data:`RESOURCES` it ``reads`` and ``writes`` (frozensets) and whether it was
    ``rejected``."""
    unit: str | None
    reads: frozenset
    writes: frozenset
    rejected: bool = False


def footprint(op, *, half=0, cols_half=0, a_half=0, b_half=0, out_half=0):
    """The :class:`Footprint` of an accepted command ``op`` (:class:`Op` or program name).
    ``half``: the Sparse Buf half LOAD_SPARSE fills or a run reads; ``cols_half``: the column
    table half LOAD_COLS fills or a run reads; ``a_half`` / ``b_half`` / ``out_half``: the
    Dense Buf A / Dense Buf B / Out Buf half it uses (:func:`dense_halves`)."""
    op = PROGRAM_OPS[op] if isinstance(op, str) else Op(op)
    A, B, OUT = f"A{a_half}", f"B{b_half}", f"OUT{out_half}"
    r, w = set(), set()
    if op == Op.LOAD_A:
        w = {A}
    elif op == Op.LOAD_B:
        w = {B}
    elif op == Op.LOAD_SPARSE:
        w = {f"S{half}"}
    elif op == Op.LOAD_COLS:
        w = {f"C{cols_half}"}
    elif op == Op.RUN_BP:
        r, w = {f"S{half}", f"C{cols_half}", B}, {OUT}
    elif op == Op.RUN_WU:
        r, w = {f"S{half}", f"C{cols_half}", A}, {B}
    elif op == Op.DRAIN_OUT:
        r, w = {"THETA", "PAD"}, {OUT, "STATS"}
    elif op == Op.DRAIN_B:
        w = {B}
    elif op == Op.SET_THETA:
        w = {"THETA"}
    elif op == Op.SET_TARGET:
        w = {"TARGET"}
    elif op == Op.SET_PAD_LANES:
        w = {"PAD"}
    elif op == Op.CLEAR_STATS:
        w = {"STATS"}
    else:  # DTS_UPDATE
        r, w = {"TARGET"}, {"THETA", "STATS"}
    return Footprint(UNIT[op], frozenset(r), frozenset(w))


def conflicts(a, b):
    """Whether footprints ``a`` and ``b`` may not run at the same time: the same unit, or a
    resource one writes and the other reads or writes."""
    if a.unit is not None and a.unit == b.unit:
        return True
    return bool(a.writes & (b.reads | b.writes) or b.writes & a.reads)


def rejected(cmd, config, columns):
    """Why the core rejects program command ``cmd`` on a core of ``config`` (a string) or
    ``None``. ``columns``: ``(columns of the Sparse Buf half, descriptors of the column table
    half)`` a run would read."""
    c, name = config, cmd["op"]
    if name == "raw":
        return None if 0 <= int(cmd["opcode"]) < len(Op) else f"opcode {cmd['opcode']}"
    count = {"load_a": lambda: len(cmd["vectors"]), "load_b": lambda: len(cmd["vectors"]),
             "load_sparse": lambda: len(cmd["entries"]), "load_cols": lambda: len(cmd["addr"]),
             "drain_out": lambda: int(cmd["count"]), "drain_b": lambda: int(cmd["count"])}
    limit = {"load_a": c.a_rows, "load_b": c.b_rows, "load_sparse": c.sparse_depth,
             "load_cols": c.max_cols, "drain_out": c.out_rows, "drain_b": c.b_rows}
    if name in count and count[name]() > limit[name]:
        return f"{name}: {count[name]()} exceeds {limit[name]}"
    if name in ("run_bp", "run_wu") and columns[0] != columns[1]:
        return f"{name}: {columns[0]} columns in the Sparse Buf, {columns[1]} descriptors"
    return None


def footprints(program, config):
    """The :class:`Footprint` of every command of ``program`` on a core of ``config``, in
    order: halves renamed as the core does (a load fills the other half than the last one
    filled; a run reads the last ones filled), rejected commands marked. A rejected command
    waits like an accepted one (the core checks it when it is taken), then occupies nothing
    but, for a load, its unit (it takes and drops its data); it renames no half."""
    half, cols_half = 1, 1             # the halves filled last (reset: 1, so loads fill 0)
    ncols = [[0, 0], [0, 0]]           # columns per Sparse Buf half, descriptors per half
    out = []
    for cmd in program:
        name = cmd["op"]
        why = rejected(cmd, config, (ncols[0][half], ncols[1][cols_half]))
        if name == "raw":
            out.append(Footprint(None, frozenset(), frozenset(), True))
            continue
        dense = dense_halves(cmd)
        if why is not None:
            out.append(footprint(name, half=1 - half if name == "load_sparse" else half,
                                 cols_half=1 - cols_half if name == "load_cols" else cols_half,
                                 **dense)._replace(rejected=True))
            continue
        if name == "load_sparse":
            half = 1 - half
            ncols[0][half] = sum(1 for e in cmd["entries"] if e[3])
        elif name == "load_cols":
            cols_half = 1 - cols_half
            ncols[1][cols_half] = len(cmd["addr"])
        out.append(footprint(name, half=half, cols_half=cols_half, **dense))
    return out


def dispatch(prints, cycles):
    """Start cycle of every command (the first at 0) under the dispatch rule: in order, at
    most one a cycle, when every earlier command on the same unit or in conflict with it has
    ended (a rejected command holds only a load's unit, see :func:`footprints`). ``prints``: :func:`footprints`; ``cycles``: each command's unit cycles (from its
    start to the first cycle its unit may start a conflicting command). The program ends at
    ``max(start + cycles)``."""
    starts, unit_end, access_end, write_end = [], {}, {}, {}
    for f, n in zip(prints, cycles):
        t = starts[-1] + 1 if starts else 0
        t = max([t, unit_end.get(f.unit, 0)] + [access_end.get(r, 0) for r in f.writes]
                + [write_end.get(r, 0) for r in f.reads])
        starts.append(t)
        end = t + n
        if f.unit is not None:
            unit_end[f.unit] = max(unit_end.get(f.unit, 0), end)
        if f.rejected:
            continue
        for r in f.reads | f.writes:
            access_end[r] = max(access_end.get(r, 0), end)
        for r in f.writes:
            write_end[r] = max(write_end.get(r, 0), end)
    return starts
