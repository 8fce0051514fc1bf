"""WUVE of SAT: momentum-SGD weight-update lanes in mixed precision.

Each lane updates one weight per cycle. The gradient arrives in ``grad_fmt`` (FP16), is
widened to ``master_fmt`` (FP32), and every operation after that is rounded to nearest even
in ``master_fmt``, in this order (``torch.optim.SGD`` with momentum ``mu``, weight decay
``wd``, dampening 0, no Nesterov)::

    g32 = convert(g)                       # exact when widening
    d   = round(g32 + round(wd * w))
    v'  = round(round(mu * v) + d)
    w'  = round(w - round(lr * v'))
    w_lp = convert(w' -> weight_out_fmt)   # RNE, overflow to inf, gradual underflow

With ``decoupled_wd=True`` the lane has the paper's three multipliers and two adders
(SGDW: ``w' = w - lr*v' - lr*wd*w``, factored as ``(1 - lr*wd) * w - lr*v'``)::

    v'  = round(round(mu * v) + g32)
    w'  = round(round(decay * w) - round(lr * v'))

where ``decay`` is a configuration input the host sets to ``round(1 - round(lr * wd))``.

The first step of ``torch.optim.SGD`` sets the momentum buffer to ``d``; the host gets the
same result by passing ``v = -0.0``: ``round(mu * -0) = -0`` for any finite ``mu >= 0`` and
``-0 + d = d`` for every ``d``, signed zeros included (``+0`` would turn ``d = -0`` into
``+0``).

The lane is composed of the FP library's datapath steps (``convert_steps``, ``mul_steps``,
``add_steps``); operations that do not depend on each other run side by side, and
``latency`` register stages are placed over the whole chain by weight. :class:`SGDLanes`
runs ``lanes`` lanes under one global stall: the pipeline advances while its output register
is empty or being taken.
"""

from typing import NamedTuple

from amaranth.hdl import Const, Module, Signal, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..hier import instantiate, part
from ..params import LATENCY, Design, Param, _bool, _fmt, check_format, check_int
from ..timing import Pipelined
from ..fp.add import FloatAdd, add_steps
from ..fp.convert import FloatConvert, convert_steps
from ..fp.mul import FloatMul, mul_steps
from ..fp.pipeline import Step, build_pipeline, delay, place_registers
from .config import MAX_SGD_LATENCY, PAPER

__all__ = ["SGDLanes", "lane_layouts", "default_latency", "MAX_LATENCY", "DESIGNS"]

#: Largest ``latency`` accepted (:data:`hw.sat.config.MAX_SGD_LATENCY`).
MAX_LATENCY = MAX_SGD_LATENCY


def lane_layouts(grad_fmt, master_fmt, weight_out_fmt):
    """Per-lane payloads: ``(in, out)`` = ``({g, w, v}, {w, v, w_lp})`` struct layouts."""
    master = master_fmt.width
    return (data.StructLayout({"g": grad_fmt.width, "w": master, "v": master}),
            data.StructLayout({"w": master, "v": master, "w_lp": weight_out_fmt.width}))


def _describe(layout):
    """A lane layout for the manifest: its size, fields with bit ranges (``g[0:16]``, ...)
    and where lane ``l`` starts."""
    fields = ", ".join(f"{name}[{f.offset}:{f.offset + f.width}]" for name, f in layout)
    return f"{layout.size} bits {{{fields}}}, lane l at bit l*{layout.size}"


def default_latency(decoupled_wd=False):
    """Sum of the FP units' default latencies along the lane's critical path (mul, add, add,
    mul, add, convert; decoupled: mul, add, mul, add, convert), so that each stage holds
    about as much logic as a stage of a stand-alone unit."""
    adds = 2 if decoupled_wd else 3
    return (2 * FloatMul.DEFAULT_LATENCY + adds * FloatAdd.DEFAULT_LATENCY
            + FloatConvert.DEFAULT_LATENCY)


class _Op(NamedTuple):
    """Datapath steps over the shared value dict and the keys its last step produces."""
    steps: list
    outputs: tuple


