"""Pack nested Python values into integers following an Amaranth ``lib.data`` layout, and back.

Structs are dicts, arrays are sequences, plain fields are ints (raw bits); values keep their
low bits and struct keys not in the layout are ignored. The layout is described as the
manifest describes a port (:func:`hw.generate.describe_layout`) and packed by
:mod:`sim.manifest_io`, the one place that packs payloads."""

from functools import lru_cache

from hw.generate import describe_layout
from sim import manifest_io

__all__ = ["pack", "unpack", "describe"]


@lru_cache(maxsize=None)
def _cached(layout):
    return describe_layout(layout)


def describe(layout):
    """The manifest-style description of ``layout`` (cached)."""
    try:
        return _cached(layout)
    except TypeError:                     # an unhashable shape: describe it each time
        return describe_layout(layout)


def pack(layout, value):
    """Raw bits of ``value`` laid out as ``layout`` (missing struct fields are zero)."""
    return manifest_io.pack(describe(layout), value, wrap=True)


def unpack(layout, word):
    """Inverse of :func:`pack`: dicts for structs, lists for arrays, ints for fields."""
    return manifest_io.unpack(describe(layout), word)
