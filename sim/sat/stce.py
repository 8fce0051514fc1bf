"""Golden GEMM in the exact accumulation order of the STCE systolic array.

``Y[t, c] = (...((acc[t, c] + p_0) + p_1) + ...) + p_{K-1}``: one sequential chain over the
reduction positions in order, every product ``p_k = round_acc(w[k, c] * x[t, k_src])``
rounded to the accumulator format (exact for FP16 x FP16 -> FP32) and every addition rounded.
For an N:M-compressed weight, position ``k`` is the k-th kept weight (groups in order, kept
entries in ascending in-group index) and ``k_src = group * M + index``.

Formats (``in_fmt``, ``acc_fmt``) are :class:`~hw.fp.format.FloatFormat` objects or names
(``"fp16"``, ``"fp32"``, ``"bf16"``, ``"eXmY"``).

``ftz=True`` models the array's flush-to-zero option: every step is the fused
``fp.fmac(w, x, acc, ftz=True)`` (subnormal weights, activations and partial sums count as
zeros of their sign). Without it the rounded-product chain above is the model (for FP16 x
FP16 + FP32 it equals the fused MAC the RTL uses, because the product is exact).
"""

import numpy as np

from hw.fp.format import format_args
from sim.fp import golden as fp

__all__ = ["gemm_chain", "systolic_fold"]


@format_args
def systolic_fold(groups, w_values, w_indices, acc, in_fmt, acc_fmt, ftz=False):
    """One pass through an R x C array: ``groups`` (T, R, G) activation buses, stationary
    weights ``w_values``/``w_indices`` (R, C), partial sums ``acc`` (T, C) from the top."""
    acc = np.asarray(acc, dtype=np.uint64).copy()
    groups = np.asarray(groups, dtype=np.uint64)
    for r in range(w_values.shape[0]):
        x = groups[:, r, :][:, np.asarray(w_indices[r], dtype=np.int64)]       # (T, C)
        acc = _step(w_values[r][None, :], x, acc, in_fmt, acc_fmt, ftz)
    return acc


def _step(w, x, acc, in_fmt, acc_fmt, ftz):
    """One uMAC: ``acc + round(w * x)`` (or the fused flush-to-zero MAC)."""
    if ftz:
        return fp.fmac(w, x, acc, in_fmt, acc_fmt, ftz=True)
    return fp.add(acc_fmt, acc, fp.mul(w, x, in_fmt, in_fmt, acc_fmt))


@format_args
def gemm_chain(x, w_values, w_indices, group, in_fmt, acc_fmt, acc=None, ftz=False):
    """``x`` (T, K) times a compressed weight (Kc, C) whose row ``k`` reads activation
    ``(k // n_per_group) * group + index``; ``group=1`` with zero indices is dense GEMM.
    ``n_per_group`` is inferred as ``Kc * group // K``."""
    x = np.asarray(x, dtype=np.uint64)
    t, k_dense = x.shape
    kc, cols = w_values.shape
    n = kc * group // k_dense
    if n * k_dense != kc * group:
        raise ValueError(f"compressed rows {kc} do not match K={k_dense} with groups of {group}")
    y = np.zeros((t, cols), dtype=np.uint64) if acc is None else np.asarray(acc, np.uint64)
    for k in range(kc):
        src = (k // n) * group + np.asarray(w_indices[k], dtype=np.int64)      # (C,)
        y = _step(w_values[k][None, :], x[:, src], y, in_fmt, acc_fmt, ftz)
    return y