def _scoped(name, steps, inputs, output):
    """An FP datapath (``steps`` ending in ``result``) renamed into the shared value dict.

    ``inputs`` maps the datapath's input keys to a shared key or to a Value (a configuration
    port, a constant); its internal values live under ``name__`` and its result is stored
    as ``output``.
    """
    prefix, last = f"{name}__", len(steps) - 1

    def wrap(index, step):
        def fn(m, values):
            if index == 0:
                local = {k: values[src] if isinstance(src, str) else src
                         for k, src in inputs.items()}
            else:
                local = {k[len(prefix):]: v for k, v in values.items() if k.startswith(prefix)}
            out = step.fn(m, local)
            if index == last:
                return {output: out["result"]}
            return {prefix + k: v for k, v in out.items()}
        return Step(step.name, fn, step.weight)

    return _Op([wrap(i, s) for i, s in enumerate(steps)], (output,))


def _side_by_side(ops, keep=(), name=None):
    """Run ``ops`` in parallel: step ``i`` of the result runs step ``i`` of every op.

    Shorter ops' outputs and the shared keys ``keep`` pass through unchanged to the end.
    A step's weight is the largest of its parallel steps; its name is ``name_i`` (default:
    the name of the first op's step).
    """
    length = max(len(op.steps) for op in ops)

    def merged(index):
        active = [op.steps[index] for op in ops if index < len(op.steps)]
        held = [*keep, *(k for op in ops if index >= len(op.steps) for k in op.outputs)]

        def fn(m, values):
            out = {k: values[k] for k in held}
            for step in active:
                out.update(step.fn(m, values))
            return out
        step_name = f"{name}_{index}" if name else active[0].name
        return Step(step_name, fn, max(s.weight for s in active))

    outputs = (*(k for op in ops for k in op.outputs), *keep)
    return _Op([merged(i) for i in range(length)], outputs)


def _chain(ops):
    """Run ``ops`` one after the other."""
    return _Op([s for op in ops for s in op.steps], ops[-1].outputs)


