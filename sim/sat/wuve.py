"""Bit-exact golden model of the WUVE momentum-SGD lane (``hw/sat/wuve.py``).

Built from the FP golden operators in the hardware's order; every operation after the
gradient conversion is rounded to nearest even in ``master_fmt``::

    g32 = convert(g);  d = g32 + round(wd * w);  v' = round(mu * v) + d
    w' = w - round(lr * v');  w_lp = convert(w' -> out_fmt)

``decoupled_wd=True`` (SGDW): ``v' = round(mu * v) + g32`` and
``w' = round(decay * w) - round(lr * v')`` with ``decay = round(1 - round(lr * wd))``.

``lr``, ``mu`` and ``wd`` are real numbers; like the host, the model rounds each once to
``master_fmt`` (:func:`config_bits`). On torch's first step pass ``v = -0.0``
(:func:`first_step_v`) so that ``v' = d`` exactly.
"""

from hw.fp.format import parse_format
from sim.fp import golden as fp

__all__ = ["sgd_step", "sgd_lane", "config_bits", "decay_bits", "first_step_v"]


def config_bits(value, fmt):
    """The ``fmt`` bit pattern of the real ``value`` (RNE): what the host writes to a port."""
    return int(fp.from_float64(parse_format(fmt), value))


def decay_bits(lr, wd, fmt):
    """The ``decay`` port of the decoupled lane: ``round(1 - round(lr * wd))`` in ``fmt``."""
    fmt = parse_format(fmt)
    product = fp.mul(config_bits(lr, fmt), config_bits(wd, fmt), fmt)
    return int(fp.add(fmt, config_bits(1.0, fmt), product, sub=1))


def first_step_v(fmt="fp32"):
    """The momentum to pass on torch's first step: ``-0.0``, so that ``v' = d`` exactly."""
    return parse_format(fmt).sign_mask


def sgd_step(g_bits, w_bits, v_bits, lr, mu, wd, grad_fmt="fp16", master_fmt="fp32",
             out_fmt="fp16", decoupled_wd=False):
    """One momentum-SGD step per element. Returns ``(w_bits, v_bits, w_lp_bits)`` as
    ``np.uint64`` arrays (``master_fmt``, ``master_fmt``, ``out_fmt``); NaN results are the
    canonical quiet NaN of their format."""
    mf = parse_format(master_fmt)
    third = decay_bits(lr, wd, mf) if decoupled_wd else config_bits(wd, mf)
    return sgd_lane(g_bits, w_bits, v_bits, config_bits(lr, mf), config_bits(mu, mf), third,
                    grad_fmt, mf, out_fmt, decoupled_wd)


def sgd_lane(g_bits, w_bits, v_bits, lr_bits, mu_bits, third_bits, grad_fmt, master_fmt,
             out_fmt, decoupled_wd=False):
    """The WUVE lane on bit patterns, configuration registers as the host wrote them:
    ``lr_bits``, ``mu_bits`` and ``third_bits`` (``wd``, or ``decay`` when decoupled), all
    ``master_fmt``. :func:`sgd_step` is this with the registers rounded from reals."""
    gf, mf, of = parse_format(grad_fmt), parse_format(master_fmt), parse_format(out_fmt)
    g32 = fp.convert(g_bits, gf, mf)
    mu_v = fp.mul(mu_bits, v_bits, mf)
    if decoupled_wd:
        v_new = fp.add(mf, mu_v, g32)
        w_new = fp.add(mf, fp.mul(third_bits, w_bits, mf), fp.mul(lr_bits, v_new, mf), sub=1)
    else:
        d = fp.add(mf, g32, fp.mul(third_bits, w_bits, mf))
        v_new = fp.add(mf, mu_v, d)
        w_new = fp.add(mf, w_bits, fp.mul(lr_bits, v_new, mf), sub=1)
    return w_new, v_new, fp.convert(w_new, mf, of)
