"""Float64 reference of a convolution layer and its gradients (NCHW, square kernel).

``IA[b, z, ih, iw]``, ``W[m, z, kh, kw]``, ``GO[b, m, oh, ow]``, stride ``s``, zero padding
``p``: output pixel ``(oh, ow)`` reads input pixel ``(oh*s + kh - p, ow*s + kw - p)``;
taps that fall in the padding contribute nothing (they are left out, not multiplied by 0,
so an inf never meets a padding zero).  ``OH = (IH + 2p - k) // s + 1``.

* :func:`conv_fwd`  ``O[b, m, oh, ow]  = sum_{z,kh,kw} IA * W``
* :func:`conv_bp`   ``GI[b, z, ih, iw] = sum_{m,kh,kw}  GO * W``  (adjoint of ``conv_fwd`` in IA)
* :func:`conv_wu`   ``GW[m, z, kh, kw] = sum_{b,oh,ow}  GO * IA`` (adjoint of ``conv_fwd`` in W)
"""

import numpy as np

__all__ = ["out_size", "taps", "conv_fwd", "conv_bp", "conv_wu"]


def out_size(n, k, stride, pad):
    """Output extent of an input extent ``n``."""
    return (n + 2 * pad - k) // stride + 1


def _range(n_in, n_out, kk, stride, pad):
    """Output indices ``o`` whose input ``o*stride + kk - pad`` is inside ``[0, n_in)``:
    ``(output slice, input slice)``."""
    lo = max(0, -((kk - pad) // stride))            # ceil((pad - kk) / stride)
    hi = min(n_out - 1, (n_in - 1 + pad - kk) // stride)
    if hi < lo:
        return None
    first = lo * stride + kk - pad
    return slice(lo, hi + 1), slice(first, first + (hi - lo) * stride + 1, stride)


def taps(in_hw, k, stride, pad):
    """For each kernel tap ``(kh, kw)`` with at least one valid output pixel:
    ``(kh, kw, (oh slice, ow slice), (ih slice, iw slice))``."""
    ih, iw = in_hw
    oh, ow = out_size(ih, k, stride, pad), out_size(iw, k, stride, pad)
    if oh < 1 or ow < 1:
        raise ValueError(f"input {ih}x{iw} is smaller than the kernel {k} (pad {pad})")
    for kh in range(k):
        for kw in range(k):
            rh, rw = _range(ih, oh, kh, stride, pad), _range(iw, ow, kw, stride, pad)
            if rh is not None and rw is not None:
                yield kh, kw, (rh[0], rw[0]), (rh[1], rw[1])


def conv_fwd(IA, W, stride=1, pad=0):
    """Forward convolution: ``O[b, m, oh, ow]``."""
    IA, W = np.asarray(IA, dtype=np.float64), np.asarray(W, dtype=np.float64)
    k, (ih, iw) = W.shape[2], IA.shape[2:]
    out = np.zeros((IA.shape[0], W.shape[0], out_size(ih, k, stride, pad),
                    out_size(iw, k, stride, pad)))
    for kh, kw, (so_h, so_w), (si_h, si_w) in taps((ih, iw), k, stride, pad):
        out[:, :, so_h, so_w] += np.einsum("bzhw,mz->bmhw", IA[:, :, si_h, si_w],
                                           W[:, :, kh, kw])
    return out


def conv_bp(GO, W, stride, pad, in_hw):
    """Input gradient ``GI[b, z, ih, iw]`` of input size ``in_hw = (IH, IW)``."""
    GO, W = np.asarray(GO, dtype=np.float64), np.asarray(W, dtype=np.float64)
    k = W.shape[2]
    expect = (out_size(in_hw[0], k, stride, pad), out_size(in_hw[1], k, stride, pad))
    if GO.shape[2:] != expect:
        raise ValueError(f"GO spatial shape {GO.shape[2:]} does not match input {in_hw} "
                         f"(expected {expect})")
    gi = np.zeros((GO.shape[0], W.shape[1], *in_hw))
    for kh, kw, (so_h, so_w), (si_h, si_w) in taps(in_hw, k, stride, pad):
        gi[:, :, si_h, si_w] += np.einsum("bmhw,mz->bzhw", GO[:, :, so_h, so_w],
                                          W[:, :, kh, kw])
    return gi


def conv_wu(GO, IA, stride, pad, k):
    """Weight gradient ``GW[m, z, kh, kw]`` of a ``k x k`` kernel."""
    GO, IA = np.asarray(GO, dtype=np.float64), np.asarray(IA, dtype=np.float64)
    gw = np.zeros((GO.shape[1], IA.shape[1], k, k))
    for kh, kw, (so_h, so_w), (si_h, si_w) in taps(IA.shape[2:], k, stride, pad):
        gw[:, :, kh, kw] = np.einsum("bmhw,bzhw->mz", GO[:, :, so_h, so_w],
                                     IA[:, :, si_h, si_w])
    return gw
