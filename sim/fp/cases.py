"""Test cases for the floating-point units: operands from :mod:`sim.fp.vectors` and the
expected outputs from the golden model, keyed by the unit's payload field names."""

import numpy as np

from hw.fp.format import parse_format
from sim.fp import golden, vectors

__all__ = ["make_case", "exhaustive_size"]


def exhaustive_size(design, params):
    """Input-space size when the unit has one 16-bit-or-narrower operand, else None."""
    if design in ("fp_convert", "fp_abs"):
        fmt = parse_format(params.get("in_fmt") or params.get("fmt"))
        if fmt.width <= 16:
            return 1 << fmt.width
    return None


def make_case(design, params, n, seed, exhaustive=False):
    """Return ``(inputs, expected)``: dicts of np.uint64 arrays of ``n`` entries (all
    ``2**width`` patterns instead when ``exhaustive`` and the space is small)."""
    rng = np.random.default_rng(seed + 7919)
    fmt = lambda key: parse_format(params[key])
    if design == "fp_add":
        f = fmt("fmt")
        a, b = vectors.binary(f, n, seed, "add")
        sub = rng.integers(0, 2, n).astype(np.uint64)
        return {"a": a, "b": b, "sub": sub}, {"result": golden.add(f, a, b, sub)}
    if design == "fp_mul":
        f = fmt("fmt")
        out = parse_format(params.get("out_fmt") or f)
        a, b = (vectors.binary(f, n, seed, "mul") if out == f
                else vectors.mixed_binary(f, f, n, seed, fmt_out=out))
        return {"a": a, "b": b}, {"result": golden.mul(a, b, f, f, out)}
    if design in ("fp_mac", "fp_axpy"):
        ab, c_fmt = (fmt("ab_fmt"), fmt("c_fmt")) if design == "fp_mac" else (fmt("fmt"),) * 2
        a, b, c = vectors.ternary(ab, c_fmt, n, seed)
        return {"a": a, "b": b, "c": c}, {"result": golden.muladd(a, b, c, ab, c_fmt)}
    if design == "fp_fmac":
        ab, c_fmt = fmt("ab_fmt"), fmt("c_fmt")
        a, b, c = vectors.ternary(ab, c_fmt, n, seed)
        ftz = bool(params.get("ftz"))
        return {"a": a, "b": b, "c": c}, {"result": golden.fmac(a, b, c, ab, c_fmt, ftz=ftz)}
    if design == "fp_convert":
        f_in, f_out = fmt("in_fmt"), fmt("out_fmt")
        x = (np.arange(1 << f_in.width, dtype=np.uint64) if exhaustive
             else vectors.unary(f_in, n, seed, target=f_out))
        return {"x": x}, {"result": golden.convert(x, f_in, f_out)}
    if design == "fp_div":
        f = fmt("fmt")
        a, b = vectors.binary(f, n, seed, "div")
        return {"a": a, "b": b}, {"result": golden.div(f, a, b)}
    if design == "fp_compare":
        f = fmt("fmt")
        a, b = vectors.binary(f, n, seed, "compare")
        out = golden.compare(f, a, b, magnitude=bool(params.get("magnitude")))
        names = {"lt": "less", "eq": "equal", "gt": "greater"}
        return {"a": a, "b": b}, {names.get(k, k): np.asarray(v, dtype=np.uint64)
                                  for k, v in out.items()}
    if design == "fp_abs":
        f = fmt("fmt")
        x = (np.arange(1 << f.width, dtype=np.uint64) if exhaustive
             else vectors.unary(f, n, seed))
        return {"x": x}, {"result": golden.abs_(f, x)}
    raise ValueError(f"no test case generator for design {design!r}")
