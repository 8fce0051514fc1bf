"""Golden BDWP training (CEST Algorithm 1) of a 2-layer MLP on scikit-learn digits.

Network: ``x (64) -> fc1 -> ReLU -> fc2 -> 10 logits``, no biases; ``W[out, in]`` per layer.
Weights live as FP32 master copies with FP32 momenta (WUVE) and an FP16 copy for the array.
One step on a mini-batch ``X (B, 64)`` (all GEMMs as the STCE array computes them: FP16 x FP16
products, FP32 chain accumulation in array order, :func:`sim.sat.stce.gemm_chain`; weights
in the compressed N:M operand format of :mod:`sim.sat.driver`)::

    fwd1  Y1 = X  * W1~^T         W1~: W1 pruned N:M along input channels (forward set)
    host  H  = fp16(relu(Y1))
    fwd2  Z  = H  * W2~^T
    host  dZ = fp16(S/B * (softmax(Z) - onehot))      S: static loss scale
    bwd2  dH = dZ * W2^~          W2^~: W2 pruned N:M along output channels (backward set)
    host  dY1 = fp16(dH where Y1 > 0 else +0)
    wg2   G2 = dZ^T * H           dense
    wg1   G1 = dY1^T * X          dense
    WUVE  (w, v, w16) = sgd_step(fp16(G), w, v, lr/S, mu, wd*S)   (torch order)
    OSRE  forward/backward N:M sets of the new FP16 weights for the next step

``fc1`` has no backward-data GEMM (nothing upstream needs the input gradient), so only its
forward set is pruned. The step is written once, as a generator (:func:`step_schedule`) that
yields each GEMM and receives its result, so the same host code runs with the golden GEMM here
and with the RTL array in ``sim/sat/tb_bdwp.py``. ``N = M`` is dense training on the same path.
"""

from dataclasses import dataclass, field, replace

import numpy as np

from hw.fp.format import FP16, FP32
from sim.fp import golden as fp
from sim.sat.stce import gemm_chain
from sim.sat.osre import nm_prune
from sim.sat.wuve import first_step_v, sgd_step

__all__ = ["Config", "Operand", "GemmJob", "State", "load_data", "init_state", "prune_state",
           "forward_operand", "backward_operand", "dense_operand", "pad_cols", "to_fp16",
           "relu", "relu_grad", "xent_grad", "step_schedule", "drive", "golden_gemm",
           "wuve_step", "train_step", "predict", "accuracy", "train", "train_numpy_f32",
           "batches", "gemm_error_ratio", "LAYERS", "CLASSES", "FEATURES"]

FEATURES, CLASSES = 64, 10
LAYERS = ("fc1", "fc2")


@dataclass(frozen=True)
class Config:
    """Training hyper-parameters. ``m`` is also the array's activation-bus width (group)."""
    n: int = 2
    m: int = 8
    hidden: int = 64
    batch: int = 32
    lr: float = 0.05
    mu: float = 0.9
    wd: float = 5e-4
    loss_scale: float = 64.0       # power of two: scaling is exact, lr/S and wd*S undo it
    seed: int = 0

    def __post_init__(self):
        if not 1 <= self.n <= self.m:
            raise ValueError(f"n must be in [1, m = {self.m}], not {self.n!r}")
        for name in ("hidden", "batch"):
            if getattr(self, name) % self.m:
                raise ValueError(f"{name} must be a multiple of m = {self.m}, "
                                 f"not {getattr(self, name)!r}")
        if self.loss_scale <= 0 or np.log2(self.loss_scale) % 1:
            raise ValueError(f"loss_scale must be a power of two, not {self.loss_scale!r}")


