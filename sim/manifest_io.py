"""Pack and unpack port payloads using only a design's manifest (``DESIGN.json``).

For testbenches written against the plain generated Verilog: the manifest lists every port,
and a struct- or array-typed port carries its bit layout (``fields``: ``{name: {offset,
width, ...}}``; ``elements``: ``{count, width, stride, ...}``; both may nest). ::

    from sim.manifest_io import load, port, pack, unpack
    info = load("build/mytb/fp_add.json")
    word = pack(port(info, "i__payload"), {"a": 0x3C00, "b": 0x4000})   # sub = 0
    unpack(port(info, "o__payload"), 0x4200)                            # {"result": 16896}

Values are unsigned integers (bit patterns); fields left out of ``pack`` are 0.
"""

import json
from pathlib import Path

__all__ = ["load", "port", "pack", "unpack"]


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


def _fit(name, value, width):
    value = int(value)
    if not 0 <= value < 1 << width:
        raise ValueError(f"{name} = {value} does not fit {width} unsigned bits")
    return value


def pack(layout, values, _name="payload"):
    """The integer word of ``values`` laid out as ``layout`` (a port entry of the manifest,
    or any of its ``fields`` / ``elements`` entries): a dict ``{field: value}`` for
    ``fields``, a list for ``elements``, an int for a plain port or field."""
    if "fields" in layout:
        unknown = set(values) - set(layout["fields"])
        if unknown:
            raise KeyError(f"{_name} has no field(s) {sorted(unknown)}; fields: "
                           f"{', '.join(layout['fields'])}")
        word = 0
        for name, field in layout["fields"].items():
            if name in values:
                word |= pack(field, values[name], f"{_name}.{name}") << field["offset"]
        return word
    if "elements" in layout:
        elements = layout["elements"]
        if len(values) > elements["count"]:
            raise ValueError(f"{_name} has {elements['count']} elements, not {len(values)}")
        word = 0
        for k, value in enumerate(values):
            word |= pack(elements, value, f"{_name}[{k}]") << (k * elements["stride"])
        return word
    return _fit(_name, values, layout["width"])


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
