"""Host driver of a SparTANN core: splits the BP / WU of a conv layer into core programs.

A plan's ``program`` (commands of :mod:`sim.spartann.model`) runs on one core;
``assemble`` turns the drained rows back into ``GI (B, Z, H, W)`` or ``GW (M, Z, K, K)``
bit patterns.  Loop order, tiling and the resulting accumulation order of every element
are documented in docs/spartann/driver.md::

    BP: for z-tile: for GI-pixel tile (out_rows): for (kh, kw): for m-tile: jobs; DRAIN_OUT
    WU: LOAD_B zeros; for z-tile: for m-tile: for (kh, kw): for A group (a_rows): jobs;
        DRAIN_B            (A group: a contiguous IA-pixel tile, or the gathered pixels)

GO columns with no kept value are left out; GO pixels whose tap falls in the padding are
left out too (or, with ``skip_padding``, loaded as columns with the skip bit set).

With ``CoreConfig(double=True)`` the plans use the ping-pong halves of Dense Buf A, Dense
Buf B and the Out Buf: every dense load fills the half the runs do not use now, the runs use
the half loaded last, and a drain empties the runs' half and turns them to the other one (WU
starts with both B halves loaded with +0); :func:`sim.spartann.system.plan` then moves each
dense load ahead of the runs it does not disturb. The results are the same bits.
"""

from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np

from hw.params import check_int
from hw.spartann.config import SpartannConfig
from sim.spartann import csc
from sim.spartann.conv import out_size
from sim.spartann.model import CoreModel

__all__ = ["ConvLayer", "CoreConfig", "PlanStats", "Plan", "plan_bp", "plan_wu", "tap_map",
           "auto_m_tile", "A_MODES"]


@dataclass(frozen=True)
class ConvLayer:
    """A conv layer: ``batch`` images, ``m`` output / ``z`` input channels, ``h x w`` input,
    ``k x k`` kernel, ``stride``, zero ``pad``."""
    batch: int
    m: int
    z: int
    h: int
    w: int
    k: int
    stride: int = 1
    pad: int = 0

    def __post_init__(self):
        for name in ("batch", "m", "z", "h", "w", "k", "stride"):
            check_int(name, getattr(self, name), 1)
        check_int("pad", self.pad, 0, self.k - 1)
        if self.oh < 1 or self.ow < 1:
            raise ValueError(f"input {self.h}x{self.w} with pad {self.pad} is smaller than "
                             f"the kernel k = {self.k}")

    oh = property(lambda self: out_size(self.h, self.k, self.stride, self.pad))
    ow = property(lambda self: out_size(self.w, self.k, self.stride, self.pad))
    go_shape = property(lambda self: (self.batch, self.m, self.oh, self.ow))
    w_shape = property(lambda self: (self.m, self.z, self.k, self.k))
    ia_shape = property(lambda self: (self.batch, self.z, self.h, self.w))
    gi_shape = ia_shape
    gw_shape = w_shape


@dataclass(frozen=True)
class CoreConfig:
    """What the plans target: the core's :class:`~hw.spartann.config.SpartannConfig` (its
    ``T``, ``fmt``, ``idx_bits`` and capacities are read through) and two planning choices.

    ``m_tile_rows``: rows per m-tile (default: as many as Dense Buf B and the Sparse Buf
    allow). Smaller m-tiles put more columns into each BP job, which the column contexts need
    to stay busy; they change no result (every element keeps its accumulation order).
    ``contexts``: BP column contexts to plan for; ``True`` takes the core's own
    (``config.contexts``, its ``loop_latency``). When given and ``m_tile_rows`` is not,
    :func:`plan_bp` picks the m-tile with :func:`auto_m_tile`. ``double``: use the ping-pong
    halves of the dense buffers (module doc); ``False`` plans everything on half 0.
    """
    config: SpartannConfig
    m_tile_rows: int = None
    contexts: int = None
    double: bool = False

    def __post_init__(self):
        if not isinstance(self.config, SpartannConfig):
            raise TypeError(f"config must be a SpartannConfig, not {self.config!r}")
        if self.contexts is True:
            object.__setattr__(self, "contexts", self.config.contexts)
        if self.contexts is not None:
            check_int("contexts", self.contexts, 1)
        if self.double not in (True, False):
            raise ValueError(f"double must be True or False, not {self.double!r}")
        if self.m_tile_rows is not None and not 1 <= self.m_tile_rows <= self.m_tile_max:
            raise ValueError(f"m_tile_rows must be in 1..{self.m_tile_max}, "
                             f"not {self.m_tile_rows!r}")

    def core(self):
        """A fresh :class:`CoreModel` of the configuration."""
        return CoreModel(self.config)

    T = property(lambda self: self.config.T)
    fmt = property(lambda self: self.config.fmt)
    format = property(lambda self: self.config.format)
    idx_bits = property(lambda self: self.config.idx_bits)
    sparse_depth = property(lambda self: self.config.sparse_depth)
    a_rows = property(lambda self: self.config.a_rows)
    b_rows = property(lambda self: self.config.b_rows)
    out_rows = property(lambda self: self.config.out_rows)
    max_cols = property(lambda self: self.config.max_cols)

    @property
    def m_tile_max(self):
        """Most rows an m-tile can have: a whole column fits Dense Buf B and the Sparse Buf."""
        return min(self.b_rows, self.sparse_depth)

    @property
    def m_tile(self):
        """Rows of an m-tile."""
        return self.m_tile_rows or self.m_tile_max


