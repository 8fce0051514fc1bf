"""Golden model of N:M top-K selection (SAT's OSRE) and of BDWP pruning.

All values are bit patterns of a float format (unsigned integers). The ranking key of a value
is its magnitude bits (the bits below the sign, as an unsigned integer): -0 ties with +0,
subnormals and normals order by magnitude, infinities rank above every finite value and NaNs
above infinity (larger payload first). Equal keys: the lower in-group index wins. Values are
returned bit for bit (no NaN canonicalization); pruned positions become +0 (all bits zero).

BDWP keeps, for every group of ``m`` consecutive weights along the reduction dimension, the
``n`` of largest magnitude. One dense ``W[out, in]`` gives two sparse sets: the forward set
groups along the input channels (``axis=1``), the backward set along the output channels
(``axis=0``).
"""

import numpy as np

from hw.fp.format import parse_format
from hw.sat.config import index_width

__all__ = ["magnitude_key", "topk_group", "nm_prune", "nm_decompress", "random_weight_bits"]


def _check_nm(n, m):
    for name, value, lo in (("n", n, 1), ("m", m, 2)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, not {value!r}")
    if n > m:
        raise ValueError(f"n must be at most m = {m}, not {n!r}")


def _bits(values_bits, fmt):
    """``values_bits`` as an integer array, checked to fit ``fmt``."""
    bits = np.asarray(values_bits)
    if bits.dtype.kind not in "ui":
        raise ValueError(f"values_bits must be an integer array, not {bits.dtype}")
    if bits.size and (bits.min() < 0 or int(bits.max()) >> fmt.width):
        raise ValueError(f"values_bits must be {fmt.width}-bit patterns of {fmt.name}")
    return bits


def magnitude_key(values_bits, fmt):
    """Ranking key of each value: its bits without the sign bit (int64)."""
    fmt = parse_format(fmt)
    return _bits(values_bits, fmt).astype(np.int64) & (fmt.sign_mask - 1)


def topk_group(values_bits, n, fmt):
    """Top-``n`` of every group (row) of ``values_bits`` (shape ``(..., m)``).

    Returns ``(values, indices)``, each of shape ``(..., n)``: the selected bit patterns
    (dtype of the input) and their in-group indices (int64), in ascending index order.
    """
    fmt = parse_format(fmt)
    bits = _bits(values_bits, fmt)
    m = bits.shape[-1]
    _check_nm(n, m)
    index = np.arange(m, dtype=np.int64)
    # A unique score per element: the key, then the reversed index (lower index wins).
    score = (magnitude_key(bits, fmt) << index_width(int(m))) | (m - 1 - index)
    chosen = np.sort(np.argpartition(-score, n - 1, axis=-1)[..., :n], axis=-1)
    return np.take_along_axis(bits, chosen, axis=-1), chosen.astype(np.int64)


def _rows(w, axis):
    """View of 2-D ``w`` whose rows run along the reduction ``axis``."""
    if w.ndim != 2:
        raise ValueError(f"w_bits must be a 2-D matrix, not shape {w.shape}")
    if axis not in (0, 1):
        raise ValueError(f"axis must be 0 (backward, along output channels) or 1 "
                         f"(forward, along input channels), not {axis!r}")
    return w if axis == 1 else w.T


def nm_prune(w_bits, n, m, axis, fmt, *, pad=False):
    """BDWP pruning of ``w_bits`` (2-D bit patterns) in groups of ``m`` along ``axis``.

    ``axis=1``: groups along the rows of ``W[out, in]`` (input channels, forward set);
    ``axis=0``: along the columns (output channels, backward set ``W^T``). The length along
    ``axis`` must be a multiple of ``m``, unless ``pad=True``: then the last group is padded
    with +0 (never chosen over a real element, as it has the highest indices; the short group
    keeps its min(n, real length) largest) and the compressed form covers the padded length.

    Returns ``(dense, values, indices)``: ``dense`` has the shape of ``w_bits`` with the
    pruned elements +0; ``values``/``indices`` have shape ``(rows, groups, n)``, where rows
    run across ``axis`` (output channels for ``axis=1``, input channels for ``axis=0``).
    """
    _check_nm(n, m)
    fmt = parse_format(fmt)
    rows = _rows(_bits(w_bits, fmt), axis)
    length = rows.shape[1]
    if length % m:
        if not pad:
            raise ValueError(f"axis {axis} has length {length}, not a multiple of m = {m}; "
                             f"pass pad=True to pad with zeros")
        rows = np.concatenate([rows, np.zeros((rows.shape[0], -length % m), rows.dtype)], 1)
    values, indices = topk_group(rows.reshape(rows.shape[0], -1, m), n, fmt)
    dense = nm_decompress(values, indices, m, axis, length=length)
    return dense, values, indices


def nm_decompress(values, indices, m, axis, *, length=None):
    """Dense matrix from the compressed N:M form of :func:`nm_prune` (inverse direction).

    ``length`` crops the reduction dimension (the unpadded length; default groups * m).
    """
    values, indices = np.asarray(values), np.asarray(indices)
    if values.shape != indices.shape or values.ndim != 3:
        raise ValueError(f"values and indices must have the same shape (rows, groups, n), "
                         f"not {values.shape} and {indices.shape}")
    if indices.size and (indices.min() < 0 or indices.max() >= m):
        raise ValueError(f"indices must lie in [0, m = {m})")
    rows, groups, _ = values.shape
    dense = np.zeros((rows, groups, m), values.dtype)
    np.put_along_axis(dense, indices, values, axis=-1)
    dense = dense.reshape(rows, groups * m)[:, :length]
    return _rows(dense, axis)


def random_weight_bits(shape, fmt, rng):
    """Bit patterns that stress the ranking: per group (last axis) one of several mixes of
    few distinct magnitudes with random signs (many ties, +-0), specials (+-inf, NaNs with
    several payloads), subnormals, values one ulp apart, two random magnitudes per group, or
    uniformly random bits."""
    fmt = parse_format(fmt)
    shape = tuple(shape)
    sign = rng.integers(0, 2, shape, dtype=np.int64) * fmt.sign_mask
    mag_mask = fmt.sign_mask - 1
    sub_max = (1 << fmt.man_bits) - 1
    nan_payloads = [fmt.canonical_nan, fmt.inf | 1, mag_mask, fmt.canonical_nan | 1]
    pools = [
        [0, 1, fmt.inf],                                          # few magnitudes: ties
        [0, fmt.inf, *nan_payloads, fmt.max_normal],              # specials
        list(range(0, sub_max + 1, max(1, sub_max // 5))),        # subnormals and zero
        [fmt.max_normal, fmt.max_normal - 1, 1 << fmt.man_bits],  # neighbours
    ]
    picks = [rng.choice(np.array(pool, np.int64), shape) for pool in pools]
    pair = rng.integers(0, mag_mask + 1, (*shape[:-1], 2), dtype=np.int64)
    picks.append(np.take_along_axis(pair, rng.integers(0, 2, shape), axis=-1))  # two per group
    mags = rng.integers(0, mag_mask + 1, shape, dtype=np.int64)   # uniformly random bits
    kind = rng.integers(0, len(picks) + 1, shape[:-1])
    for k, pick in enumerate(picks):
        mags = np.where((kind == k)[..., None], pick, mags)
    dtype = np.uint16 if fmt.width <= 16 else np.uint32 if fmt.width <= 32 else np.uint64
    return (mags | sign).astype(dtype)
