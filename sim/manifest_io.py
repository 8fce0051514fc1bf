"""Pack and unpack port payloads using only a design's manifest (``DESIGN.json``).

For testbenches written against the plain generated Verilog: the manifest lists every port,
and a struct- or array-typed port carries its bit layout (``fields``: ``{name: {offset,
width, ...}}``; ``elements``: ``{count, width, stride, ...}``; both may nest). ::

    from sim.manifest_io import load, port, pack, unpack
    info = load("build/mytb/fp_add.json")
    word = pack(port(info, "i__payload"), {"a": 0x3C00, "b": 0x4000})   # sub = 0
    unpack(port(info, "o__payload"), 0x4200)                            # {"result": 16896}

Values are unsigned integers (bit patterns); fields left out of ``pack`` are 0.

This is the one place that packs payloads: :func:`pack_columns` / :func:`unpack_columns` do
the same for many beats at once (a column of values per field), and :mod:`sim.layout`
packs by an Amaranth layout by describing it as the manifest would
(:func:`hw.generate.describe_layout`).
"""

import json
from pathlib import Path

__all__ = ["load", "port", "pack", "unpack", "pack_columns", "unpack_columns"]


def load(path):
    """The manifest (a dict) from its JSON file."""
    return json.loads(Path(path).read_text())


def port(manifest, name):
    """The entry of port ``name`` (e.g. ``"i__payload"``) in ``manifest``."""
    for entry in manifest["ports"]:
        if entry["name"] == name:
            return entry
    names = ", ".join(p["name"] for p in manifest["ports"])
    raise KeyError(f"no port {name!r} in {manifest.get('design', 'the manifest')}; "
                   f"ports: {names}")


def _fit(name, value, width, wrap=False):
    value = int(value)
    if wrap:
        return value & ((1 << width) - 1)
    if not 0 <= value < 1 << width:
        raise ValueError(f"{name} = {value} does not fit {width} unsigned bits")
    return value


def pack(layout, values, _name="payload", *, wrap=False):
    """The integer word of ``values`` laid out as ``layout`` (a port entry of the manifest,
    or any of its ``fields`` / ``elements`` entries): a dict ``{field: value}`` for
    ``fields``, a list for ``elements``, an int for a plain port or field. A value that does
    not fit its field, an unknown field or too many elements raise, unless ``wrap``: then
    values keep their low bits and names not in the layout are ignored."""
    if "fields" in layout:
        unknown = set(values) - set(layout["fields"])
        if unknown and not wrap:
            raise KeyError(f"{_name} has no field(s) {sorted(unknown)}; fields: "
                           f"{', '.join(layout['fields'])}")
        word = 0
        for name, field in layout["fields"].items():
            if name in values:
                value = pack(field, values[name], f"{_name}.{name}", wrap=wrap)
                word |= value << field["offset"]
        return word
    if "elements" in layout:
        elements = layout["elements"]
        if len(values) > elements["count"] and not wrap:
            raise ValueError(f"{_name} has {elements['count']} elements, not {len(values)}")
        word = 0
        for k, value in enumerate(values):
            word |= (pack(elements, value, f"{_name}[{k}]", wrap=wrap)
                     << (k * elements["stride"]))
        return word
    return _fit(_name, values, layout["width"], wrap)


def unpack(layout, word):
    """Inverse of :func:`pack`: a dict for ``fields``, a list for ``elements``, else an int."""
    word = int(word)
    if "fields" in layout:
        return {name: unpack(field, word >> field["offset"])
                for name, field in layout["fields"].items()}
    if "elements" in layout:
        elements = layout["elements"]
        return [unpack(elements, word >> (k * elements["stride"]))
                for k in range(elements["count"])]
    return word & ((1 << layout["width"]) - 1)


def pack_columns(fields, columns, count):
    """``count`` words from ``columns`` (field name -> array of values, one per word), laid out
    by ``fields`` (a port's ``fields`` entry: name -> ``{offset, width}``); fields without a
    column are 0, values keep their low bits."""
    import numpy as np

    words = [0] * count
    for name, values in columns.items():
        offset, width = fields[name]["offset"], fields[name]["width"]
        mask = (1 << width) - 1
        for i, value in enumerate(np.asarray(values).tolist()):
            words[i] |= (int(value) & mask) << offset
    return words


def unpack_columns(fields, words):
    """Inverse of :func:`pack_columns`: field name -> ``np.uint64`` array (fields up to 64
    bits wide)."""
    import numpy as np

    return {name: np.array([(w >> f["offset"]) & ((1 << f["width"]) - 1) for w in words],
                           dtype=np.uint64)
            for name, f in fields.items()}
