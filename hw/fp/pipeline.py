"""Staged combinational datapaths with pipeline registers placed by weight.

A datapath is a list of :class:`Step`. Each step maps a dict of named values to a new
dict. :func:`build_pipeline` chains the steps and places ``latency`` register stages on
the step boundaries so that the estimated logic depth between registers is balanced.
Registers beyond the number of boundaries are appended at the output.
"""

from dataclasses import dataclass
from typing import Callable

from amaranth.hdl import Signal

from .bits import materialize

__all__ = ["Step", "place_registers", "build_pipeline", "carry", "delay"]


@dataclass(frozen=True)
class Step:
    name: str
    fn: Callable          # fn(m, values: dict) -> dict
    weight: float = 1.0   # estimated logic depth, for register placement


def carry(steps, keys):
    """Wrap ``steps`` so that the values named in ``keys`` pass through them unchanged."""
    def wrap(step):
        def fn(m, values):
            out = dict(step.fn(m, values))
            out.update({k: values[k] for k in keys})
            return out
        return Step(step.name, fn, step.weight)
    return [wrap(s) for s in steps]


def place_registers(weights, latency):
    """Return, for each step boundary (after step i), how many register stages follow it.

    Registers go where cumulative weight crosses ``k * total / latency``; each boundary
    gets at most one, except the last (the output), which takes any surplus.
    """
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
    counts = place_registers([s.weight for s in steps], latency)
    for index, (step, count) in enumerate(zip(steps, counts)):
        values = {k: materialize(m, v, f"s{index}_{step.name}_{k}_c")
                  for k, v in step.fn(m, dict(values)).items()}
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