class SGDLanes(Pipelined, wiring.Component):
    """``lanes`` momentum-SGD lanes behind one stream with back-pressure.

    Ports:

    * ``lr``, ``mu`` and ``wd`` (``decay`` when ``decoupled_wd``): ``master_fmt`` bit
      patterns, held stable while any element is in flight (change them only when the
      pipeline is empty: every accepted transfer has been taken from ``o``);
    * ``i``: stream of ``ArrayLayout({g, w, v}, lanes)``: gradient (``grad_fmt``), master
      weight and momentum (``master_fmt``) per lane;
    * ``o``: stream of ``ArrayLayout({w, v, w_lp}, lanes)``: updated master weight and
      momentum, and the weight rounded to ``weight_out_fmt``.

    One transfer per cycle; ``o.valid`` and ``o.payload`` are registers (the last pipeline
    stage), ``i.ready = ~o.valid | o.ready``.
    """

    def __init__(self, *, lanes=32, grad_fmt="fp16", master_fmt="fp32", weight_out_fmt="fp16",
                 latency=None, decoupled_wd=False, hierarchical=True):
        self._lanes = check_int("lanes", lanes, 1)
        self.grad_fmt = check_format("grad_fmt", grad_fmt)
        self.master_fmt = check_format("master_fmt", master_fmt)
        self.weight_out_fmt = check_format("weight_out_fmt", weight_out_fmt)
        if not isinstance(decoupled_wd, bool):
            raise ValueError(f"decoupled_wd must be a bool, not {decoupled_wd!r}")
        self._decoupled_wd = decoupled_wd
        self._hierarchical = bool(hierarchical)
        if latency is None:
            latency = default_latency(decoupled_wd)
        self._latency = check_int("latency", latency, 1, MAX_LATENCY)
        in_lane, out_lane = lane_layouts(self.grad_fmt, self.master_fmt, self.weight_out_fmt)
        width = self.master_fmt.width
        super().__init__({
            **{name: In(width) for name in self.config_names},
            "i": In(stream.Signature(data.ArrayLayout(in_lane, lanes))),
            "o": Out(stream.Signature(data.ArrayLayout(out_lane, lanes))),
        })

    @property
    def lanes(self):
        return self._lanes

    @property
    def decoupled_wd(self):
        return self._decoupled_wd

    @property
    def config_names(self):
        """The configuration ports: ``("lr", "mu", "wd")`` or ``("lr", "mu", "decay")``."""
        return ("lr", "mu", "decay" if self._decoupled_wd else "wd")

    @property
    def register_placement(self):
        """Per lane datapath step: (name, register stages after it)."""
        steps = self._lane(0).steps
        counts = place_registers([s.weight for s in steps], self._latency)
        return [(s.name, c) for s, c in zip(steps, counts)]

    @property
    def port_doc(self):
        fmt = self.master_fmt.name
        in_lane, out_lane = lane_layouts(self.grad_fmt, self.master_fmt, self.weight_out_fmt)
        doc = {"lr": f"learning rate ({fmt} bits, stable while elements are in flight)",
               "mu": f"momentum ({fmt} bits)",
               "i__valid": "a transfer of one element per lane is presented",
               "i__ready": "the lanes accept the transfer (= ~o__valid | o__ready)",
               "i__payload": f"{self._lanes} lanes of {_describe(in_lane)}",
               "o__valid": f"updated elements are presented ({self._latency} cycles after "
                           "their input without stalls)",
               "o__ready": "the consumer takes the results",
               "o__payload": f"{self._lanes} lanes of {_describe(out_lane)}"}
        if self._decoupled_wd:
            doc["decay"] = f"weight decay factor round(1 - round(lr * wd)) ({fmt} bits)"
        else:
            doc["wd"] = f"weight decay ({fmt} bits)"
        return doc

    def _lane(self, lane, config=None):
        """The datapath of lane ``lane`` over keys ``l<lane>_<name>``: reads ``g, w, v`` and
        produces ``w_new, v_new, w_lp``; ``config`` maps lr/mu/wd (decay) to signals."""
        master = self.master_fmt
        config = config or {n: getattr(self, n) for n in self.config_names}

        def key(name):
            return f"l{lane}_{name}"

        def source(name):
            return config[name] if name in config else key(name)

        def mul(out, a, b):
            return _scoped(key(out), mul_steps(master, master, master),
                           {"a": source(a), "b": source(b)}, key(out))

        def add(out, a, b, sub=0):
            return _scoped(key(out), add_steps(master, sub="sub"),
                           {"a": source(a), "b": source(b), "sub": Const(sub, 1)}, key(out))

        def convert(out, x, fmt_in, fmt_out):
            return _scoped(key(out), convert_steps(fmt_in, fmt_out), {"x": key(x)}, key(out))

        def phase(name, ops, keep=()):
            return _side_by_side(ops, [key(k) for k in keep], name)

        widen = convert("g32", "g", self.grad_fmt, master)
        if self._decoupled_wd:
            phases = [
                phase("mul", [widen, mul("mu_v", "mu", "v"), mul("decay_w", "decay", "w")]),
                phase("vnew", [add("v_new", "mu_v", "g32")], ["decay_w"]),
                phase("lrv", [mul("lr_v", "lr", "v_new")], ["decay_w", "v_new"]),
                phase("wnew", [add("w_new", "decay_w", "lr_v", sub=1)], ["v_new"]),
            ]
        else:
            phases = [
                phase("mul", [widen, mul("wd_w", "wd", "w"), mul("mu_v", "mu", "v")], ["w"]),
                phase("d", [add("d", "g32", "wd_w")], ["mu_v", "w"]),
                phase("vnew", [add("v_new", "mu_v", "d")], ["w"]),
                phase("lrv", [mul("lr_v", "lr", "v_new")], ["w", "v_new"]),
                phase("wnew", [add("w_new", "w", "lr_v", sub=1)], ["v_new"]),
            ]
        narrow = convert("w_lp", "w_new", master, self.weight_out_fmt)
        phases.append(phase("wlp", [narrow], ["w_new", "v_new"]))
        return _chain(phases)

    def elaborate(self, platform):
        m = Module()
        enable = Signal()
        m.d.comb += [enable.eq(~self.o.valid | self.o.ready), self.i.ready.eq(enable)]
        if self._hierarchical:
            lane = part(SGDLane, self)
            for index in range(self._lanes):
                out = Signal(lane.y.shape(), name=f"lane{index}_y")
                instantiate(m, f"lane{index}", lane, lane.module_name,
                            {"enable": enable, "a": self.i.payload[index], "y": out,
                             **{name: getattr(self, name) for name in self.config_names}})
                m.d.comb += self.o.payload[index].eq(out)
            m.d.comb += self.o.valid.eq(delay(m, self.i.valid, self._latency, enable, "valid",
                                              reset_less=False))
            return m
        datapath = _side_by_side([self._lane(lane) for lane in range(self._lanes)])
        values = {f"l{lane}_{name}": Value.cast(self.i.payload[lane][name])
                  for lane in range(self._lanes) for name in ("g", "w", "v")}
        values, valid, _ = build_pipeline(m, datapath.steps, values, self.i.valid,
                                          self._latency, enable=enable)
        m.d.comb += self.o.valid.eq(valid)
        for lane in range(self._lanes):
            out = self.o.payload[lane]
            m.d.comb += [out.w.eq(values[f"l{lane}_w_new"]), out.v.eq(values[f"l{lane}_v_new"]),
                         out.w_lp.eq(values[f"l{lane}_w_lp"])]
        return m


