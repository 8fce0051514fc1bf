"""Golden model of SparTANN's Dynamic Threshold Scaling (docs/spartann/dts.md).

One update per training iteration, every operation FP32 rounded to nearest even::

    N == 0:          theta' = theta
    theta == +-0:    theta' = round(max_abs / 100)
    otherwise:       q = round(round(s* * from_int(N)) / from_int(Z))
                     r = 1.0 if q is NaN else clamp(q, 0.8f, 1.2f)
                     theta' = round(theta * r)

``variant="relative"`` (beyond the paper, default off): ``theta`` is a *relative* threshold
``k``; the sparsifier drops ``|x| < round(k * max|block|)`` per block (one sample), so the
block's own scale cancels. The update is the same with ``round(1 / 100)`` for the first step
(the paper's ``max/100`` is ``k = 1/100``) and the clamp bounds ``0.5`` and ``2.0``.

:func:`run_dts` runs the loop over a sequence of gradient tensors (``theta_1 = +0``) and
:func:`run_gaussian` / :func:`run_static` the paper's two baselines (Fig. 8a) on the same
sequence. :func:`gradient_sequence` makes the synthetic, drifting, non-Gaussian workload (an
extra case; real gradients come from :mod:`sim.spartann.cnn`).
"""

import math
from statistics import NormalDist
from typing import NamedTuple

import numpy as np

from hw.fp.format import FP32
from sim.fp import golden as fp
from . import csc

__all__ = ["WARM_UP", "ONE", "HI", "LO", "HUNDRED", "VARIANTS", "dts_update", "Run", "run_dts", "run_gaussian",
           "run_static", "gaussian_z", "gradient_sequence", "target_bits", "bits_to_float",
           "float_to_bits"]

#: Iterations left out of tracking statistics on :func:`gradient_sequence`: theta_2 =
#: max|G_1|/100 lies ln(theta*/theta_2)/ln(1.2) = 8.5 (s* = 0.5) to 12 (s* = 0.7) steps of
#: +20% below the target's threshold; s is within 2 points from iteration 12 / 15 on.
WARM_UP = 15

#: FP32 constants of the update: 1.0, the clamp bounds 1.2f and 0.8f (nearest FP32), 100.0.
ONE, HI, LO, HUNDRED = 0x3F800000, 0x3F99999A, 0x3F4CCCCD, 0x42C80000
#: Per variant: the clamp bounds ``(HI, LO)`` (FP32 bits) and whether ``theta`` is relative.
VARIANTS = {"paper": (HI, LO, False), "relative": (0x40000000, 0x3F000000, True)}


def _one(x):
    return int(np.asarray(x).reshape(-1)[0])


def float_to_bits(value):
    """A Python float rounded (RNE) to FP32 bits."""
    return _one(fp.from_float64(FP32, value))


def bits_to_float(bits):
    """The exact value of FP32 bits (a Python float; NaN for NaN)."""
    return float(np.asarray(fp.to_float64(FP32, int(bits))).reshape(-1)[0])


def target_bits(target):
    """FP32 bits of a target sparsity given as a float (e.g. 0.5)."""
    return float_to_bits(target)


