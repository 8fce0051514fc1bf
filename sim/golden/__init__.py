"""Bit-exact golden models that the generated hardware is checked against."""
