"""Parameter descriptions shared by every design registry entry (no HDL imports here,
so engine modules can declare their own entries without import cycles)."""

from dataclasses import dataclass, field, fields
from typing import Callable

from .fp.format import PRESETS, parse_format

__all__ = ["Param", "Design", "FORMAT_HELP", "LATENCY", "TAG", "FMT", "unit_params", "optional",
           "check_int", "check_format", "check_dsp", "check_dsp_latency", "DSP_KINDS", "_bool",
           "_fmt", "_latency"]

#: Hard multipliers a design can instantiate (``dsp=``; ``None``: ``*``, inferred by the tool).
DSP_KINDS = ("ecp5",)


def check_dsp(dsp):
    """``dsp`` validated: ``None`` (or ``"none"``) or one of :data:`DSP_KINDS`."""
    if dsp == "none":
        return None
    if dsp is not None and dsp not in DSP_KINDS:
        raise ValueError(f"dsp must be None or one of {', '.join(DSP_KINDS)}, not {dsp!r}")
    return dsp


def check_dsp_latency(dsp, mul_latency):
    """:func:`check_dsp`, and a hard multiplier needs ``mul_latency >= 2`` (the cell's input
    and output registers)."""
    dsp = check_dsp(dsp)
    if dsp and mul_latency < 2:
        raise ValueError(f"dsp={dsp!r} needs mul_latency >= 2 (the cell's registers), "
                         f"not mul_latency={mul_latency}")
    return dsp


FORMAT_HELP = f"float format: {', '.join(PRESETS)} or eXmY"


@dataclass(frozen=True)
class Param:
    default: object
    kind: Callable            # converts a command-line string to the value
    help: str


def _bool(text):
    if isinstance(text, bool):
        return text
    if str(text).lower() in ("1", "true", "yes", "on"):
        return True
    if str(text).lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected a boolean (true/false), not {text!r}")


def _fmt(text):
    return parse_format(text).name


#: What a command-line value of an :func:`optional` parameter may be to mean "not given".
NOT_GIVEN = (None, "", "default", "preset")


def optional(kind):
    """Converter for a parameter that may be left out: ``None``, ``""``, ``"default"`` and
    ``"preset"`` give ``None`` (the design then takes its own or its preset's value); any
    other value goes through ``kind`` (e.g. ``optional(int)``, ``optional(_fmt)``)."""
    def convert(text):
        return None if text in NOT_GIVEN else kind(text)
    convert.__name__ = f"optional_{getattr(kind, '__name__', 'value').lstrip('_')}"
    return convert


_latency = optional(int)


def check_int(name, value, lo, hi=None):
    """Raise ``ValueError`` naming ``name`` unless ``value`` is an int in ``[lo, hi]``."""
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= lo
    ok = ok and (hi is None or value <= hi)
    if not ok:
        upper = "" if hi is None else f", at most {hi}"
        raise ValueError(f"{name} must be an integer >= {lo}{upper}, not {value!r}")
    return value


def check_format(name, value):
    """``value`` as a :class:`~hw.fp.format.FloatFormat` (a format or its name); the
    ``ValueError`` names ``name``."""
    try:
        return parse_format(value)
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from None


LATENCY = Param(None, _latency, "pipeline register stages (default: the unit's own)")
TAG = Param(0, int, "width of the user tag that travels with each operation")
#: The float format of a unit (``fmt``), FP32 by default.
FMT = Param("fp32", _fmt, FORMAT_HELP)


def unit_params(**params):
    """A pipelined unit's registry parameters: ``params``, then ``latency`` and
    ``tag_width`` (:data:`LATENCY`, :data:`TAG`)."""
    return {**params, "latency": LATENCY, "tag_width": TAG}


@dataclass(frozen=True)
class Design:
    factory: Callable
    description: str
    params: dict = field(default_factory=dict)
    #: Small overrides the registry-wide tests (lint, latch check, CLI) use for designs whose
    #: defaults (the paper's size) are too big to check on every run.
    test_params: dict = field(default_factory=dict)

    def build(self, **overrides):
        unknown = set(overrides) - set(self.params)
        if unknown:
            raise ValueError(f"unknown parameter(s) {sorted(unknown)}; "
                             f"allowed: {sorted(self.params)}")
        values = {k: p.default for k, p in self.params.items()}
        values.update(overrides)
        return self.factory(**values), values


def preset_overrides(config_cls, presets, preset, overrides, what="parameter"):
    """``(base, given)`` for a config ``resolve()``: ``base`` is ``preset`` (a name in
    ``presets`` or a ``config_cls`` instance), ``given`` the ``overrides`` that are not
    ``None``; an unknown preset name or override names the bad value."""
    if isinstance(preset, config_cls):
        base = preset
    elif preset in presets:
        base = presets[preset]
    else:
        raise ValueError(f"preset must be one of {', '.join(presets)}, not {preset!r}")
    unknown = set(overrides) - {f.name for f in fields(config_cls)}
    if unknown:
        raise ValueError(f"unknown {what}(s) {sorted(unknown)}")
    return base, {k: v for k, v in overrides.items() if v is not None}