# -- data ------------------------------------------------------------------------------------
def load_data(test_fraction=0.2, seed=0):
    """Digits (1797 8x8 images), a fixed shuffled split, standardized with the training
    mean/std (constant pixels: std 1). Returns float32 ``x_train, y_train, x_test, y_test``."""
    from sklearn.datasets import load_digits
    digits = load_digits()
    x, y = digits.data.astype(np.float64), digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(len(y) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    mean, std = x[train].mean(0), x[train].std(0)
    std[std == 0] = 1.0
    x = ((x - mean) / std).astype(np.float32)
    return x[train], y[train], x[test], y[test]


def to_fp16(x):
    """float32 values or FP32 bit patterns (uint) -> FP16 bits, RNE (the WUVE converter)."""
    x = np.asarray(x)
    bits = x.view(np.uint32) if x.dtype == np.float32 else x
    return fp.convert(bits.astype(np.uint64), FP32, FP16)


def _f32(bits):
    return np.asarray(bits, dtype=np.uint64).astype(np.uint32).view(np.float32)


# -- GEMM operands ---------------------------------------------------------------------------
@dataclass
class Operand:
    """A weight operand in the array's compressed form: row ``k`` of ``values``/``indices``
    (Kc, C) multiplies activation ``(k // n) * group + index``; ``k_len`` is the (padded)
    reduction length the activations are padded to with +0."""
    values: np.ndarray
    indices: np.ndarray
    n: int
    group: int
    k_len: int

    @classmethod
    def from_groups(cls, values, indices, m):
        """From :func:`nm_prune`'s ``(rows, groups, n)`` arrays (rows = output columns)."""
        rows, groups, n = values.shape
        flat = lambda a: np.ascontiguousarray(np.asarray(a).reshape(rows, groups * n).T)
        return cls(flat(values).astype(np.uint64), flat(indices).astype(np.uint64), n, m,
                   groups * m)

    def dense(self):
        """The (k_len, C) FP16 matrix this operand stands for (pruned entries +0)."""
        kc, cols = self.values.shape
        out = np.zeros((self.k_len, cols), np.uint64)
        src = (np.arange(kc)[:, None] // self.n) * self.group + self.indices.astype(np.int64)
        np.put_along_axis(out, src, self.values, axis=0)
        return out


def forward_operand(w16, n, m):
    """Forward set of ``W[out, in]``: N:M along the input channels; operand (K=in, C=out)."""
    _, values, indices = nm_prune(w16, n, m, 1, FP16, pad=True)
    return Operand.from_groups(values, indices, m)


def backward_operand(w16, n, m):
    """Backward set: N:M along the output channels; operand of ``W`` itself (K=out, C=in)."""
    _, values, indices = nm_prune(w16, n, m, 0, FP16, pad=True)
    return Operand.from_groups(values, indices, m)


def dense_operand(a16, group):
    """A dense (K, C) FP16 matrix as the array reads it: N = M = ``group``, index k mod M."""
    k = a16.shape[0]
    if k % group:
        raise ValueError(f"dense K={k} must be a multiple of the group {group}")
    indices = np.tile((np.arange(k) % group)[:, None], (1, a16.shape[1])).astype(np.uint64)
    return Operand(np.asarray(a16, np.uint64), indices, group, group, k)


def pad_cols(x, k_len):
    """Activations (T, K) padded with +0 columns to ``k_len``."""
    x = np.asarray(x, np.uint64)
    return np.concatenate([x, np.zeros((x.shape[0], k_len - x.shape[1]), np.uint64)], 1)


def golden_gemm(x, op):
    """``x (T, K) * op`` on the golden array: FP32 bits (T, C)."""
    return gemm_chain(pad_cols(x, op.k_len), op.values, op.indices, op.group, FP16, FP32)


# -- host operations (float32, see docs/sat_bdwp.md) -----------------------------------------
def relu(y_bits):
    """FP32 ReLU: ``y if y > 0 else +0`` (exact; -0 and NaN give +0)."""
    y = _f32(y_bits)
    return np.where(y > 0, y, np.float32(0))


def relu_grad(y_bits, d_bits):
    """ReLU backward: ``d if y > 0 else +0`` (exact)."""
    return np.where(_f32(y_bits) > 0, _f32(d_bits), np.float32(0))


def xent_grad(z_bits, labels, loss_scale):
    """``S/B * (softmax(z) - onehot)`` in float32: ``z - max`` (exact), exp in float64 rounded
    to float32, a left-to-right float32 sum over the classes, one float32 division, the
    subtraction and the exact power-of-two scale. Returns float32 (B, classes)."""
    z = _f32(z_bits)
    e = np.exp((z - z.max(axis=1, keepdims=True)).astype(np.float64)).astype(np.float32)
    total = e[:, 0].copy()
    for j in range(1, e.shape[1]):
        total = total + e[:, j]
    p = e / total[:, None]
    p[np.arange(len(labels)), labels] -= np.float32(1)
    return p * np.float32(loss_scale / len(labels))


# -- one step --------------------------------------------------------------------------------
@dataclass
class GemmJob:
    name: str
    x: np.ndarray         # FP16 bits (T, K), unpadded
    op: Operand


def step_schedule(ops, x16, labels, cfg):
    """Generator of one step's forward/backward pass: yields each :class:`GemmJob`, receives
    its FP32 result (T, C), and returns the host intermediates and the FP16 gradients."""
    y1 = yield GemmJob("fwd1", x16, ops["fc1.fwd"])
    h16 = to_fp16(relu(y1))
    z = yield GemmJob("fwd2", h16, ops["fc2.fwd"])
    dz16 = to_fp16(xent_grad(z, labels, cfg.loss_scale))
    dh = yield GemmJob("bwd2", dz16, ops["fc2.bwd"])
    dy1 = to_fp16(relu_grad(y1, dh))
    g2 = yield GemmJob("wg2", np.ascontiguousarray(dz16.T), dense_operand(h16, cfg.m))
    g1 = yield GemmJob("wg1", np.ascontiguousarray(dy1.T), dense_operand(x16, cfg.m))
    return {"h16": h16, "dz16": dz16, "dy1_16": dy1,
            "g16": {"fc1": to_fp16(g1), "fc2": to_fp16(g2)}}


def drive(schedule, gemm):
    """Run a :func:`step_schedule` with a synchronous ``gemm(x, op)``. Returns
    ``(host, gemms)``, ``gemms[name] = (job, result)``."""
    gemms, result = {}, None
    try:
        while True:
            job = schedule.send(result)
            result = gemm(job.x, job.op)
            gemms[job.name] = (job, result)
    except StopIteration as stop:
        return stop.value, gemms


@dataclass
class State:
    """FP32 master weights and momenta, FP16 copies and the operands pruned from them."""
    w32: dict
    v32: dict
    w16: dict
    ops: dict = field(default_factory=dict)
    step: int = 0


def prune_state(state, cfg):
    """OSRE: the sparse sets of the FP16 weights (``fc1.fwd``, ``fc2.fwd``, ``fc2.bwd``)."""
    ops = {"fc1.fwd": forward_operand(state.w16["fc1"], cfg.n, cfg.m),
           "fc2.fwd": forward_operand(state.w16["fc2"], cfg.n, cfg.m),
           "fc2.bwd": backward_operand(state.w16["fc2"], cfg.n, cfg.m)}
    return replace(state, ops=ops)


def init_state(cfg):
    """torch ``nn.Linear``-style init U(-1/sqrt(in), 1/sqrt(in)) in float32, momenta -0 (so
    the first WUVE step sets ``v = d`` as torch does), FP16 copies, pruned sets."""
    rng = np.random.default_rng(cfg.seed)
    w32, v32, w16 = {}, {}, {}
    for name, shape in zip(LAYERS, [(cfg.hidden, FEATURES), (CLASSES, cfg.hidden)]):
        bound = 1 / np.sqrt(shape[1])
        w = rng.uniform(-bound, bound, shape).astype(np.float32)
        w32[name] = w.view(np.uint32).astype(np.uint64)
        v32[name] = np.full(shape, first_step_v(), np.uint64)
        w16[name] = to_fp16(w32[name])
    return prune_state(State(w32, v32, w16), cfg)


def wuve_step(g16, w32, v32, cfg):
    """WUVE on every element: ``lr/S`` and ``wd*S`` undo the loss scale exactly."""
    return sgd_step(g16, w32, v32, cfg.lr / cfg.loss_scale, cfg.mu, cfg.wd * cfg.loss_scale)


def train_step(state, x16, labels, cfg, gemm=golden_gemm):
    """One BDWP step. Returns ``(new_state, record)``; the record holds every GEMM (job and
    result), the host intermediates and the WUVE outputs."""
    host, gemms = drive(step_schedule(state.ops, x16, labels, cfg), gemm)
    w32, v32, w16 = {}, {}, {}
    for name in LAYERS:
        w32[name], v32[name], w16[name] = wuve_step(host["g16"][name], state.w32[name],
                                                    state.v32[name], cfg)
    new = prune_state(State(w32, v32, w16, step=state.step + 1), cfg)
    return new, {"host": host, "gemms": gemms}


# -- evaluation and training -----------------------------------------------------------------
def predict(state, x16, gemm=golden_gemm):
    """Class predictions with the deployed (forward N:M) weights on the golden array."""
    h16 = to_fp16(relu(gemm(x16, state.ops["fc1.fwd"])))
    return np.argmax(_f32(gemm(h16, state.ops["fc2.fwd"])), axis=1)


def accuracy(state, x16, labels):
    return float(np.mean(predict(state, x16) == labels))


def batches(count, batch, seed):
    """Index arrays of ``batch`` samples: a fresh permutation per epoch, last partial dropped."""
    rng = np.random.default_rng(seed + 1)
    while True:
        order = rng.permutation(count)
        for b in range(count // batch):
            yield order[b * batch:(b + 1) * batch]


def train(cfg, steps, data=None, eval_every=0, log=None):
    """Golden BDWP training for ``steps`` steps. Returns a dict with the final test and
    training accuracy, the accuracy curve (every ``eval_every`` steps) and the state."""
    x_tr, y_tr, x_te, y_te = data if data is not None else load_data()
    x_tr16, x_te16 = to_fp16(x_tr), to_fp16(x_te)
    state, curve = init_state(cfg), []
    for step, idx in zip(range(steps), batches(len(y_tr), cfg.batch, cfg.seed)):
        state, _ = train_step(state, x_tr16[idx], y_tr[idx], cfg)
        if eval_every and (step + 1) % eval_every == 0:
            curve.append((step + 1, accuracy(state, x_te16, y_te)))
            if log:
                log(f"{cfg.n}:{cfg.m} step {step + 1}: test accuracy {curve[-1][1]:.4f}")
    return {"test_acc": accuracy(state, x_te16, y_te), "train_acc": accuracy(state, x_tr16, y_tr),
            "curve": curve, "state": state}


def _topk_mask(w, n, m, axis):
    """float32 reference of BDWP's mask: top-n |w| per group of m along ``axis`` (lower
    index wins ties), groups padded with zeros."""
    rows = w if axis == 1 else w.T
    pad = -rows.shape[1] % m
    a = np.abs(np.concatenate([rows, np.zeros((rows.shape[0], pad), w.dtype)], 1))
    a = a.reshape(rows.shape[0], -1, m)
    keep = np.argsort(-a, axis=-1, kind="stable")[..., :n]
    mask = np.zeros(a.shape, bool)
    np.put_along_axis(mask, keep, True, axis=-1)
    mask = mask.reshape(rows.shape[0], -1)[:, :rows.shape[1]]
    return mask if axis == 1 else mask.T


def train_numpy_f32(cfg, steps, data=None):
    """Reference: the same network, init, batches and BDWP masks in plain float32 numpy
    (BLAS matmuls, mean loss, torch-order momentum SGD). Returns the final test accuracy."""
    x_tr, y_tr, x_te, y_te = data if data is not None else load_data()
    state = init_state(cfg)
    w = {k: _f32(state.w32[k]).copy() for k in LAYERS}
    v = {k: np.zeros_like(w[k]) for k in LAYERS}
    lr, mu, wd = (np.float32(a) for a in (cfg.lr, cfg.mu, cfg.wd))

    for step, idx in zip(range(steps), batches(len(y_tr), cfg.batch, cfg.seed)):
        w1 = w["fc1"] * _topk_mask(w["fc1"], cfg.n, cfg.m, 1)
        w2f = w["fc2"] * _topk_mask(w["fc2"], cfg.n, cfg.m, 1)
        w2b = w["fc2"] * _topk_mask(w["fc2"], cfg.n, cfg.m, 0)
        x = x_tr[idx]
        y1 = x @ w1.T
        h = np.maximum(y1, 0)
        z = h @ w2f.T
        e = np.exp(z - z.max(1, keepdims=True))
        dz = e / e.sum(1, keepdims=True)
        dz[np.arange(len(idx)), y_tr[idx]] -= 1
        dz /= np.float32(len(idx))
        dy1 = np.where(y1 > 0, dz @ w2b, 0).astype(np.float32)
        grads = {"fc1": dy1.T @ x, "fc2": dz.T @ h}
        for k in LAYERS:
            d = grads[k] + wd * w[k]
            v[k] = d if step == 0 else mu * v[k] + d
            w[k] = w[k] - lr * v[k]
    w1 = w["fc1"] * _topk_mask(w["fc1"], cfg.n, cfg.m, 1)
    w2 = w["fc2"] * _topk_mask(w["fc2"], cfg.n, cfg.m, 1)
    logits = np.maximum(x_te @ w1.T, 0) @ w2.T
    return float(np.mean(np.argmax(logits, 1) == y_te))


def gemm_error_ratio(job, result):
    """Largest ``|y - y64| / bound`` of a GEMM result against float64 on the same FP16
    operands, ``bound = K * eps32 * (|X| @ |W|) + K * 2**-149`` (the chain's rounding);
    <= 1 passes."""
    x = fp.to_float64(FP16, pad_cols(job.x, job.op.k_len))
    w = fp.to_float64(FP16, job.op.dense())
    k = job.op.values.shape[0]
    bound = k * np.finfo(np.float32).eps * (np.abs(x) @ np.abs(w)) + k * 2.0 ** -149
    return float(np.max(np.abs(fp.to_float64(FP32, result) - x @ w) / bound))
