"""SparTANN core commands: opcodes, stream payload layouts, and a program's stream transfers.

The host drives the core through stream ``cmd`` (:func:`cmd_layout`: ``op``, 32-bit ``arg``);
the core executes one command at a time. Load commands take their data from ``dense_in``
(:func:`dense_layout`), ``sparse_in`` (:func:`entry_layout`) or ``col_in``
(:func:`col_layout`); drains send T-vectors on ``out`` (:func:`out_layout`, ``last`` on the
final vector of a drain).

A *program* (shared with :mod:`sim.golden.spartann_core`) is a list of dicts, one per
command; :func:`transfers` turns it into the words each stream carries.
"""

from enum import IntEnum

import numpy as np
from amaranth.lib import data
from amaranth.utils import bits_for

__all__ = ["Op", "OP_BITS", "ARG_BITS", "TARGET_BITS", "PROGRAM_OPS", "cmd_layout",
           "dense_layout", "entry_layout", "col_layout", "out_layout", "addr_bits", "row_bits",
           "transfers"]

#: Width of ``cmd.op`` and ``cmd.arg``; DTS target sparsity is an FP32 pattern.
OP_BITS, ARG_BITS, TARGET_BITS = 4, 32, 32


class Op(IntEnum):
    """Command opcodes; ``arg`` is a count, a bit pattern or unused."""
    LOAD_A = 0         # count T-vectors from dense_in into Dense Buf A rows 0..count-1
    LOAD_B = 1         # likewise into Dense Buf B
    LOAD_SPARSE = 2    # count entries from sparse_in into the Sparse Buf (column table rebuilt)
    LOAD_COLS = 3      # count {addr, skip} descriptors from col_in
    RUN_BP = 4         # Out[a_c] += v * B[m] over every loaded column
    RUN_WU = 5         # B[m] += v * A[a_c] over every loaded column
    DRAIN_OUT = 6      # Out rows 0..count-1 thresholded to out (stats), cleared to +0
    DRAIN_B = 7        # B rows 0..count-1 raw to out, cleared to +0
    SET_THETA = 8      # theta = arg (datapath-format bits)
    SET_TARGET = 9     # DTS target sparsity = arg (FP32 bits)
    CLEAR_STATS = 10   # elements = zeros = 0, max_abs = +0
    DTS_UPDATE = 11    # theta = DTS(theta, target, stats); stats cleared
    SET_PAD_LANES = 12  # the last min(arg, T - 1) lanes are left out of the statistics


#: Program op names (lower case) and their opcodes.
PROGRAM_OPS = {op.name.lower(): op for op in Op}


def addr_bits(a_rows, out_rows):
    """Width of a column address (a row of Dense Buf A in WU, of the Out Buf in BP)."""
    return bits_for(max(a_rows, out_rows) - 1) or 1


def row_bits(b_rows):
    """Width of a decoded row (a row of Dense Buf B; it wraps beyond ``b_rows - 1``)."""
    return bits_for(b_rows - 1) or 1


def cmd_layout():
    return data.StructLayout({"op": OP_BITS, "arg": ARG_BITS})


def dense_layout(T, fmt):
    """One T-vector of datapath words (lane l at bit ``l * fmt.width``)."""
    return data.ArrayLayout(fmt.width, T)


def entry_layout(fmt, idx_bits):
    """One CSC entry (docs/spartann.md): ``value``, ``delta``, ``filler``, ``last``."""
    return data.StructLayout({"value": fmt.width, "delta": idx_bits, "filler": 1, "last": 1})


def col_layout(a_rows, out_rows):
    """One column descriptor: its buffer ``addr`` and the ``skip`` bit."""
    return data.StructLayout({"addr": addr_bits(a_rows, out_rows), "skip": 1})


def out_layout(T, fmt):
    """A drained T-vector and ``last`` (1 on the final vector of a drain, as TLAST)."""
    return data.StructLayout({"values": dense_layout(T, fmt), "last": 1})


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
