"""One SparTANN core configuration, :class:`SpartannConfig`, and its named presets.

The same object feeds the RTL (:class:`hw.spartann.core.SparTANNCore`), the golden core model
(:class:`sim.spartann.model.CoreModel`), the conv-layer driver (:mod:`sim.spartann.driver`),
the cycle model (:mod:`sim.spartann.cycles`), the benches and synthesis. HDL-free.

``PAPER`` is the paper's instance (Sec. 5.2.1): T = 32 FP32 lanes, 4 KB of sparse values and
1 KB of 6-bit indices (1024 entries), Dense Buf B of M_max = 256 rows, A + B = 68 KB
(A: 288 rows), a 32 KB Out Buf (256 rows), 256 columns per job. ``SMALL`` is a quick
configuration for tests and examples, derived from ``PAPER``.
"""

from dataclasses import asdict, dataclass, fields, replace

from ..fp.format import parse_format
from ..params import check_format, check_int, preset_overrides
from .isa import addr_bits, row_bits

__all__ = ["SpartannConfig", "CoreParams", "PAPER", "SMALL", "PRESETS", "resolve", "LIMITS",
           "HELP", "NAMES", "MAX_WIDTH"]

#: Accepted range of every integer parameter.
LIMITS = {"T": (1, 1024), "idx_bits": (1, 16), "sparse_depth": (1, 1 << 20),
          "b_rows": (1, 1 << 16), "a_rows": (1, 1 << 16), "out_rows": (1, 1 << 16),
          "max_cols": (1, 1 << 16), "mac_latency": (0, 64), "thr_latency": (0, 8), "wu_window": (0, 32),
          "sparse_beat": (1, 64), "read_stages": (0, 2)}
#: Widest datapath word: theta travels in the 32-bit command argument.
MAX_WIDTH = 32

#: One line per parameter (the command line's help, the manifest's parameter list).
HELP = {
    "T": "MAC lanes (words per dense vector)",
    "fmt": "datapath float format",
    "idx_bits": "relative-index (delta) width",
    "sparse_depth": "Sparse Buf entries",
    "b_rows": "Dense Buf B rows (>= M)",
    "a_rows": "Dense Buf A rows",
    "out_rows": "Out Buf rows",
    "max_cols": "columns per job",
    "mac_latency": "alpha*x+y lane pipeline stages",
    "thr_latency": "threshold lane stages",
    "wu_window": "WU issue-window entries (0: in order)",
    "sparse_beat": "CSC entries per sparse_in beat (a power of two)",
    "read_stages": "registers between the dense buffers' read data and the lanes (each adds "
                   "a cycle to the loop)",
}


@dataclass(frozen=True, kw_only=True)
class SpartannConfig:
    """Every parameter of a SparTANN core, validated on construction (``ValueError`` naming
    the parameter and the value); ``fmt`` is kept as its canonical name.

    *Function* (what the core computes): ``T`` lanes, datapath ``fmt``, ``idx_bits`` of the
    CSC relative index. *Capacity* (what fits): ``sparse_depth`` Sparse Buf entries,
    ``b_rows`` / ``a_rows`` / ``out_rows`` rows of Dense Buf B, Dense Buf A and the Out Buf,
    ``max_cols`` columns per job. *Implementation* (how fast; results do not depend on it):

    ``mac_latency``: pipeline stages of the ``alpha*x + y`` lane (the accumulation loop is
    ``mac_latency + 2 + read_stages`` cycles: Sparse Buf read, dense buffer read, lane,
    write). The default
    8 gives 10 BP contexts; the FP library's stand-alone default (23 stages, for ECP5 Fmax)
    gives 25, and a BP job then needs >= 25 columns in the Sparse Buf to keep every lane busy;
    ``thr_latency``: stages of the threshold lanes on the drain path; ``wu_window``: decoded
    WU entries that wait while entries of other rows overtake them (the issue window of
    hw/spartann/engine.py; 0 = in-order issue; 4 keeps low-density WU jobs above 95% MAC-slot
    utilization at ``mac_latency`` 8, deeper lanes want 8); ``sparse_beat``: CSC entries
    per ``sparse_in`` beat (the wide load path; a power of two, so an entry's Sparse Buf row
    and lane are bit fields of its index: 8 entries of 40 bits fill 320 of a 512-bit bus);
    ``read_stages``: registers between the dense buffers' read data (and its half and BP/WU
    multiplexers) and the lanes. With 0 a block RAM's clock-to-output and those multiplexers
    share a cycle with the lane's first step: the T = 4 core's critical path on ECP5.
    """
    # -- function
    T: int = 32
    fmt: str = "fp32"
    idx_bits: int = 6
    # -- capacity
    sparse_depth: int = 1024
    b_rows: int = 256
    a_rows: int = 288
    out_rows: int = 256
    max_cols: int = 256
    # -- implementation
    mac_latency: int = 8
    thr_latency: int = 1
    wu_window: int = 4
    sparse_beat: int = 8
    read_stages: int = 0

    def __post_init__(self):
        for name, (lo, hi) in LIMITS.items():
            check_int(name, getattr(self, name), lo, hi)
        k = self.sparse_beat
        if k & (k - 1):
            raise ValueError(f"sparse_beat must be a power of two, not {k}")
        fmt = check_format("fmt", self.fmt)
        if fmt.width > MAX_WIDTH:
            raise ValueError(f"fmt must be at most {MAX_WIDTH} bits wide, not {fmt.name} "
                             f"({fmt.width} bits)")
        object.__setattr__(self, "fmt", fmt.name)

    def replace(self, **changes):
        """A validated copy with ``changes``."""
        return replace(self, **changes)

    def as_dict(self):
        return asdict(self)

    # -- derived ----------------------------------------------------------------------------
    @property
    def format(self):
        """``fmt`` as a :class:`~hw.fp.format.FloatFormat`."""
        return parse_format(self.fmt)

    @property
    def loop_latency(self):
        """Cycles of one read-multiply-add-write of an accumulator row."""
        return self.mac_latency + 2 + self.read_stages

    @property
    def contexts(self):
        """BP column contexts (one slot each in turn): ``loop_latency``."""
        return self.loop_latency

    @property
    def addr_bits(self):
        """Width of a column address (a row of Dense Buf A in WU, of the Out Buf in BP)."""
        return addr_bits(self.a_rows, self.out_rows)

    @property
    def entry_bits(self):
        """Bits of one CSC entry: value, delta, filler, last."""
        return self.format.width + self.idx_bits + 2

    @property
    def sparse_beat_bytes(self):
        """Bytes of one ``sparse_in`` beat's entries (``sparse_beat * entry_bits / 8``)."""
        return self.sparse_beat * self.entry_bits / 8

    @property
    def row_bits(self):
        """Width of a decoded row (a row of Dense Buf B)."""
        return row_bits(self.b_rows)


#: One release only: the name before :class:`SpartannConfig`.
CoreParams = SpartannConfig

PAPER = SpartannConfig()
SMALL = PAPER.replace(T=4, idx_bits=3, sparse_depth=256, b_rows=32, a_rows=64, out_rows=64,
                      max_cols=64, mac_latency=4, sparse_beat=4)
PRESETS = {"paper": PAPER, "small": SMALL}
#: Parameter names in order (function, capacity, implementation).
NAMES = tuple(f.name for f in fields(SpartannConfig))


def resolve(preset="paper", **overrides):
    """The :class:`SpartannConfig` of ``preset`` (a name or a config) with ``overrides``
    (``None`` values keep the preset's)."""
    base, given = preset_overrides(SpartannConfig, PRESETS, preset, overrides)
    return base.replace(**given)