def dts_update(theta, target, stats, variant="paper"):
    """``theta'`` (FP32 bits) from ``theta`` and target ``s*`` (FP32 bits) and the
    :class:`~sim.spartann.csc.Stats` of the iteration just finished (``variant``: a key of
    :data:`VARIANTS`)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {sorted(VARIANTS)}, not {variant!r}")
    hi, lo, relative = VARIANTS[variant]
    theta, target = int(theta), int(target)
    if stats.elements == 0:
        return theta
    if theta & (FP32.sign_mask - 1) == 0:
        return _one(fp.div(FP32, ONE if relative else int(stats.max_abs), HUNDRED))
    n, z = _one(fp.from_int(stats.elements, FP32)), _one(fp.from_int(stats.zeros, FP32))
    q = _one(fp.div(FP32, _one(fp.mul(target, n, FP32)), z))
    if fp.is_nan(FP32, q):
        r = ONE
    elif _one(fp.compare(FP32, q, hi)["gt"]):
        r = hi
    elif _one(fp.compare(FP32, q, lo)["lt"]):
        r = lo
    else:
        r = q
    return _one(fp.mul(theta, r, FP32))


class Run(NamedTuple):
    """One threshold policy over a sequence: ``thetas[i]`` (FP32 bits) was applied to
    iteration ``i`` and gave ``stats[i]``; ``sparsity[i] = zeros / elements``."""
    thetas: list
    stats: list
    sparsity: np.ndarray


def _run(gradients, next_theta, theta):
    thetas, stats = [], []
    for index, g in enumerate(gradients):
        thetas.append(theta)
        stats.append(csc.stats(g, theta, FP32))
        theta = next_theta(index, theta, stats[-1])
    sparsity = np.array([s.zeros / s.elements if s.elements else 0.0 for s in stats])
    return Run(thetas, stats, sparsity)


def run_dts(gradients, target):
    """DTS over ``gradients`` (FP32 bit arrays, one per iteration) for target ``s*`` (a
    float): ``theta_1 = +0``, then :func:`dts_update` after every iteration."""
    t = target_bits(target)
    return _run(gradients, lambda i, theta, s: dts_update(theta, t, s), 0)


def gaussian_z(target):
    """``z`` with ``P(|X - mu| <= z sigma) = s*`` for a Gaussian: ``Phi^-1((1 + s*)/2)``."""
    return NormalDist().inv_cdf((1 + target) / 2)


def run_gaussian(gradients, target):
    """Baseline: ``theta_{i+1} = |mu_i| + z sigma_i`` of the previous iteration's whole
    tensor (float64 statistics, rounded to FP32), ``theta_1 = +0``."""
    z = gaussian_z(target)

    def update(index, theta, stats):
        g = fp.to_float64(FP32, gradients[index])
        g = g[np.isfinite(g)]
        return float_to_bits(abs(g.mean()) + z * g.std())

    return _run(gradients, update, 0)


def run_static(gradients, target):
    """Baseline: every iteration uses the ``s*``-quantile of ``|G_1|`` (the median for
    ``s* = 0.5``), rounded to FP32."""
    g = np.abs(fp.to_float64(FP32, gradients[0]))
    theta = float_to_bits(np.quantile(g[np.isfinite(g)], target))
    return _run(gradients, lambda i, t, s: t, theta)


def gradient_sequence(iterations=60, elements=50_000, seed=2024):
    """Synthetic gradient tensors (FP32 bit arrays, ``uint32``), one per training iteration.

    Each is a mixture of a Laplace and a Student-t component plus ReLU-like exact zeros::

        scale_i   exp(trend_i + N(0, 2%))          batch-to-batch jitter around a trend
        trend     log random walk, step -0.5% + 1.5% sin(2 pi i / 29) + N(0, 0.5%)
        w_i       Laplace weight 0.55 + 0.35 cos(2 pi i / 70)      (0.9 -> 0.2 -> ...)
        nu_i      Student-t degrees of freedom 6 -> 2.5 (linear), t scale 0.6 * scale_i
        zero_i    exact-zero fraction 7.5% + 2.5% sin(2 pi i / 40 + 1)
        mu_i      mean 0.05 * scale_i * sin(2 pi i / 50)

    The scale moves 2.4% per iteration on average (up to ~7%); fresh samples every iteration
    (sampling noise included). Deterministic for a seed.
    """
    rng = np.random.default_rng(seed)
    trend, out = math.log(1e-3), []
    for i in range(iterations):
        t = i / max(iterations - 1, 1)
        scale = math.exp(trend + rng.normal(0, 0.02))
        w = 0.55 + 0.35 * math.cos(2 * math.pi * i / 70)
        nu = 6.0 - 3.5 * t
        zero = 0.075 + 0.025 * math.sin(2 * math.pi * i / 40 + 1)
        mu = 0.05 * scale * math.sin(2 * math.pi * i / 50)
        laplace = rng.laplace(0.0, scale, elements)
        student = 0.6 * scale * rng.standard_t(nu, elements)
        g = np.where(rng.random(elements) < w, laplace, student) + mu
        g = np.where(rng.random(elements) < zero, 0.0, g).astype(np.float32)
        out.append(g.view(np.uint32))
        trend += -0.005 + 0.015 * math.sin(2 * math.pi * i / 29) + rng.normal(0, 0.005)
    return out
