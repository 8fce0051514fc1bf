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
so index order is kept). In the cycle after the last value of a group the slots, already in
index order, are copied into the output register while the first value of the next group is
being inserted, so groups stream back to back.
:class:`TopKLanes` runs ``lanes`` such datapaths under one shared control (in-group counter,
handshake).
"""

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..fp.format import parse_format
from ..params import FORMAT_HELP, Design, Param, _fmt, check_format, check_int
from ..timing import Timed
from .config import MAX_LANES, MAX_M, PAPER, index_width

__all__ = ["TopKSorter", "TopKLanes", "result_layout", "index_width", "DESIGNS",
           "LATENCY", "MAX_M", "MAX_LANES"]

#: Cycles from the last value of a group accepted to its result valid (no back-pressure).
LATENCY = 2
# MAX_M (largest group size), MAX_LANES (largest number of lanes of TopKLanes) and
# index_width (bits of an in-group index) come from hw.sat.config, shared with the core.


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
    is accepted this cycle, and whether the slots (holding a complete group) are copied to
    the output register this cycle. Input ``ready`` depends on registers only: it drops only
    while a complete group waits behind a result that ``o`` has not taken yet.
    """
    index = Signal(range(group), name="index")
    pending = Signal(name="pending")            # the slots hold a complete group
    insert, load = Signal(name="insert"), Signal(name="load")
    last = index == group - 1
    m.d.comb += [
        i.ready.eq(~pending | ~o.valid),
        insert.eq(i.valid & i.ready),
        load.eq(pending & (~o.valid | o.ready)),
    ]
    with m.If(insert):
        m.d.sync += index.eq(Mux(last, 0, index + 1))
    with m.If(load):
        m.d.sync += [pending.eq(0), o.valid.eq(1)]
    with m.Elif(o.ready):
        m.d.sync += o.valid.eq(0)
    with m.If(insert & last):
        m.d.sync += pending.eq(1)
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
    # Slots from the worst one on take their successor: a prefix OR of "rank == n - 1".
    shift = [Signal(name=f"{name}_shift{s}") for s in range(n)]
    for s in range(n):
        m.d.comb += shift[s].eq((slots[s].rank == n - 1) | (shift[s - 1] if s else 0))
    following = Signal(slots.shape(), name=f"{name}_next")
    for s in range(n):                  # by default a slot stays, its rank updated
        m.d.comb += [following[s].eq(slots[s]), following[s].rank.eq(slots[s].rank + beaten[s])]
    with m.If(~full):
        for s in range(n):
            with m.If(index == s):
                m.d.comb += following[s].eq(new)
    with m.Elif(beaten.any()):
        for s in range(n - 1):
            with m.If(shift[s]):
                m.d.comb += [following[s].eq(slots[s + 1]),
                             following[s].rank.eq(slots[s + 1].rank + beaten[s + 1])]
        m.d.comb += following[n - 1].eq(new)
    return following


class _TopKBase(Timed, wiring.Component):
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
                    m.d.sync += [result.values[s].eq(slots[s].value),
                                 result.indices[s].eq(slots[s].index)]
        return m

    @property
    def port_doc(self):
        """Meaning of each top-level port, for the manifest."""
        return {
            "i__valid": "a value (one per lane) is presented",
            "i__ready": "accepted; low only while a complete group waits behind a result "
                        "that o has not taken",
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


_FORMAT = Param(PAPER.in_fmt, _fmt, FORMAT_HELP)
_N = Param(PAPER.n, int, "values kept per group (N of N:M)")
_M = Param(PAPER.m, int, f"group size (M of N:M), 2..{MAX_M}")

#: Registry entries (to merge into :data:`hw.designs.DESIGNS`); defaults: the paper's
#: (:data:`hw.sat.config.PAPER`).
DESIGNS = {
    "sat_topk": Design(TopKSorter, "SAT OSRE lane: streaming top-N of every M values (N:M)",
                       {"n": _N, "m": _M, "fmt": _FORMAT}),
    "sat_osre": Design(TopKLanes, "SAT OSRE: parallel top-N:M sorter lanes, one row each",
                       {"lanes": Param(PAPER.lanes, int, f"parallel lanes, 1..{MAX_LANES}"),
                        "n": _N, "m": _M, "fmt": _FORMAT},
                       test_params={"lanes": 2}),
}
