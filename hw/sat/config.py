"""The SAT core's configuration: one frozen :class:`SatConfig`, HDL-free.

The same object feeds the RTL (:class:`hw.sat.core.SatCore`), the functional and cycle models
(:mod:`sim.sat.model`, :mod:`sim.sat.cycles`), the host driver (:mod:`sim.sat.driver`), the
benches and the synthesis experiments: the paper's configuration is written here once.

``SatConfig.PAPER`` is the configuration of the CEST paper (32 x 32 uMACs, 2:8, FP16 operands
with FP32 accumulation and master weights, 32 WUVE lanes, 32 OSRE lanes). The paper gives no
buffer sizes; ours are sized for ResNet-18 layers (37.2 Mbit = 35.5 Mibit in all, 47% of the
XCVU9P's 2160 36-Kbit block RAMs, 75.9 Mibit; the part also has 960 UltraRAMs, 270 Mibit):

=========  ======  =====================================  ==========  ==========
buffer     rows    one row                                 bits/row    total
=========  ======  =====================================  ==========  ==========
weight W   16384   32 columns x (fp16 value + 3-bit index)  608         9.96 Mbit
act. X     4096    32 groups x 8 fp16 (compact, 32 banks)   4096        16.78 Mbit
output O   4096    32 fp32 partial sums                     1024        4.19 Mbit
master M   2048    32 fp32 master weights                   1024        2.10 Mbit
moment. V  2048    32 fp32 momenta                          1024        2.10 Mbit
grad. G    2048    32 fp16 gradients                        512         1.05 Mbit
dense D    2048    32 fp16 weights (WUVE out, OSRE in)      512         1.05 Mbit
=========  ======  =====================================  ==========  ==========

W holds 512 array passes (14 of the 16 column tiles of ResNet-18's largest layer, 512 x 4608,
at 2:8: 1152 kept rows each; 3 dense);
X holds 1,048,576 activations once each (e.g. 2 x 113 rows of K = 4608, or 2 x 2048 rows of
K = 256: the ping-pong halves of the planner); O holds 4096 rows of 32 partial sums; M/V/G/D
hold 65,536 weights. The data streams are 512 bits wide (a 64-byte AXI4-Stream beat; the
``data_width`` parameter sets it).

``SatConfig.SMALL`` is a 2 x 3 core with 2:4 sparsity and 3 lanes, for tests.
:func:`resolve` builds a configuration from a preset name and overrides (the registry's
``preset`` parameter).
"""

from dataclasses import dataclass, fields, replace
from types import MappingProxyType
from typing import ClassVar

from ..fp.format import parse_format
from ..params import check_dsp_latency, check_format, check_int, preset_overrides
from .isa import Buf, address_widths, x_groups

__all__ = ["SatConfig", "PAPER", "SMALL", "PRESETS", "resolve", "index_width",
           "array_latency", "swap_wave",
           "MAX_M", "MAX_LANES", "MAX_DIM", "MAX_DEPTH", "MAX_ARRAY_LATENCY",
           "MAX_SGD_LATENCY"]

#: Largest group size M (OSRE group, array bus width).
MAX_M = 64
#: Largest number of WUVE / OSRE lanes (the paper uses 32).
MAX_LANES = 256
#: Largest array dimension (rows, cols).
MAX_DIM = 256
#: Largest buffer depth (rows).
MAX_DEPTH = 1 << 16
#: Largest multiplier / adder register stages of the array.
MAX_ARRAY_LATENCY = 16
#: Largest WUVE pipeline depth: a lane chains six FP operations, each deeply pipelined.
MAX_SGD_LATENCY = 256


def index_width(m):
    """Width of an in-group index for groups of ``m`` values (at least 1 bit): the N:M index
    of the compressed weights, the OSRE results and the array's weight port."""
    return max(1, (m - 1).bit_length())


def array_latency(rows, cols, mul_latency, add_latency):
    """Cycles from an activation row accepted by a ``rows x cols`` STCE array to its results
    (:attr:`hw.sat.stce.SystolicArray.latency`)."""
    return rows * add_latency + cols + mul_latency


def swap_wave(rows, cols, add_latency):
    """Cycles the array spends switching in a new set of stationary weights
    (:attr:`hw.sat.stce.SystolicArray.swap_wave`)."""
    return (rows - 1) * add_latency + cols


