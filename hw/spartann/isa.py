"""SparTANN core commands: opcodes, stream payload layouts, and a program's stream transfers.

The host drives the core through stream ``cmd`` (:func:`cmd_layout`: ``op``, 32-bit ``arg``);
the core executes one command at a time. Load commands take their data from ``dense_in``
(:func:`dense_layout`), ``sparse_in`` (:func:`entry_layout`) or ``col_in``
(:func:`col_layout`); drains send T-vectors on ``out`` (:func:`out_layout`, ``last`` on the
final vector of a drain).

A *program* (shared with :mod:`sim.spartann.model`) is a list of dicts, one per
command; :func:`transfers` turns it into the words each stream carries.

Everything but the ``*_layout`` functions (which import ``amaranth.lib.data`` when called) is
HDL-free: opcodes, widths, :data:`COMMANDS` and :func:`table` need only the standard library.
"""

from enum import IntEnum

import numpy as np

__all__ = ["Op", "OP_BITS", "ARG_BITS", "TARGET_BITS", "PROGRAM_OPS", "COMMANDS", "cmd_layout",
           "dense_layout", "entry_layout", "col_layout", "out_layout", "addr_bits", "row_bits",
           "transfers", "table"]

#: Width of ``cmd.op`` and ``cmd.arg``; DTS target sparsity is an FP32 pattern.
OP_BITS, ARG_BITS, TARGET_BITS = 4, 32, 32


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
    Op.LOAD_A: ("take arg T-vectors from dense_in into Dense Buf A rows 0 .. arg-1",
                "T-vectors", "dense_in"),
    Op.LOAD_B: ("take arg T-vectors from dense_in into Dense Buf B rows 0 .. arg-1",
                "T-vectors", "dense_in"),
    Op.LOAD_SPARSE: ("take arg CSC entries from sparse_in into the Sparse Buf (column table "
                     "rebuilt)", "entries", "sparse_in"),
    Op.LOAD_COLS: ("take arg {addr, skip} column descriptors from col_in", "descriptors",
                   "col_in"),
    Op.RUN_BP: ("BP job: Out[a_c] += v * B[m] over every loaded column", None, None),
    Op.RUN_WU: ("WU job: B[m] += v * A[a_c] over every loaded column", None, None),
    Op.DRAIN_OUT: ("send Out rows 0 .. arg-1 through the sparsifier (theta, statistics) on "
                   "out, last on the final row; the rows are cleared to +0", "rows", "out"),
    Op.DRAIN_B: ("send Dense Buf B rows 0 .. arg-1 raw on out, last on the final row; the "
                 "rows are cleared to +0", "rows", "out"),
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


def col_layout(a_rows, out_rows):
    """One column descriptor: its buffer ``addr`` and the ``skip`` bit."""
    from amaranth.lib import data
    return data.StructLayout({"addr": addr_bits(a_rows, out_rows), "skip": 1})


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


def transfers(program, T, fmt, idx_bits, a_rows, out_rows):
    """Stream words of ``program``: a dict with lists ``cmd``, ``dense_in``, ``sparse_in``,
    ``col_in`` (in the order the core consumes them) and ``drains`` (the count of each drain,
    in order). Data are raw bit patterns; ``fmt`` is a :class:`~hw.fp.format.FloatFormat`."""
    width = fmt.width
    abits = addr_bits(a_rows, out_rows)
    words = {"cmd": [], "dense_in": [], "sparse_in": [], "col_in": [], "drains": []}
    for cmd in program:
        name = cmd["op"]
        if name not in PROGRAM_OPS:
            raise ValueError(f"op must be one of {sorted(PROGRAM_OPS)}, not {name!r}")
        op, arg = PROGRAM_OPS[name], 0
        if name in ("load_a", "load_b"):
            vectors = np.asarray(cmd["vectors"], dtype=np.uint64).reshape(-1, T)
            words["dense_in"] += [_pack_vector(v, width) for v in vectors]
            arg = len(vectors)
        elif name == "load_sparse":
            for value, delta, filler, last in cmd["entries"]:
                words["sparse_in"].append(int(value) | int(delta) << width
                                          | int(filler) << (width + idx_bits)
                                          | int(last) << (width + idx_bits + 1))
            arg = len(cmd["entries"])
        elif name == "load_cols":
            words["col_in"] += [int(a) | int(s) << abits for a, s in zip(cmd["addr"], cmd["skip"])]
            arg = len(cmd["addr"])
        elif name in ("drain_out", "drain_b"):
            arg = int(cmd["count"])
            words["drains"].append(arg)
        elif name == "set_pad_lanes":
            arg = int(cmd["count"])
        elif name in ("set_theta", "set_target"):
            arg = int(cmd["bits"])
        if not 0 <= arg < 1 << ARG_BITS:
            raise ValueError(f"{name}: argument {arg} does not fit {ARG_BITS} bits")
        words["cmd"].append(int(op) | arg << OP_BITS)
    return words
