"""Bit-exact golden models that the generated hardware is checked against."""

from . import fp

__all__ = ["fp"]
