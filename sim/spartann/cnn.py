"""Real gradients for DTS: a small CNN trained on scikit-learn digits in NumPy float32, with
conv2's input gradient sparsified in the loop (docs/spartann/dts.md, "Real gradients").

Network (no pooling, stride 1, zero padding 1, biases)::

    x (B, 1, 8, 8) -> conv1 3x3 (8 ch) -> ReLU -> conv2 3x3 (16 ch) -> ReLU -> fc (1024 -> 10)

Backward of one mini-batch (softmax cross-entropy, mean over the batch)::

    GO = dL/d(conv2 pre-activation)      conv2's output gradient (B, 16, 8, 8)
    GI = conv2 backward-data(GO)         conv2's input gradient  (B, 8, 8, 8) = dL/d relu(conv1)
    GI~ = GI with |x| < theta set to +0   what SparTANN sparsifies (csc.sparsify, FP32 bits)
    conv1's gradients come from GI~       so the threshold policy changes later iterations

:func:`train` runs this with a threshold policy (:func:`dts_policy`, :func:`gaussian_policy`,
:func:`static_policy`, the same rules as ``run_dts`` / ``run_gaussian`` / ``run_static`` of
:mod:`sim.spartann.dts`, but closed-loop: the threshold of iteration ``i`` is computed from
iterations ``< i`` of this training run). SGD with momentum, float32 throughout, seeded.
"""

from functools import lru_cache
from typing import NamedTuple

import numpy as np

from hw.fp.format import FP32
from sim.fp import golden as fp
from . import csc
from .dts import VARIANTS, bits_to_float, dts_update, float_to_bits, gaussian_z, target_bits

__all__ = ["load_digits", "init_params", "conv2d", "conv2d_backward_data",
           "conv2d_backward_weight", "forward_backward", "dts_policy", "gaussian_policy",
           "static_policy", "none_policy", "relative_policy", "sparsify", "Policy", "Trace",
           "train", "clamp_binds", "warm_up", "POLICIES", "VARIANT_POLICIES"]

C1, C2, CLASSES = 8, 16, 10


@lru_cache(maxsize=2)
def load_digits(seed=0):
    """The 1797 digits as float32 ``(N, 1, 8, 8)`` images standardized per pixel (constant
    pixels: std 1), labels ``int64``, shuffled with ``seed``."""
    from sklearn.datasets import load_digits as _load
    digits = _load()
    x, y = digits.data.astype(np.float64), digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    x, y = x[order], y[order]
    std = x.std(0)
    std[std == 0] = 1.0
    x = ((x - x.mean(0)) / std).astype(np.float32)
    return x.reshape(-1, 1, 8, 8), y


def init_params(seed=0):
    """He-normal weights, zero biases (float32)."""
    rng = np.random.default_rng(seed)
    he = lambda shape, fan: (rng.standard_normal(shape) * np.sqrt(2.0 / fan)).astype(np.float32)
    return {"w1": he((C1, 1, 3, 3), 9), "b1": np.zeros(C1, np.float32),
            "w2": he((C2, C1, 3, 3), 9 * C1), "b2": np.zeros(C2, np.float32),
            "w3": he((CLASSES, C2 * 64), C2 * 64), "b3": np.zeros(CLASSES, np.float32)}


def _cols(x):
    """im2col for 3x3, pad 1, stride 1: ``(B, C, H, W) -> (B*H*W, C*9)``."""
    b, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(2, 3))  # B C H W 3 3
    return np.ascontiguousarray(win.transpose(0, 2, 3, 1, 4, 5)).reshape(b * h * w, c * 9)


def conv2d(x, w, bias=None):
    """``y[b, o, i, j] = sum_{c, di, dj} w[o, c, di, dj] x[b, c, i + di - 1, j + dj - 1]``."""
    b, _, h, wd = x.shape
    y = _cols(x) @ w.reshape(w.shape[0], -1).T
    if bias is not None:
        y = y + bias
    return np.ascontiguousarray(y.reshape(b, h, wd, -1).transpose(0, 3, 1, 2))


def conv2d_backward_data(go, w):
    """Gradient w.r.t. the input of :func:`conv2d`: a convolution of ``go`` with the weights
    flipped in space and transposed in channels."""
    return conv2d(go, np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)))


def conv2d_backward_weight(go, x):
    """Gradient w.r.t. the weights of :func:`conv2d`, shape ``(O, C, 3, 3)``."""
    o = go.shape[1]
    g = go.transpose(0, 2, 3, 1).reshape(-1, o)
    return (g.T @ _cols(x)).reshape(o, x.shape[1], 3, 3)


