"""SparTANN Dynamic Threshold Scaling: the per-tensor threshold update (docs/spartann/dts.md).

Once per training iteration, from the sparsifier's statistics of the iteration just finished
(FP32, every operation rounded to nearest even)::

    N == 0:          theta' = theta
    theta == +-0:    theta' = round(max_abs / 100)
    otherwise:       q = round(round(s* * from_int(N)) / from_int(Z))
                     r = 1.0 if q is NaN else clamp(q, 0.8f, 1.2f)
                     theta' = round(theta * r)

``variant="relative"`` (beyond the paper, default ``"paper"``): ``theta`` is a relative
threshold ``k`` (the sparsifier drops ``|x| < round(k * max|block|)``), the first step gives
``round(1 / 100)`` instead of ``round(max_abs / 100)`` and the clamp bounds are ``0.5`` and
``2.0``. Extra hardware in this unit: none (other constants at the divider and comparator
inputs).

The datapath is the paper's: one int->FP32 converter, one multiplier (used twice), one
divider, one comparator (used twice), all inlined from the FP library's step lists, plus a
counter that issues every operation at a fixed cycle. Every update runs the same schedule (the
divider computes ``max_abs / 100`` instead of ``s* n / z`` when ``theta`` is zero; the last
cycle selects the result), so its latency is a constant, :attr:`DTSUnit.cycles`.
"""

from amaranth.hdl import Const, Module, Mux, Signal, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

from ..fp.compare import FloatCompare
from ..fp.div import FloatDiv, div_steps
from ..fp.format import FP32
from ..fp.itof import IntToFloat, itof_steps
from ..fp.mul import FloatMul, mul_steps
from ..fp.pipeline import Step, build_pipeline
from ..fp.unit import MAX_LATENCY
from ..hier import part
from ..params import Design, Param, _latency, check_int

__all__ = ["DTSUnit", "input_layout", "output_layout", "schedule", "ONE", "HI", "LO",
           "HUNDRED", "VARIANTS", "MAX_COUNTER_WIDTH", "DESIGNS"]

#: FP32 constants: 1.0, the clamp bounds 1.2f and 0.8f (nearest FP32) and 100.0.
ONE, HI, LO, HUNDRED = 0x3F800000, 0x3F99999A, 0x3F4CCCCD, 0x42C80000
#: Per variant: the clamp bounds ``(HI, LO)`` (FP32) and whether ``theta`` is relative.
VARIANTS = {"paper": (HI, LO, False), "relative": (0x40000000, 0x3F000000, True)}
#: The statistics counters are at most 32 bits (docs/spartann/index.md).
MAX_COUNTER_WIDTH = 32

_LATENCIES = {"itof_latency": IntToFloat.DEFAULT_LATENCY, "mul_latency": FloatMul.DEFAULT_LATENCY,
              "div_latency": None, "cmp_latency": FloatCompare.DEFAULT_LATENCY}


def input_layout(counter_width=32):
    """Payload of ``i``: the current threshold, the target and the last iteration's stats."""
    return data.StructLayout({"theta": 32, "target": 32, "elements": counter_width,
                              "zeros": counter_width, "max_abs": 32})


def output_layout():
    return data.StructLayout({"theta_next": 32})


def schedule(itof, mul, div, cmp):
    """Counter value of every event for the given unit latencies. Results are registered
    (``cap_*``) and the next operation issues from the registers one cycle later."""
    s = {"itof_n": 0, "itof_z": 1}
    s["cap_n"], s["cap_z"] = itof, itof + 1
    s["mul_sn"] = s["cap_n"] + 1
    s["cap_sn"] = s["mul_sn"] + mul
    s["div"] = max(s["cap_sn"], s["cap_z"]) + 1
    s["cap_q"] = s["div"] + div
    s["cmp_hi"], s["cmp_lo"] = s["cap_q"] + 1, s["cap_q"] + 2
    s["cap_hi"], s["cap_lo"] = s["cmp_hi"] + cmp, s["cmp_lo"] + cmp
    s["mul_theta"] = s["cap_lo"] + 1
    s["done"] = s["mul_theta"] + mul
    return s


