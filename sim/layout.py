"""Pack nested Python values into integers following an Amaranth ``lib.data`` layout, and back.

Structs are dicts, arrays are sequences, plain fields are ints (raw bits)."""

from amaranth.hdl import Shape
from amaranth.lib import data

__all__ = ["pack", "unpack"]


def pack(layout, value):
    """Raw bits of ``value`` laid out as ``layout`` (missing struct fields are zero)."""
    if isinstance(layout, data.StructLayout):
        word = 0
        for name, field in layout:
            if name in value:
                word |= pack(field.shape, value[name]) << field.offset
        return word
    if isinstance(layout, data.ArrayLayout):
        width = Shape.cast(layout.elem_shape).width
        word = 0
        for index, item in enumerate(value):
            word |= pack(layout.elem_shape, item) << (index * width)
        return word
    width = Shape.cast(layout).width
    return int(value) & ((1 << width) - 1)


def unpack(layout, word):
    """Inverse of :func:`pack`: dicts for structs, lists for arrays, ints for fields."""
    if isinstance(layout, data.StructLayout):
        return {name: unpack(field.shape, word >> field.offset) for name, field in layout}
    if isinstance(layout, data.ArrayLayout):
        width = Shape.cast(layout.elem_shape).width
        return [unpack(layout.elem_shape, word >> (i * width)) for i in range(layout.length)]
    return int(word) & ((1 << Shape.cast(layout).width) - 1)