def forward_backward(params, x, y, sparsify=None, record=None):
    """Loss, gradients of every parameter and ``(GO, GI)`` of conv2 for one batch.
    ``sparsify(GI) -> GI~`` (float32 arrays) is applied before conv1's backward; a ``record``
    dict receives conv1's output gradient ``"go1"`` (``GI~`` masked by conv1's ReLU)."""
    z1 = conv2d(x, params["w1"], params["b1"])
    a1 = np.maximum(z1, 0)
    z2 = conv2d(a1, params["w2"], params["b2"])
    a2 = np.maximum(z2, 0)
    flat = a2.reshape(len(x), -1)
    logits = flat @ params["w3"].T + params["b3"]
    logits = logits - logits.max(1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(1, keepdims=True)
    loss = float(-np.mean(np.log(p[np.arange(len(y)), y] + 1e-30)))
    dlogits = p.copy()
    dlogits[np.arange(len(y)), y] -= 1
    dlogits = (dlogits / len(y)).astype(np.float32)
    grads = {"w3": dlogits.T @ flat, "b3": dlogits.sum(0)}
    go = ((dlogits @ params["w3"]).reshape(a2.shape) * (z2 > 0)).astype(np.float32)
    grads["w2"], grads["b2"] = conv2d_backward_weight(go, a1), go.sum((0, 2, 3))
    gi = conv2d_backward_data(go, params["w2"]).astype(np.float32)
    gs = gi if sparsify is None else sparsify(gi)
    dz1 = (gs * (z1 > 0)).astype(np.float32)
    if record is not None:
        record["go1"] = dz1
    grads["w1"], grads["b1"] = conv2d_backward_weight(dz1, x), dz1.sum((0, 2, 3))
    return loss, {k: v.astype(np.float32) for k, v in grads.items()}, go, gi


# -- threshold policies: start(G_1 bits) -> theta_1, update(theta, stats, G_i bits) -> theta_{i+1}
class Policy(NamedTuple):
    """``start(GI_1 bits) -> theta_1`` and ``update(theta_i, stats_i, GI_i bits) ->
    theta_{i+1}`` (FP32 bits; ``GI_i`` dense, before thresholding). ``relative``: ``theta``
    is the relative threshold ``k`` of DTS's ``"relative"`` variant (:func:`sparsify`)."""
    start: object
    update: object
    relative: bool = False


def sparsify(bits, theta, relative=False):
    """``(GI~ bits, Stats)`` of ``GI`` (FP32 bits, samples on axis 0) thresholded with
    ``theta``: the paper's one threshold per tensor, or (``relative``) per sample ``b`` the
    threshold ``round(theta * max|GI_b|)`` (FP32 multiply, RNE; ``max`` over the finite
    elements, as the sparsifier's ``max_abs``), the statistics summed (``csc.stats`` rules)."""
    if not relative:
        return csc.sparsify(bits, theta, FP32)[0], csc.stats(bits, theta, FP32)
    x = np.asarray(bits, dtype=np.uint64).reshape(len(bits), -1)
    mag = x & np.uint64(FP32.sign_mask - 1)
    finite = (mag >> np.uint64(FP32.man_bits)) != FP32.exp_max_field
    block_max = np.where(finite, mag, np.uint64(0)).max(1)
    t = np.asarray(fp.mul(np.full_like(block_max, int(theta)), block_max, FP32), np.uint64)
    drop = (mag == 0) | (fp.compare(FP32, mag, np.broadcast_to(t[:, None], mag.shape))["lt"] == 1)
    kept = np.where(drop, np.uint64(0), x).reshape(np.shape(bits))
    total = csc.Stats(min(x.size, csc.COUNTER_MAX), min(int(drop.sum()), csc.COUNTER_MAX),
                      int(block_max.max()) if x.size else 0)
    return kept, total


def dts_policy(target):
    """DTS, bit-exact (:func:`sim.spartann.dts.dts_update`), ``theta_1 = +0``."""
    t = target_bits(target)
    return Policy(lambda g: 0, lambda theta, stats, g: dts_update(theta, t, stats))


def relative_policy(target):
    """DTS's ``"relative"`` variant (beyond the paper): ``theta`` is ``k``, every sample is
    thresholded at ``round(k * max|GI_b|)``, ``k`` follows the bit-exact
    ``dts_update(..., variant="relative")`` (``k_1 = +0``, ``k_2 = 1/100``, clamp 0.5..2)."""
    t = target_bits(target)
    return Policy(lambda g: 0, lambda k, stats, g: dts_update(k, t, stats, "relative"), True)


def gaussian_policy(target):
    """``|mu| + z sigma`` of the previous iteration's dense ``GI`` (float64 statistics)."""
    z = gaussian_z(target)

    def update(theta, stats, g):
        v = fp.to_float64(FP32, g)
        return float_to_bits(abs(v.mean()) + z * v.std())

    return Policy(lambda g: 0, update)


def static_policy(target):
    """The ``s*``-quantile of ``|GI_1|``, for every iteration."""
    start = lambda g: float_to_bits(np.quantile(np.abs(fp.to_float64(FP32, g)), target))
    return Policy(start, lambda theta, stats, g: theta)


def none_policy(target=None):
    """No sparsification (``theta = +0`` throughout): the dense reference run."""
    return Policy(lambda g: 0, lambda theta, stats, g: 0)


POLICIES = {"DTS": dts_policy, "Gaussian": gaussian_policy, "static": static_policy}
#: Beyond the paper (default off): the relative variant of DTS.
VARIANT_POLICIES = {"DTS relative": relative_policy}


class Trace(NamedTuple):
    """One training run: ``thetas[i]`` (FP32 bits) was applied to ``GI`` of iteration ``i``
    and gave ``stats[i]``; ``sparsity[i] = zeros / elements``; ``losses[i]`` the batch loss;
    ``gi`` / ``go`` the dense FP32 bit arrays per iteration when kept; ``go_density[i]`` /
    ``go1_density[i]`` the fraction of non-zero elements of conv2's ``GO`` and of conv1's
    ``GO`` (``GI~`` through conv1's ReLU): the operand densities SparTANN's BP / WU see."""
    thetas: list
    stats: list
    sparsity: np.ndarray
    losses: np.ndarray
    accuracy: float
    gi: list
    go: list
    go_density: np.ndarray
    go1_density: np.ndarray


def train(policy, iterations=120, batch=32, lr=0.01, momentum=0.9, seed=0, keep=False):
    """Train ``iterations`` mini-batches (drawn without replacement, epoch by epoch) with
    ``policy`` (a :class:`Policy`) thresholding conv2's ``GI``; ``accuracy`` is on the whole
    data set after training. Deterministic for a seed."""
    x, y = load_digits(seed)
    params = init_params(seed)
    velocity = {k: np.zeros_like(v) for k, v in params.items()}
    rng = np.random.default_rng(seed + 1)
    order, pos = rng.permutation(len(y)), 0
    thetas, stats, losses, gis, gos, dens, dens1 = [], [], [], [], [], [], []
    theta = None
    for i in range(iterations):
        if pos + batch > len(y):
            order, pos = rng.permutation(len(y)), 0
        idx = order[pos:pos + batch]
        pos += batch
        seen = {}

        def threshold(gi):
            nonlocal theta
            bits = gi.view(np.uint32)
            if theta is None:
                theta = int(policy.start(bits))
            seen["bits"] = bits.copy()
            kept, seen["stats"] = sparsify(bits, theta, policy.relative)
            return kept.astype(np.uint32).view(np.float32).reshape(gi.shape)

        record = {}
        loss, grads, go, gi = forward_backward(params, x[idx], y[idx], threshold, record)
        dens.append(float(np.count_nonzero(go)) / go.size)
        dens1.append(float(np.count_nonzero(record["go1"])) / record["go1"].size)
        thetas.append(theta)
        stats.append(seen["stats"])
        losses.append(loss)
        if keep:
            gis.append(seen["bits"])
            gos.append(go.view(np.uint32).copy())
        theta = int(policy.update(theta, seen["stats"], seen["bits"]))
        for k in params:
            velocity[k] = (momentum * velocity[k] + grads[k]).astype(np.float32)
            params[k] = (params[k] - np.float32(lr) * velocity[k]).astype(np.float32)
    z2 = conv2d(np.maximum(conv2d(x, params["w1"], params["b1"]), 0), params["w2"], params["b2"])
    logits = np.maximum(z2, 0).reshape(len(x), -1) @ params["w3"].T + params["b3"]
    sparsity = np.array([s.zeros / s.elements for s in stats])
    return Trace(thetas, stats, sparsity, np.array(losses), float(np.mean(logits.argmax(1) == y)),
                 gis, gos, np.array(dens), np.array(dens1))


def clamp_binds(trace, target, variant="paper"):
    """Per update ``i -> i + 1`` (theta_i non-zero): +1 where ``q = s* N / Z`` exceeds the
    upper clamp bound (+20%), -1 where it is under the lower one (-20%), 0 otherwise (``q`` in
    float64; bounds of ``variant``)."""
    hi, lo, out = bits_to_float(VARIANTS[variant][0]), bits_to_float(VARIANTS[variant][1]), []
    for theta, s in zip(trace.thetas[:-1], trace.stats[:-1]):
        if theta & 0x7FFFFFFF == 0:
            out.append(0)
            continue
        q = target * s.elements / s.zeros if s.zeros else np.inf
        out.append(1 if q > hi else (-1 if q < lo else 0))
    return np.array(out)


def warm_up(trace, variant="paper"):
    """The warm-up rule for real gradients: the iterations whose threshold is ``theta_1 = +0``,
    ``theta_2 = max|GI_1|/100`` or a step of the initial +20% climb (every update clamped at
    +20% from update 2 on; x2 for the relative variant). Errors count from the first iteration
    whose threshold came out of an update that was not clamped (0-based index returned)."""
    hi = VARIANTS[variant][0]
    climb = lambda theta: int(np.asarray(fp.mul(theta, hi, FP32)).reshape(-1)[0])
    i = 1
    while i + 1 < len(trace.thetas) and trace.thetas[i + 1] == climb(trace.thetas[i]):
        i += 1
    return min(i + 1, len(trace.thetas))