class SGDLane(wiring.Component):
    """One lane of :class:`SGDLanes` without handshake (``a`` in, ``y`` out ``latency`` cycles
    later while ``enable``): the module ``SGDLanes(hierarchical=True)`` emits once and
    instantiates per lane."""

    def __init__(self, lanes):
        self._parent = lanes
        in_lane, out_lane = lane_layouts(lanes.grad_fmt, lanes.master_fmt, lanes.weight_out_fmt)
        super().__init__({
            "enable": In(1), **{name: In(lanes.master_fmt.width) for name in lanes.config_names},
            "a": In(in_lane), "y": Out(out_lane)})

    @property
    def module_name(self):
        p = self._parent
        return (f"sat_wuve_lane_{p.grad_fmt.name}_{p.master_fmt.name}_{p.weight_out_fmt.name}"
                f"_l{p.latency}" + ("_sgdw" if p.decoupled_wd else ""))

    def elaborate(self, platform):
        m = Module()
        config = {name: getattr(self, name) for name in self._parent.config_names}
        steps = self._parent._lane(0, config).steps
        values = {f"l0_{name}": Value.cast(self.a[name]) for name in ("g", "w", "v")}
        values, _, _ = build_pipeline(m, steps, values, Const(1), self._parent.latency,
                                      enable=self.enable)
        m.d.comb += [self.y.w.eq(values["l0_w_new"]), self.y.v.eq(values["l0_v_new"]),
                     self.y.w_lp.eq(values["l0_w_lp"])]
        return m


#: Registry entries (to merge into :data:`hw.designs.DESIGNS`); defaults: the paper's
#: (:data:`hw.sat.config.PAPER`).
DESIGNS = {
    "sat_wuve": Design(
        SGDLanes, "SAT WUVE: momentum-SGD lanes, FP16 gradients, FP32 master weights",
        {"lanes": Param(PAPER.lanes, int, "parallel lanes (elements per transfer)"),
         "grad_fmt": Param(PAPER.grad_fmt, _fmt, "gradient format (widened to master_fmt)"),
         "master_fmt": Param(PAPER.master_fmt, _fmt,
                             "master weight, momentum and arithmetic format"),
         "weight_out_fmt": Param(PAPER.in_fmt, _fmt,
                                 "format of the low-precision weight copy w_lp"),
         "latency": LATENCY,
         "decoupled_wd": Param(PAPER.decoupled_wd, _bool,
                               "SGDW: w' = (1 - lr*wd)*w - lr*v' (3 mul, 2 add)"),
         "hierarchical": Param(True, _bool, "emit one lane module and instantiate it per lane")},
        test_params={"lanes": 1}),
}
