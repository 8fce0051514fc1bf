"""OSRE of SAT: streaming top-K sorters that turn dense weights into N:M sparse weights.

A sorter takes one value per cycle; every ``m`` consecutive values form a group. After the
last value of a group it emits the ``n`` values of largest magnitude together with their
in-group indices, in ascending index order. The next group streams in without a bubble.

Ranking: the key is the value's magnitude bits (all bits but the sign, as an unsigned
integer), so -0 ties with +0 and NaNs rank above infinity; equal keys: the lower index wins.
Values pass through bit for bit.

Microarchitecture (per lane): ``n`` slots hold the values kept so far in arrival (index)
order, each with its rank among them. Each cycle the incoming value is compared with every
slot in parallel: it is appended while the group has fewer than ``n`` values, and afterwards
replaces the slot of rank ``n - 1`` if it beats any slot (the later slots shift up one place,
so index order is kept). The slots' next state after the last value of a group goes straight
into the output register, and the next group starts in the very next cycle.
:class:`TopKLanes` runs ``lanes`` such datapaths under one shared control (in-group counter,
handshake).
"""

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..designs import Design, Param
from ..fp.format import PRESETS, parse_format
from ..fp.unit import check_format, check_int

__all__ = ["TopKSorter", "TopKLanes", "result_layout", "index_width", "DESIGNS",
           "LATENCY", "MAX_M", "MAX_LANES"]

#: Cycles from the last value of a group accepted to its result valid (no back-pressure).
LATENCY = 1
#: Largest group size accepted.
MAX_M = 64
#: Largest number of lanes accepted by :class:`TopKLanes` (the paper uses 32).
MAX_LANES = 256


def index_width(m):
    """Width of an in-group index for groups of ``m`` values."""
    return ceil_log2(m) or 1


def result_layout(n, m, fmt):
    """Payload of one group's result: ``n`` values and their in-group indices."""
    fmt = parse_format(fmt)
    return data.StructLayout({"values": data.ArrayLayout(fmt.width, n),
                              "indices": data.ArrayLayout(index_width(m), n)})


def _check_params(n, m, fmt):
    """Validate ``n``, ``m`` and ``fmt``; returns the parsed format."""
    check_int("m", m, 2, MAX_M)
    check_int("n", n, 1)
    if n > m:
        raise ValueError(f"n must be at most m = {m}, not {n!r}")
    return check_format("fmt", fmt)


def _control(m, group, i, o):
    """Handshake and in-group counter shared by all lanes.

    Returns ``(index, insert, load)``: the in-group index of the value on ``i``, whether it
    is accepted this cycle, and whether its group completes (the result register loads).
    Input ``ready`` depends on registers only: it drops only for the last value of a group
    while the previous result is still waiting on ``o``.
    """
    index = Signal(range(group), name="index")
    insert, load = Signal(name="insert"), Signal(name="load")
    last = index == group - 1
    m.d.comb += [
        i.ready.eq(~last | ~o.valid),
        insert.eq(i.valid & i.ready),
        load.eq(insert & last),
    ]
    with m.If(insert):
        m.d.sync += index.eq(Mux(last, 0, index + 1))
    with m.If(load):
        m.d.sync += o.valid.eq(1)
    with m.Elif(o.ready):
        m.d.sync += o.valid.eq(0)
    return index, insert, load


def _slot_layout(n, group, width):
    """A kept value, its in-group index and its rank among the kept ones (0: largest)."""
    return data.StructLayout({"value": width, "index": index_width(group),
                              "rank": index_width(n)})


def _select(m, name, slots, value, index, group, width):
    """Next state of the ``slots`` (kept values in index order) after inserting ``value``.

    Slot ``s`` is filled once the group has more than ``s`` values (``index > s``). The new
    value beats a filled slot whose key is strictly smaller (an earlier index wins ties); its
    rank is the number of filled slots it does not beat, and every slot it beats moves one
    rank down. While fewer than ``n`` values arrived it is appended at slot ``index``. Once the
    slots are full it replaces the worst slot (rank ``n - 1``) if it beats any slot: the
    slots after the worst shift up one place (index order is kept) and the new value takes the
    last slot; otherwise it is dropped.
    """
    n = len(slots)
    key = value[:width - 1]
    filled = [index > s if s < group - 1 else Const(0) for s in range(n)]
    beaten = Signal(n, name=f"{name}_beaten")
    for s in range(n):
        m.d.comb += beaten[s].eq(filled[s] & (key > slots[s].value[:width - 1]))
    new = Signal(slots.shape().elem_shape, name=f"{name}_new")
    m.d.comb += [new.value.eq(value), new.index.eq(index),
                 new.rank.eq(sum(f & ~b for f, b in zip(filled, beaten)))]
    full = index >= n if n < group else Const(0)
    evict = Signal(name=f"{name}_evict")
    m.d.comb += evict.eq(full & beaten.any())
    # Slots from the worst one on take their successor (a prefix OR of "rank == n - 1");
    # only ``evict`` depends on the comparisons, so it selects last.
    shift = [Signal(name=f"{name}_shift{s}") for s in range(n)]
    following = Signal(slots.shape(), name=f"{name}_next")
    for s in range(n):
        m.d.comb += shift[s].eq((slots[s].rank == n - 1) | (shift[s - 1] if s else 0))
        successor = slots[s + 1] if s < n - 1 else new
        successor_rank = slots[s + 1].rank + beaten[s + 1] if s < n - 1 else new.rank
        append = ~full & (index == s)
        m.d.comb += [                   # the whole slot, then its rank on top
            following[s].eq(Mux(evict, Mux(shift[s], successor, slots[s]),
                                Mux(append, new, slots[s]))),
            following[s].rank.eq(Mux(evict & shift[s], successor_rank,
                                     Mux(append, new.rank, slots[s].rank + beaten[s]))),
        ]
    return following


