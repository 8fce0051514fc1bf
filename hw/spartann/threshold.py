"""SparTANN sparsifier: threshold lanes and the DTS statistics (docs/spartann/index.md).

An element ``x`` is *dropped* (written as +0) when it is +-0 or ``|x| < theta`` under IEEE
rules, exactly as :func:`sim.spartann.csc.drop_mask`: a NaN ``x`` is never dropped; a
negative (-0 included) or NaN ``theta`` drops nothing but zeros; otherwise, for a non-NaN
``x``, ``|x| < theta`` is an unsigned compare of the magnitude bits (all bits but the sign),
so ``theta = +inf`` drops every finite value and keeps +-inf.

Statistics (``elements``, ``zeros``: 32-bit saturating counters; ``max_abs``: largest
``|x|`` over the finite elements, from +0) follow :func:`sim.spartann.csc.stats` /
:func:`~sim.spartann.csc.merge_stats`: the max of non-negative finite patterns is the
unsigned max of their bits.

Building blocks for other modules: :func:`drop_flag`, :func:`finite_magnitude`,
:func:`max_tree`, :func:`threshold_vector`, :func:`stats_layout`, :class:`StatsAccumulator`
(or :func:`accumulate_stats`, the same logic without a submodule).
:class:`ThresholdLanes` is the stand-alone ``lanes``-wide sparsifier with its accumulator.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

from ..params import FORMAT_HELP, Design, Param, _fmt
from ..timing import Pipelined
from ..fp.bits import materialize
from ..fp.pipeline import Step, build_pipeline
from ..fp.unit import check_format, check_int

__all__ = ["magnitude", "is_nan", "is_finite", "drop_flag", "finite_magnitude", "max_tree",
           "popcount", "saturating_add", "threshold_vector", "stats_layout", "StatsAccumulator",
           "accumulate_stats",
           "ThresholdLanes", "output_layout", "COUNT_BITS", "MAX_LANES", "MAX_LATENCY",
           "DESIGNS"]

#: Width of the ``elements`` / ``zeros`` statistics counters (they saturate at 2**32 - 1).
COUNT_BITS = 32
#: Largest ``lanes`` accepted by :class:`ThresholdLanes`.
MAX_LANES = 1024
#: Largest ``latency`` accepted by :class:`ThresholdLanes`.
MAX_LATENCY = 8


# -- combinational building blocks ------------------------------------------------------------
def _cast(fmt, x):
    """``x`` (a Value or an int bit pattern) as a ``fmt.width``-bit Value."""
    return Const(x, fmt.width) if isinstance(x, int) else Value.cast(x)


def magnitude(fmt, x):
    """The magnitude bits of ``x`` (all bits but the sign), ``fmt.width - 1`` wide."""
    return _cast(fmt, x)[:fmt.width - 1]


def _exp_all_ones(fmt, x):
    return _cast(fmt, x)[fmt.man_bits:fmt.width - 1].all()


def is_nan(fmt, x):
    """1 when ``x`` is a NaN (exponent all ones, mantissa non-zero)."""
    return _exp_all_ones(fmt, x) & _cast(fmt, x)[:fmt.man_bits].any()


def is_finite(fmt, x):
    """1 when ``x`` is neither an infinity nor a NaN."""
    return ~_exp_all_ones(fmt, x)


def drop_flag(m, fmt, x, theta, name=None):
    """1 when ``x`` is dropped by threshold ``theta`` (both ``fmt`` bit patterns).

    ``x``/``theta`` may be Values or int constants. ``m`` (may be ``None``) and ``name``: when both are given the flag is a named comb Signal.
    """
    x, theta = _cast(fmt, x), _cast(fmt, theta)
    mag = magnitude(fmt, x)
    theta_ok = ~theta[fmt.width - 1] & ~is_nan(fmt, theta)      # theta >= +0, not NaN
    below = theta_ok & ~is_nan(fmt, x) & (mag < magnitude(fmt, theta))
    flag = (mag == 0) | below
    return materialize(m, flag, name) if m is not None and name else flag


def finite_magnitude(fmt, x):
    """``|x|`` as a ``fmt.width``-bit pattern when ``x`` is finite, +0 otherwise."""
    return Cat(Mux(is_finite(fmt, x), magnitude(fmt, x), 0), Const(0, 1))


def max_tree(m, values, name="max"):
    """Unsigned maximum of ``values`` (a non-empty list), as a balanced tree of comparators."""
    level = [Value.cast(v) for v in values]
    depth = 0
    while len(level) > 1:
        nxt = []
        for k in range(0, len(level) - 1, 2):
            a, b = level[k], level[k + 1]
            nxt.append(materialize(m, Mux(a >= b, a, b), f"{name}_l{depth}_{k // 2}"))
        if len(level) % 2:
            nxt.append(level[-1])
        level, depth = nxt, depth + 1
    return level[0]


def popcount(bits):
    """Number of set bits in the list ``bits`` (1-bit Values), ``bits_for(len(bits))`` wide."""
    width = bits_for(len(bits))
    total = Const(0, width)
    for bit in bits:
        total = (total + Value.cast(bit))[:width]
    return total


def saturating_add(a, b, width=COUNT_BITS):
    """``min(a + b, 2**width - 1)`` for unsigned ``a`` (``width`` bits) and ``b``."""
    limit = (1 << width) - 1
    total = Value.cast(a) + Value.cast(b)
    return Mux(total > limit, limit, total)[:width]


def threshold_vector(m, fmt, values, theta, name="thr"):
    """Sparsify a list of ``fmt`` patterns; returns ``(kept, drops, zeros, max_abs)``:
    the values with dropped ones replaced by +0, the drop flags, their count and the largest
    finite magnitude (+0 if none), all combinational."""
    drops = [drop_flag(m, fmt, v, theta, f"{name}_drop{k}") for k, v in enumerate(values)]
    kept = [Mux(d, 0, v) for d, v in zip(drops, values)]
    max_abs = max_tree(m, [finite_magnitude(fmt, v) for v in values], f"{name}_max")
    return kept, drops, popcount(drops), max_abs


def stats_layout(fmt, count_bits=COUNT_BITS):
    """Running statistics: ``elements``, ``zeros`` (counters) and ``max_abs`` (``fmt``)."""
    return data.StructLayout({"elements": count_bits, "zeros": count_bits,
                              "max_abs": fmt.width})


# -- statistics accumulator -------------------------------------------------------------------
class StatsAccumulator(wiring.Component):
    """Running ``elements`` / ``zeros`` / ``max_abs`` over batches of up to ``batch`` elements.

    Ports: ``add`` (a batch is counted this cycle), ``elements`` and ``zeros`` (its counts),
    ``max_abs`` (its largest finite magnitude, a non-negative finite pattern), ``clear``,
    and ``stats`` (:func:`stats_layout`, registered: it shows the batches counted up to the
    previous cycle). ``clear`` empties the statistics; a batch added in the same cycle is
    counted into the fresh ones. Counters saturate at ``2**count_bits - 1``, as
    :func:`sim.spartann.csc.merge_stats` (``count_bits`` other than 32 is for tests).
    """

    def __init__(self, fmt="fp32", *, batch=1, count_bits=COUNT_BITS):
        self.fmt = check_format("fmt", fmt)
        self._batch = check_int("batch", batch, 1, MAX_LANES)
        self._count_bits = check_int("count_bits", count_bits, bits_for(batch), 64)
        count = unsigned(bits_for(batch))
        super().__init__({
            "clear": In(1), "add": In(1),
            "elements": In(count), "zeros": In(count), "max_abs": In(self.fmt.width),
            "stats": Out(stats_layout(self.fmt, count_bits)),
        })

    @property
    def batch(self):
        return self._batch

    @property
    def count_bits(self):
        return self._count_bits

    def elaborate(self, platform):
        m = Module()
        accumulate_stats(m, self.stats, self.clear, self.add, self.elements, self.zeros,
                         self.max_abs, self._count_bits)
        return m


def accumulate_stats(m, stats, clear, add, elements, zeros, max_abs, count_bits=COUNT_BITS):
    """Drive the :func:`stats_layout` register ``stats`` (reset to 0) in ``m.d.sync`` like a
    :class:`StatsAccumulator` (for use inside another module without a submodule)."""
    base = Signal(stats.shape(), name="stats_base")
    with m.If(~clear):
        m.d.comb += base.eq(stats)
    with m.If(add):
        m.d.sync += [
            stats.elements.eq(saturating_add(base.elements, elements, count_bits)),
            stats.zeros.eq(saturating_add(base.zeros, zeros, count_bits)),
            stats.max_abs.eq(Mux(max_abs > base.max_abs, max_abs, base.max_abs)),
        ]
    with m.Elif(clear):
        m.d.sync += stats.eq(0)


# -- threshold lanes --------------------------------------------------------------------------
def output_layout(lanes, fmt):
    """Payload of :class:`ThresholdLanes` ``o``: the sparsified ``values``, the number of
    dropped lanes ``zeros`` and the largest finite magnitude ``max_abs`` of the vector."""
    return data.StructLayout({"values": data.ArrayLayout(fmt.width, lanes),
                              "zeros": unsigned(bits_for(lanes)), "max_abs": fmt.width})


class ThresholdLanes(Pipelined, wiring.Component):
    """``lanes`` sparsifier lanes: one vector per cycle, with per-vector and running stats.

    Ports:

    * ``theta``: threshold (``fmt`` bits), sampled with each vector as it is accepted;
    * ``i``: stream of ``ArrayLayout(fmt.width, lanes)``;
    * ``o``: stream of :func:`output_layout` (``values`` with dropped lanes +0, ``zeros``,
      ``max_abs``), ``latency`` cycles after the input without back-pressure;
    * ``clear`` / ``stats``: a :class:`StatsAccumulator` over the vectors taken from ``o``;
    * ``pad_lanes``: the last ``pad_lanes`` lanes are padding: their values pass (thresholded
      like the others) but the statistics (``o.zeros``, ``o.max_abs``, ``stats``) leave them
      out; sampled with each vector as it is accepted (0: every lane counts; must be less
      than ``lanes``).

    The pipeline advances as a whole (a global stall): ``i.ready = ~o.valid | o.ready``
    for ``latency >= 1``; ``latency = 0`` is combinational (``i.ready = o.ready``).
    """

    def __init__(self, lanes=8, fmt="fp32", *, latency=1):
        self._lanes = check_int("lanes", lanes, 1, MAX_LANES)
        self.fmt = check_format("fmt", fmt)
        self._latency = check_int("latency", latency, 0, MAX_LATENCY)
        super().__init__({
            "theta": In(self.fmt.width),
            "i": In(stream.Signature(data.ArrayLayout(self.fmt.width, lanes))),
            "o": Out(stream.Signature(output_layout(lanes, self.fmt))),
            "clear": In(1),
            "stats": Out(stats_layout(self.fmt)),
            "pad_lanes": In(range(max(lanes, 2))),     # < lanes
        })

    @property
    def lanes(self):
        return self._lanes


    @property
    def port_doc(self):
        fmt = self.fmt.name
        return {
            "theta": f"threshold ({fmt} bits), sampled with each accepted vector",
            "i__valid": "a vector is presented", "i__ready": "the lanes accept the vector",
            "i__payload": f"{self._lanes} x {fmt}, lane l at bit l*{self.fmt.width}",
            "o__valid": f"a sparsified vector ({self._latency} cycles after its input)",
            "o__ready": "the consumer takes the vector",
            "o__payload": "values (dropped lanes +0), zeros (dropped lanes), max_abs (largest "
                          "finite |x|)",
            "clear": "empty the running statistics (the vector taken this cycle is counted "
                     "into the fresh ones)",
            "pad_lanes": "the last pad_lanes lanes are left out of the statistics (sampled "
                         "with each accepted vector)",
            "stats": "running elements, zeros (32-bit, saturating) and max_abs over the "
                     "vectors taken from o",
        }

    def _steps(self):
        fmt, lanes = self.fmt, self._lanes

        def drop(m, v):
            values = [v[f"x{k}"] for k in range(lanes)]
            drops = [drop_flag(m, fmt, x, self.theta, f"drop{k}") for k, x in enumerate(values)]
            counted = Signal(lanes, name="counted")       # lane k counts: k < lanes - pad
            m.d.comb += counted.eq(Const((1 << lanes) - 1, lanes) >> self.pad_lanes)
            out = {f"y{k}": Mux(d, 0, x) for k, (d, x) in enumerate(zip(drops, values))}
            out.update({f"d{k}": d & counted[k] for k, d in enumerate(drops)})
            out.update({f"f{k}": Mux(counted[k], finite_magnitude(fmt, x), 0)
                        for k, x in enumerate(values)})
            out["n"] = (lanes - self.pad_lanes)[:bits_for(lanes)]
            return out

        def reduce(m, v):
            out = {f"y{k}": v[f"y{k}"] for k in range(lanes)}
            out["n"] = v["n"]
            out["zeros"] = popcount([v[f"d{k}"] for k in range(lanes)])
            out["max_abs"] = max_tree(m, [v[f"f{k}"] for k in range(lanes)], "max")
            return out

        weight = max(1.0, bits_for(lanes) / 2)
        return [Step("drop", drop, 1.0), Step("reduce", reduce, weight)]

    def elaborate(self, platform):
        m = Module()
        enable = Signal()
        if self._latency:
            m.d.comb += enable.eq(~self.o.valid | self.o.ready)
        else:
            m.d.comb += enable.eq(self.o.ready)
        m.d.comb += self.i.ready.eq(enable)
        values = {f"x{k}": Value.cast(self.i.payload[k]) for k in range(self._lanes)}
        values, valid, _ = build_pipeline(m, self._steps(), values, self.i.valid,
                                          self._latency, enable=enable)
        m.d.comb += [self.o.valid.eq(valid), self.o.payload.zeros.eq(values["zeros"]),
                     self.o.payload.max_abs.eq(values["max_abs"])]
        m.d.comb += [self.o.payload.values[k].eq(values[f"y{k}"]) for k in range(self._lanes)]
        accumulate_stats(m, self.stats, self.clear, self.o.valid & self.o.ready, values["n"],
                         self.o.payload.zeros, self.o.payload.max_abs)
        return m


#: Registry entries (to merge into :data:`hw.designs.DESIGNS`).
DESIGNS = {
    "spartann_threshold": Design(
        ThresholdLanes, "SparTANN sparsifier: threshold lanes with DTS statistics",
        {"lanes": Param(8, int, f"parallel lanes (T), 1..{MAX_LANES}"),
         "fmt": Param("fp32", _fmt, FORMAT_HELP),
         "latency": Param(1, int, f"pipeline register stages, 0..{MAX_LATENCY}")},
        test_params={"lanes": 2}),
}
