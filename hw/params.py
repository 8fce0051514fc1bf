"""Parameter descriptions shared by every design registry entry (no HDL imports here,
so engine modules can declare their own entries without import cycles)."""

from dataclasses import dataclass, field
from typing import Callable

from .fp.format import PRESETS, parse_format

__all__ = ["Param", "Design", "FORMAT_HELP", "LATENCY", "TAG", "_bool", "_fmt", "_latency"]

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


def _latency(text):
    return None if text in (None, "default") else int(text)


LATENCY = Param(None, _latency, "pipeline register stages (default: the unit's own)")
TAG = Param(0, int, "width of the user tag that travels with each operation")


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