class _TopKBase(wiring.Component):
    """Parameters, properties and elaboration shared by :class:`TopKSorter` and
    :class:`TopKLanes`; subclasses validate the parameters (``fmt`` arrives parsed) and
    pick the payload shapes and the per-lane ports."""

    def __init__(self, n, m, fmt, in_shape, out_shape):
        self._n, self._m, self._fmt = n, m, fmt
        super().__init__({"i": In(stream.Signature(in_shape)),
                          "o": Out(stream.Signature(out_shape))})

    @property
    def n(self):
        """Values kept per group."""
        return self._n

    @property
    def m(self):
        """Group size."""
        return self._m

    @property
    def fmt(self):
        return self._fmt

    @property
    def latency(self):
        """Cycles from the last value of a group accepted to its result valid on ``o``
        (without back-pressure)."""
        return LATENCY

    @property
    def throughput(self):
        """Input transfers accepted per cycle in steady state (groups back to back)."""
        return 1

    def _lane_ports(self):  # pragma: no cover - abstract
        """``[(value, result)]`` per lane: input value and output result view."""
        raise NotImplementedError

    def elaborate(self, platform):
        m = Module()
        index, insert, load = _control(m, self._m, self.i, self.o)
        layout = _slot_layout(self._n, self._m, self._fmt.width)
        for lane, (value, result) in enumerate(self._lane_ports()):
            name = f"lane{lane}"
            slots = Signal(data.ArrayLayout(layout, self._n), name=f"{name}_slots",
                           reset_less=True)
            following = _select(m, name, slots, value, index, self._m, self._fmt.width)
            with m.If(insert):
                m.d.sync += slots.eq(following)
            with m.If(load):
                for s in range(self._n):
                    m.d.sync += [result.values[s].eq(following[s].value),
                                 result.indices[s].eq(following[s].index)]
        return m

    @property
    def port_doc(self):
        """Meaning of each top-level port, for the manifest."""
        return {
            "i__valid": "a value (one per lane) is presented",
            "i__ready": "accepted; low only for a group's last value while o still holds "
                        "the previous result",
            "i__payload": f"{self._fmt.name} value(s); every {self._m} transfers form a group",
            "o__valid": f"a group's result ({LATENCY} cycles after its last value)",
            "o__ready": "the consumer takes the result",
            "o__payload": f"the {self._n} largest-magnitude values and their indices, "
                          "ascending index order",
        }


class TopKSorter(_TopKBase):
    """One OSRE lane: streaming top-``n`` of every group of ``m`` values of format ``fmt``.

    ``i``: stream of single values (``fmt.width`` bits). ``o``: one transfer per group with
    payload :func:`result_layout` (``values`` and ``indices``, ascending index order).
    """

    def __init__(self, *, n=2, m=8, fmt="fp16"):
        fmt = _check_params(n, m, fmt)
        super().__init__(n, m, fmt, fmt.width, result_layout(n, m, fmt))

    def _lane_ports(self):
        return [(self.i.payload, self.o.payload)]


class TopKLanes(_TopKBase):
    """OSRE: ``lanes`` top-K sorters in lock step under one control.

    ``i`` carries one value per lane per cycle (``ArrayLayout(fmt.width, lanes)``); ``o``
    carries one :func:`result_layout` per lane. Lane ``l`` sorts the values in element ``l``.
    """

    def __init__(self, *, lanes=32, n=2, m=8, fmt="fp16"):
        self._lanes = check_int("lanes", lanes, 1, MAX_LANES)
        fmt = _check_params(n, m, fmt)
        super().__init__(n, m, fmt, data.ArrayLayout(fmt.width, lanes),
                         data.ArrayLayout(result_layout(n, m, fmt), lanes))

    @property
    def lanes(self):
        return self._lanes

    def _lane_ports(self):
        return [(self.i.payload[lane], self.o.payload[lane]) for lane in range(self._lanes)]


def _fmt(text):
    return parse_format(text).name


_FORMAT = Param("fp16", _fmt, f"float format: {', '.join(PRESETS)} or eXmY")
_N = Param(2, int, "values kept per group (N of N:M)")
_M = Param(8, int, f"group size (M of N:M), 2..{MAX_M}")

#: Registry entries (to merge into :data:`hw.designs.DESIGNS`).
DESIGNS = {
    "sat_topk": Design(TopKSorter, "SAT OSRE lane: streaming top-N of every M values (N:M)",
                       {"n": _N, "m": _M, "fmt": _FORMAT}),
    "sat_osre": Design(TopKLanes, "SAT OSRE: parallel top-N:M sorter lanes, one row each",
                       {"lanes": Param(32, int, f"parallel lanes, 1..{MAX_LANES}"),
                        "n": _N, "m": _M, "fmt": _FORMAT}),
}