@dataclass(frozen=True, kw_only=True)
class SatConfig:
    """Parameters of one SAT core, grouped as in cvfpu's ``fpnew_pkg``:

    * **function** (what it computes): ``n``, ``m`` (N:M), ``in_fmt`` (activations, weights,
      the WUVE's low-precision copy), ``acc_fmt`` (partial sums), ``grad_fmt``,
      ``master_fmt`` (master weights, momenta, configuration registers), ``decoupled_wd``
      (WUVE SGDW mode);
    * **capacity** (how much at once): ``rows`` x ``cols`` array, ``lanes`` (WUVE and OSRE,
      a divisor of ``cols``), ``data_width`` (din/dout beat), buffer depths ``wbuf_depth``,
      ``xbuf_depth``, ``obuf_depth``, ``sgd_depth`` (each of M, V, G), ``dbuf_depth``;
    * **implementation** (timing only, same results): ``mul_latency``, ``add_latency`` (array
      register stages), ``sgd_latency`` (WUVE stages; ``None``: the lane's own), ``dsp``
      (the uMACs' products: ``None`` inferred by the synthesis tool, ``"ecp5"`` in
      instantiated ECP5 ``MULT18X18D`` cells with their registers, ``mul_latency >= 2``).

    Formats are stored by name (``"fp16"``, ``"e5m10"``...); the ``*_format`` properties give
    :class:`~hw.fp.format.FloatFormat` objects. Every field is checked on construction; the
    ``ValueError`` names the parameter and the value.
    """
    # -- function
    n: int
    m: int
    in_fmt: str
    acc_fmt: str
    grad_fmt: str
    master_fmt: str
    decoupled_wd: bool = False
    # -- capacity
    rows: int
    cols: int
    lanes: int
    data_width: int
    wbuf_depth: int
    xbuf_depth: int
    obuf_depth: int
    sgd_depth: int
    dbuf_depth: int
    # -- implementation
    mul_latency: int
    add_latency: int
    sgd_latency: int | None = None
    dsp: str | None = None

    PAPER: ClassVar["SatConfig"]
    SMALL: ClassVar["SatConfig"]

    def __post_init__(self):
        if not isinstance(self.decoupled_wd, bool):
            raise ValueError(f"decoupled_wd must be a bool, not {self.decoupled_wd!r}")
        check_int("rows", self.rows, 1, MAX_DIM)
        check_int("cols", self.cols, 1, MAX_DIM)
        check_int("m", self.m, 2, MAX_M)
        check_int("n", self.n, 1, self.m)
        check_int("lanes", self.lanes, 1, MAX_LANES)
        if self.cols % self.lanes:
            divisors = [d for d in range(1, min(self.cols, MAX_LANES) + 1) if self.cols % d == 0]
            raise ValueError(f"lanes must divide cols = {self.cols} (an OSRE result fills whole "
                             f"column blocks of a W row), not {self.lanes}; use one of "
                             f"{', '.join(map(str, divisors))}")
        for name in ("in_fmt", "acc_fmt", "grad_fmt", "master_fmt"):
            object.__setattr__(self, name, check_format(name, getattr(self, name)).name)
        check_int("data_width", self.data_width, 8, 8192)
        if self.data_width % 8:
            raise ValueError(f"data_width must be a multiple of 8 (AXI4-Stream bytes), "
                             f"not {self.data_width}")
        for name in ("wbuf_depth", "xbuf_depth", "obuf_depth", "sgd_depth", "dbuf_depth"):
            check_int(name, getattr(self, name), 2, MAX_DEPTH)
        check_int("mul_latency", self.mul_latency, 0, MAX_ARRAY_LATENCY)
        check_int("add_latency", self.add_latency, 0, MAX_ARRAY_LATENCY)
        if self.sgd_latency is not None:
            check_int("sgd_latency", self.sgd_latency, 1, MAX_SGD_LATENCY)
        object.__setattr__(self, "dsp",                      # "none": as the manifest
                           check_dsp_latency(self.dsp, self.mul_latency))

    # -- formats ---------------------------------------------------------------------------
    @property
    def in_format(self):
        return parse_format(self.in_fmt)

    @property
    def acc_format(self):
        return parse_format(self.acc_fmt)

    @property
    def grad_format(self):
        return parse_format(self.grad_fmt)

    @property
    def master_format(self):
        return parse_format(self.master_fmt)

    # -- derived widths and sizes ----------------------------------------------------------
    @property
    def index_width(self):
        """Bits of an in-group index (:func:`index_width` of ``m``)."""
        return index_width(self.m)

    @property
    def col_blocks(self):
        """Column blocks of ``lanes`` columns (one PRUNE fills one)."""
        return self.cols // self.lanes

    @property
    def x_groups(self):
        """Groups of ``m`` activations per X row, and X banks (:func:`hw.sat.isa.x_groups`)."""
        return x_groups(self.rows)

    @property
    def depth(self):
        """``{Buf: rows}``."""
        return {Buf.W: self.wbuf_depth, Buf.X: self.xbuf_depth, Buf.O: self.obuf_depth,
                Buf.M: self.sgd_depth, Buf.V: self.sgd_depth, Buf.G: self.sgd_depth,
                Buf.D: self.dbuf_depth}

    @property
    def element_width(self):
        """``{Buf: bits of one row element}`` (a W element is a value and its index)."""
        i, a, g, w = (f.width for f in (self.in_format, self.acc_format, self.grad_format,
                                        self.master_format))
        return {Buf.W: i + self.index_width, Buf.X: i, Buf.O: a, Buf.M: w, Buf.V: w,
                Buf.G: g, Buf.D: i}

    @property
    def row_elements(self):
        """``{Buf: elements per row}``."""
        lanes = self.lanes
        return {Buf.W: self.cols, Buf.X: self.x_groups * self.m, Buf.O: self.cols, Buf.M: lanes,
                Buf.V: lanes, Buf.G: lanes, Buf.D: lanes}

    @property
    def row_width(self):
        """``{Buf: bits per row}``."""
        elem = self.element_width
        return {b: count * elem[b] for b, count in self.row_elements.items()}

    @property
    def beats(self):
        """``{Buf: data_width beats per row}``."""
        return {b: -(-w // self.data_width) for b, w in self.row_width.items()}

    @property
    def addr_width(self):
        """Width of the address fields ``a``, ``b``, ``c`` of a command."""
        return address_widths(max(self.depth.values()))[0]

    @property
    def count_width(self):
        """Width of the count fields ``n0``, ``n1``, ``n2`` of a command."""
        return address_widths(max(self.depth.values()))[1]

    @property
    def array_latency(self):
        """The STCE array's latency (:func:`array_latency`)."""
        return array_latency(self.rows, self.cols, self.mul_latency, self.add_latency)

    @property
    def swap_wave(self):
        """The STCE array's weight-swap wave (:func:`swap_wave`)."""
        return swap_wave(self.rows, self.cols, self.add_latency)

    def as_dict(self):
        """Every field by name (registry / manifest order)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


SatConfig.PAPER = PAPER = SatConfig(
    n=2, m=8, in_fmt="fp16", acc_fmt="fp32", grad_fmt="fp16", master_fmt="fp32",
    decoupled_wd=False,
    rows=32, cols=32, lanes=32, data_width=512,
    wbuf_depth=16384, xbuf_depth=4096, obuf_depth=4096, sgd_depth=2048, dbuf_depth=2048,
    mul_latency=2, add_latency=3, sgd_latency=None, dsp=None)

SatConfig.SMALL = SMALL = replace(
    PAPER, m=4, rows=2, cols=3, lanes=3, data_width=32,
    wbuf_depth=64, xbuf_depth=64, obuf_depth=32, sgd_depth=16, dbuf_depth=32,
    mul_latency=1, add_latency=2, sgd_latency=4)

PRESETS = MappingProxyType({"paper": PAPER, "small": SMALL})


def resolve(preset="paper", **overrides):
    """The :class:`SatConfig` of ``preset`` (a name or a :class:`SatConfig`) with every
    override that is not ``None`` applied.

    ``lanes`` must divide ``cols``; when ``lanes`` is not given and the preset's does not
    divide the ``cols`` given, it becomes the largest divisor of ``cols`` not above the
    preset's (e.g. ``cols=8`` on the paper preset: 8 lanes)."""
    base, given = preset_overrides(SatConfig, PRESETS, preset, overrides, "SAT core parameter")
    cols, lanes = given.get("cols", base.cols), base.lanes
    if ("lanes" not in given and isinstance(cols, int) and not isinstance(cols, bool)
            and cols >= 1 and cols % lanes):
        given["lanes"] = max(d for d in range(1, min(cols, lanes) + 1) if cols % d == 0)
    return replace(base, **given)
