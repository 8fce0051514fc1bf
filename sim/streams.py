"""Packing of struct payloads and cycle-accurate stream driving for cocotb testbenches."""

import numpy as np

__all__ = ["pack", "unpack"]


def pack(fields, columns, count):
    """Pack ``columns`` (name -> array) into Python ints using ``fields`` (name -> {offset,
    width}); fields without a column are zero."""
    words = [0] * count
    for name, arr in columns.items():
        offset, width = fields[name]["offset"], fields[name]["width"]
        mask = (1 << width) - 1
        for i, v in enumerate(np.asarray(arr).tolist()):
            words[i] |= (int(v) & mask) << offset
    return words


def unpack(fields, words):
    """Inverse of :func:`pack`: name -> np.uint64 array (fields up to 64 bits wide)."""
    out = {}
    for name, f in fields.items():
        mask = (1 << f["width"]) - 1
        out[name] = np.array([(w >> f["offset"]) & mask for w in words], dtype=np.uint64)
    return out
