"""Staged combinational datapaths with pipeline registers placed by weight.

A datapath is a list of :class:`Step`. Each step maps a dict of named values to a new
dict. :func:`build_pipeline` chains the steps and places ``latency`` register stages on
the step boundaries so that the estimated logic depth between registers is balanced.
Registers beyond the number of boundaries are appended at the output.

A step may hold register stages of its own (``Step.stages``: a hard multiplier's input,
pipeline and output registers, :mod:`hw.fp.dsp_ecp5`): they count towards the latency, the
boundaries before and after such a step need no fabric register, and the remaining
(fabric) registers are spread over the other steps (:func:`place_registers`).
"""

from dataclasses import dataclass, replace
from typing import Callable

from amaranth.hdl import Signal

from .bits import materialize

__all__ = ["Step", "call", "place_registers", "build_pipeline", "carry", "delay"]


@dataclass(frozen=True)
class Step:
    name: str
    fn: Callable          # fn(m, values: dict) -> dict; fn(m, values, enable) if stages
    weight: float = 1.0   # estimated logic depth, for register placement
    #: Register stages inside the step (its outputs come ``stages`` cycles after its inputs;
    #: it delays the values it passes through itself, ``enable`` is the pipeline's).
    stages: int = 0


def call(step, m, values, enable=None):
    """``step.fn`` on ``values`` (with ``enable`` when the step holds registers)."""
    return step.fn(m, values, enable) if step.stages else step.fn(m, values)


def carry(steps, keys):
    """Wrap ``steps`` so that the values named in ``keys`` pass through them unchanged
    (delayed by the stages of a step that holds registers)."""
    def wrap(step):
        def fn(m, values, enable=None):
            out = dict(call(step, m, values, enable))
            out.update({k: delay(m, values[k], step.stages, enable, f"{step.name}_{k}_d")
                        for k in keys})
            return out
        return replace(step, fn=fn)
    return [wrap(s) for s in steps]


def place_registers(weights, latency, stages=None):
    """Return, for each step boundary (after step i), how many register stages follow it.

    Registers go where cumulative weight crosses ``k * total / latency``; each boundary
    gets at most one, except the last (the output), which takes any surplus.

    ``stages`` (per step, optional): registers a step holds itself. They count towards
    ``latency`` and are reported after their step; the boundaries on either side of such a
    step are already cut, so the fabric registers (``latency - sum(stages)``) are shared out
    between the runs of other steps, one at a time to the run whose parts would be heaviest.
    """
    if stages and any(stages):
        return _place_around(list(weights), latency, list(stages))
    n = len(weights)
    counts = [0] * n
    if latency == 0 or n == 0:
        return counts
    if latency >= n:
        counts = [1] * n
        counts[-1] += latency - n
        return counts
    total = float(sum(weights))
    cum, acc = [], 0.0
    for w in weights:
        acc += w
        cum.append(acc)
    chosen = []
    for k in range(1, latency + 1):
        lo = chosen[-1] + 1 if chosen else 0
        hi = n - 1 - (latency - k)          # leave room for the remaining registers
        target = k * total / latency
        best = min(range(lo, hi + 1), key=lambda i: (abs(cum[i] - target), i))
        chosen.append(best)
    chosen[-1] = n - 1                      # the last register always sits at the output
    for i in chosen:
        counts[i] = 1
    return counts


def _place_around(weights, latency, stages):
    n = len(weights)
    fabric = latency - sum(stages)
    if fabric < 0:
        raise ValueError(f"latency {latency} is below the {sum(stages)} register stages the "
                         f"steps hold")
    counts = list(stages)
    runs, run = [], []                       # runs of steps without registers of their own
    for i in range(n):
        if stages[i]:
            runs.append(run)
            run = []
        else:
            run.append(i)
    runs.append(run)                         # the last run ends at the output
    given = [0] * len(runs)
    last = len(runs) - 1
    room = [len(r) - (0 if k == last else 1) for k, r in enumerate(runs)]

    def heaviest_part(k):
        w = sum(weights[i] for i in runs[k])
        return w / (given[k] + (0 if k == last else 1) or 1)
    for _ in range(fabric):
        open_ = [k for k in range(len(runs)) if given[k] < room[k]]
        if (runs[last] and not given[last]) or not open_:
            k = last                         # the output register first, surplus there too
        else:
            k = max(open_, key=lambda j: (heaviest_part(j), j))
        given[k] += 1
    for k, run in enumerate(runs):
        if not run or not given[k]:
            continue
        if k == last:
            sub = place_registers([weights[i] for i in run], given[k])
        else:                                # the run's end is already cut: one more, dropped
            sub = place_registers([weights[i] for i in run], given[k] + 1)
            sub[-1] -= 1
        for i, c in zip(run, sub):
            counts[i] += c
    if not runs[last]:
        counts[-1] += given[last]
    return counts


def _register(m, values, prefix, enable=None, reset_less=True):
    regs = {}
    for key, value in values.items():
        reg = Signal(value.shape(), name=f"{prefix}_{key}", reset_less=reset_less)
        if enable is None:
            m.d.sync += reg.eq(value)
        else:
            with m.If(enable):
                m.d.sync += reg.eq(value)
        regs[key] = reg
    return regs


def build_pipeline(m, steps, values, valid, latency, passthrough=None, enable=None):
    """Chain ``steps`` over ``values``; returns ``(values, valid, passthrough)`` delayed by
    ``latency`` cycles. ``passthrough`` (a dict, e.g. a user tag) travels unchanged.

    ``enable`` (optional 1-bit Value): registers, ``valid`` included, only advance while it is
    high -- a global stall for pipelines behind a stream with back-pressure."""
    passthrough = dict(passthrough or {})
    counts = place_registers([s.weight for s in steps], latency, [s.stages for s in steps])
    for index, (step, count) in enumerate(zip(steps, counts)):
        values = {k: materialize(m, v, f"s{index}_{step.name}_{k}_c")
                  for k, v in call(step, m, dict(values), enable).items()}
        if step.stages:                      # the step delayed its values itself
            count -= step.stages
            valid = delay(m, valid, step.stages, enable, f"s{index}_{step.name}_valid", False)
            passthrough = {k: delay(m, v, step.stages, enable, f"s{index}_{step.name}_{k}")
                           for k, v in passthrough.items()}
        for rep in range(count):
            prefix = f"s{index}_{step.name}" + (f"_{rep}" if rep else "")
            values = _register(m, values, prefix, enable)
            passthrough = _register(m, passthrough, prefix, enable)
            valid = _register(m, {"valid": valid}, prefix, enable, reset_less=False)["valid"]
    return values, valid, passthrough


def delay(m, value, cycles, enable=None, name="delay", reset_less=True):
    """``value`` delayed by ``cycles`` register stages (advancing only while ``enable``; a
    list gives each stage its own enable, e.g. the leaves of a replicated stall tree).
    Control bits such as ``valid`` should pass ``reset_less=False``."""
    enables = enable if isinstance(enable, (list, tuple)) else [enable] * cycles
    for index in range(cycles):
        value = _register(m, {"": value}, f"{name}{index}", enables[index], reset_less)[""]
    return value