class PlanStats(NamedTuple):
    """What a plan loads and drains.  ``*_words`` count datapath words (rows x T, padding
    lanes included); ``entries`` Sparse Buf entries, ``col_descriptors`` column-table
    entries (address + skip bit); ``updates`` are T-lane ``alpha*x+y`` operations."""
    jobs: int = 0
    a_loads: int = 0
    a_words: int = 0
    b_loads: int = 0
    b_words: int = 0
    entries: int = 0
    col_descriptors: int = 0
    drains: int = 0
    drained_words: int = 0
    updates: int = 0
    fillers: int = 0
    skipped_columns: int = 0
    empty_columns: int = 0       # GO columns left out (no kept value)
    pad_elements: int = 0        # drained padding-lane elements (Z % T != 0), all +0,
                                 # left out of the statistics (SET_PAD_LANES)


class Plan:
    """A core ``program``, its ``stats`` and the map from drains back to the tensor."""

    def __init__(self, phase, layer, cfg):
        self.phase, self.layer, self.cfg = phase, layer, cfg
        self.program = []
        self._drains = []            # per drain: (z0, destination index array)
        self._stats = dict(PlanStats()._asdict())
        self._pad = None             # padding lanes last set on the core (None: not yet)
        self.half = {"a": 0, "b": 0, "out": 0}   # the halves the runs use now (double)
        self.resident = [None, None]             # WU: the A tile key held by each A half

    @property
    def stats(self):
        return PlanStats(**self._stats)

    def _add(self, **counts):
        for key, value in counts.items():
            self._stats[key] += value

    # -- program building ---------------------------------------------------------------
    def _load(self, buf, vectors):
        cmd = {"op": f"load_{buf}", "vectors": vectors}
        if self.cfg.double:          # fill the other half; the runs use it from now on
            self.half[buf] = cmd["half"] = 1 - self.half[buf]
        self.program.append(cmd)
        self._add(**{f"{buf}_loads": 1, f"{buf}_words": vectors.size})

    def _jobs(self, columns):
        """Pack ``[(entries, addr, skip)]`` into jobs that fit the Sparse Buf and column table.
        BP with ``cfg.contexts``: a full job is cut at a multiple of ``contexts`` columns (the
        rest opens the next job), so that no job but the last ends in a part-empty round."""
        cfg, op = self.cfg, f"run_{self.phase}"
        job = []
        rounds = cfg.contexts if self.phase == "bp" and cfg.contexts else 1

        def flush(keep):
            if keep:
                entries = [e for col in job[:keep] for e in col[0]]
                self.program += [{"op": "load_sparse", "entries": entries},
                                 {"op": "load_cols", "addr": [c[1] for c in job[:keep]],
                                  "skip": [c[2] for c in job[:keep]]},
                                 self._run(op)]
                self._add(jobs=1, entries=len(entries), col_descriptors=keep)
                del job[:keep]

        for col in columns:
            while len(job) == cfg.max_cols or \
                    sum(len(c[0]) for c in job) + len(col[0]) > cfg.sparse_depth:
                flush(len(job) // rounds * rounds or len(job))
            job.append(col)
            values = sum(1 for e in col[0] if not e.filler)
            self._add(fillers=len(col[0]) - values, skipped_columns=col[2],
                      updates=0 if col[2] else values)
        flush(len(job))

    def _run(self, op):
        cmd = {"op": op}
        if self.cfg.double:
            cmd.update({f"{k}_half": h for k, h in self.half.items()})
        return cmd

    def _drain(self, op, count, z0, dest):
        zn = min(self.cfg.T, self.layer.z - z0)
        if op == "drain_out" and self._pad != self.cfg.T - zn:
            # Padding lanes of a partial z-tile stay out of the sparsifier's statistics.
            self._pad = self.cfg.T - zn
            self.program.append({"op": "set_pad_lanes", "count": self._pad})
        cmd = {"op": op, "count": count}
        if self.cfg.double:          # empty the runs' half; they turn to the other one
            buf = "out" if op == "drain_out" else "b"
            cmd["half"], self.half[buf] = self.half[buf], 1 - self.half[buf]
        self.program.append(cmd)
        self._drains.append((z0, dest))
        self._add(drains=1, drained_words=count * self.cfg.T,
                  pad_elements=count * (self.cfg.T - zn))

    # -- results ------------------------------------------------------------------------
    def assemble(self, drained):
        """``GI (B, Z, H, W)`` (BP) or ``GW (M, Z, K, K)`` (WU) bit patterns from the drained
        arrays, in program order; elements no drain covers are +0."""
        if len(drained) != len(self._drains):
            raise ValueError(f"{len(drained)} drained arrays, the plan has {len(self._drains)}")
        L, T = self.layer, self.cfg.T
        # Rows of `flat` are GI pixels (b, ih, iw) in BP, GW rows (m, kh, kw) in WU.
        flat = np.zeros((L.batch * L.h * L.w if self.phase == "bp" else L.m * L.k * L.k, L.z),
                        dtype=np.uint64)
        for (z0, dest), rows in zip(self._drains, drained):
            rows = np.asarray(rows, dtype=np.uint64)
            if rows.shape != (len(dest), T):
                raise ValueError(f"drained shape {rows.shape}, expected {(len(dest), T)}")
            zn = min(T, L.z - z0)
            flat[dest, z0:z0 + zn] = rows[:, :zn]
        if self.phase == "bp":
            return flat.reshape(L.batch, L.h, L.w, L.z).transpose(0, 3, 1, 2).copy()
        return flat.reshape(L.m, L.k, L.k, L.z).transpose(0, 3, 1, 2).copy()

    def run(self, core=None):
        """Execute the program on ``core`` (default: a fresh one) and assemble the result."""
        core = self.cfg.core() if core is None else core
        return self.assemble(core.execute(self.program))


def tap_map(layer):
    """``r[kh, kw, g]``: flat input pixel ``(b*H + ih)*W + iw`` read by flat GO pixel
    ``g = (b*OH + oh)*OW + ow`` through tap ``(kh, kw)``, or -1 where it is in the padding."""
    L = layer
    b, oh, ow = np.meshgrid(np.arange(L.batch), np.arange(L.oh), np.arange(L.ow), indexing="ij")
    r = np.full((L.k, L.k, b.size), -1, dtype=np.int64)
    for kh in range(L.k):
        for kw in range(L.k):
            ih, iw = oh * L.stride + kh - L.pad, ow * L.stride + kw - L.pad
            ok = (ih >= 0) & (ih < L.h) & (iw >= 0) & (iw < L.w)
            r[kh, kw] = np.where(ok, (b * L.h + ih) * L.w + iw, -1).ravel()
    return r


def _bits(name, x, shape, fmt):
    x = np.asarray(x)
    if x.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, not {x.shape}")
    if not np.issubdtype(x.dtype, np.integer):
        raise ValueError(f"{name} must hold integer bit patterns, not {x.dtype}")
    x = x.astype(np.uint64)
    if (x >> np.uint64(fmt.width)).any():
        raise ValueError(f"{name} holds values wider than {fmt.width} bits")
    return x


def _encode_go(go, layer, cfg, fmt):
    """CSC entries (drop only +-0) per (m-tile, flat GO pixel); ``None`` for an empty column."""
    mt = cfg.m_tile
    cols = go.transpose(1, 0, 2, 3).reshape(layer.m, -1)       # (M, pixels)
    keep = ~csc.drop_mask(cols, 0, fmt)
    out = []
    for m0 in range(0, layer.m, mt):
        tile = []
        for g in range(cols.shape[1]):
            if keep[m0:m0 + mt, g].any():
                tile.append(csc.encode_column(cols[m0:m0 + mt, g], cfg.idx_bits, 0, fmt))
            else:
                tile.append(None)
        out.append(tile)
    return out


def _lanes(x, T):
    """``x`` (rows, zn) padded with +0 lanes to (rows, T)."""
    out = np.zeros((x.shape[0], T), dtype=np.uint64)
    out[:, :x.shape[1]] = x
    return out


def _padding_columns(enc, r_tap):
    """Skipped columns for the nonempty GO pixels whose tap falls in the padding."""
    return [(enc[g], 0, 1) for g in np.flatnonzero(r_tap < 0) if enc[g] is not None]


#: Columns per BP job that :func:`auto_m_tile` aims at, per context (a job of ``n`` equal
#: columns takes ``ceil(n / contexts)`` rounds).
COLUMNS_PER_CONTEXT = 2


def auto_m_tile(layer, go_bits, cfg):
    """Rows per m-tile so that a BP job holds at least ``cfg.contexts`` columns: with ``d`` the
    fraction of GO elements that are not +-0, a column of ``mt`` rows holds about
    ``max(1, d * mt)`` entries, and ``contexts`` of them must fit the Sparse Buf. The tiles
    are then balanced (``ceil(M / tiles)`` rows). Result-neutral: every GI element keeps its
    accumulation order. ``cfg.m_tile_max`` without ``cfg.contexts``."""
    fmt = cfg.format
    if cfg.contexts is None:
        return cfg.m_tile_max
    go = _bits("go_bits", go_bits, layer.go_shape, fmt)
    density = float((~csc.drop_mask(go, 0, fmt)).mean()) if go.size else 0.0
    per_column = cfg.sparse_depth / (COLUMNS_PER_CONTEXT * cfg.contexts)
    mt = cfg.m_tile_max if density == 0 else int(per_column / density)
    mt = max(1, min(cfg.m_tile_max, mt, layer.m))
    tiles = -(-layer.m // mt)
    return -(-layer.m // tiles)


def plan_bp(layer, go_bits, w_bits, cfg, theta_bits=None, *, skip_padding=False):
    """Plan the input gradient ``GI = BP(GO, W)``; ``theta_bits`` (if given) is set before
    the first drain, so GI leaves the Out Buf thresholded with it (statistics accumulate)."""
    fmt = cfg.format
    go = _bits("go_bits", go_bits, layer.go_shape, fmt)
    w = _bits("w_bits", w_bits, layer.w_shape, fmt)
    if cfg.contexts is not None and cfg.m_tile_rows is None:
        cfg = replace(cfg, m_tile_rows=auto_m_tile(layer, go, cfg))
    L, T, plan = layer, cfg.T, Plan("bp", layer, cfg)
    if theta_bits is not None:
        plan.program.append({"op": "set_theta", "bits": int(theta_bits)})
    enc, r, mt = _encode_go(go, L, cfg, fmt), tap_map(L), cfg.m_tile
    pixels = L.batch * L.h * L.w
    # g_of[kh, kw, q]: the GO pixel feeding GI pixel q through (kh, kw), or -1.
    g_of = np.full((L.k, L.k, pixels), -1, dtype=np.int64)
    for kh in range(L.k):
        for kw in range(L.k):
            valid = np.flatnonzero(r[kh, kw] >= 0)
            g_of[kh, kw, r[kh, kw, valid]] = valid
    for z0 in range(0, L.z, T):
        for t, q0 in enumerate(range(0, pixels, cfg.out_rows)):
            q1 = min(q0 + cfg.out_rows, pixels)
            for kh in range(L.k):
                for kw in range(L.k):
                    for mi, m0 in enumerate(range(0, L.m, mt)):
                        cols = []
                        for q in range(q0, q1):
                            g = g_of[kh, kw, q]
                            if g < 0:
                                continue
                            if enc[mi][g] is None:
                                plan._add(empty_columns=1)
                            else:
                                cols.append((enc[mi][g], q - q0, 0))
                        if skip_padding and t == 0:
                            cols += _padding_columns(enc[mi], r[kh, kw])
                        # Longest columns first (the contexts finish together); BP columns
                        # of a job write distinct rows, so their order changes no result.
                        cols.sort(key=lambda col: -len(col[0]))
                        if cols:
                            plan._load("b", _lanes(w[m0:m0 + mt, z0:z0 + T, kh, kw], T))
                            plan._jobs(cols)
            plan._drain("drain_out", q1 - q0, z0, np.arange(q0, q1))
    return plan


A_MODES = ("tile", "gather")


def _wu_groups(plan, enc_t, r_tap, ia_flat, z0, mode, skip_padding):
    """Job groups of one (z-tile, m-tile, tap): ``(A key, A rows or None, columns)``.

    ``tile``: contiguous IA-pixel tiles of ``a_rows`` (key = (z0, tile start), loaded once
    while resident); ``gather``: the IA pixels of the live columns, ``a_rows`` at a time.
    """
    a_rows, T = plan.cfg.a_rows, plan.cfg.T
    live = []
    for g in np.flatnonzero(r_tap >= 0):                    # GO order = IA order (monotone)
        if enc_t[g] is None:
            plan._add(empty_columns=1)
        else:
            live.append(g)
    groups = []
    if mode == "tile":
        for g in live:
            r0 = int(r_tap[g]) // a_rows * a_rows
            if not groups or groups[-1][0] != (z0, r0):
                rows = ia_flat[r0:r0 + a_rows, z0:z0 + T]
                groups.append(((z0, r0), rows, []))
            groups[-1][2].append((enc_t[g], int(r_tap[g]) - r0, 0))
    else:
        for c0 in range(0, len(live), a_rows):
            chunk = live[c0:c0 + a_rows]
            groups.append((None, ia_flat[r_tap[chunk], z0:z0 + T],
                           [(enc_t[g], i, 0) for i, g in enumerate(chunk)]))
    if skip_padding:
        pad = _padding_columns(enc_t, r_tap)
        if pad:
            if not groups:
                groups.append(("none", None, []))
            groups[0][2].extend(pad)
    return groups


def plan_wu(layer, go_bits, ia_bits, cfg, *, skip_padding=False, a_mode="tile"):
    """Plan the weight gradient ``GW = WU(GO, IA)`` (drained raw from Dense Buf B).

    ``a_mode``: how Dense Buf A is filled, ``"tile"`` (contiguous IA-pixel tiles, reused
    while resident) or ``"gather"`` (only the IA pixels the job's columns read, in column
    order).  Both give the same bits: the accumulation order does not depend on it.
    """
    if a_mode not in A_MODES:
        raise ValueError(f"a_mode must be one of {A_MODES}, not {a_mode!r}")
    fmt = cfg.format
    go = _bits("go_bits", go_bits, layer.go_shape, fmt)
    ia = _bits("ia_bits", ia_bits, layer.ia_shape, fmt)
    L, T, plan = layer, cfg.T, Plan("wu", layer, cfg)
    enc, r, mt = _encode_go(go, L, cfg, fmt), tap_map(L), cfg.m_tile
    ia_flat = ia.transpose(0, 2, 3, 1).reshape(-1, L.z)            # (pixels, Z)
    for _ in range(2 if cfg.double else 1):                        # accumulators start at +0
        plan._load("b", np.zeros((min(mt, L.m), T), dtype=np.uint64))
    resident = None
    for z0 in range(0, L.z, T):
        for mi, m0 in enumerate(range(0, L.m, mt)):
            m1 = min(m0 + mt, L.m)
            for kh in range(L.k):
                for kw in range(L.k):
                    groups = _wu_groups(plan, enc[mi], r[kh, kw], ia_flat, z0, a_mode,
                                        skip_padding)
                    for key, rows, cols in groups:
                        if rows is not None and cfg.double and key is not None \
                                and key in plan.resident:
                            plan.half["a"] = plan.resident.index(key)   # still in a half
                        elif rows is not None and (key is None or key != resident):
                            plan._load("a", _lanes(rows, T))
                            resident = key
                            plan.resident[plan.half["a"]] = key
                        plan._jobs(cols)
                    if groups:
                        dest = (np.arange(m0, m1) * L.k + kh) * L.k + kw
                        plan._drain("drain_b", m1 - m0, z0, dest)
    return plan
