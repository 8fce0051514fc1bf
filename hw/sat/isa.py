"""SAT core commands, HDL-free: opcodes, buffers, registers, the ``cmd`` payload fields and
what each command does (the instruction set of :class:`hw.sat.core.SatCore`).

Shared by the RTL (:func:`hw.sat.core.command_layout`), the golden model
(:mod:`sim.sat.model`) and the JSON manifest (:func:`table`); imports nothing but the
standard library, so hosts and tools can use it without Amaranth.

The ``cmd`` payload is, LSB first: ``op`` 3, ``sel`` 3, ``flag`` 1, ``a``, ``b``, ``c``
(``addr_width`` each), ``n0``, ``n1``, ``n2`` (``count_width`` each), ``value``
(``master_fmt`` width); :func:`address_widths` gives the two widths from the deepest buffer.
"""

from enum import IntEnum

__all__ = ["Op", "Buf", "Reg", "OP_BITS", "SEL_BITS", "FLAG_BITS", "FIELD_NAMES",
           "COMMANDS", "BUFFERS", "REGISTERS", "REJECTED", "address_widths", "field_widths",
           "field_offsets", "table"]

#: Widths of the fixed fields ``op``, ``sel`` and ``flag``.
OP_BITS, SEL_BITS, FLAG_BITS = 3, 3, 1


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
    Buf.X: "x-bus rows: rows x m values (in_fmt)",
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
FIELD_NAMES = ("op", "sel", "flag", "a", "b", "c", "n0", "n1", "n2", "value")

#: Per op: ``(meaning, {field: meaning})`` (fields not listed are ignored; ``op`` is the
#: opcode). ``beats(buf)`` is ``ceil(row width / data_width)``.
COMMANDS = {
    Op.LOAD: ("take n0 * beats(sel) beats from din (LSB first) into rows a .. a+n0-1 of "
              "buffer sel",
              {"sel": "buffer (Buf)", "a": "first row", "n0": "rows"}),
    Op.DRAIN: ("send rows a .. a+n0-1 of buffer sel on dout as beats, last on the final beat",
               {"sel": "buffer (Buf)", "a": "first row", "n0": "rows"}),
    Op.GEMM: ("pass p = tile*n1 + fold streams W rows a + p*rows .. and X rows b + fold*n0 + t "
              "through the STCE array, partial sums from O rows c + tile*n0 + t (zero for "
              "fold 0 unless flag), results back to them",
              {"flag": "accumulate onto O (fold 0 too)", "a": "first W row",
               "b": "first X row", "c": "first O row", "n0": "T: rows per fold",
               "n1": "folds", "n2": "tiles"}),
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
REJECTED = ("a command whose ranges do not fit its buffers, with a zero count, or an unknown "
            "op, buffer or register is rejected: nothing is read or written and error is set "
            "until the next command")

#: The stream each command moves data on.
_STREAMS = {Op.LOAD: "din", Op.DRAIN: "dout"}


def address_widths(max_depth):
    """``(addr_width, count_width)`` of the payload for the deepest buffer's row count."""
    return max(1, (max_depth - 1).bit_length()), max_depth.bit_length()


def field_widths(addr_width, count_width, value_width):
    """``{field: width}`` of the ``cmd`` payload, LSB first."""
    return {"op": OP_BITS, "sel": SEL_BITS, "flag": FLAG_BITS,
            "a": addr_width, "b": addr_width, "c": addr_width,
            "n0": count_width, "n1": count_width, "n2": count_width, "value": value_width}


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
