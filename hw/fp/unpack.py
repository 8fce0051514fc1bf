"""Decoding of packed floating-point bits into fields and classes."""

from amaranth.hdl import Cat, Mux

from .bits import materialize

__all__ = ["unpack"]


def unpack(m, fmt, bits, name="u"):
    """Split ``bits`` (a Value of ``fmt.width`` bits) into a dict of Values:

    ``sign``; ``exp`` -- the biased exponent of the significand's hidden-bit position
    (1 for subnormals and zeros); ``sig`` -- significand with hidden bit, ``fmt.sig_bits``
    wide; classes ``is_zero``, ``is_inf``, ``is_nan``; ``mag`` -- bits without the sign.
    """
    bits = materialize(m, bits, f"{name}_bits")
    man = bits[:fmt.man_bits]
    exp_field = bits[fmt.man_bits:fmt.man_bits + fmt.exp_bits]
    exp_zero = exp_field == 0
    exp_ones = exp_field == fmt.exp_max_field
    man_zero = man == 0
    fields = {
        "sign": bits[fmt.width - 1],
        "exp": Mux(exp_zero, 1, exp_field),
        "sig": Cat(man, ~exp_zero),
        "is_zero": exp_zero & man_zero,
        "is_inf": exp_ones & man_zero,
        "is_nan": exp_ones & ~man_zero,
        "mag": bits[:fmt.width - 1],
    }
    return {k: materialize(m, v, f"{name}_{k}") for k, v in fields.items()}
