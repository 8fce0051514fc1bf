"""Named SparTANN core configurations and their validation.

``PAPER`` is the paper's instance (Sec. 5.2.1): T = 32 FP32 lanes, 4 KB of sparse values and
1 KB of 6-bit indices (1024 entries), Dense Buf B of M_max = 256 rows, A + B = 68 KB
(A: 288 rows), a 32 KB Out Buf (256 rows), 256 columns per job. ``SMALL`` is a quick
configuration for tests and examples.
"""

from dataclasses import asdict, dataclass, replace

from ..fp.format import parse_format
from ..fp.unit import check_format, check_int

__all__ = ["CoreParams", "PAPER", "SMALL", "PRESETS", "resolve", "LIMITS"]

#: Accepted range of every integer parameter.
LIMITS = {"T": (1, 1024), "idx_bits": (1, 16), "sparse_depth": (1, 1 << 20),
          "b_rows": (1, 1 << 16), "a_rows": (1, 1 << 16), "out_rows": (1, 1 << 16),
          "max_cols": (1, 1 << 16), "mac_latency": (0, 64), "thr_latency": (0, 8), "wu_window": (0, 32)}
#: Widest datapath word: theta travels in the 32-bit command argument.
MAX_WIDTH = 32


@dataclass(frozen=True)
class CoreParams:
    """Every parameter of :class:`hw.spartann.core.SparTANNCore`.

    ``mac_latency``: pipeline stages of the ``alpha*x + y`` lane (the accumulation loop is
    ``mac_latency + 2`` cycles: Sparse Buf read, dense buffer read, lane, write). The default
    8 gives 10 BP contexts; the FP library's stand-alone default (23 stages, for ECP5 Fmax)
    gives 25, and a BP job then needs >= 25 columns in the Sparse Buf to keep every lane busy;
    ``thr_latency``: stages of the threshold lanes on the drain path; ``wu_window``: decoded
    WU entries that wait while entries of other rows overtake them (the issue window of
    hw/spartann/engine.py; 0 = in-order issue; 4 keeps low-density WU jobs above 95% MAC-slot
    utilization at ``mac_latency`` 8, deeper lanes want 8).
    """
    T: int = 32
    fmt: str = "fp32"
    idx_bits: int = 6
    sparse_depth: int = 1024
    b_rows: int = 256
    a_rows: int = 288
    out_rows: int = 256
    max_cols: int = 256
    mac_latency: int = 8
    thr_latency: int = 1
    wu_window: int = 4

    def validated(self):
        """A copy with ``fmt`` normalised; raises ``ValueError`` naming a bad parameter."""
        for name, (lo, hi) in LIMITS.items():
            check_int(name, getattr(self, name), lo, hi)
        fmt = check_format("fmt", self.fmt)
        if fmt.width > MAX_WIDTH:
            raise ValueError(f"fmt must be at most {MAX_WIDTH} bits wide, not {fmt.name} "
                             f"({fmt.width} bits)")
        return replace(self, fmt=fmt.name)

    @property
    def format(self):
        return parse_format(self.fmt)

    @property
    def loop_latency(self):
        """Cycles of one read-multiply-add-write of an accumulator row."""
        return self.mac_latency + 2

    def as_dict(self):
        return asdict(self)

    def golden_kwargs(self):
        """Arguments of :class:`sim.spartann.model.CoreModel`."""
        return {"T": self.T, "fmt": self.fmt, "a_rows": self.a_rows, "b_rows": self.b_rows,
                "out_rows": self.out_rows, "sparse_depth": self.sparse_depth,
                "max_cols": self.max_cols, "idx_bits": self.idx_bits}


PAPER = CoreParams()
SMALL = CoreParams(T=4, idx_bits=3, sparse_depth=256, b_rows=32, a_rows=64, out_rows=64,
                   max_cols=64, mac_latency=4)
PRESETS = {"paper": PAPER, "small": SMALL}


def resolve(preset="paper", **overrides):
    """The validated :class:`CoreParams` of ``preset`` with ``overrides`` (``None`` values
    keep the preset's)."""
    if isinstance(preset, CoreParams):
        base = preset
    elif preset in PRESETS:
        base = PRESETS[preset]
    else:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, not {preset!r}")
    unknown = set(overrides) - set(CoreParams.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown parameter(s) {sorted(unknown)}")
    return replace(base, **{k: v for k, v in overrides.items() if v is not None}).validated()
