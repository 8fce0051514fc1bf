"""Tiling of a GEMM onto the STCE systolic array: what the array is fed, fold by fold.

``Y (T x Cout) = X (T x K) * W`` with ``W`` given in compressed N:M form (``Kc = K*N/M``
kept rows, each with an in-group index) or dense (``N = M``, index ``k mod M``). Output
columns are split into tiles of ``cols``; the kept rows into folds of ``rows``. Fold ``f``
of a tile receives the previous fold's results as its partial sums, so the whole reduction
is one sequential chain (see :mod:`sim.sat.stce`). Padding contributes exactly nothing:
padded weights are -0 and padded activations +0, so their product is -0 and ``s + (-0) == s``.
"""

from dataclasses import dataclass

import numpy as np

__all__ = ["Plan", "plan_gemm", "dense_as_nm"]

NEG_ZERO = {16: 0x8000, 32: 0x80000000}


def dense_as_nm(w, group):
    """A dense (K, C) weight as the compressed form the array reads: N = M = ``group``."""
    k, cols = w.shape
    pad = (-k) % group
    if pad:
        raise ValueError(f"dense K={k} must be a multiple of the array group {group}; pad it")
    indices = np.tile((np.arange(k) % group)[:, None], (1, cols)).astype(np.uint64)
    return np.asarray(w, dtype=np.uint64), indices, group


@dataclass
class Plan:
    """Per (tile, fold): weight rows and activation-bus rows for the array."""
    rows: int
    cols: int
    group: int
    tiles: list          # [(col0, ncols)]
    folds: int
    weights: list        # [tile][fold] -> (values (R, C), indices (R, C))
    buses: list          # [fold] -> groups (T, R, G)
    t: int

    @property
    def passes(self):
        return len(self.tiles) * self.folds


def plan_gemm(x, w_values, w_indices, n, group, rows, cols, in_width):
    """Plan ``x (T, K) * W`` where ``W`` is compressed (Kc, Cout) with ``n`` kept per
    ``group``; the array has ``rows`` x ``cols`` PEs and ``group``-wide activation buses."""
    x = np.asarray(x, dtype=np.uint64)
    t, k = x.shape
    kc, cout = w_values.shape
    if k % group or kc * group != k * n:
        raise ValueError(f"K={k} and Kc={kc} do not fit {n}:{group} groups")
    folds = max(1, -(-kc // rows))
    neg_zero = NEG_ZERO.get(in_width, 1 << (in_width - 1))
    tiles = [(c0, min(cols, cout - c0)) for c0 in range(0, cout, cols)]
    weights = []
    for c0, nc in tiles:
        per_fold = []
        for f in range(folds):
            values = np.full((rows, cols), neg_zero, dtype=np.uint64)
            indices = np.zeros((rows, cols), dtype=np.uint64)
            k0, k1 = f * rows, min(kc, (f + 1) * rows)
            values[:k1 - k0, :nc] = w_values[k0:k1, c0:c0 + nc]
            indices[:k1 - k0, :nc] = w_indices[k0:k1, c0:c0 + nc]
            per_fold.append((values, indices))
        weights.append(per_fold)
    buses = []
    padded = np.concatenate([x, np.zeros((t, group), dtype=np.uint64)], axis=1)
    for f in range(folds):
        bus = np.zeros((t, rows, group), dtype=np.uint64)
        for r in range(rows):
            kk = f * rows + r
            if kk < kc:
                g = kk // n
                bus[:, r, :] = padded[:, g * group:(g + 1) * group]
        buses.append(bus)
    return Plan(rows, cols, group, tiles, folds, weights, buses, t)
