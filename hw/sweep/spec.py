"""A sweep specification: what to build, at which parameter values, on which workload, and
what to measure. Read from TOML (stdlib :mod:`tomllib`) or given as a dict; HDL-free.

::

    name = "smoke"                 # results go to build/sweeps/<name>/
    design = "fp_add"              # a design of `python -m hw list`
    measure = ["generate", "lint", "cycles", "xcup", "ecp5", "energy"]
    [base]                         # parameters of every point
    tag_width = 0
    [grid]                         # the cartesian product of these lists
    fmt = ["fp16", "bf16"]
    latency = [{latency = 2}, {latency = 4}]   # a table is merged into the point
    [[points]]                     # and/or an explicit list of points
    fmt = "fp32"
    [workload]                     # the family's workload (hw.sweep.workload)
    ops = 4096

A grid value that is a table sets several parameters together (a latency set, an N:M ratio).
``timeout_s`` (seconds per step: a number, or a table by step name) and ``retries`` (runs
again of a step whose tool crashed; a parameter error or a timeout is not retried) bound the
work; ``synth`` holds options of the synthesis steps: ``ecp5 = "all"`` (default: every
module through ECP5 Yosys, nextpnr on the clocked leaves) or ``"timing"`` (ECP5 only for the
clocked leaves nextpnr times: Fmax without the ECP5 resource columns), and ``untimed``
(module-name patterns, :mod:`fnmatch`, never placed by nextpnr: pure memories, whose Fmax
is the block RAM's; they get no ECP5 run under ``"timing"``).
"""

import itertools
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Spec", "STEPS", "load_spec", "parse_spec"]

#: Measurement steps, in the order a point runs them.
STEPS = ("generate", "lint", "cycles", "xcup", "ecp5", "energy")
#: Default seconds per step (a step that runs longer fails with a timeout).
TIMEOUTS = {"generate": 600, "lint": 600, "cycles": 1200, "xcup": 3600, "ecp5": 3600,
            "energy": 60}
_KEYS = {"name", "design", "description", "measure", "base", "grid", "points", "workload",
         "timeout_s", "retries", "synth"}


@dataclass(frozen=True)
class Spec:
    """A validated sweep specification (see the module docstring)."""
    name: str
    design: str
    points: tuple            # of dicts: every point's parameters (base merged in)
    measure: tuple = STEPS
    workload: dict = field(default_factory=dict)
    timeouts: dict = field(default_factory=lambda: dict(TIMEOUTS))
    retries: int = 1
    synth: dict = field(default_factory=dict)
    description: str = ""


def _expand(grid):
    """Points of the cartesian product of ``grid`` (a table value merges its keys)."""
    if not grid:
        return [{}]
    keys = list(grid)
    for key in keys:
        if not isinstance(grid[key], list) or not grid[key]:
            raise ValueError(f"grid.{key} must be a non-empty list, not {grid[key]!r}")
    points = []
    for combo in itertools.product(*(grid[k] for k in keys)):
        point = {}
        for key, value in zip(keys, combo):
            point.update(value if isinstance(value, dict) else {key: value})
        points.append(point)
    return points


def parse_spec(data, name=None):
    """A :class:`Spec` from a dict (a parsed TOML file); ``ValueError`` naming the bad key."""
    unknown = set(data) - _KEYS
    if unknown:
        raise ValueError(f"unknown key(s) {sorted(unknown)} in the sweep spec; allowed: "
                         f"{sorted(_KEYS)}")
    name = data.get("name", name)
    if not isinstance(name, str) or not re.fullmatch(r"[\w.-]+", name):
        raise ValueError(f"name must be a file-name-safe string, not {name!r}")
    design = data.get("design")
    if not isinstance(design, str):        # checked against the registry by hw.sweep.run
        raise ValueError(f"design must name a design of `python -m hw list`, not {design!r}")
    measure = tuple(data.get("measure", STEPS))
    bad = [m for m in measure if m not in STEPS]
    if bad:
        raise ValueError(f"measure: unknown step(s) {bad}; choose from {list(STEPS)}")
    base = dict(data.get("base", {}))
    points = [{**base, **p} for p in _expand(data.get("grid", {}))] if "grid" in data else []
    points += [{**base, **p} for p in data.get("points", [])]
    if not points:
        points = [base]
    seen, unique = set(), []
    for point in points:
        key = tuple(sorted(point.items()))
        if key not in seen:
            seen.add(key)
            unique.append(point)
    timeouts = dict(TIMEOUTS)
    given = data.get("timeout_s", {})
    if isinstance(given, (int, float)):
        given = {step: given for step in STEPS}
    for step, value in given.items():
        if step not in STEPS or not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(f"timeout_s.{step} must be a positive number of seconds for a "
                             f"step of {list(STEPS)}, not {value!r}")
        timeouts[step] = value
    retries = data.get("retries", 1)
    if not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be an integer >= 0, not {retries!r}")
    synth = {"ecp5": "all", "untimed": [], **dict(data.get("synth", {}))}
    if set(synth) - {"ecp5", "untimed"}:
        raise ValueError(f"synth: unknown key(s) {sorted(set(synth) - {'ecp5', 'untimed'})}; "
                         f"allowed: ['ecp5', 'untimed']")
    if synth["ecp5"] not in ("all", "timing"):
        raise ValueError(f"synth.ecp5 must be 'all' or 'timing', not {synth['ecp5']!r}")
    if not (isinstance(synth["untimed"], list)
            and all(isinstance(p, str) for p in synth["untimed"])):
        raise ValueError(f"synth.untimed must be a list of module-name patterns, not "
                         f"{synth['untimed']!r}")
    return Spec(name=name, design=design, points=tuple(unique), measure=measure,
                workload=dict(data.get("workload", {})), timeouts=timeouts, retries=retries,
                synth=synth, description=data.get("description", ""))


def load_spec(path):
    """The :class:`Spec` of a TOML file (its name defaults to the file's stem)."""
    path = Path(path)
    with path.open("rb") as f:
        data = tomllib.load(f)
    return parse_spec(data, name=path.stem)