def _compare_steps():
    """The comparator's step list (the unit object itself is never elaborated)."""
    return part(FloatCompare, FP32).steps()      # only its steps are used


def _prefixed(prefix, steps):
    """Steps renamed ``<prefix>_<name>`` so that several pipelines share one module."""
    return [Step(f"{prefix}_{s.name}", s.fn, s.weight) for s in steps]


class DTSUnit(wiring.Component):
    """Threshold update, one per accepted transfer on ``i``.

    Ports:

    * ``i``: stream of :func:`input_layout` (``theta``, ``target`` = s*, ``max_abs``: FP32
      bits; ``elements``, ``zeros``: ``counter_width``-bit unsigned counters). Ready while
      idle (``~busy``);
    * ``o``: stream of ``{theta_next}`` (FP32 bits), ``valid`` exactly :attr:`cycles` cycles
      after the transfer on ``i``, held until taken;
    * ``busy``: an update is in progress or its result has not been taken.

    ``*_latency``: pipeline stages of the inlined int->float converter, multiplier, divider
    and comparator (0..64; defaults: the FP library units' own). ``variant``: a key of
    :data:`VARIANTS` (``"paper"``, or ``"relative"`` for a relative threshold).
    """

    def __init__(self, counter_width=32, *, itof_latency=None, mul_latency=None,
                 div_latency=None, cmp_latency=None, variant="paper"):
        self._counter_width = check_int("counter_width", counter_width, 1, MAX_COUNTER_WIDTH)
        if not isinstance(variant, str) or variant not in VARIANTS:
            raise ValueError(f"variant must be one of {sorted(VARIANTS)}, not {variant!r}")
        self._variant = variant
        given = {"itof_latency": itof_latency, "mul_latency": mul_latency,
                 "div_latency": div_latency, "cmp_latency": cmp_latency}
        self._lat = {}
        for name, value in given.items():
            if value is None:
                value = _LATENCIES[name]
            if value is None:                               # the divider: one stage per step
                value = len(div_steps(FP32))
            self._lat[name] = check_int(name, value, 0, MAX_LATENCY)
        self._schedule = schedule(*(self._lat[k] for k in _LATENCIES))
        super().__init__({
            "i": In(stream.Signature(input_layout(self._counter_width))),
            "o": Out(stream.Signature(output_layout())),
            "busy": Out(1),
        })

    # -- properties -------------------------------------------------------------------------
    @property
    def counter_width(self):
        return self._counter_width

    @property
    def variant(self):
        return self._variant

    @property
    def latencies(self):
        """The unit latencies used: ``{itof_latency, mul_latency, div_latency, cmp_latency}``."""
        return dict(self._lat)

    @property
    def built_parameters(self):
        """The parameters as built (the manifest's; ``None`` latencies resolved)."""
        return {"counter_width": self.counter_width, **self.latencies, "variant": self.variant}

    @property
    def cycles(self):
        """Cycles from the transfer on ``i`` to ``o.valid`` (every update, every case)."""
        return self._schedule["done"] + 2

    @property
    def latency(self):
        """Same as :attr:`cycles` (the manifest's name)."""
        return self.cycles

    @property
    def interval(self):
        """Fewest cycles between two accepted updates (result taken as soon as valid)."""
        return self.cycles + 1

    @property
    def schedule(self):
        """Counter value of every event (see :func:`schedule`)."""
        return dict(self._schedule)

    @property
    def port_doc(self):
        return {
            "i__valid": "an update request is presented",
            "i__ready": "the unit is idle and takes the request (= ~busy)",
            "i__payload": "theta, target (FP32), elements, zeros "
                          f"({self._counter_width}-bit counters), max_abs (FP32)",
            "o__valid": f"theta_next is presented ({self.cycles} cycles after the request)",
            "o__ready": "the consumer takes theta_next",
            "o__payload": "theta_next (FP32)",
            "busy": "an update is in progress or its result not yet taken",
        }

    # -- hardware ---------------------------------------------------------------------------
    def elaborate(self, platform):
        m = Module()
        s, lat = self._schedule, self._lat
        running = Signal()
        count = Signal(range(s["done"] + 2))
        out_valid = Signal()
        m.d.comb += [self.i.ready.eq(~running & ~out_valid), self.busy.eq(running | out_valid),
                     self.o.valid.eq(out_valid)]

        # Request registers.
        req = Signal(input_layout(self._counter_width))
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [req.eq(self.i.payload), running.eq(1), count.eq(0)]
        with m.If(running):
            m.d.sync += count.eq(count + 1)

        def at(event):
            return running & (count == s[event])

        theta_zero = req.theta[:31] == 0
        n_zero = req.elements == 0
        n, z, sn, q, out = (Signal(32, name=k) for k in ("n", "z", "sn", "q", "theta_next"))
        gt_hi, lt_lo, unordered = Signal(), Signal(), Signal()
        hi_bits, lo_bits, relative = VARIANTS[self._variant]
        one, hi, lo, hundred = (Const(c, 32) for c in (ONE, hi_bits, lo_bits, HUNDRED))
        first = one if relative else req.max_abs        # theta = 0: first / 100
        r = Signal(32)
        m.d.comb += r.eq(Mux(unordered, one, Mux(gt_hi, hi, Mux(lt_lo, lo, q))))

        def unit(prefix, steps, inputs, valid, latency):
            values = {k: Value.cast(v) for k, v in inputs.items()}
            values, _, _ = build_pipeline(m, _prefixed(prefix, steps), values, valid, latency)
            return values

        itof = unit("itof", itof_steps(self._counter_width, FP32),
                    {"x": Mux(count == s["itof_z"], req.zeros, req.elements)},
                    at("itof_n") | at("itof_z"), lat["itof_latency"])
        second = count == s["mul_theta"]
        mul = unit("mul", mul_steps(FP32, FP32, FP32),
                   {"a": Mux(second, req.theta, req.target), "b": Mux(second, r, n)},
                   at("mul_sn") | at("mul_theta"), lat["mul_latency"])
        div = unit("div", div_steps(FP32),
                   {"a": Mux(theta_zero, first, sn), "b": Mux(theta_zero, hundred, z)},
                   at("div"), lat["div_latency"])
        cmp = unit("cmp", _compare_steps(),
                   {"a": q, "b": Mux(count == s["cmp_lo"], lo, hi)},
                   at("cmp_hi") | at("cmp_lo"), lat["cmp_latency"])

        captures = [("cap_n", n, itof["result"]), ("cap_z", z, itof["result"]),
                    ("cap_sn", sn, mul["result"]), ("cap_q", q, div["result"])]
        for event, reg, value in captures:
            with m.If(at(event)):
                m.d.sync += reg.eq(value)
        with m.If(at("cap_hi")):
            m.d.sync += [gt_hi.eq(cmp["greater"]), unordered.eq(cmp["unordered"])]
        with m.If(at("cap_lo")):
            m.d.sync += lt_lo.eq(cmp["less"])
        with m.If(at("done")):
            m.d.sync += [running.eq(0), out_valid.eq(1),
                         out.eq(Mux(n_zero, req.theta, Mux(theta_zero, q, mul["result"])))]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += out_valid.eq(0)
        m.d.comb += self.o.payload.theta_next.eq(out)
        return m


#: Registry entry (to merge into :data:`hw.designs.DESIGNS`).
DESIGNS = {
    "spartann_dts": Design(
        DTSUnit, "SparTANN dynamic threshold scaling: theta' from theta, s* and the stats",
        {"counter_width": Param(32, int, f"statistics counter width, 1..{MAX_COUNTER_WIDTH}"),
         "itof_latency": Param(None, _latency, "int->FP32 converter stages (default 8)"),
         "mul_latency": Param(None, _latency, "multiplier stages (default 11)"),
         "div_latency": Param(None, _latency, "divider stages (default 38)"),
         "cmp_latency": Param(None, _latency, "comparator stages (default 2)"),
         "variant": Param("paper", str, "update rule: 'paper' or 'relative' (theta = k, "
                          "dropped |x| < k * max|block|; first step 1/100, clamp 0.5..2)")}),
}
